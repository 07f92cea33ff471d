#!/usr/bin/env bats
# Progress on stderr when stderr is a terminal (script(1) gives it one),
# never otherwise: ray-get and ray-wait of many refs, ray-submit --batch.

load lib/helpers

setup() {
	G=$BATS_TEST_TMPDIR/gate
	start_node --cpus 4
}

# on_tty OUT LOG CMD: runs the shell line CMD with a terminal as its
# stderr (stdout to OUT) in the background; what the terminal saw goes
# to LOG.  TPID is script's pid.
on_tty() {
	local out=$1 log=$2
	shift 2
	timeout "$RAY_TEST_TIMEOUT" script -qefc "$* >'$out'" "$log" </dev/null >/dev/null 2>&1 3>&- &
	TPID=$!
}

wait_rc() {
	RC=0
	wait "$1" || RC=$?
}

# Four tasks that print their number once the gate file exists.
gated_refs() {
	local i
	for i in 1 2 3 4; do
		ray-submit -- sh -c "while [ ! -e '$G' ]; do sleep 0.05; done; echo $i" || return 1
	done
}

@test "ray-get of many refs counts them on a terminal's stderr; a pipe sees nothing" {
	run gated_refs
	assert_success
	local refs=$output
	on_tty "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/log" ray-get $refs
	wait_for -t 20 grep -q 'ray-get: 0/4 ready' "$BATS_TEST_TMPDIR/log"
	touch "$G"
	wait_rc "$TPID"
	assert_equal "$RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf '1\n2\n3\n4')"
	run grep -c 'ray-get: 4/4 ready' "$BATS_TEST_TMPDIR/log"
	assert_success
	# Not a terminal: stderr stays empty, the bytes are the same.
	run_ray 0 ray-get $refs
	assert_equal "$output" "$(printf '1\n2\n3\n4')"
	assert_equal "$stderr" ""
}

@test "ray-wait on a terminal counts up to -n K; the refs printed and the timeout are unchanged" {
	run gated_refs
	assert_success
	local refs=$output
	on_tty "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/log" ray-wait -n 2 $refs
	wait_for -t 20 grep -q 'ray-wait: 0/2 ready' "$BATS_TEST_TMPDIR/log"
	touch "$G"
	wait_rc "$TPID"
	assert_equal "$RC" 0
	run wc -l <"$BATS_TEST_TMPDIR/out"
	assert_output 2
	rm -f "$G"
	run gated_refs
	assert_success
	refs=$output
	on_tty "$BATS_TEST_TMPDIR/out2" "$BATS_TEST_TMPDIR/log2" ray-wait --timeout 0.5 $refs
	wait_rc "$TPID"
	assert_equal "$RC" 3
	run grep -c 'ray-wait: 0/4 ready' "$BATS_TEST_TMPDIR/log2"
	assert_success
	run_ray 3 ray-wait --timeout 0.2 $refs
	assert_equal "$stderr" "ray-wait: timed out: 0 of 4 objects ready"
	touch "$G"
}

@test "ray-submit --batch --get on a terminal counts the results; ray-get of one ref draws nothing" {
	local i
	for i in 1 2 3; do echo "while [ ! -e '$G' ]; do sleep 0.05; done; echo r$i"; done >"$BATS_TEST_TMPDIR/cmds"
	on_tty "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/log" "ray-submit --batch --get <'$BATS_TEST_TMPDIR/cmds'"
	wait_for -t 20 grep -q 'ray-submit: 0/3 ready' "$BATS_TEST_TMPDIR/log"
	touch "$G"
	wait_rc "$TPID"
	assert_equal "$RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(printf 'r1\nr2\nr3')"
	run_ray 0 ray-submit -- echo one
	on_tty "$BATS_TEST_TMPDIR/out1" "$BATS_TEST_TMPDIR/log1" ray-get "$output"
	wait_rc "$TPID"
	assert_equal "$RC" 0
	run grep -c 'ready' "$BATS_TEST_TMPDIR/log1"
	assert_failure
}

@test "ray-pg create on a terminal says what it waits for, then erases it; a pipe sees nothing" {
	on_tty "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/log" ray-pg create --strategy STRICT_SPREAD --timeout 0.5 CPU=1 CPU=1
	wait_rc "$TPID"
	assert_equal "$RC" 3
	run grep -c 'ray-pg: waiting for 2 bundles to be placed (STRICT_SPREAD)' "$BATS_TEST_TMPDIR/log"
	assert_success
	run_ray 3 ray-pg create --strategy STRICT_SPREAD --timeout 0.2 CPU=1 CPU=1
	refute_regex "$stderr" 'waiting for'
}

@test "ray-put from a pipe on a terminal counts the bytes and the rate; the object is the input" {
	local src=$BATS_TEST_TMPDIR/src
	head -c 3145728 /dev/urandom >"$src"
	# 1 MiB, then the rest once the gate opens: the count shows meanwhile.
	on_tty "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/log" \
		"{ head -c 1048576 '$src'; while [ ! -e '$G' ]; do sleep 0.05; done; tail -c +1048577 '$src'; } | ray-put"
	wait_for -t 20 grep -qE 'ray-put: [0-9.]+ (bytes|KiB|MiB), [0-9.]+ (bytes|KiB|MiB|GiB)/s' "$BATS_TEST_TMPDIR/log"
	touch "$G"
	wait_rc "$TPID"
	assert_equal "$RC" 0
	run_ray 0 sh -c "ray-get $(cat "$BATS_TEST_TMPDIR/out") | cmp - '$src'"
	# A big file on a terminal is stored whole too; in a pipe, no count.
	head -c 70m /dev/zero >"$BATS_TEST_TMPDIR/big"
	on_tty "$BATS_TEST_TMPDIR/out2" "$BATS_TEST_TMPDIR/log2" ray-put "$BATS_TEST_TMPDIR/big"
	wait_rc "$TPID"
	assert_equal "$RC" 0
	run_ray 0 sh -c "ray-get $(cat "$BATS_TEST_TMPDIR/out2") | cmp - '$BATS_TEST_TMPDIR/big'"
	run_ray 0 sh -c "head -c 2m /dev/zero | ray-put"
	assert_equal "$stderr" ""
}
