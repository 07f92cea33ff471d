#!/usr/bin/env bats
# Pooled workers (ray-submit --worker): calls served by reused worker
# processes through the actor protocols, with every task option: results
# and errors, reuse, a worker killed mid-call, protocol breaks, cancel,
# --batch with @REF, the idle timeout and memory pressure, one CPU budget
# with plain tasks, and --node across a cluster.

load lib/helpers

EXAMPLES="$BATS_TEST_DIRNAME/../share/examples"

setup_file() {
	${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
		-o "$BATS_FILE_TMPDIR/frame-worker" "$BATS_TEST_DIRNAME/../share/examples/frame-worker.c"
}

# The test worker (line protocol): its first argument is a directory for
# markers.  Methods:
#   echo X     answers X                  pid      answers its pid
#   node       answers $RAY_NODE_ID        cat P    answers the first line of file P
#   fail MSG   fails with MSG             flaky    fails once (marker), then answers ok
#   block K    touches DIR/started.K, waits for DIR/go.K, answers "K by PID"
#   gpus K     as block, answering $CUDA_VISIBLE_DEVICES
#   twice      answers two lines for one call (a protocol break)
#   wid        answers $RAY_WORKER_ID, and writes a line to stderr
#   env NAME   answers the value of the environment variable NAME
#   pwd        answers its working directory
#   hog        holds 300 MiB resident (a child) for a minute, then answers done
#   grow N     has a child touch N MiB, then answers grown
#   nested X   runs a task 'echo inner X' and waits for it, answering its result
#   child      submits a task 'sleep 300' (its ref in DIR/child.ref), then blocks
make_worker() {
	mkdir -p "$BATS_TEST_TMPDIR/m"
	cat >"$BATS_TEST_TMPDIR/worker.sh" <<'EOF'
#!/bin/bash
dir=$1
while IFS=$'\t' read -r method a b; do
	case $method in
	echo)  echo "$a" ;;
	pid)   echo "$$" ;;
	node)  echo "$RAY_NODE_ID" ;;
	cat)   head -n 1 "$a" ;;
	fail)  echo "!$a" ;;
	flaky) if [[ -e $dir/flaky ]]; then echo ok; else : >"$dir/flaky"; echo '!not yet'; fi ;;
	block) : >"$dir/started.$a.$$"
	       while [[ ! -e $dir/go.$a ]]; do sleep 0.02; done
	       echo "$a by $$" ;;
	gpus)  : >"$dir/started.$a.$$"
	       while [[ ! -e $dir/go.$a ]]; do sleep 0.02; done
	       echo "${CUDA_VISIBLE_DEVICES:-none}" ;;
	twice) echo one; echo two ;;
	wid)   echo "$RAY_WORKER_ID"; echo "stderr of $RAY_WORKER_ID" >&2 ;;
	env)   echo "${!a}" ;;
	pwd)   pwd ;;
	hog)   python3 -c 'import time
b = bytearray(300 << 20)
for i in range(0, len(b), 4096):
    b[i] = 1
time.sleep(60)'; echo done ;;
	grow)  python3 -c 'import sys
b = bytearray(int(sys.argv[1]) << 20)
for i in range(0, len(b), 4096):
    b[i] = 1' "$a" && echo grown ;;
	nested) ray-submit --get -- echo "inner $a" </dev/null ;;
	child) ray-submit --name child -- sleep 300 </dev/null >"$dir/child.ref"
	       : >"$dir/started.child.$$"
	       while :; do sleep 1; done ;;
	*)     echo "!no method $method" ;;
	esac
done
EOF
	chmod +x "$BATS_TEST_TMPDIR/worker.sh"
	W="$BATS_TEST_TMPDIR/worker.sh $BATS_TEST_TMPDIR/m"
}

setup() {
	start_node
	make_worker
}

# worker_field STATE FIELD: FIELD of the first worker in STATE.
worker_field() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status workers --json --state "$1") || return 1
	jq -er ".[0].$2" <<<"$out"
}

# n_workers [STATE]: how many workers ray-status lists.
n_workers() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status workers --json ${1:+--state "$1"}) || return 1
	jq -er length <<<"$out"
}

no_workers() {
	[[ $(n_workers) == 0 ]]
}

marker() {
	compgen -G "$BATS_TEST_TMPDIR/m/$1" >/dev/null
}

