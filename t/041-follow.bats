#!/usr/bin/env bats
# ray-status logs --follow and ray-job logs --follow: the log as it grows,
# until its task, actor or job ends, then that one's exit status.

load lib/helpers
load lib/cluster

G=

setup() {
	G=$BATS_TEST_TMPDIR/gate
}

# follow_bg OUT CMD...: runs CMD in the background with stdout in OUT,
# stderr in OUT.err; FPID is its pid.
follow_bg() {
	local out=$1
	shift
	timeout "$RAY_TEST_TIMEOUT" "$@" >"$out" 2>"$out.err" 3>&- &
	FPID=$!
}

# has_line FILE LINE: for wait_for.
has_line() {
	grep -qx -- "$2" "$1"
}

# wait_rc PID: waits for a background child; RC is its exit status.
wait_rc() {
	RC=0
	wait "$1" || RC=$?
}

# A task's shell line: writes "one", waits for the gate file, writes
# "two", exits with $RC (its --env, default 0).
gated() {
	echo "echo one >&2; while [ ! -e '$G' ]; do sleep 0.05; done; echo two >&2; exit \${RC:-0}"
}

@test "ray-status logs --follow prints the log as it grows and exits 0 when the task succeeds" {
	start_node
	run_ray 0 ray-submit -- sh -c "$(gated)"
	local ref=$output
	follow_bg "$BATS_TEST_TMPDIR/f" ray-status logs --follow "$ref"
	wait_for -t 20 has_line "$BATS_TEST_TMPDIR/f" one
	# Still following: the task waits for the gate.
	run kill -0 "$FPID"
	assert_success
	touch "$G"
	wait_rc "$FPID"
	assert_equal "$RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/f")" "$(printf 'one\ntwo')"
	# Without --follow the log is there whole.
	run_ray 0 ray-status logs -f "${ref:0:32}"
	assert_equal "$output" "$(printf 'one\ntwo')"
}

@test "ray-status logs --follow exits as ray-get would: 1 failed, 7 cancelled" {
	start_node
	run_ray 0 ray-submit --env RC=3 -- sh -c "$(gated)"
	local failed=$output
	follow_bg "$BATS_TEST_TMPDIR/f" ray-status logs --follow "$failed"
	wait_for -t 20 has_line "$BATS_TEST_TMPDIR/f" one
	touch "$G"
	wait_rc "$FPID"
	assert_equal "$RC" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR/f")" "$(printf 'one\ntwo')"
	rm -f "$G"
	run_ray 0 ray-submit -- sh -c "$(gated)"
	local ref=$output
	follow_bg "$BATS_TEST_TMPDIR/c" ray-status logs --follow "$ref"
	wait_for -t 20 has_line "$BATS_TEST_TMPDIR/c" one
	run_ray 0 ray-cancel --force "$ref"
	wait_rc "$FPID"
	assert_equal "$RC" 7
	run_ray 1 ray-get --timeout 5 "$failed"
}

@test "ray-status logs --follow of an actor ends with exit 5 when it is killed" {
	start_node
	run_ray 0 ray-actor create -- sh -c 'echo ready >&2; while read -r l; do echo "got $l" >&2; echo ok; done'
	local a=$output
	follow_bg "$BATS_TEST_TMPDIR/f" ray-status logs --follow "$a"
	wait_for -t 20 has_line "$BATS_TEST_TMPDIR/f" ready
	run_ray 0 ray-actor call "$a" ping
	run_ray 0 ray-get "$output"
	wait_for -t 20 has_line "$BATS_TEST_TMPDIR/f" "got ping"
	run_ray 0 ray-actor kill "$a"
	wait_rc "$FPID"
	assert_equal "$RC" 5
}

@test "ray-status logs --follow of a task on another node" {
	start_cluster 2
	run_ray 0 ray-submit --node "$(node_id 1)" -- sh -c "$(gated)"
	local ref=$output
	follow_bg "$BATS_TEST_TMPDIR/f" ray-status logs --follow "$ref"
	wait_for -t 20 has_line "$BATS_TEST_TMPDIR/f" one
	wait_for -t 20 task_in_state "${ref:0:32}" RUNNING
	run task_field "${ref:0:32}" node_id
	assert_success
	assert_output "$(node_id 1)"
	touch "$G"
	wait_rc "$FPID"
	assert_equal "$RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/f")" "$(printf 'one\ntwo')"
}

@test "ray-job logs --follow: a submitted job's output until it ends; 0, 1 or 7" {
	start_node
	run_ray 0 ray-job submit -- sh -c "echo start; while [ ! -e '$G' ]; do sleep 0.05; done; echo end"
	local job=$output
	follow_bg "$BATS_TEST_TMPDIR/f" ray-job logs --follow "$job"
	wait_for -t 20 has_line "$BATS_TEST_TMPDIR/f" start
	run kill -0 "$FPID"
	assert_success
	touch "$G"
	wait_rc "$FPID"
	assert_equal "$RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/f")" "$(printf 'start\nend')"
	run_ray 0 ray-job submit -- sh -c 'echo bad; exit 4'
	run_ray 1 ray-job logs --follow "$output"
	assert_equal "$output" bad
	run_ray 0 ray-job submit -- sh -c 'echo long; exec sleep 600'
	local long=$output
	follow_bg "$BATS_TEST_TMPDIR/s" ray-job logs -f "$long"
	wait_for -t 20 has_line "$BATS_TEST_TMPDIR/s" long
	run_ray 0 ray-job stop "$long"
	wait_rc "$FPID"
	assert_equal "$RC" 7
}

@test "ray-job logs --follow of a run job says where its output went and waits for its end" {
	start_node
	follow_bg "$BATS_TEST_TMPDIR/run" ray-job run -- sh -c "while [ ! -e '$G' ]; do sleep 0.05; done"
	local runner=$FPID
	wait_for -t 20 bash -c 'ray-job list | grep -q RUNNING'
	local job
	job=$(ray-job list | awk '$2 == "RUNNING" { print $1 }')
	follow_bg "$BATS_TEST_TMPDIR/f" ray-job logs --follow "$job"
	wait_for -t 20 grep -q 'was run by ray-job run' "$BATS_TEST_TMPDIR/f.err"
	touch "$G"
	wait_rc "$runner"
	assert_equal "$RC" 0
	wait_rc "$FPID"
	assert_equal "$RC" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/f")" ""
}

@test "--follow: bad uses are usage errors, unknown ids exit 10" {
	start_node
	run_ray 2 ray-status tasks --follow
	assert_regex "$stderr" "^ray-status: --follow is for logs"
	run_ray 2 ray-job list --follow
	assert_regex "$stderr" "^ray-job: --follow is for logs"
	run_ray 2 ray-job logs --follow NOTAJOB
	run_ray 10 ray-job logs --follow 0badbeef
	run_ray 10 ray-status logs --follow 0123456789abcdef0123456789abcdef
}
