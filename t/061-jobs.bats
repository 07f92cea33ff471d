#!/usr/bin/env bats
# Jobs: ray-job run/submit/status/logs/stop/list, job-scoped objects, and
# ray-status jobs.

load lib/helpers

setup() {
	start_node --cpus 2
}

# job_status JOB: the status word.
job_status() {
	timeout "$RAY_TEST_TIMEOUT" ray-job status "$1"
}

job_is() {
	[[ "$(job_status "$1")" == "$2" ]]
}

@test "ray-job run: RAY_JOB_ID is set, the exit status is the command's" {
	run_ray 0 ray-job run -- sh -c 'echo "$RAY_JOB_ID"'
	assert_regex "$output" '^[0-9a-f]{8}$'
	assert_not_equal "$output" 00000000
	local id=$output
	run_ray 0 ray-job run -- true
	run_ray 3 ray-job run -- sh -c 'exit 3'
	run_ray 0 ray-job run --namespace team -- sh -c 'echo "$RAY_NAMESPACE"'
	assert_equal "$output" team
	# Killed by a signal: 128 + the signal, like a shell.
	run_ray 137 ray-job run -- sh -c 'kill -9 $$'
	# (run -127 itself: bats warns when a plain run sees 127)
	run -127 --separate-stderr timeout "$RAY_TEST_TIMEOUT" ray-job run -- /nonexistent/driver
	assert_regex "$stderr" "^ray-job: cannot run '/nonexistent/driver': No such file"
	printf '#!/bin/sh\n' >"$BATS_TEST_TMPDIR/noexec"
	run_ray 126 ray-job run -- "$BATS_TEST_TMPDIR/noexec"
	run_ray 0 ray-job status "$id"
	assert_equal "$output" SUCCEEDED
	run_ray 0 ray-job list
	assert_line --regexp "^$id	SUCCEEDED	sh -c echo"
	assert_line --regexp "	FAILED	sh -c exit 3\$"
	assert_line --regexp "	FAILED	/nonexistent/driver\$"
	assert_line --regexp "	FAILED	.*/noexec\$"
}

@test "a job's objects are freed when ray-job run ends; another job's and unscoped ones remain" {
	local d=$BATS_TEST_TMPDIR
	run_ray 0 ray-put - <<<"no job"
	local free=$output
	# Job A stays alive until we let it end.
	ray-job run -- sh -c "echo from-a | ray-put > '$d/a.ref'; ray-submit -- echo task-a > '$d/at.ref';
		while [ ! -e '$d/a.go' ]; do sleep 0.05; done" 3>&- &
	local apid=$!
	wait_for test -s "$d/at.ref"
	# Job B puts, runs a task and a big object, then ends.
	head -c 300000 /dev/urandom >"$d/big"
	run_ray 0 ray-job run -- sh -c "echo from-b | ray-put; ray-put '$d/big'; ray-submit --get -- echo task-b >/dev/null;
		ray-submit -- echo task-b2"
	assert_equal "${#lines[@]}" 3
	local b1=${lines[0]} b2=${lines[1]} bt=${lines[2]}
	run_ray 10 ray-get "$b1"
	assert_regex "$stderr" "unknown ref '$b1'"
	run_ray 10 ray-get "$b2"
	run_ray 10 ray-get "$bt"
	# A's objects and the unscoped one are still there.
	run_ray 0 ray-get "$(cat "$d/a.ref")" "$(cat "$d/at.ref")" "$free"
	assert_equal "$output" "from-a
task-a
no job"
	touch "$d/a.go"
	wait "$apid"
	run_ray 10 ray-get "$(cat "$d/a.ref")"
	run_ray 10 ray-get "$(cat "$d/at.ref")"
	run_ray 0 ray-get "$free"
}

