#!/usr/bin/env bats
# Hardening: what a local or remote user without the token, or a careless
# one, can do to a node and the tools: lock-out, disk fill, session
# hijack, stdin closed, NUL bytes, huge counts, control characters.

load lib/helpers

RAW="$BATS_TEST_DIRNAME/lib/rawclient.py"

teardown() {
	[[ -n "${HOLDER:-}" ]] && kill "$HOLDER" 2>/dev/null
	stop_all
}

# node_log_file: the running node's node.log.
node_log_file() {
	echo "$(dirname "$(readlink -f "$RAY_TMPDIR/latest")")/$(basename "$(readlink "$RAY_TMPDIR/latest")")/logs/node.log"
}

@test "a flood of unauthenticated connections locks out neither the Unix socket nor other clients" {
	start_node
	local ready=$BATS_TEST_TMPDIR/held sock
	python3 "$RAW" hold 4200 127.0.0.2 "$ready" 3>&- &
	HOLDER=$!
	wait_for -t 30 test -e "$ready"
	sock=$(readlink -f "$RAY_TMPDIR/latest")/node.sock
	RAY_ADDRESS=$sock run_ray 0 ray-put - <<<"over the unix socket"
	RAY_ADDRESS=$sock run_ray 0 ray-get "$output"
	assert_output "over the unix socket"
	# Over TCP, from another source address than the flood's.
	run_ray 0 ray-put - <<<"over tcp"
	run_ray 0 ray-get "$output"
	assert_output "over tcp"
}

@test "failed handshakes do not fill the log" {
	start_node
	local log before after
	log=$(node_log_file)
	before=$(stat -c %s "$log")
	run_ray 0 python3 "$RAW" badauth 300
	after=$(stat -c %s "$log")
	echo "# node.log grew by $((after - before)) bytes"
	assert [ $((after - before)) -lt 4000 ]
	run_ray 0 ray-put - <<<"still here"
}
