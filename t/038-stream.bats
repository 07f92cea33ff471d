#!/usr/bin/env bats
# Streaming returns: ray-submit --stream makes each line of a task's
# stdout an object and prints its ref as soon as the line is complete;
# --backpressure N stops reading the task's stdout while N refs are
# unprinted; a crashed producer, retried, skips the lines it had written.

load lib/helpers

# stream_field NAME FIELD: a field of the task named NAME.
stream_field() {
	task_field "$(task_id_named "$1")" "$2"
}

@test "items arrive while the producer still runs; exit 0 after the last" {
	start_node
	local gate=$BATS_TEST_TMPDIR/gate out=$BATS_TEST_TMPDIR/refs pid
	timeout 60 ray-submit --stream --name producer -- sh -c \
		'echo first; while [ ! -e "$1" ]; do sleep 0.05; done; echo second; printf "no newline"' sh "$gate" \
		>"$out" 3>&- &
	pid=$!
	RAY_TEST_PIDS+=("$pid")
	# The first ref is printed while the producer waits for the gate.
	wait_for test -s "$out"
	assert_equal "$(stream_field producer state)" RUNNING
	run_ray 0 ray-get "$(head -1 "$out")"
	assert_output first
	touch "$gate"
	wait "$pid"
	local refs
	mapfile -t refs <"$out"
	assert_equal "${#refs[@]}" 3
	run_ray 0 ray-get "${refs[1]}"
	assert_output second
	run_ray 0 ray-get "${refs[2]}"
	assert_output "no newline"
	# Refs go through a pipe to ray-get as they come.
	run_ray 0 sh -c 'ray-submit --stream -- seq 1 500 | ray-get | sha256sum'
	assert_output "$(seq 1 500 | sha256sum)"
}

@test "a failing producer: the refs of the lines it wrote, then its error code" {
	start_node
	run_ray 1 ray-submit --stream -- sh -c 'echo a; echo b; echo oops >&2; exit 3'
	assert_equal "${#lines[@]}" 2
	assert_regex "$stderr" "exited with code 3"
	run_ray 0 ray-get "${lines[0]}" "${lines[1]}"
	assert_output "$(printf 'a\nb')"
	# Cancelled while it streams: the refs so far, then exit 7.
	local out=$BATS_TEST_TMPDIR/refs pid rc=0
	timeout 60 ray-submit --stream --name cancelled -- sh -c 'echo one; exec sleep 300' >"$out" 3>&- &
	pid=$!
	RAY_TEST_PIDS+=("$pid")
	wait_for test -s "$out"
	run_ray 0 ray-cancel "$(stream_field cancelled ref)"
	wait "$pid" || rc=$?
	assert_equal "$rc" 7
	run_ray 0 ray-get "$(cat "$out")"
	assert_output one
	run_ray 2 ray-submit --stream --batch
	run_ray 2 ray-submit --backpressure 4 -- true
	run_ray 2 ray-submit --stream --backpressure 0 -- true
	run_ray 2 ray-submit --stream --num-returns 2 -- true
}

@test "a stream's items are its job's: freed when the job ends" {
	start_node
	run_ray 0 ray-job run -- ray-submit --stream -- seq 1 3
	assert_equal "${#lines[@]}" 3
	local refs=("${lines[@]}")
	run_ray 10 ray-get "${refs[0]}"
	run_ray 10 ray-get "${refs[2]}"
	# Outside a job they stay.
	run_ray 0 ray-submit --stream -- seq 1 2
	run_ray 0 ray-get "${lines[@]}"
	assert_output "$(seq 1 2)"
}

@test "backpressure holds an endless producer to N unread items" {
	start_node
	local count=$BATS_TEST_TMPDIR/count pid
	# Nobody reads ray-submit's output: once the pipe to sleep is full,
	# it stops taking refs, and the node stops making them.
	timeout 120 sh -c 'ray-submit --stream --backpressure 8 --name endless -- sh -c \
		"i=0; while :; do i=\$((i+1)); echo \$i; echo \$i > \"\$1\"; done" sh "$1" | sleep 120' sh "$count" 3>&- &
	pid=$!
	RAY_TEST_PIDS+=("$pid")
	wait_for named_task_in_state endless RUNNING
	# The producer writes far past what the node has made into items...
	wait_for -t 60 producer_ahead endless "$count" 2000
	# ...and the node holds exactly N made and not taken.
	local items taken
	items=$(stream_field endless stream_items)
	taken=$(stream_field endless stream_taken)
	assert_equal "$((items - taken))" 8
	run_ray 0 ray-cancel "$(stream_field endless ref)"
	wait_for named_task_in_state endless CANCELLED
}

# producer_ahead NAME COUNTFILE K: the producer has written K more lines
# than the node made into items.
producer_ahead() {
	local n items
	n=$(cat "$2" 2>/dev/null) && [[ -n "$n" ]] || return 1
	items=$(stream_field "$1" stream_items) || return 1
	((n > items + $3))
}

@test "a producer that crashes and is retried: no ref twice, none lost" {
	start_node
	# Attempt 0 writes 1..5 and half of 6, then dies by a signal.
	run_ray 0 ray-submit --stream --max-retries 2 --name crashy -- sh -c \
		'seq 1 5; printf 6; [ "$RAY_ATTEMPT" = 0 ] && kill -9 $$; printf "\n"; seq 7 10'
	assert_equal "${#lines[@]}" 10
	assert_equal "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" 10
	run_ray 0 ray-get "${lines[@]}"
	assert_output "$(seq 1 10)"
	assert_equal "$(stream_field crashy state)" FINISHED
	assert_equal "$(stream_field crashy attempt)" 1
	# Retries exhausted: its error, after the lines of the first attempt.
	run_ray 6 ray-submit --stream --max-retries 1 -- sh -c 'echo $RAY_ATTEMPT; kill -9 $$'
	assert_equal "${#lines[@]}" 1
	run_ray 0 ray-get "${lines[0]}"
	assert_output 0
}

@test "libray: ray_submit_stream and ray_stream_next iterate over the lines as they come" {
	start_node
	local src=$BATS_TEST_DIRNAME/.. bin=$BATS_TEST_TMPDIR/stream-lines gate=$BATS_TEST_TMPDIR/gate
	local out=$BATS_TEST_TMPDIR/out pid rc=0 san=
	# With the sanitizers when libray has them (make SANITIZE=1).
	[[ "${SANITIZE:-}" == 1 ]] && san=-fsanitize=address,undefined
	run_ray 0 sh -c "cc $san -std=c11 -I'$src/include' -o '$bin' '$src/share/examples/stream-lines.c' \
		'$src/lib/libray.a' \$(pkg-config --libs libuv libcjson libsodium libcurl) -lpthread"
	timeout 60 "$bin" sh -c 'echo alpha; while [ ! -e "$1" ]; do sleep 0.05; done; echo beta; exit 5' sh "$gate" \
		>"$out" 3>&- &
	pid=$!
	RAY_TEST_PIDS+=("$pid")
	# alpha comes through while the task waits for the gate.
	wait_for grep -q " alpha$" "$out"
	touch "$gate"
	wait "$pid" || rc=$?
	assert_equal "$rc" 1
	run_ray 0 cut -d' ' -f2 "$out"
	assert_output "$(printf 'alpha\nbeta')"
}
