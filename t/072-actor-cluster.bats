#!/usr/bin/env bats
# Actors on a cluster: placed as tasks are (--node, --label, custom
# resources), run as children of the chosen node's daemon, called from any
# node straight to their host, listed with their real node and pid from
# every node, shown in demands while they cannot be placed, and restarted
# on another node when their node dies.

load lib/helpers
load lib/cluster
load lib/actors

# ppid PID: the parent of a live process.
ppid() {
	awk '/^PPid:/ {print $2}' "/proc/$1/status"
}

# actor_rec NODE_INDEX ACTOR: the actor's record as node NODE_INDEX lists it.
actor_rec() {
	on_node "$1" timeout "$RAY_TEST_TIMEOUT" ray-status actors --json |
		jq -ec --arg a "$2" '[.[] | select(.actor_id == $a)] | last'
}

# alive_elsewhere ACTOR NODE_ID: ALIVE again, after one restart, not on NODE_ID.
alive_elsewhere() {
	local rec
	rec=$(actor_rec 0 "$1") || return 1
	jq -e --arg n "$2" '.state == "ALIVE" and .num_restarts == 1 and .node_id != $n and .pid != null' \
		<<<"$rec" >/dev/null
}

@test "--node: the actor runs on that worker, a child of its daemon; calls from a third node answer there" {
	start_cluster 3
	make_line_actor
	local w1 a pid ref rec i path
	w1=$(node_id 1)
	run_ray 0 ray-actor create --node "$w1" -- "$BATS_TEST_TMPDIR/actor.sh" "$BATS_TEST_TMPDIR"
	a=$output
	wait_for -t 20 actor_in_state "$a" ALIVE
	# Every node lists it on worker 1 with its real pid.
	for i in 0 1 2; do
		rec=$(actor_rec $i "$a")
		assert_equal "$(jq -r .node_id <<<"$rec")" "$w1"
		pid=$(jq -r .pid <<<"$rec")
		[[ -d /proc/$pid ]]
	done
	assert_equal "$(ppid "$pid")" "$(node_pid 1)"
	# Calls from node 2: refs owned by node 2, answered by the process on worker 1.
	on_node 2 run_ray 0 ray-actor call "$a" pid
	ref=$output
	assert_equal "${ref:0:16}" "$(node_id 2)"
	on_node 2 run_ray 0 ray-get "$ref"
	assert_equal "$output" "$pid"
	# One caller's calls run in the order made.
	for i in 1 2 3 4 5; do
		on_node 2 run_ray 0 ray-actor call "$a" append "$i"
	done
	on_node 2 run_ray 0 ray-actor call "$a" get
	on_node 2 run_ray 0 ray-get "$output"
	assert_equal "$output" "1,2,3,4,5"
	# An @REF made on node 2 reaches the actor as a file on worker 1.
	on_node 2 run_ray 0 ray-put <<<"payload from node 2"
	ref=$output
	on_node 2 run_ray 0 ray-actor call "$a" echo "@$ref"
	on_node 2 run_ray 0 ray-get "$output"
	path=$output
	assert_regex "$path" "ray-$w1/"
	assert_equal "$(cat "$path")" "payload from node 2"
	# --num-returns across nodes.
	on_node 2 run_ray 0 ray-actor call --num-returns 2 "$a" split left right
	local -a refs=($output)
	on_node 2 run_ray 0 ray-get "${refs[1]}"
	assert_equal "$output" right
}

@test "--label and a custom resource place the actor on the only worker that has them" {
	start_cluster 2
	add_node --labels pool=gpu --resources acc=1
	local w=$(node_id "$NEW") a b pid
	make_line_actor
	run_ray 0 ray-actor create --label pool=gpu -- "$BATS_TEST_TMPDIR/actor.sh" "$BATS_TEST_TMPDIR"
	a=$output
	run_ray 0 ray-actor create --resource acc=1 -- "$BATS_TEST_TMPDIR/actor.sh" "$BATS_TEST_TMPDIR"
	b=$output
	wait_for -t 20 actor_in_state "$a" ALIVE
	wait_for -t 20 actor_in_state "$b" ALIVE
	assert_equal "$(actor_field "$a" node_id)" "$w"
	assert_equal "$(actor_field "$b" node_id)" "$w"
	pid=$(actor_field "$b" pid)
	assert_equal "$(ppid "$pid")" "$(node_pid "$NEW")"
	run_ray 0 ray-actor call "$b" echo hi
	run_ray 0 ray-get "$output"
	assert_equal "$output" hi
	# It holds acc=1 for its life: a task asking for it waits.
	run_ray 0 ray-submit --resource acc=1 -- echo late
	run_ray 3 ray-wait --timeout 0.5 "$output"
}

