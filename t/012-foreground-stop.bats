#!/usr/bin/env bats
# ray-node start --foreground stops cleanly on SIGTERM (exit 0) also after
# it served other nodes: its connections' handles are closed once, not
# again by the stop's sweep of every handle (libuv aborted on that: the
# Slurm job of a worker ended with signal 6).

load lib/helpers

@test "a foreground worker that ran a task for the head exits 0 on SIGTERM" {
	start_node --cpus 1
	local wdir out=$BATS_TEST_TMPDIR/worker.err pid id
	wdir=$(_ray_new_tmpdir)
	RAY_TMPDIR=$wdir timeout "$RAY_TEST_TIMEOUT" ray-node start --address "$RAY_ADDRESS" --port 0 \
		--cpus 2 --foreground >"$BATS_TEST_TMPDIR/worker.out" 2>"$out" 3>&- &
	pid=$!
	RAY_TEST_PIDS+=("$pid")
	workers_alive() {
		[[ $(ray-status nodes --state ALIVE | wc -l) -eq 2 ]]
	}
	wait_for -t 30 workers_alive
	id=$(ray-status nodes --json | jq -r '.[] | select(.is_head | not) | .node_id')
	run_ray 0 ray-submit --node "$id" --get -- sh -c 'echo "on $RAY_NODE_ID"'
	assert_output "on $id"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	run cat "$out"
	refute_output --partial Assertion
	assert_equal "$rc" 0
	[[ ! -e "$wdir/node-$id" ]]
}