@test "a call's answer is its result; '!' fails it with exit 1 and the worker lives on" {
	run_ray 0 ray-submit --worker "$W" -- echo hello
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r" "$output"
	run cmp "$BATS_TEST_TMPDIR/r" <(printf 'hello\n')
	assert_success
	run_ray 0 ray-submit --worker "$W" -- fail "no good: bad input"
	run_ray 1 ray-get "$output"
	assert_regex "$stderr" "^ray-get: .*method 'fail' of worker .*failed: no good: bad input$"
	run_ray 0 ray-submit --worker "$W" --get -- echo after
	assert_output after
	run n_workers
	assert_success
	assert_output 1
}

@test "a worker sees RAY_WORKER_ID; its stderr is ray-status logs WORKER_ID" {
	run_ray 0 ray-submit --worker "$W" --get -- wid
	local wid=$output
	run_ray 0 ray-status workers --json
	run json_get '.[0].worker_id'
	assert_output "$wid"
	run_ray 0 ray-status logs "$wid"
	assert_output "stderr of $wid"
}

@test "--retry-exceptions retries a call that answered '!'" {
	run_ray 0 ray-submit --worker "$W" --retry-exceptions --get -- flaky
	assert_output ok
	run_ray 0 ray-status tasks --json
	run json_get '.[-1].attempt'
	assert_output 1
}

@test "a pooled task blocked in ray-get lends its CPUs: nested tasks on a one-CPU node finish" {
	stop_all
	start_node --cpus 1
	run_ray 0 ray-submit --worker "$W" --get -- nested x
	assert_output "inner x"
}

@test "cancel of a pooled task cancels the tasks its call submitted" {
	run_ray 0 ray-submit --worker "$W" -- child
	local ref=$output
	wait_for marker 'started.child.*'
	run_ray 0 ray-cancel "$ref"
	run_ray 7 ray-get "$ref"
	run_ray 7 ray-get --timeout 30 "$(cat "$BATS_TEST_TMPDIR/m/child.ref")"
	assert_regex "$stderr" "cancel"
}

@test "workers are reused: 40 calls, at most one worker per CPU, all counted in tasks_done" {
	for i in $(seq 40); do printf 'pid\n'; done >"$BATS_TEST_TMPDIR/calls"
	run_ray 0 ray-submit --worker "$W" --batch --get <"$BATS_TEST_TMPDIR/calls"
	assert_equal "${#lines[@]}" 40
	local pids
	pids=$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)
	assert [ "$pids" -ge 1 ] && assert [ "$pids" -le 2 ]
	local seen
	seen=$(printf '%s\n' "${lines[@]}" | sort -u | tr '\n' ' ')
	run_ray 0 ray-status workers --json
	run json_get '[.[].tasks_done] | add'
	assert_output 40
	# A simple command line is exec'd: the listed pid is the worker's own.
	run_ray 0 ray-status workers --json
	run json_get '[.[].pid] | sort | map(tostring) | join(" ")'
	assert_equal "$output " "$seen"

	run_ray 0 ray-status workers
	assert_line --regexp "^[0-9a-f]{32}	IDLE	$RAY_NODE_ID	[0-9]+	[0-9]+	.*worker.sh"
}

@test "a worker's kind is its command line, protocol and --env: other --env, other worker" {
	run_ray 0 ray-submit --worker "$W" --env COLOUR=red --get -- env COLOUR
	assert_output red
	run_ray 0 ray-submit --worker "$W" --env COLOUR=blue --get -- env COLOUR
	assert_output blue
	run_ray 0 ray-submit --worker "$W" --env COLOUR=red --get -- env COLOUR
	assert_output red
	run n_workers
	assert_success
	assert_output 2
	run_ray 0 ray-status workers --limit 1
	assert_equal "${#lines[@]}" 1
}

@test "--working-dir: the worker starts there, and it is part of the kind" {
	mkdir -p "$BATS_TEST_TMPDIR/d1" "$BATS_TEST_TMPDIR/d2"
	run_ray 0 ray-submit --worker "$W" --working-dir "$BATS_TEST_TMPDIR/d1" --get -- pwd
	assert_output "$BATS_TEST_TMPDIR/d1"
	run_ray 0 ray-submit --worker "$W" --working-dir "$BATS_TEST_TMPDIR/d2" --get -- pwd
	assert_output "$BATS_TEST_TMPDIR/d2"
	run n_workers
	assert_success
	assert_output 2
}

@test "--gpus: a worker keeps the devices it started with; calls at once on two GPUs get two workers" {
	stop_all
	start_node --cpus 2 --gpus 2
	run_ray 0 ray-submit --worker "$W" --gpus 1 -- gpus a
	local a=$output
	run_ray 0 ray-submit --worker "$W" --gpus 1 -- gpus b
	local b=$output
	wait_for marker 'started.a.*'
	wait_for marker 'started.b.*'
	: >"$BATS_TEST_TMPDIR/m/go.a"
	: >"$BATS_TEST_TMPDIR/m/go.b"
	run_ray 0 ray-get "$a" "$b"
	assert_equal "$(printf '%s\n' "${lines[@]}" | sort | tr '\n' ' ')" "0 1 "
	run n_workers
	assert_success
	assert_output 2
}

