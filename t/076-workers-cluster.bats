#!/usr/bin/env bats
# Pooled workers on a cluster: --node places the call, and so the worker's
# process, on that node; the head's ray-status workers lists every node's.

load lib/helpers
load lib/cluster

setup() {
	start_cluster 2
	cat >"$BATS_TEST_TMPDIR/worker.sh" <<'EOF2'
#!/bin/bash
while IFS=$'\t' read -r method a; do
	case $method in
	where) echo "$RAY_NODE_ID $$" ;;
	*)     echo "!no method $method" ;;
	esac
done
EOF2
	chmod +x "$BATS_TEST_TMPDIR/worker.sh"
}

@test "--node: the worker runs on that node, a child of its daemon, and is listed there" {
	local w1 pid
	w1=$(node_id 1)
	run_ray 0 ray-submit --worker "$BATS_TEST_TMPDIR/worker.sh" --node "$w1" --get -- where
	assert_regex "$output" "^$w1 [0-9]+$"
	pid=${output#* }
	run descendants "$(node_pid 1)"
	assert_line "$pid"
	run_ray 0 ray-status workers --json
	run json_get "[.[] | select(.node_id == \"$w1\")] | length"
	assert_output 1
	# Calls again on that node reuse the worker.
	run_ray 0 ray-submit --worker "$BATS_TEST_TMPDIR/worker.sh" --node "$w1" --get -- where
	assert_output "$w1 $pid"
}
