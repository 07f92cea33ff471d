#!/usr/bin/env bats
# ray-autoscale: launches a node through --up when tasks wait (with their
# shape in the environment), never above --max-nodes, removes a worker idle
# for --idle-timeout through --down (RAY_NODE_ID set), keeps --min-nodes.
# Here --up starts a node on this host in a fresh RAY_TMPDIR.

load lib/helpers

setup() {
	NODES=$BATS_TEST_TMPDIR/nodes
	mkdir -p "$NODES"
	# up: one more node, of the wanted CPUs, joining the head.
	cat > "$BATS_TEST_TMPDIR/up.sh" <<-'SH'
	#!/bin/sh
	set -e
	env | grep '^RAY_AUTOSCALE_' | sort > "$NODES/up.env.$$"
	d=$(mktemp -d "$NODES/w.XXXX")
	cpus=${RAY_AUTOSCALE_CPUS:-1}
	[ "$cpus" = 0 ] && cpus=1
	RAY_TMPDIR=$d ray-node start --address "$RAY_ADDRESS" --port 0 --cpus "$cpus" 3>&- >/dev/null
	SH
	# down: stop the node RAY_NODE_ID, found by its session.
	cat > "$BATS_TEST_TMPDIR/down.sh" <<-'SH'
	#!/bin/sh
	for s in "$NODES"/w.*/node-"$RAY_NODE_ID"; do
		RAY_TMPDIR=${s%/node-*} ray-node stop 3>&- >/dev/null
	done
	echo "$RAY_NODE_ID $RAY_NODE_ADDRESS" >> "$NODES/downed"
	SH
	chmod +x "$BATS_TEST_TMPDIR/up.sh" "$BATS_TEST_TMPDIR/down.sh"
	export NODES
}

teardown() {
	[[ -n "${AS_PID:-}" ]] && kill -TERM "$AS_PID" 2>/dev/null
	local d
	for d in "$NODES"/w.*; do
		[[ -d "$d" ]] && RAY_TMPDIR=$d timeout 30 ray-node stop 3>&- >/dev/null 2>&1
	done
	stop_all
}

alive_is() {
	[[ $(ray-status nodes --state ALIVE 2>/dev/null | wc -l) -eq $1 ]]
}

# autoscale ARGS...: ray-autoscale in the background, actions to $AS_OUT.
autoscale() {
	AS_OUT=$BATS_TEST_TMPDIR/actions
	ray-autoscale --up "$BATS_TEST_TMPDIR/up.sh" --down "$BATS_TEST_TMPDIR/down.sh" \
		--interval 0.2 "$@" > "$AS_OUT" 2> "$BATS_TEST_TMPDIR/autoscale.err" 3>&- &
	AS_PID=$!
	RAY_TEST_PIDS+=("$AS_PID")
}

@test "autoscale: a task too big for the head gets a node of its shape; never above --max-nodes; the idle worker goes" {
	start_node --cpus 1
	autoscale --max-nodes 2 --cooldown 0.5 --idle-timeout 2
	# Two tasks of 2 CPUs: one node fits one at a time; --max-nodes 2
	# forbids a second launch while the other waits.
	run_ray 0 sh -c 'ray-submit --cpus 2 -- sh -c "sleep 2; echo a" > "$BATS_TEST_TMPDIR/refs"
	                 ray-submit --cpus 2 -- sh -c "sleep 2; echo b" >> "$BATS_TEST_TMPDIR/refs"'
	RAY_TEST_TIMEOUT=90 run_ray 0 sh -c 'ray-get < "$BATS_TEST_TMPDIR/refs"'
	assert_output $'a\nb'
	run grep -c '^up' "$AS_OUT"
	assert_output 1
	run cat "$NODES"/up.env.*
	assert_line RAY_AUTOSCALE_CPUS=2
	assert_line RAY_AUTOSCALE_INFEASIBLE=1
	assert_line RAY_AUTOSCALE_REASON=infeasible
	grep -qE $'^up\tinfeasible\tCPUS=2\t' "$AS_OUT"
	# Idle for --idle-timeout: --down with its id; the head stays.
	wait_for -t 60 test -s "$NODES/downed"
	wait_for -t 30 alive_is 1
	local worker
	worker=$(cut -d' ' -f1 "$NODES/downed")
	[[ "$worker" != "$RAY_NODE_ID" ]]
	grep -qE $'^down\t'"$worker"$'\t127\\.0\\.0\\.1:[0-9]+$' "$AS_OUT"
	run ray-status nodes --state ALIVE
	assert_regex "$output" "^$RAY_NODE_ID"
	kill -TERM "$AS_PID"
	wait "$AS_PID"
	AS_PID=
}

@test "autoscale: --min-nodes launches with no work; no node goes below it" {
	start_node --cpus 1
	autoscale --min-nodes 2 --max-nodes 3 --cooldown 0.2 --idle-timeout 0.5
	wait_for -t 60 alive_is 2
	grep -qE $'^up\tmin-nodes\t' "$AS_OUT"
	kill -TERM "$AS_PID"
	wait "$AS_PID"
	AS_PID=
	[[ $(grep -c '^up' "$AS_OUT") -eq 1 ]]
	# One round with no idle grace: two nodes are the minimum, so the idle
	# worker stays; with a minimum of one it goes.
	run_ray 0 ray-autoscale --once --min-nodes 2 --idle-timeout 0 --cooldown 0 \
		--up "$BATS_TEST_TMPDIR/up.sh" --down "$BATS_TEST_TMPDIR/down.sh"
	assert_output ''
	[[ ! -e "$NODES/downed" ]]
	run_ray 0 ray-autoscale --once --min-nodes 1 --idle-timeout 0 --cooldown 0 \
		--up "$BATS_TEST_TMPDIR/up.sh" --down "$BATS_TEST_TMPDIR/down.sh"
	assert_output --regexp $'^down\t[0-9a-f]+\t'
	wait_for -t 30 alive_is 1
}

@test "autoscale: --once --dry-run prints the decision and runs nothing" {
	start_node --cpus 1
	run_ray 0 ray-submit --cpus 4 --resource accel=2 -- true
	run_ray 0 ray-autoscale --once --dry-run --up "$BATS_TEST_TMPDIR/up.sh"
	assert_output $'up\tinfeasible\tCPUS=4\tGPUS=0\tMEMORY=0\tRESOURCES=accel=2\tINFEASIBLE=1'
	run ls "$NODES"
	assert_output ''
}

@test "autoscale: usage errors exit 2; no cluster is exit 8" {
	run_ray 2 ray-autoscale
	assert_regex "$stderr" '^ray-autoscale: --up CMDLINE is required'
	run_ray 2 ray-autoscale --up true --max-nodes 0
	run_ray 2 ray-autoscale --up true --min-nodes 3 --max-nodes 2
	run_ray 2 ray-autoscale --up true --idle-timeout soon
	run_ray 2 ray-autoscale --up true extra
	RAY_TMPDIR=$(_ray_new_tmpdir) RAY_ADDRESS= run_ray 8 ray-autoscale --up true --once
	assert_regex "$stderr" '^ray-autoscale: '
}
