#!/usr/bin/env bats
# The summary's object store line is the cluster's: every live node's
# store, summed from their heartbeats; ray-status nodes --json gives each.

load lib/helpers
load lib/cluster

# summary_store FILTER: true when jq FILTER over the summary's store holds.
summary_store() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status --json) || return 1
	jq -e ".store | $1" <<<"$out" >/dev/null
}

@test "the summary's store totals cover every live node, and drop a dead one" {
	WORKER_OPTS=(--object-store-memory 64M)
	start_cluster 3 --object-store-memory 64M
	head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/one"
	head -c 2097152 /dev/urandom >"$BATS_TEST_TMPDIR/two"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/one"
	on_node 1 run_ray 0 ray-put "$BATS_TEST_TMPDIR/two"
	on_node 2 run_ray 0 ray-put "$BATS_TEST_TMPDIR/two"
	wait_for -t 20 summary_store '.objects == 3 and .object_bytes == 5242880 and .capacity_bytes == 3 * 67108864'
	run_ray 0 ray-status --json
	assert_equal "$(json_get '.store.used_bytes >= 5242880')" true
	# This node's own numbers stay in the node object.
	assert_equal "$(json_get '.node.store.objects')" 1
	assert_equal "$(json_get '.node.store.object_bytes')" 1048576
	# The same totals from a worker's view.
	on_node 2 run_ray 0 ray-status --json
	wait_for -t 20 on_node 2 summary_store '.objects == 3 and .capacity_bytes == 3 * 67108864'
	run_ray 0 ray-status
	assert_line --regexp '^Object store: 3 objects, [0-9.]+ MiB used of 192.0 MiB'
	# Each node's store in the node list.
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get "[.[] | select(.node_id == \"$(node_id 1)\") | .store.object_bytes] | .[0]")" 2097152
	assert_equal "$(json_get '[.[].store.capacity_bytes] | add')" $((3 * 67108864))
	# A dead node's store leaves the totals.
	kill_node 2
	wait_for -t 20 node_state_is "$(node_id 2)" DEAD
	wait_for -t 20 summary_store '.objects == 2 and .capacity_bytes == 2 * 67108864'
}
