#!/usr/bin/env bats
# Two nodes on a real network: each in its own network namespace, joined
# by a veth pair with distinct addresses (--host).  A task crosses the
# link; then the link is cut (ip link set down), the remote node is
# declared DEAD and the task it was running is retried on the head.
# Needs root and a working `ip netns`; skipped with the reason otherwise.

load lib/helpers

NET=10.213.77

setup() {
	if [[ $(id -u) != 0 ]]; then
		skip "needs root to make network namespaces (ip netns)"
	fi
	if ! command -v ip >/dev/null; then
		skip "needs the ip command (iproute2)"
	fi
	NSA=rayA$$
	NSB=rayB$$
	VA=rva$$
	VB=rvb$$
	if ! ip netns add "$NSA" 2>"$BATS_TEST_TMPDIR/ip.err"; then
		skip "ip netns does not work here: $(head -1 "$BATS_TEST_TMPDIR/ip.err")"
	fi
	ip netns add "$NSB"
	ip link add "$VA" type veth peer name "$VB"
	ip link set "$VA" netns "$NSA"
	ip link set "$VB" netns "$NSB"
	ip -n "$NSA" addr add "$NET.1/24" dev "$VA"
	ip -n "$NSB" addr add "$NET.2/24" dev "$VB"
	ip -n "$NSA" link set lo up
	ip -n "$NSB" link set lo up
	ip -n "$NSA" link set "$VA" up
	ip -n "$NSB" link set "$VB" up
	DIRA=$(_ray_new_tmpdir)
	DIRB=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$DIRA" "$DIRB")
}

teardown() {
	stop_all
	ip netns del "${NSA:-none}" 2>/dev/null
	ip netns del "${NSB:-none}" 2>/dev/null
	return 0
}

# in_a CMD...: CMD in namespace A against the head; in_b: in B against B.
# Commands (run_ray runs them under timeout), written by start_pair.
in_a() { "$BATS_TEST_TMPDIR/in_a" "$@"; }
in_b() { "$BATS_TEST_TMPDIR/in_b" "$@"; }

# make_in NAME NS DIR ADDR: writes the wrapper script NAME.
make_in() {
	printf '#!/bin/sh\nRAY_TMPDIR=%q RAY_ADDRESS=%q exec ip netns exec %q "$@"\n' "$3" "$4" "$2" \
		>"$BATS_TEST_TMPDIR/$1"
	chmod +x "$BATS_TEST_TMPDIR/$1"
}

start_pair() {
	local out
	out=$(RAY_TMPDIR=$DIRA RAY_NODE_DEAD_TIMEOUT=2 timeout 30 \
		ip netns exec "$NSA" ray-node start --head --host "$NET.1" --port 0 --cpus 2 3>&-) || return 1
	eval "$out"
	ADDRA=$RAY_ADDRESS
	IDA=$RAY_NODE_ID
	export RAY_TOKEN_FILE
	[[ $ADDRA == "$NET.1:"* ]]
	out=$(RAY_TMPDIR=$DIRB timeout 30 ip netns exec "$NSB" \
		ray-node start --address "$ADDRA" --host "$NET.2" --port 0 --cpus 2 3>&-) || return 1
	ADDRB=$(sed -n 's/^RAY_ADDRESS=\([^;]*\);.*/\1/p' <<<"$out")
	IDB=$(sed -n 's/^RAY_NODE_ID=\([^;]*\);.*/\1/p' <<<"$out")
	[[ $ADDRB == "$NET.2:"* ]]
	make_in in_a "$NSA" "$DIRA" "$ADDRA"
	make_in in_b "$NSB" "$DIRB" "$ADDRB"
	INA=$BATS_TEST_TMPDIR/in_a
	INB=$BATS_TEST_TMPDIR/in_b
	wait_for -t 10 in_a_alive 2
}

in_a_alive() {
	local out
	out=$(in_a timeout 10 ray-status nodes --json) || return 1
	jq -e --argjson n "$1" '[.[] | select(.state == "ALIVE")] | length == $n' <<<"$out" >/dev/null
}

b_state() {
	local out
	out=$(in_a timeout 10 ray-status nodes --json) || return 1
	jq -e --arg id "$IDB" --arg s "$1" 'any(.[]; .node_id == $id and .state == $s)' <<<"$out" >/dev/null
}

running_on_b() {
	local out
	out=$(in_b timeout 10 ray-status tasks --json --state RUNNING) || return 1
	jq -e 'length > 0' <<<"$out" >/dev/null
}

@test "netns: tasks and objects cross a veth link between two namespaces" {
	start_pair
	run_ray 0 "$INA" ray-submit --get --node "$IDB" -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$IDB"
	run_ray 0 "$INA" ray-put <<<"made in A"
	local ref=$output
	run_ray 0 "$INA" ray-submit --get --node "$IDB" --stdin "$ref" -- tr a-z A-Z
	assert_output "MADE IN A"
	run_ray 0 "$INB" ray-get "$ref"
	assert_output "made in A"
	run_ray 0 "$INB" ray-submit -- sh -c 'echo from $RAY_NODE_ID'
	run_ray 0 "$INA" ray-get "$output"
	assert_output "from $IDB"
}

@test "netns: off the loopback the link is encrypted by default: a capture of the veth shows no payload" {
	command -v tcpdump >/dev/null || skip "needs tcpdump (make deps installs it)"
	start_pair
	ip netns exec "$NSA" tcpdump -i "$VA" --immediate-mode -U -w "$BATS_TEST_TMPDIR/veth.pcap" tcp \
		2>"$BATS_TEST_TMPDIR/tcpdump.err" &
	local cap=$!
	RAY_TEST_PIDS+=("$cap")
	wait_for -t 10 grep -q "listening on" "$BATS_TEST_TMPDIR/tcpdump.err"
	local secret=crossing-$RANDOM$RANDOM
	run_ray 0 "$INA" ray-put <<<"$secret"
	local ref=$output
	# B pulls the object from A and runs a command line that names it.
	run_ray 0 "$INB" ray-get "$ref"
	assert_output "$secret"
	run_ray 0 "$INA" ray-submit --get --node "$IDB" -- echo "command-$secret"
	assert_output "command-$secret"
	kill -INT "$cap"
	wait "$cap" || true
	grep -a -q RAYTOOL1 "$BATS_TEST_TMPDIR/veth.pcap"
	! grep -a -q "$secret" "$BATS_TEST_TMPDIR/veth.pcap"
}

@test "netns: cutting the link gets the remote node declared DEAD and its task retried on the head" {
	start_pair
	run_ray 0 "$INA" ray-submit --node "$IDB:soft" -- sh -c 'sleep 3; echo ran on $RAY_NODE_ID attempt $RAY_ATTEMPT'
	local ref=$output
	wait_for -t 10 running_on_b
	ip -n "$NSA" link set "$VA" down
	wait_for -t 10 b_state DEAD
	run_ray 0 "$INA" ray-get "$ref"
	assert_output "ran on $IDA attempt 1"
	run_ray 0 "$INA" ray-status
	assert_regex "$output" '1 alive, 1 dead'
}