@test "ray-job submit: the head runs the driver detached; status, logs, list" {
	local d=$BATS_TEST_TMPDIR
	run_ray 0 ray-job submit -- sh -c 'echo out; echo err >&2; echo "job=$RAY_JOB_ID"; echo kept | ray-put >/dev/null; exit 0'
	assert_regex "$output" '^[0-9a-f]{8}$'
	local id=$output
	wait_for job_is "$id" SUCCEEDED
	run_ray 0 ray-job logs "$id"
	assert_line out
	assert_line err
	assert_line "job=$id"
	run_ray 0 ray-job submit -- sh -c 'exit 4'
	local bad=$output
	wait_for job_is "$bad" FAILED
	run_ray 0 ray-job status --json "$bad"
	assert_equal "$(json_get .status)" FAILED
	assert_equal "$(json_get .exit_code)" 4
	# The driver runs in the directory ray-job submit was run from.
	cd "$d"
	run_ray 0 ray-job submit -- sh -c 'pwd'
	local wd=$output
	wait_for job_is "$wd" SUCCEEDED
	run_ray 0 ray-job logs "$wd"
	assert_equal "$output" "$d"
	run_ray 0 ray-job list --json
	assert_equal "$(json_get 'length')" 3
	assert_equal "$(json_get "map(select(.job_id == \"$id\")) | .[0].type")" SUBMISSION
	# A command that cannot start: the job is listed as FAILED, exit 2.
	run_ray 2 ray-job submit -- /nonexistent/driver
	assert_regex "$stderr" "cannot run '/nonexistent/driver'"
}

@test "ray-job stop: a submitted driver is stopped (TERM, then KILL); a run driver too" {
	local d=$BATS_TEST_TMPDIR
	run_ray 0 ray-job submit -- sleep 60
	local id=$output
	wait_for job_is "$id" RUNNING
	run_ray 0 ray-job stop "$id"
	wait_for -t 10 job_is "$id" STOPPED
	# One that ignores SIGTERM is killed after the grace period.
	run_ray 0 ray-job submit -- sh -c 'trap "" TERM; echo ready; while :; do sleep 0.1; done'
	local stubborn=$output
	wait_for job_is "$stubborn" RUNNING
	run_ray 0 ray-job stop "$stubborn"
	wait_for -t 15 job_is "$stubborn" STOPPED
	# Stopping an ended job is a no-op.
	run_ray 0 ray-job stop "$id"
	# ray-job run's driver, from another shell.
	ray-job run -- sh -c "echo \$RAY_JOB_ID > '$d/id'; exec sleep 60" 3>&- &
	local rpid=$!
	wait_for test -s "$d/id"
	local rid
	rid=$(cat "$d/id")
	wait_for job_is "$rid" RUNNING
	run_ray 0 ray-job stop "$rid"
	wait "$rpid" || true
	wait_for job_is "$rid" STOPPED
}

@test "a ray-job run that dies without reporting ends its job as FAILED and frees its objects" {
	local d=$BATS_TEST_TMPDIR
	ray-job run -- sh -c "echo x | ray-put > '$d/ref'; echo \$\$ > '$d/pid'; echo \$RAY_JOB_ID > '$d/id'; exec sleep 60" 3>&- &
	local rpid=$!
	wait_for test -s "$d/id"
	wait_for test -s "$d/ref"
	kill -9 "$rpid"
	wait "$rpid" || true
	wait_for job_is "$(cat "$d/id")" FAILED
	run_ray 10 ray-get "$(cat "$d/ref")"
	kill "$(cat "$d/pid")"
}

@test "ray-status jobs --json lists job_id, status, entrypoint, start_time, end_time" {
	run_ray 0 ray-job run -- true
	run_ray 0 ray-job submit -- sleep 30
	local running=$output
	wait_for job_is "$running" RUNNING
	run_ray 0 ray-status jobs --json
	assert_equal "$(json_get 'length')" 2
	assert_equal "$(json_get '.[0].status')" SUCCEEDED
	assert_equal "$(json_get '.[0].entrypoint')" true
	assert [ "$(json_get '.[0].start_time')" -gt 1500000000000 ]
	assert [ "$(json_get '.[0].end_time')" -ge "$(json_get '.[0].start_time')" ]
	assert_equal "$(json_get '.[1].job_id')" "$running"
	assert_equal "$(json_get '.[1].status')" RUNNING
	assert_equal "$(json_get '.[1].end_time')" null
	run_ray 0 ray-status jobs --json --state RUNNING
	assert_equal "$(json_get 'length')" 1
	run_ray 0 ray-job stop "$running"
}

@test "unknown jobs are exit 10, bad ids and usage errors exit 2" {
	run_ray 10 ray-job status 0123abcd
	assert_regex "$stderr" "^ray-job: unknown job '0123abcd'"
	run_ray 10 ray-job logs 0123abcd
	run_ray 10 ray-job stop 0123abcd
	run_ray 2 ray-job status nothex!
	run_ray 2 ray-job status
	run_ray 2 ray-job run
	run_ray 2 ray-job run --namespace
	run_ray 2 ray-job frob
	run_ray 2 ray-job list extra
	run_ray 0 ray-job --help
	assert_line --index 0 --regexp '^usage: ray-job run'
}