@test "tagged: answers carry the call id" {
	cat >"$BATS_TEST_TMPDIR/tagged.sh" <<'EOF'
#!/bin/bash
while IFS=$'\t' read -r id method a; do printf '%s\t%s %s\n' "$id" "$method" "$a"; done
EOF
	chmod +x "$BATS_TEST_TMPDIR/tagged.sh"
	printf 'm\t1\nm\t2\nm\t3\n' >"$BATS_TEST_TMPDIR/calls"
	run_ray 0 ray-submit --worker "$BATS_TEST_TMPDIR/tagged.sh" --protocol tagged --batch --get <"$BATS_TEST_TMPDIR/calls"
	assert_equal "$output" "$(printf 'm 1\nm 2\nm 3')"
}

@test "--batch: METHOD<TAB>ARG lines, @REF resolved to the object's path" {
	run_ray 0 ray-put <<<"first line"
	local ref=$output
	printf 'echo\tx\ncat\t@%s\necho\t@@lit\n' "$ref" >"$BATS_TEST_TMPDIR/calls"
	run_ray 0 ray-submit --worker "$W" --batch <"$BATS_TEST_TMPDIR/calls"
	assert_equal "${#lines[@]}" 3
	run_ray 0 ray-get "${lines[@]}"
	assert_equal "$output" "$(printf 'x\nfirst line\n@lit')"
}

