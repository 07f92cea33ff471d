#!/usr/bin/env bats
# Tasks: ray-submit, arguments, returns, environment, failures, retries,
# nesting, infeasible requests and ray-cancel.

load lib/helpers

# until_file FILE: a shell snippet that blocks until FILE exists (bounded).
until_file() {
	echo "i=0; while [ ! -e '$1' ] && [ \$i -lt 1200 ]; do sleep 0.05; i=\$((i+1)); done"
}

@test "the command's stdout is the return object; --get prints it" {
	start_node
	run_ray 0 ray-submit -- echo hello world
	assert_regex "$output" '^[0-9a-f]{1,64}$'
	run_ray 0 ray-get "$output"
	assert_output "hello world"
	run_ray 0 ray-submit --get -- printf '%s|' a 'b c'
	assert_output "a|b c|"
}

@test "@REF reaches the command as a path to the object's bytes" {
	start_node
	printf 'line1\nline2\n' >"$BATS_TEST_TMPDIR/in"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/in"
	local ref=$output
	run_ray 0 ray-submit --get -- wc -l @"$ref"
	assert_regex "$output" '^2 /'
	# A larger object (kept in a file by the store) as well.
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/big"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/big"
	run_ray 0 ray-submit --get -- sha256sum @"$output"
	assert_equal "${output%% *}" "$(sha256sum <"$BATS_TEST_TMPDIR/big" | cut -d' ' -f1)"
	run_ray 0 ray-submit --get -- cat @"$ref" @"$ref"
	assert_output "line1
line2
line1
line2"
	# An object made by another task, and an @REF word in a --batch line.
	run_ray 0 ray-submit -- echo produced
	local made=$output
	run_ray 0 ray-submit --get --batch <<<"cat @$made; wc -l <@$ref|tr -d ' '"
	assert_output "produced
2"
}

@test "@@x passes a literal @x; a malformed @REF is a usage error" {
	start_node
	run_ray 0 ray-submit --get -- echo @@x @@@y plain@z
	assert_output "@x @@y plain@z"
	run_ray 2 ray-submit -- echo @home
	assert_regex "$stderr" "^ray-submit: malformed ref '@home'"
	run_ray 10 ray-submit -- cat @0123456789abcdef0123456789abcdef0123456789
	assert_regex "$stderr" "^ray-submit: unknown ref"
	# Only the first of the three became a task.
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get length)" 1
}

@test "a task waits for its @REF arguments (PENDING_ARGS_AVAIL)" {
	start_node
	local go=$BATS_TEST_TMPDIR/go
	run_ray 0 ray-submit --name producer -- sh -c "$(until_file "$go"); echo payload"
	local dep=$output
	run_ray 0 ray-submit --name consumer -- cat @"$dep"
	local ref=$output
	local cid
	cid=$(task_id_named consumer)
	assert_equal "$(task_field "$cid" state)" PENDING_ARGS_AVAIL
	touch "$go"
	run_ray 0 ray-get --timeout 30 "$ref"
	assert_output payload
	assert_equal "$(task_field "$cid" state)" FINISHED
}

@test "an argument that holds an error fails the task with it" {
	start_node
	run_ray 0 ray-submit --name bad-arg -- sh -c 'echo broken >&2; exit 3'
	local bad=$output
	run_ray 0 ray-submit --name user -- cat @"$bad"
	local ref=$output
	run_ray 1 ray-get --timeout 30 "$ref"
	assert_regex "$stderr" "^ray-get: .*user"
	assert_regex "$stderr" "bad-arg"
	wait_for named_task_in_state user FAILED
}

@test "--stdin REF feeds the object to the command's stdin" {
	start_node
	run_ray 0 ray-put - <<<"shout this"
	local ref=$output
	run_ray 0 ray-submit --get --stdin "$ref" -- tr a-z A-Z
	assert_output "SHOUT THIS"
	# Without --stdin, stdin is empty.
	run_ray 0 ray-submit --get -- wc -c
	assert_output 0
	run_ray 2 ray-submit --stdin NOTAREF -- cat
	run_ray 10 ray-submit --stdin 0123456789abcdef0123456789abcdef0123456789 -- cat
}

