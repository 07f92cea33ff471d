#!/usr/bin/env bats
# A cluster on one host: joining and the token, the node table as every
# node sees it, placement (default spill-over, spread, node affinity,
# labels, custom resources, infeasible requests that wait for a node), and
# objects read across nodes (get, @REF, --stdin, wait; a 200 MB object;
# one pull however many tasks need it).

load lib/helpers
load lib/cluster

# node_of REF: the node id a `echo $RAY_NODE_ID` task printed.
node_of() {
	run_ray 0 ray-get "$1"
}

# pulls I: how many objects node I has pulled from other nodes.
pulls() {
	local out
	out=$(on_node "$1" timeout "$RAY_TEST_TIMEOUT" ray-store stats --json) || return 1
	jq -er '.pulls' <<<"$out"
}

@test "a node with the wrong token is refused with exit 8 and never listed" {
	start_cluster 2
	local bad=$BATS_TEST_TMPDIR/badtoken dir
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$bad"
	chmod 600 "$bad"
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	RAY_TMPDIR=$dir RAY_TOKEN_FILE=$bad run_ray 8 ray-node start --address "$RAY_ADDRESS" --port 0 --cpus 1 3>&-
	assert_regex "$stderr" '^ray-node: .*(auth|token|refused)'
	# A client with the wrong token gets nothing either.
	RAY_TOKEN_FILE=$bad run_ray 8 ray-status nodes --json
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get 'length')" 2
	assert_equal "$(json_get '[.[].node_id] | sort | join(" ")')" \
		"$(printf '%s\n' "${CLUSTER_IDS[@]}" | sort | paste -sd' ')"
}

@test "every node lists every node with the documented fields" {
	WORKER_OPTS=(--labels zone=b,disk=ssd --resources foo=2)
	start_cluster 3
	local i j
	for i in 0 1 2; do
		wait_for -t 10 nodes_alive "$(node_addr $i)" 3
		on_node $i run_ray 0 ray-status nodes --json
		assert_equal "$(json_get 'length')" 3
		for j in 0 1 2; do
			run jq -ec --arg id "$(node_id $j)" '.[] | select(.node_id == $id)' <<<"$output"
			assert_success
			local rec=$output
			jq -e 'has("node_id") and has("address") and has("state") and has("is_head") and has("pid")
			       and has("labels") and has("resources_total") and has("resources_available")' <<<"$rec"
			assert_equal "$(jq -r .state <<<"$rec")" ALIVE
			assert_equal "$(jq -r .address <<<"$rec")" "$(node_addr $j)"
			assert_equal "$(jq -r .pid <<<"$rec")" "$(node_pid $j)"
			assert_equal "$(jq -r .is_head <<<"$rec")" "$([[ $j == 0 ]] && echo true || echo false)"
			assert_equal "$(jq -r .resources_total.CPU <<<"$rec")" 2
			if ((j > 0)); then
				assert_equal "$(jq -r .labels.zone <<<"$rec")" b
				assert_equal "$(jq -r .labels.disk <<<"$rec")" ssd
				assert_equal "$(jq -r .resources_total.foo <<<"$rec")" 2
			else
				assert_equal "$(jq -c .labels <<<"$rec")" '{}'
			fi
			jq -e '.resources_available.CPU | type == "number"' <<<"$rec"
			output=$(on_node $i timeout "$RAY_TEST_TIMEOUT" ray-status nodes --json)
		done
	done
	run_ray 0 ray-status
	assert_regex "$output" '3 alive'
}

@test "default scheduling: local first, spills over to the others when busy" {
	start_cluster 3
	# Idle: the submitting node runs it, whichever node that is.
	node_of "$(ray-submit -- sh -c 'echo $RAY_NODE_ID')"
	assert_output "$(node_id 0)"
	on_node 2 run_ray 0 ray-submit --get -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id 2)"
	# Six 1-CPU sleepers on three 2-CPU nodes: all three are used.
	local cmds i
	for i in 1 2 3 4 5 6; do
		cmds+='sleep 1; echo $RAY_NODE_ID'$'\n'
	done
	run_ray 0 ray-submit --batch <<<"$cmds"
	run_ray 0 ray-get <<<"$output"
	assert_equal "$(sort -u <<<"$output" | wc -l)" 3
	assert_equal "$(grep -c "$(node_id 0)" <<<"$output")" 2
}

