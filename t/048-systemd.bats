#!/usr/bin/env bats
# share/systemd: the head and worker units are valid for systemd, and
# their ExecStart lines, run as systemd would (foreground, with the
# unit's environment), make a cluster that stops cleanly on SIGTERM.

load lib/helpers

UNITS="$BATS_TEST_DIRNAME/../share/systemd"

teardown() {
	stop_all
}

# exec_start UNIT: the unit's ExecStart with our bin/ for /usr/bin.
exec_start() {
	sed -n 's|^ExecStart=/usr/bin/|'"$BATS_TEST_DIRNAME"'/../bin/|p' "$UNITS/$1"
}

@test "systemd: both units pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	local u
	for u in ray-head.service ray-worker.service; do
		sed "s|/usr/bin/ray-node|$BATS_TEST_DIRNAME/../bin/ray-node|" "$UNITS/$u" > "$BATS_TEST_TMPDIR/$u"
		run_ray 0 systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/$u"
		assert_equal "$stderr" ""
	done
}

@test "systemd: the units' commands start a head and a worker that joins; SIGTERM stops each cleanly" {
	local token=$BATS_TEST_TMPDIR/token hd wd port hpid wpid
	head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$token"
	chmod 0600 "$token"
	hd=$(_ray_new_tmpdir)
	wd=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$hd" "$wd")
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	# As systemd runs them: the unit's command, its variables set.
	RAY_TMPDIR=$hd RAY_HOST=127.0.0.1 RAY_PORT=$port RAY_NODE_OPTS="--cpus 1" \
		bash -c "exec $(exec_start ray-head.service | sed "s|/etc/ray/token|$token|")" \
		> "$BATS_TEST_TMPDIR/head.out" 2>&1 3>&- &
	hpid=$!
	RAY_TEST_PIDS+=("$hpid")
	head_up() { compgen -G "$hd/node-*/node.sock" >/dev/null; }
	wait_for -t 30 head_up
	RAY_TMPDIR=$wd RAY_HEAD=127.0.0.1:$port RAY_HOST=127.0.0.1 RAY_NODE_OPTS="--cpus 1" \
		bash -c "exec $(exec_start ray-worker.service | sed "s|/etc/ray/token|$token|")" \
		> "$BATS_TEST_TMPDIR/worker.out" 2>&1 3>&- &
	wpid=$!
	RAY_TEST_PIDS+=("$wpid")
	two_alive() {
		[[ $(RAY_TMPDIR=$hd RAY_TOKEN_FILE=$token ray-status nodes --state ALIVE 2>/dev/null | wc -l) -eq 2 ]]
	}
	wait_for -t 30 two_alive
	kill -TERM "$wpid"
	run timeout 30 tail --pid="$wpid" -f /dev/null
	assert_success
	kill -TERM "$hpid"
	wait "$hpid"
	# A clean stop removes the session.
	run bash -c "ls -d '$hd'/node-* '$wd'/node-* 2>/dev/null"
	assert_output ""
}