@test "--num-returns N: return i is the file \$RAY_RETURN_i, stdout goes to the log" {
	start_node
	run_ray 0 ray-submit --num-returns 3 --name three -- sh -c \
		'echo zero >"$RAY_RETURN_0"; echo one >"$RAY_RETURN_1"; printf two >"$RAY_RETURN_2"; echo to-the-log'
	assert_equal "${#lines[@]}" 3
	local r0=${lines[0]} r1=${lines[1]} r2=${lines[2]}
	run_ray 0 ray-get --timeout 30 "$r0"
	assert_output zero
	run_ray 0 ray-get "$r2" "$r1"
	assert_output "twoone"
	run_ray 0 ray-status logs "$(task_id_named three)"
	assert_line to-the-log
	# A return the command did not write is an error naming it.
	run_ray 0 ray-submit --num-returns 2 --name forgetful -- sh -c 'echo x >"$RAY_RETURN_0"'
	local f0=${lines[0]} f1=${lines[1]}
	run_ray 0 ray-get --timeout 30 "$f0"
	assert_output x
	run_ray 1 ray-get "$f1"
	assert_regex "$stderr" "forgetful"
	assert_regex "$stderr" 'RAY_RETURN_1'
	run_ray 2 ray-submit --num-returns 0 -- true
	run_ray 2 ray-submit --num-returns 2x -- true
}

@test "a task sees RAY_TASK_ID, RAY_NODE_ID, RAY_JOB_ID, RAY_ATTEMPT, OMP_NUM_THREADS, --env" {
	start_node
	run_ray 0 ray-submit --get --name envy --cpus 2 --env GREETING=hi --env EMPTY= -- sh -c \
		'echo "$RAY_TASK_ID|$RAY_NODE_ID|$RAY_JOB_ID|$RAY_ATTEMPT|$OMP_NUM_THREADS|$GREETING|${EMPTY-unset}|${CUDA_VISIBLE_DEVICES-none}"'
	local tid
	tid=$(task_id_named envy)
	IFS='|' read -r task node job attempt omp greet empty cuda <<<"$output"
	assert_equal "$task" "$tid"
	assert_equal "$node" "$RAY_NODE_ID"
	assert_regex "$job" '^[0-9a-f]+$'
	assert_equal "$job" "$(task_field "$tid" job_id)"
	assert_equal "$attempt" 0
	assert_equal "$omp" 2
	assert_equal "$greet" hi
	assert_equal "$empty" ""
	assert_equal "$cuda" none
	# The task can reach the cluster with what it was given.
	run_ray 0 ray-submit --get -- sh -c 'test -n "$RAY_ADDRESS" && test -r "$RAY_TOKEN_FILE" && echo ok'
	assert_output ok
	# Fractional CPUs still get one thread.
	run_ray 0 ray-submit --get --cpus 0.5 -- sh -c 'echo $OMP_NUM_THREADS'
	assert_output 1
	run_ray 2 ray-submit --env NOEQUALS -- true
	run_ray 2 ray-submit --env =v -- true
}

@test "a task that asks for GPUs sees CUDA_VISIBLE_DEVICES" {
	start_node --gpus 2
	run_ray 0 ray-submit --get --gpus 1 -- sh -c 'echo "${CUDA_VISIBLE_DEVICES-unset}"'
	assert_regex "$output" '^[0-9]+$'
	run_ray 0 ray-submit --get --gpus 2 -- sh -c 'echo "${CUDA_VISIBLE_DEVICES-unset}"'
	assert_regex "$output" '^[0-9]+,[0-9]+$'
}

@test "--batch: one task per line, refs in order, straight into ray-get" {
	start_node
	run_ray 0 bash -o pipefail -c 'printf "echo a\n\necho b; echo c\nprintf %%s d\n" | ray-submit --batch | ray-get'
	assert_output "a
b
c
d"
	run_ray 0 ray-submit --batch --get <<<"echo x
echo y"
	assert_output "x
y"
	run_ray 2 ray-submit --batch -- echo no
}

