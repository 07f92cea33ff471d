#!/usr/bin/env bats
# ray-cancel down the tree: the tasks that a cancelled task submitted are
# cancelled with it (their refs give exit 7), on its node or, when it was
# forwarded, on the node that runs it; --no-recursive spares them.

load lib/helpers
load lib/cluster

# A parent that submits two sleeping children, writes their refs to $1,
# then waits for them.
PARENT='a=$(ray-submit --name kid1 -- sleep 300) && b=$(ray-submit --name kid2 -- sleep 300) &&
echo "$a $b" >"$1.tmp" && mv "$1.tmp" "$1" && ray-get "$a" "$b"'

# parent_with_kids: a node, and a parent whose two children run; sets
# parent (its ref) and kids (theirs).
parent_with_kids() {
	start_node --cpus 4
	run_ray 0 ray-submit --name parent -- sh -c "$PARENT" sh "$BATS_TEST_TMPDIR/kids"
	parent=$output
	wait_for named_task_in_state kid1 RUNNING
	wait_for named_task_in_state kid2 RUNNING
	kids=$(cat "$BATS_TEST_TMPDIR/kids")
}

# cancel_tree REF: ray-cancel REF; REF and each of $kids give exit 7
# naming the cancel, and kid1 and kid2 are CANCELLED.
cancel_tree() {
	run_ray 0 ray-cancel "$1"
	run_ray 7 ray-get --timeout 30 "$1"
	for r in $kids; do
		run_ray 7 ray-get --timeout 30 "$r"
		assert_regex "$stderr" "cancel"
	done
	assert_equal "$(task_field "$(task_id_named kid1)" state)" CANCELLED
	assert_equal "$(task_field "$(task_id_named kid2)" state)" CANCELLED
}

@test "a parent cancelled with two running children: all three refs give exit 7" {
	local parent kids
	parent_with_kids
	cancel_tree "$parent"
	wait_for cpus_free 4
}

@test "--no-recursive spares the children: they run on" {
	local parent kids
	parent_with_kids
	run_ray 0 ray-cancel --no-recursive "$parent"
	run_ray 7 ray-get --timeout 30 "$parent"
	assert_equal "$(task_field "$(task_id_named kid1)" state)" RUNNING
	assert_equal "$(task_field "$(task_id_named kid2)" state)" RUNNING
	run_ray 0 ray-cancel $kids
	for r in $kids; do
		run_ray 7 ray-get --timeout 30 "$r"
	done
}

@test "a grandchild pending behind its parent's children is cancelled too" {
	start_node --cpus 2
	# The grandchild asks for what no node has: it stays pending.
	run_ray 0 ray-submit --name parent -- sh -c \
		'ray-get "$(ray-submit --name child -- sh -c "ray-get \$(ray-submit --name grandchild --resource widget=1 -- true); sleep 300")"'
	local parent=$output
	wait_for named_task_in_state grandchild PENDING_NODE_ASSIGNMENT
	run_ray 0 ray-cancel "$parent"
	run_ray 7 ray-get --timeout 30 "$parent"
	wait_for named_task_in_state child CANCELLED
	wait_for named_task_in_state grandchild CANCELLED
}

@test "a parent forwarded to another node: the cancel follows it, and its children there" {
	start_cluster 2 --cpus 0
	run_ray 0 ray-submit --name parent --node "$(node_id 1)" -- sh -c "$PARENT" sh "$BATS_TEST_TMPDIR/kids"
	local parent=$output kids
	# The children are submitted to the node the parent runs on.
	wait_for on_node 1 named_task_in_state kid1 RUNNING
	wait_for on_node 1 named_task_in_state kid2 RUNNING
	kids=$(cat "$BATS_TEST_TMPDIR/kids")
	run_ray 0 ray-cancel "$parent"
	run_ray 7 ray-get --timeout 30 "$parent"
	for r in $kids; do
		run_ray 7 ray-get --timeout 30 "$r"
	done
	wait_for on_node 1 named_task_in_state kid1 CANCELLED
	wait_for on_node 1 named_task_in_state kid2 CANCELLED
}

# cpus_free N: the node at RAY_ADDRESS has N CPUs free.
cpus_free() {
	local out
	out=$(ray-status nodes --json) && [[ "$(jq -r '.[0].resources_available.CPU' <<<"$out")" == "$1" ]]
}

# An actor whose method `spawn FILE P` submits two sleeping children named
# P1 and P2, writes their refs to FILE, then waits for them.
ACTOR='while IFS="	" read -r m f p; do
a=$(ray-submit --name "${p}1" -- sleep 300) && b=$(ray-submit --name "${p}2" -- sleep 300) &&
echo "$a $b" >"$f.tmp" && mv "$f.tmp" "$f" && ray-get "$a" "$b" >/dev/null; echo done; done'

# actor_call_with_kids [on_node I]: a `spawn` call to $actor whose two
# children run (looked for on node I, where the actor runs); sets call
# and kids.
actor_call_with_kids() {
	run_ray 0 ray-actor call "$actor" spawn "$BATS_TEST_TMPDIR/kids" kid
	call=$output
	wait_for "$@" named_task_in_state kid1 RUNNING
	wait_for "$@" named_task_in_state kid2 RUNNING
	kids=$(cat "$BATS_TEST_TMPDIR/kids")
}

@test "an actor call cancelled with two running children: they are cancelled too" {
	local actor call kids
	start_node --cpus 4
	run_ray 0 ray-actor create -- sh -c "$ACTOR"
	actor=$output
	actor_call_with_kids
	cancel_tree "$call"
}

@test "an actor on another node: a call cancelled on this node cancels its children there; --no-recursive spares them" {
	local actor call kids
	start_cluster 2 --cpus 0
	run_ray 0 ray-actor create --node "$(node_id 1)" -- sh -c "$ACTOR"
	actor=$output
	actor_call_with_kids on_node 1
	run_ray 0 ray-cancel "$call"
	run_ray 7 ray-get --timeout 30 "$call"
	for r in $kids; do
		run_ray 7 ray-get --timeout 30 "$r"
	done
	wait_for on_node 1 named_task_in_state kid1 CANCELLED
	wait_for on_node 1 named_task_in_state kid2 CANCELLED
	# The actor serves on; --no-recursive spares the next call's children.
	run_ray 0 ray-actor call "$actor" spawn "$BATS_TEST_TMPDIR/more" more
	call=$output
	wait_for on_node 1 named_task_in_state more1 RUNNING
	wait_for on_node 1 named_task_in_state more2 RUNNING
	run_ray 0 ray-cancel --no-recursive "$call"
	run_ray 7 ray-get --timeout 30 "$call"
	# Once the host has the cancel (its record of the call ends), the
	# children still run.
	wait_for on_node 1 task_in_state "${call:0:32}" CANCELLED
	assert_equal "$(on_node 1 task_field "$(on_node 1 task_id_named more1)" state)" RUNNING
	assert_equal "$(on_node 1 task_field "$(on_node 1 task_id_named more2)" state)" RUNNING
	RAY_ADDRESS=$(node_addr 1) run_ray 0 ray-cancel $(cat "$BATS_TEST_TMPDIR/more")
}