@test "--strategy spread reaches every node" {
	start_cluster 3
	local cmds i
	for i in 1 2 3 4 5 6; do
		cmds+='echo $RAY_NODE_ID'$'\n'
	done
	run_ray 0 ray-submit --strategy spread --batch <<<"$cmds"
	run_ray 0 ray-get <<<"$output"
	assert_equal "$(sort -u <<<"$output" | wc -l)" 3
}

@test "--node ID pins hard (waits for that node), --node ID:soft prefers" {
	start_cluster 3
	local w1 cmds i refs
	w1=$(node_id 1)
	# Four 1-CPU tasks pinned to a 2-CPU node: they queue there.
	for i in 1 2 3 4; do
		cmds+='sleep 0.3; echo $RAY_NODE_ID'$'\n'
	done
	run_ray 0 ray-submit --node "$w1" --batch <<<"$cmds"
	run_ray 0 ray-get <<<"$output"
	assert_equal "$(sort -u <<<"$output")" "$w1"
	run_ray 0 ray-submit --get --node "$(node_id 2):soft" -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id 2)"
	# A soft pin to a busy node runs elsewhere.
	run_ray 0 ray-submit --node "$w1" --cpus 2 --name hog -- sleep 3
	local hog=$output
	wait_for on_node 1 task_in_state "${hog:0:32}" RUNNING
	run_ray 0 ray-submit --get --node "$w1:soft" -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id 0)"
	run_ray 0 ray-get "$hog"
	# A hard pin to an unknown node is refused.
	run_ray 10 ray-submit --node 0123456789abcdef -- true
	run_ray 2 ray-submit --node "$w1:bogus" -- true
}

@test "--label selects hard, --prefer-label soft" {
	WORKER_OPTS=(--labels zone=b)
	start_cluster 2
	add_node --labels zone=c
	local c=$NEW
	run_ray 0 ray-submit --get --label zone=c -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id $c)"
	run_ray 0 ray-submit --get --label zone=b -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id 1)"
	run_ray 0 ray-submit --get --prefer-label zone=c -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id $c)"
	# No node has it: a preference is only a preference...
	run_ray 0 ray-submit --get --prefer-label zone=nowhere -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id 0)"
	# ...a hard label waits, with a warning.
	run_ray 0 ray-submit --label zone=nowhere -- true
	assert_regex "$stderr" 'zone=nowhere'
	run_ray 3 ray-wait --timeout 0.5 "$output"
}

@test "custom resources: only the nodes that have them run the task" {
	start_cluster 2
	add_node --resources foo=1
	local f=$NEW cmds i
	for i in 1 2 3; do
		cmds+='sleep 0.2; echo $RAY_NODE_ID'$'\n'
	done
	run_ray 0 ray-submit --resource foo=1 --batch <<<"$cmds"
	run_ray 0 ray-get <<<"$output"
	assert_equal "$(sort -u <<<"$output")" "$(node_id $f)"
	run_ray 0 ray-submit --get --resource foo=0.5 -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id $f)"
}

@test "an infeasible request warns, exits 0, waits, and runs once a fitting node joins" {
	start_cluster 2
	run_ray 0 ray-submit --resource bar=2 -- sh -c 'echo $RAY_NODE_ID'
	local ref=$output
	assert_regex "$stderr" '^ray-submit: .*infeasible.*bar'
	run_ray 3 ray-wait --timeout 0.5 "$ref"
	run_ray 0 ray-submit --cpus 8 -- sh -c 'echo $RAY_NODE_ID'
	local big=$output
	assert_regex "$stderr" 'CPU'
	add_node --resources bar=4
	local b=$NEW
	node_of "$ref"
	assert_output "$(node_id $b)"
	add_node --cpus 8
	node_of "$big"
	assert_output "$(node_id $NEW)"
}

@test "objects across nodes: put on one, get/@REF/--stdin/wait on another" {
	start_cluster 3
	run_ray 0 ray-put <<<"hello from the head"
	local ref=$output
	on_node 1 run_ray 0 ray-get "$ref"
	assert_output "hello from the head"
	on_node 1 run_ray 0 ray-wait "$ref"
	assert_output "$ref"
	on_node 2 run_ray 0 ray-submit --get --node "$(node_id 2)" -- cat "@$ref"
	assert_output "hello from the head"
	on_node 2 run_ray 0 ray-submit --get --node "$(node_id 2)" --stdin "$ref" -- tr a-z A-Z
	assert_output "HELLO FROM THE HEAD"
	on_node 1 run_ray 0 ray-submit --get --node "$(node_id 1)" --batch <<<"wc -c < @$ref"
	assert_output 20
	# A task's result made on node 2, read from node 1 and the head.
	run_ray 0 ray-submit --node "$(node_id 2)" -- sh -c 'echo made on $RAY_NODE_ID'
	local r2=$output
	on_node 1 run_ray 0 ray-get "$r2"
	assert_output "made on $(node_id 2)"
	run_ray 0 ray-get "$r2"
	assert_output "made on $(node_id 2)"
	# A put on a worker, read on the head.
	on_node 1 run_ray 0 ray-put <<<"from w1"
	run_ray 0 ray-get "$output"
	assert_output "from w1"
}