@test "--batch of 400 tasks: every one runs, results in order" {
	start_node
	seq 1 400 | sed 's/^/echo /' >"$BATS_TEST_TMPDIR/cmds"
	run_ray 0 bash -o pipefail -c 'ray-submit --batch <"$1" | ray-get' _ "$BATS_TEST_TMPDIR/cmds"
	assert_equal "$output" "$(seq 1 400)"
	run_ray 0 ray-status tasks --json --state FINISHED
	assert_equal "$(json_get length)" 400
}

@test "--name shows in ray-status tasks" {
	start_node
	run_ray 0 ray-submit --get --name my-task -- true
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get '.[0].name')" my-task
	assert_equal "$(json_get '.[0].state')" FINISHED
	assert_equal "$(json_get '.[0].exit_code')" 0
	run_ray 0 ray-status tasks
	assert_line --regexp $'\tFINISHED\t.*\tmy-task$'
}

@test "a failed task: ray-get exits 1 naming the task, its exit code, node and stderr" {
	start_node
	run_ray 0 ray-submit --name boom -- sh -c 'echo first >&2; echo "last words" >&2; exit 42'
	local ref=$output
	run_ray 1 ray-get --timeout 30 "$ref"
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^ray-get: "
	assert_regex "$stderr" "boom"
	assert_regex "$stderr" "42"
	assert_regex "$stderr" "$RAY_NODE_ID"
	assert_regex "$stderr" "last words"
	# Not retried: an application error.
	assert_equal "$(task_field "$(task_id_named boom)" attempt)" 0
	assert_equal "$(task_field "$(task_id_named boom)" exit_code)" 42
	assert_equal "$(task_field "$(task_id_named boom)" state)" FAILED
	run_ray 1 ray-submit --get -- false
	# A command that cannot be run fails the same way.
	run_ray 0 ray-submit --name nocmd -- /no/such/command
	run_ray 1 ray-get --timeout 30 "$output"
	assert_regex "$stderr" "nocmd"
}

@test "--retry-exit-codes retries the listed codes only" {
	start_node
	run_ray 0 ray-submit --get --name listed --retry-exit-codes 5,3 -- sh -c \
		'[ "$RAY_ATTEMPT" -ge 2 ] && echo "ok on $RAY_ATTEMPT" || exit 3'
	assert_output "ok on 2"
	assert_equal "$(task_field "$(task_id_named listed)" attempt)" 2
	run_ray 1 ray-submit --get --name unlisted --retry-exit-codes 4 -- sh -c 'exit 3'
	assert_equal "$(task_field "$(task_id_named unlisted)" attempt)" 0
	run_ray 2 ray-submit --retry-exit-codes x -- true
	run_ray 2 ray-submit --retry-exit-codes 1,,2x -- true
}

@test "--retry-exceptions retries any exit code, up to --max-retries" {
	start_node
	run_ray 0 ray-submit --get --name flaky --retry-exceptions -- sh -c \
		'[ "$RAY_ATTEMPT" -ge 1 ] && echo "ok on $RAY_ATTEMPT" || exit 9'
	assert_output "ok on 1"
	run_ray 1 ray-submit --get --name hopeless --retry-exceptions --max-retries 2 -- sh -c 'exit 9'
	assert_equal "$(task_field "$(task_id_named hopeless)" attempt)" 2
	run_ray 2 ray-submit --max-retries many -- true
}

@test "death by a signal is retried up to --max-retries, then exit 6" {
	start_node
	run_ray 0 ray-submit --name suicidal --max-retries 2 -- sh -c 'echo "attempt $RAY_ATTEMPT" >&2; kill -9 $$'
	local ref=$output
	run_ray 6 ray-get --timeout 30 "$ref"
	assert_regex "$stderr" "suicidal"
	assert_regex "$stderr" "signal 9"
	local tid
	tid=$(task_field "$(task_id_named suicidal)" task_id)
	assert_equal "$(task_field "$tid" attempt)" 2
	assert_equal "$(task_field "$tid" state)" FAILED
	run_ray 0 ray-status logs "$tid"
	assert_line "attempt 0"
	assert_line "attempt 2"
}