@test "an actor no node can hold is in ray-status demands with the reason; it starts when one joins" {
	start_cluster 2
	make_line_actor
	local a ref
	run_ray 0 ray-actor create --resource acc=2 -- "$BATS_TEST_TMPDIR/actor.sh" "$BATS_TEST_TMPDIR"
	assert_regex "$stderr" 'infeasible: .*acc'
	a=$output
	run_ray 0 ray-status --json
	run jq -ec --arg a "$a" '.demands[] | select(.actor_id == $a)' <<<"$output"
	assert_success
	assert_equal "$(jq -r .infeasible <<<"$output")" true
	assert_regex "$(jq -r .reason <<<"$output")" 'acc'
	assert_equal "$(actor_field "$a" state)" PENDING_CREATION
	# A call made now waits for it.
	on_node 1 run_ray 0 ray-actor call "$a" echo waited
	ref=$output
	on_node 1 run_ray 3 ray-wait --timeout 0.3 "$ref"
	add_node --resources acc=2
	wait_for -t 20 actor_in_state "$a" ALIVE
	assert_equal "$(actor_field "$a" node_id)" "$(node_id "$NEW")"
	on_node 1 run_ray 0 timeout 20 ray-get "$ref"
	assert_equal "$output" waited
}

@test "a hard --node to a dead node exits 9; --node to an unknown node exits 10" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 3
	make_line_actor
	kill_node 2
	wait_for -t 10 node_state_is "$(node_id 2)" DEAD
	run_ray 9 ray-actor create --node "$(node_id 2)" -- "$BATS_TEST_TMPDIR/actor.sh"
	assert_regex "$stderr" "$(node_id 2)"
	run_ray 10 ray-actor create --node 0123456789abcdef -- "$BATS_TEST_TMPDIR/actor.sh"
}

@test "its node killed: the actor restarts on another node; a call in flight is retried or fails with exit 5 naming the node" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 3
	make_line_actor
	local w1 a b pa pb r1 r2 i
	w1=$(node_id 1)
	# a: no call retries; b: one.  Both prefer worker 1.
	run_ray 0 ray-actor create --node "$w1:soft" --max-restarts 1 -- "$BATS_TEST_TMPDIR/actor.sh" "$BATS_TEST_TMPDIR"
	a=$output
	run_ray 0 ray-actor create --node "$w1:soft" --max-restarts 1 --max-task-retries 1 -- \
		"$BATS_TEST_TMPDIR/actor.sh" "$BATS_TEST_TMPDIR"
	b=$output
	wait_for -t 20 actor_in_state "$a" ALIVE
	wait_for -t 20 actor_in_state "$b" ALIVE
	assert_equal "$(actor_field "$a" node_id)" "$w1"
	assert_equal "$(actor_field "$b" node_id)" "$w1"
	pa=$(actor_field "$a" pid)
	pb=$(actor_field "$b" pid)
	on_node 2 run_ray 0 ray-actor call "$a" block ka
	r1=$output
	on_node 2 run_ray 0 ray-actor call "$b" block kb
	r2=$output
	wait_for -t 20 marker_exists "$BATS_TEST_TMPDIR/started.ka.$pa"
	wait_for -t 20 marker_exists "$BATS_TEST_TMPDIR/started.kb.$pb"
	kill_node 1
	wait_for -t 10 bash -c "[[ ! -d /proc/$pa && ! -d /proc/$pb ]]"
	wait_for -t 20 alive_elsewhere "$a" "$w1"
	wait_for -t 20 alive_elsewhere "$b" "$w1"
	# The call on a was in flight and may not be retried.
	on_node 2 run_ray 5 timeout 20 ray-get "$r1"
	assert_regex "$stderr" "$w1"
	# b's call runs again on the new process.
	: >"$BATS_TEST_TMPDIR/go.kb"
	on_node 2 run_ray 0 timeout 20 ray-get "$r2"
	assert_equal "$output" "kb by $(actor_field "$b" pid)"
	# New calls from any node are answered by the new processes.
	for i in 0 2; do
		on_node $i run_ray 0 ray-actor call "$a" pid
		on_node $i run_ray 0 timeout 20 ray-get "$output"
		assert_equal "$output" "$(actor_field "$a" pid)"
		[[ -d /proc/$output ]]
	done
	# Its new process is a child of its new node's daemon.
	local host hi
	host=$(actor_field "$a" node_id)
	for i in 0 2; do [[ $(node_id $i) == "$host" ]] && hi=$i; done
	assert_equal "$(ppid "$(actor_field "$a" pid)")" "$(node_pid "$hi")"
}