@test "a 200 MB object crosses nodes byte-identical" {
	start_cluster 2
	local f=$BATS_TEST_TMPDIR/big sum
	head -c $((200 << 20)) /dev/urandom >"$f"
	sum=$(sha256sum <"$f" | cut -d' ' -f1)
	run_ray 0 ray-put "$f"
	local ref=$output
	rm -f "$f"
	on_node 1 run_ray 0 ray-submit --get --node "$(node_id 1)" -- sha256sum "@$ref"
	assert_equal "${output%% *}" "$sum"
	on_node 1 run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/back" "$ref"
	assert_equal "$(sha256sum <"$BATS_TEST_TMPDIR/back" | cut -d' ' -f1)" "$sum"
	# And the other way: a task's 200 MB result, read on the head.
	run_ray 0 ray-submit --node "$(node_id 1)" -- sh -c "head -c $((200 << 20)) /dev/zero"
	run_ray 0 ray-submit --get --node "$(node_id 0)" -- sha256sum "@$output"
	assert_equal "${output%% *}" "$(head -c $((200 << 20)) /dev/zero | sha256sum | cut -d' ' -f1)"
}

@test "many tasks on one node needing the same remote object cause one pull" {
	start_cluster 2
	local f=$BATS_TEST_TMPDIR/obj cmds i before
	head -c $((8 << 20)) /dev/urandom >"$f"
	run_ray 0 ray-put "$f"
	local ref=$output
	before=$(pulls 1)
	for i in $(seq 20); do
		cmds+="sha256sum < @$ref"$'\n'
	done
	run_ray 0 ray-submit --node "$(node_id 1)" --batch <<<"$cmds"
	run_ray 0 ray-get <<<"$output"
	assert_equal "$(sort -u <<<"$output")" "$(sha256sum <"$f")"
	assert_equal "$(pulls 1)" $((before + 1))
	# Later readers on that node use the copy.
	on_node 1 run_ray 0 ray-get -o /dev/null "$ref"
	assert_equal "$(pulls 1)" $((before + 1))
}

@test "workers on one host need no --port; a second node in a RAY_TMPDIR exits 2 naming the first" {
	start_node
	local i d out ports=()
	for i in 1 2 3; do
		d=$(_ray_new_tmpdir)
		RAY_TEST_TMPDIRS+=("$d")
		out=$(RAY_TMPDIR=$d timeout 30 ray-node start --address "$RAY_ADDRESS" --cpus 1 3>&-)
		ports+=("$(sed -n 's/^RAY_ADDRESS=[^;]*:\([0-9]*\);.*/\1/p' <<<"$out")")
	done
	[[ ${ports[0]} != "${ports[1]}" && ${ports[1]} != "${ports[2]}" && ${ports[0]} != 6380 ]]
	wait_for nodes_alive "$RAY_ADDRESS" 4
	run_ray 2 ray-node start --head --port 0 3>&-
	[[ "$stderr" == *"$RAY_NODE_ID"* ]]
}

store_count_is() {
	[[ $(on_node "$1" ray-store ls | wc -l) == "$2" ]]
}

@test "ray-store free on the owner frees the copies on the other nodes" {
	start_cluster 3
	local big res
	# A put on the head pulled by node 1, and a result over 64 KiB made on
	# node 2 (its copy there) and read by node 1.
	run_ray 0 ray-put < <(seq 30000)
	big=$output
	run_ray 0 ray-submit --node "$(node_id 2)" -- seq 40000
	res=$output
	on_node 1 run_ray 0 ray-get "$big" "$res"
	assert_equal "$(printf '%s\n' "$output" | sha256sum)" "$( { seq 30000; seq 40000; } | sha256sum)"
	wait_for -t 10 store_count_is 1 2
	wait_for -t 10 store_count_is 2 1
	run_ray 0 ray-store free "$big" "$res"
	wait_for -t 10 store_count_is 1 0
	wait_for -t 10 store_count_is 2 0
	run_ray 10 ray-get "$big"
	on_node 1 run_ray 10 ray-get "$res"
}