@test "a worker killed with SIGKILL is retried; with --max-retries 0 it is exit 6; the node lives" {
	start_node
	run_ray 0 ray-submit --name victim -- sh -c 'echo "$RAY_ATTEMPT" >/dev/null; exec sleep 300'
	local vref=$output tid pid
	tid=$(task_id_named victim)
	wait_for task_in_state "$tid" RUNNING
	pid=$(task_field "$tid" pid)
	kill -KILL "$pid"
	wait_for task_in_state_attempt "$tid" RUNNING 1
	assert_not_equal "$(task_field "$tid" pid)" "$pid"
	run_ray 0 ray-cancel --force "$vref"
	run_ray 7 ray-get --timeout 30 "$vref"

	run_ray 0 ray-submit --name once --max-retries 0 -- sleep 300
	local ref=$output
	tid=$(task_id_named once)
	wait_for task_in_state "$tid" RUNNING
	kill -KILL "$(task_field "$tid" pid)"
	run_ray 6 ray-get --timeout 30 "$ref"
	assert_regex "$stderr" "once"
	assert_equal "$(task_field "$tid" attempt)" 0
	run_ray 0 ray-status nodes
	run_ray 0 ray-submit --get -- echo alive
	assert_output alive
}

@test "a task may submit and get tasks itself" {
	start_node
	run_ray 0 ray-submit --get -- sh -c 'r=$(ray-submit -- echo inner) && ray-get "$r" && ray-submit --get -- echo also'
	assert_output "inner
also"
}

@test "recursive tasks on a one-CPU node finish (blocked tasks lend their CPU)" {
	start_node --cpus 1
	run_ray 0 ray-submit --get -- sh -c \
		'ray-submit --get -- sh -c "ray-submit --get -- echo deep; echo middle"; echo top'
	assert_output "deep
middle
top"
	# Fan out: one parent waits on several children.
	run_ray 0 ray-submit --get -- sh -c \
		'printf "echo 1\necho 2\necho 3\n" | ray-submit --batch | ray-get'
	assert_output "1
2
3"
	run_ray 0 ray-status --json
	assert_equal "$(json_get .resources_available.CPU)" 1
}

@test "CPUs are a hard limit: tasks that do not fit wait" {
	start_node --cpus 2
	local go=$BATS_TEST_TMPDIR/go
	run_ray 0 ray-submit --name big1 --cpus 2 -- sh -c "$(until_file "$go")"
	local r1=$output
	run_ray 0 ray-submit --name big2 --cpus 2 -- true
	local r2=$output
	wait_for named_task_in_state big1 RUNNING
	assert_equal "$(task_field "$(task_id_named big2)" state)" PENDING_NODE_ASSIGNMENT
	touch "$go"
	run_ray 0 ray-wait --timeout 30 "$r1" "$r2"
	# Two one-CPU tasks do run side by side: each waits for the other.
	local a=$BATS_TEST_TMPDIR/a b=$BATS_TEST_TMPDIR/b
	run_ray 0 ray-submit -- sh -c "touch $a; $(until_file "$b"); test -e $b"
	local ra=$output
	run_ray 0 ray-submit -- sh -c "touch $b; $(until_file "$a"); test -e $a"
	local rb=$output
	run_ray 0 ray-get --timeout 60 "$ra" "$rb"
}

@test "tasks of a shape that does not fit wait in order, and a smaller one behind them runs" {
	start_node --cpus 3
	local go=$BATS_TEST_TMPDIR/go order=$BATS_TEST_TMPDIR/order
	run_ray 0 ray-submit --name holder --cpus 2 -- sh -c "$(until_file "$go")"
	local held=$output
	wait_for named_task_in_state holder RUNNING
	# Sixty of the holder's shape queue behind it; the scheduler sees the
	# first fits nowhere and skips the rest of that shape.
	seq 60 | sed "s|.*|echo & >>$order|" | ray-submit --batch --cpus 2 >"$BATS_TEST_TMPDIR/refs"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/refs")" 60
	# A one-CPU task behind them still fits and runs now.
	run_ray 0 ray-submit --get -- echo small
	assert_output small
	[ ! -e "$order" ]
	run_ray 0 ray-status --json
	assert_equal "$(json_get .pending_tasks)" 60
	touch "$go"
	run_ray 0 ray-wait --timeout 60 "$held" $(cat "$BATS_TEST_TMPDIR/refs")
	assert_equal "$(cat "$order")" "$(seq 60)"
}