@test "ray-actor kill takes several actors, on several nodes" {
	start_cluster 2
	make_line_actor
	local a b pa pb
	run_ray 0 ray-actor create --node "$(node_id 0)" -- "$BATS_TEST_TMPDIR/actor.sh"
	a=$output
	run_ray 0 ray-actor create --node "$(node_id 1)" -- "$BATS_TEST_TMPDIR/actor.sh"
	b=$output
	wait_for -t 20 actor_in_state "$a" ALIVE
	wait_for -t 20 actor_in_state "$b" ALIVE
	pa=$(actor_field "$a" pid)
	pb=$(actor_field "$b" pid)
	on_node 1 run_ray 0 ray-actor kill "$a" "$b"
	assert_equal "$(actor_field "$a" state)" DEAD
	assert_equal "$(actor_field "$b" state)" DEAD
	wait_for -t 10 bash -c "[[ ! -d /proc/$pa && ! -d /proc/$pb ]]"
	run_ray 10 ray-actor kill 0123456789abcdef0123456789abcdef "$a"
}

@test "--pg: an actor in each bundle of a STRICT_SPREAD group runs on that bundle's node" {
	start_cluster 3
	make_line_actor
	local pg i a nodes=()
	run_ray 0 ray-pg create --strategy STRICT_SPREAD CPU=1 CPU=1 CPU=1
	pg=$output
	for i in 0 1 2; do
		run_ray 0 ray-actor create --cpus 1 --pg "$pg" --bundle $i -- "$BATS_TEST_TMPDIR/actor.sh"
		a=$output
		wait_for -t 20 actor_in_state "$a" ALIVE
		nodes+=("$(actor_field "$a" node_id)")
		run_ray 0 ray-actor call "$a" echo "b$i"
		run_ray 0 ray-get "$output"
		assert_equal "$output" "b$i"
	done
	# Three bundles, three distinct nodes.
	assert_equal "$(printf '%s\n' "${nodes[@]}" | sort -u | wc -l)" 3
}

@test "a GPU actor lands on the only GPU node and keeps its device; --strategy spread actors take distinct nodes" {
	WORKER_OPTS=(--gpus 0)
	start_cluster 3 --gpus 0
	d=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$d")
	CLUSTER_DIRS[3]=$d
	out=$(RAY_TMPDIR=$d timeout 30 ray-node start --address "$RAY_ADDRESS" --cpus 2 --gpus 2 3>&-)
	_record 3 "$out"
	wait_for nodes_alive "$RAY_ADDRESS" 4
	run_ray 0 ray-actor create --gpus 1 -- sh -c 'while read -r m; do echo "$RAY_NODE_ID:$CUDA_VISIBLE_DEVICES"; done'
	a=$output
	wait_for -t 20 actor_in_state "$a" ALIVE
	run_ray 0 ray-actor call "$a" where
	run_ray 0 ray-get "$output"
	assert_output "$(node_id 3):0"
	# The device is held for the actor's life: a GPU task there gets the other.
	run_ray 0 ray-submit --gpus 1 --get -- sh -c 'echo "$CUDA_VISIBLE_DEVICES"'
	assert_output 1
	# Spread: three actors, three different nodes.
	nodes=()
	for i in 1 2 3; do
		run_ray 0 ray-actor create --strategy spread -- sh -c 'while read -r m; do echo "$RAY_NODE_ID"; done'
		wait_for -t 20 actor_in_state "$output" ALIVE
		run_ray 0 ray-actor call "$output" where
		run_ray 0 ray-get "$output"
		nodes+=("$output")
	done
	assert_equal "$(printf '%s\n' "${nodes[@]}" | sort -u | wc -l)" 3
}
