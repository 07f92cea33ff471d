#!/usr/bin/env bats
# Robustness: a daemon fed garbage, half frames, oversized headers or
# clients that vanish drops that peer only and goes on serving the others.

load lib/helpers

RAW="$BATS_TEST_DIRNAME/lib/rawclient.py"

setup() {
	start_node
	NODE_PID=$(node_pid)
}

# still_serving: the daemon lives and answers a real client.
still_serving() {
	assert [ -d "/proc/$NODE_PID" ]
	run_ray 0 ray-put - <<<"still here"
	run_ray 0 ray-get "$output"
	assert_output "still here"
}

@test "garbage instead of the handshake: that peer is dropped" {
	run_ray 0 python3 "$RAW" garbage
	assert_output --partial "ok:"
	# Plain garbage with no handshake read at all.
	run_ray 0 bash -c 'exec 5<>/dev/tcp/${RAY_ADDRESS%:*}/${RAY_ADDRESS##*:}; head -c 100000 /dev/urandom >&5; exec 5>&-'
	still_serving
}

@test "an unauthenticated client announcing a huge frame is dropped without buffering it" {
	run_ray 0 python3 "$RAW" flood
	assert_output --partial "ok:"
	still_serving
	local rss
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$NODE_PID/status")
	assert [ "$rss" -lt 200000 ]
}

@test "an unauthenticated client that stalls is dropped after the handshake deadline" {
	run_ray 0 python3 "$RAW" stall
	assert_output --partial "ok:"
	still_serving
}

@test "a truncated frame, then hanging up, harms no one" {
	run_ray 0 python3 "$RAW" truncated
	still_serving
}

@test "a half-sent frame does not block other clients" {
	run_ray 0 python3 "$RAW" half-frame
	assert_output --partial "ok:"
	still_serving
}

@test "frames over the limits, or not JSON, or without op drop that connection only" {
	local c
	for c in oversized huge-data tiny-json bad-json no-op; do
		run_ray 0 python3 "$RAW" "$c"
		assert_output --partial "ok:"
	done
	still_serving
}

@test "an unknown op gets an error reply and the connection lives on" {
	run_ray 0 python3 "$RAW" unknown-op
	assert_output --partial "ok:"
}

@test "clients that vanish mid-get or mid-put leave the node serving" {
	run_ray 0 ray-submit --name blocker -- sleep 300
	local pending=$output
	# A get killed while it waits.
	run_ray 124 timeout 0.3 ray-get "$pending"
	# A put killed while it streams: its input never ends while it runs,
	# so it cannot finish first, however fast the machine.
	run_ray '?' bash -c '{ head -c 10M /dev/zero; sleep 2; } | timeout -s KILL 0.3 ray-put'
	still_serving
	run_ray 0 ray-cancel "$pending"
	run_ray 7 ray-get --timeout 30 "$pending"
	# Nothing half-written is left listed.
	run_ray 0 ray-store ls --json
	assert_equal "$(json_get '[.[] | select(.size > 1000000)] | length')" 0
}

@test "a task cancelled while blocked in ray-get leaves the CPU count right" {
	start_node --cpus 1
	run_ray 0 ray-submit --name parent -- sh -c 'ray-get "$(ray-submit --name child -- sleep 300)"'
	local parent=$output
	# The parent lends its only CPU to the child while it waits.
	wait_for named_task_in_state child RUNNING
	run_ray 0 ray-cancel --no-recursive "$parent"
	run_ray 7 ray-get --timeout 30 "$parent"
	run_ray 0 ray-status tasks --json --state RUNNING
	run_ray 0 ray-cancel "$(json_get '.[0].ref')"
	wait_for -t 10 cpus_available 1
	run_ray 0 ray-submit --get -- echo freed
	assert_output freed
}

# cpus_available N: the node has exactly N CPUs free.
cpus_available() {
	local out
	out=$(ray-status nodes --json) && [[ "$(jq -r '.[0].resources_available.CPU' <<<"$out")" == "$1" ]]
}

@test "many clients at once are all served" {
	local n
	for n in $(seq 1 40); do
		(timeout 60 ray-put - <<<"client $n" >"$BATS_TEST_TMPDIR/ref.$n" 3>&-) &
	done
	wait
	for n in 1 20 40; do
		run_ray 0 ray-get "$(cat "$BATS_TEST_TMPDIR/ref.$n")"
		assert_output "client $n"
	done
	run_ray 0 ray-store stats --json
	assert_equal "$(json_get .objects)" 40
}