@test "an infeasible request warns at once, exits 0 and stays PENDING_NODE_ASSIGNMENT" {
	start_node
	run_ray 0 ray-submit --name huge --cpus 99 -- true
	assert_regex "$output" '^[0-9a-f]{1,64}$'
	assert_regex "$stderr" "^ray-submit: warning: .*CPU"
	local ref=$output
	run_ray 0 ray-submit --name exotic --resource unicorn=1 -- true
	assert_regex "$stderr" "^ray-submit: warning: .*unicorn"
	run_ray 0 ray-submit --gpus 1 -- true
	assert_regex "$stderr" "^ray-submit: warning: .*GPU"
	run_ray 0 ray-submit --memory 1T -- true
	assert_regex "$stderr" "^ray-submit: warning: .*memory"
	run_ray 3 ray-get --timeout 0.3 "$ref"
	assert_equal "$(task_field "$(task_id_named huge)" state)" PENDING_NODE_ASSIGNMENT
	assert_equal "$(task_field "$(task_id_named exotic)" state)" PENDING_NODE_ASSIGNMENT
	# It does not block tasks that fit.
	run_ray 0 ray-submit --get -- echo fits
	assert_output fits
	run_ray 0 ray-status
	assert_output --partial infeasible
}

@test "ray-cancel a pending task: its ref gives exit 7" {
	start_node --cpus 1
	run_ray 0 ray-submit --name hog -- sleep 300
	local hog=$output
	run_ray 0 ray-submit --name queued -- echo never
	local ref=$output
	wait_for named_task_in_state hog RUNNING
	assert_equal "$(task_field "$(task_id_named queued)" state)" PENDING_NODE_ASSIGNMENT
	run_ray 0 ray-cancel "$ref"
	run_ray 7 ray-get --timeout 30 "$ref"
	assert_regex "$stderr" "queued"
	assert_regex "$stderr" "cancel"
	assert_equal "$(task_field "$(task_id_named queued)" state)" CANCELLED
	run_ray 0 ray-cancel "$hog"
}

@test "ray-cancel a running task (SIGTERM, or SIGKILL with --force): exit 7" {
	start_node
	run_ray 0 ray-submit --name runner -- sleep 300
	local ref=$output tid pid
	tid=$(task_id_named runner)
	wait_for task_in_state "$tid" RUNNING
	pid=$(task_field "$tid" pid)
	run_ray 0 ray-cancel <<<"$ref"
	run_ray 7 ray-get --timeout 30 "$ref"
	assert_equal "$(task_field "$tid" state)" CANCELLED
	wait_for proc_gone "$pid"

	# A task that ignores SIGTERM needs --force.
	run_ray 0 ray-submit --name stubborn -- sh -c 'trap "" TERM; echo up >&2; while :; do sleep 0.1; done'
	ref=$output
	tid=$(task_id_named stubborn)
	wait_for task_in_state "$tid" RUNNING
	run_ray 0 ray-cancel --force "$ref"
	run_ray 7 ray-get --timeout 30 "$ref"
	# Cancelling is not retried even with retries left.
	assert_equal "$(task_field "$tid" attempt)" 0
}

@test "ray-submit usage errors exit 2" {
	start_node
	run_ray 2 ray-submit --frobnicate -- true
	run_ray 2 ray-submit
	run_ray 2 ray-submit --cpus lots -- true
	run_ray 2 ray-submit --cpus 1.00001 -- true
	run_ray 2 ray-submit --memory 1Q -- true
	run_ray 2 ray-submit --resource noqty -- true
	run_ray 2 ray-submit --strategy random -- true
	run_ray 2 ray-submit --bundle 0 -- true
	run_ray 2 ray-cancel --frobnicate 0123
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get length)" 0
}