@test "a worker killed during a call is replaced and the call succeeds on the new one" {
	run_ray 0 ray-submit --worker "$W" -- block k
	local ref=$output pid old
	wait_for marker 'started.k.*'
	old=$(compgen -G "$BATS_TEST_TMPDIR/m/started.k.*")
	old=${old##*.}
	pid=$(worker_field BUSY pid)
	kill -9 "$pid"
	# Gone, with its process group, before it may answer.
	wait_for proc_gone "$old"
	: >"$BATS_TEST_TMPDIR/m/go.k"
	run_ray 0 ray-get "$ref"
	assert_regex "$output" '^k by [0-9]+$'
	assert [ "${output#k by }" != "$old" ]
	run_ray 0 ray-status tasks --json
	run json_get '.[-1].attempt'
	assert_output 1
}

@test "a worker that dies on every try fails the call with exit 6 after --max-retries" {
	run_ray 0 ray-submit --worker "exit 3" --max-retries 1 -- anything
	run_ray 6 ray-get "$output"
	assert_regex "$stderr" "worker .*exited with code 3 during the call on node $RAY_NODE_ID, after 2 attempts"
}

@test "--memory applies to a pooled task: its worker past the limit is killed, exit 6 naming memory" {
	command -v python3 >/dev/null || skip "python3 is needed for the allocator"
	run_ray 0 ray-submit --worker "$W" --memory 100M --max-retries 0 -- hog
	run_ray 6 ray-get --timeout 60 "$output"
	# Held by the worker's memory cgroup where the host gives one, else sampled.
	assert_regex "$stderr" "worker .*was killed for memory: its processes (held [0-9]+ MiB resident, over|went over) its --memory 100 MiB"
	wait_for no_workers
}

@test "--memory on a pooled task limits its worker for that call only" {
	command -v python3 >/dev/null || skip "python3 is needed for the allocator"
	# The same worker serves a small call under 50M, then one of 120 MiB
	# with no limit: the limit went with the first call.
	run_ray 0 ray-submit --worker "$W" --memory 50M -- echo small
	run_ray 0 ray-get --timeout 60 "$output"
	assert_output small
	run_ray 0 ray-submit --worker "$W" --max-retries 0 -- grow 120
	run_ray 0 ray-get --timeout 60 "$output"
	assert_output grown
	run_ray 0 ray-status workers --json
	assert_equal "$(jq length <<<"$output")" 1
}

@test "a worker that breaks its protocol is killed and its call fails" {
	run_ray 0 ray-submit --worker "$W" --protocol tagged -- echo x
	run_ray 1 ray-get "$output"
	assert_regex "$stderr" "broke the tagged protocol: answer without a call id"
	run_ray 0 ray-submit --worker "$W" -- twice
	run_ray 0 ray-get "$output"
	assert_output one
	wait_for no_workers
}

@test "cancel of a pooled task kills only its worker" {
	run_ray 0 ray-submit --worker "$W" -- block a
	local a=$output b
	run_ray 0 ray-submit --worker "$W" -- block b
	b=$output
	wait_for marker 'started.a.*'
	wait_for marker 'started.b.*'
	run_ray 0 ray-cancel "$a"
	run_ray 7 ray-get "$a"
	assert_regex "$stderr" "cancelled"
	: >"$BATS_TEST_TMPDIR/m/go.b"
	run_ray 0 ray-get "$b"
	local bpid=${output#b by }
	assert_equal "$(compgen -G "$BATS_TEST_TMPDIR/m/started.b.*")" "$BATS_TEST_TMPDIR/m/started.b.$bpid"
	run n_workers
	assert_success
	assert_output 1
}

@test "pooled and plain tasks share one CPU budget; pooled tasks show in tasks and the timeline" {
	run_ray 0 ray-submit --worker "$W" --name pa -- block a
	local a=$output
	run_ray 0 ray-submit --worker "$W" --name pb -- block b
	local b=$output
	wait_for marker 'started.a.*'
	wait_for marker 'started.b.*'
	run_ray 0 ray-submit --name plain -- echo plain
	local p=$output
	run_ray 0 ray-status tasks --json
	run json_get '.[] | select(.name == "plain") | .state'
	assert_output PENDING_NODE_ASSIGNMENT
	run_ray 0 ray-status tasks --json
	run json_get '.[] | select(.name == "pa") | .state'
	assert_output RUNNING
	: >"$BATS_TEST_TMPDIR/m/go.a"
	run_ray 0 ray-get "$p"
	assert_output plain
	: >"$BATS_TEST_TMPDIR/m/go.b"
	run_ray 0 ray-get "$a" "$b"
	run_ray 0 ray-status timeline
	# Each on its worker's lane: two workers, two lanes.
	run jq -er '[.[] | select(.name == "pa" or .name == "pb") | .tid | select(. > 0)] | unique | length' <<<"$output"
	assert_output 2
}

@test "idle workers stop after --worker-idle-timeout" {
	stop_all
	start_node --worker-idle-timeout 1
	run_ray 0 ray-submit --worker "$W" --get -- pid
	local pid=$output
	wait_for -t 10 no_workers
	wait_for proc_gone "$pid"
}

@test "a host over --memory-threshold stops idle workers at once" {
	stop_all
	start_node --memory-threshold 0.0001
	run_ray 0 ray-submit --worker "$W" --get -- pid
	local pid=$output
	wait_for -t 10 no_workers
	wait_for proc_gone "$pid"
}

@test "the examples: a C frame worker and a Python line worker" {
	run_ray 0 ray-submit --worker "$BATS_FILE_TMPDIR/frame-worker" --protocol frame --get -- sum 1 2 39
	assert_output 42
	run_ray 0 ray-put <<<"a b
c"
	run_ray 0 ray-submit --worker "$BATS_FILE_TMPDIR/frame-worker" --protocol frame --get -- wc "@$output"
	assert_output "2 3 6"
	printf 'sum\t1\t2\nfail\tboom\n' >"$BATS_TEST_TMPDIR/calls"
	run_ray 0 ray-submit --worker "$BATS_FILE_TMPDIR/frame-worker" --protocol frame --batch <"$BATS_TEST_TMPDIR/calls"
	local bad=${lines[1]}
	run_ray 0 ray-get "${lines[0]}"
	assert_output 3
	run_ray 1 ray-get "$bad"
	assert_regex "$stderr" "failed: boom$"
	run_ray 0 ray-submit --worker "python3 $EXAMPLES/line-worker.py" --get -- square 12
	assert_output 144
	run_ray 0 ray-submit --worker "python3 $EXAMPLES/line-worker.py" --num-returns 2 --get -- upper ab cd
	assert_equal "$output" "$(printf 'AB\nCD')"
}

@test "usage errors: --protocol without --worker, bad protocol, a TAB in a line argument, --stdin" {
	run_ray 2 ray-submit --protocol frame -- true
	assert_regex "$stderr" "--protocol is for pooled tasks"
	run_ray 2 ray-submit --worker "$W" --protocol json -- echo x
	assert_regex "$stderr" "bad --protocol 'json'"
	run_ray 2 ray-submit --worker "$W" -- echo "$(printf 'a\tb')"
	assert_regex "$stderr" "TAB or newline"
	run_ray 2 ray-submit --worker "$W" --stdin "$(printf '%032d' 0)" -- echo x
	run_ray 2 ray-submit --worker "" -- echo x
}
