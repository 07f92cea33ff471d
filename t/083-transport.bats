#!/usr/bin/env bats
# The encrypted transport: what crosses TCP after the handshake is sealed
# (a capture of the link shows neither an object's bytes nor a task's
# command), a byte altered in flight closes the connection instead of being
# believed, nodes agree on it with each other, and a peer that asks for
# less than a node requires is refused.  On one host the links are on the
# loopback, which stays plain unless --transport encrypted says otherwise.

load lib/helpers
load lib/cluster

RELAY=$BATS_TEST_DIRNAME/lib/fliprelay.py

# capture_start PORT: tcpdump on lo for PORT into $CAP, ready when it says so.
capture_start() {
	CAP=$BATS_TEST_TMPDIR/cap.pcap
	tcpdump -i lo --immediate-mode -U -w "$CAP" "tcp port $1" 2>"$BATS_TEST_TMPDIR/tcpdump.err" &
	CAP_PID=$!
	RAY_TEST_PIDS+=("$CAP_PID")
	wait_for -t 10 grep -q "listening on" "$BATS_TEST_TMPDIR/tcpdump.err"
}

capture_stop() {
	kill -INT "$CAP_PID"
	wait "$CAP_PID" || true
}

# seen WORD: whether WORD appears anywhere in the capture.
seen() {
	grep -a -q "$1" "$CAP"
}

setup() {
	if ! command -v tcpdump >/dev/null; then
		skip "needs tcpdump (make deps installs it)"
	fi
}

@test "--transport encrypted: an object's bytes and a task's command never cross in the clear" {
	start_node --transport encrypted
	capture_start "${RAY_ADDRESS##*:}"
	secret=object-$RANDOM$RANDOM
	cmd=command-$RANDOM$RANDOM
	run_ray 0 ray-put - <<<"$secret"
	ref=$output
	run_ray 0 ray-get "$ref"
	assert_output "$secret"
	run_ray 0 ray-submit --get -- echo "$cmd"
	assert_output "$cmd"
	capture_stop
	# The capture did see the traffic: the handshake's magic is in clear.
	seen RAYTOOL1
	! seen "$secret"
	! seen "$cmd"
}

@test "plain on the loopback by default: the same bytes are visible" {
	start_node
	capture_start "${RAY_ADDRESS##*:}"
	secret=object-$RANDOM$RANDOM
	run_ray 0 ray-put - <<<"$secret"
	run_ray 0 ray-get "$output"
	capture_stop
	seen "$secret"
}

@test "RAY_TRANSPORT=encrypted encrypts on the loopback too" {
	start_node
	capture_start "${RAY_ADDRESS##*:}"
	secret=object-$RANDOM$RANDOM
	RAY_TRANSPORT=encrypted run_ray 0 ray-put - <<<"$secret"
	RAY_TRANSPORT=encrypted run_ray 0 ray-get "$output"
	assert_output "$secret"
	capture_stop
	! seen "$secret"
}

@test "a byte altered in flight closes the connection; nothing wrong is believed" {
	start_node --transport encrypted
	run_ray 0 ray-put - <<<"precious-bytes"
	ref=$output
	port=${RAY_ADDRESS##*:}
	# Node to client: byte 150 is past the handshake (73 + 32), in the
	# node's first record.
	python3 "$RELAY" "127.0.0.1:$port" down 150 "$BATS_TEST_TMPDIR/port" &
	RAY_TEST_PIDS+=("$!")
	wait_for -t 10 test -s "$BATS_TEST_TMPDIR/port"
	RAY_ADDRESS=127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port") run_ray 8 ray-get "$ref"
	refute_output --partial precious
	[[ "$stderr" == *"did not open"* ]]
	# Client to node: byte 140 is in the client's first record.
	python3 "$RELAY" "127.0.0.1:$port" up 140 "$BATS_TEST_TMPDIR/port2" &
	RAY_TEST_PIDS+=("$!")
	wait_for -t 10 test -s "$BATS_TEST_TMPDIR/port2"
	RAY_ADDRESS=127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port2") run_ray 8 ray-get "$ref"
	refute_output --partial precious
	# The node lives on and serves the same object untouched.
	run_ray 0 ray-get "$ref"
	assert_output precious-bytes
}

@test "a client that insists on plain is refused by a node that requires encryption (exit 8)" {
	start_node --transport encrypted
	RAY_TRANSPORT=plain run_ray 8 ray-status
	[[ "$stderr" == *"requires an encrypted transport"* ]]
}

@test "bad --transport and RAY_TRANSPORT values are usage errors (exit 2)" {
	run_ray 2 ray-node start --head --port 0 --transport tls
	[[ "$stderr" == *"--transport"* ]]
	start_node
	RAY_TRANSPORT=tls run_ray 2 ray-status
	[[ "$stderr" == *"RAY_TRANSPORT"* ]]
}

@test "encrypted between nodes: a task and an object cross, checksums intact" {
	WORKER_OPTS=(--transport encrypted)
	start_cluster 2 --transport encrypted
	capture_start "$(node_port 0)"
	head -c 3000000 /dev/urandom >"$BATS_TEST_TMPDIR/blob"
	want=$(sha256sum <"$BATS_TEST_TMPDIR/blob" | cut -d' ' -f1)
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/blob"
	ref=$output
	# Runs on the worker, which pulls the object from the head.
	run_ray 0 ray-submit --get --node "$(node_id 1)" -- sh -c 'sha256sum < "$1" | cut -d" " -f1; echo marker-$RAY_NODE_ID' sh "@$ref"
	assert_line "$want"
	assert_line "marker-$(node_id 1)"
	capture_stop
	! seen "marker-$(node_id 1)"
}

@test "a node that asks for plain cannot join a head that requires encryption" {
	start_node --transport encrypted
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	RAY_TMPDIR=$dir run_ray 8 ray-node start --address "$RAY_ADDRESS" --port 0 --transport plain 3>&-
}
