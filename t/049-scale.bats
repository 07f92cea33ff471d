#!/usr/bin/env bats
# Scale: lists and batches of any size (replies in several frames, libray
# splitting long requests), and a node's bounded task history: finished
# tasks beyond --task-history leave the table but are counted, RSS stops
# growing, and a result whose only copy is elsewhere can still be rebuilt.
#
# Tens of thousands of tasks are queued behind a resource no node has and
# then cancelled, which takes each through a whole record's life (made,
# queued, ended, kept, evicted) without spawning 30,000 processes on a
# small machine; a smaller batch of real processes runs beside them.

load lib/helpers
load lib/cluster

# queue_cancel N: N tasks that queue (a resource nobody has), cancelled;
# their refs freed.  Leaves their refs in $BATS_TEST_TMPDIR/refs.
queue_cancel() {
	local refs=$BATS_TEST_TMPDIR/refs
	timeout 60 bash -c "yes true | head -$1 | ray-submit --resource nowhere=1 --batch >'$refs' 2>/dev/null"
	assert_equal "$(wc -l <"$refs")" "$1"
	run_ray 0 ray-cancel <"$refs"
	run_ray 7 ray-get --timeout 30 "$(tail -1 "$refs")"
	run_ray 0 ray-store free <"$refs"
}

# evicted REF: the head no longer has REF's task in detail.
evicted() {
	local err
	err=$(ray-status logs "$1" 2>&1 >/dev/null)
	[[ "$err" == *"not among the"* ]]
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$(node_pid)/status"
}

@test "ray-status tasks --json after 30,000 tasks: a parseable array, and the summary counts them all" {
	start_node
	local refs=$BATS_TEST_TMPDIR/refs
	# Queued: the whole list (about 10 MB of JSON) comes in several frames.
	timeout 60 bash -c "yes true | head -30000 | ray-submit --resource nowhere=1 --batch >'$refs' 2>/dev/null"
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get length)" 30000
	assert_equal "$(json_get '[.[] | select(.state == "PENDING_NODE_ASSIGNMENT")] | length')" 30000
	run_ray 0 ray-status tasks --limit 5 --json
	assert_equal "$(json_get length)" 5
	assert_equal "$(json_get '.[4].ref')" "$(tail -1 "$refs")"
	run_ray 0 ray-cancel <"$refs"
	run_ray 7 ray-get --timeout 30 "$(tail -1 "$refs")"
	# And 300 that ran.
	run_ray 0 ray-submit --batch < <(yes true | head -300)
	run_ray 0 ray-wait <<<"$output"
	run_ray 0 ray-status --json
	assert_equal "$(json_get .tasks.CANCELLED)" 30000
	assert_equal "$(json_get .tasks.FINISHED)" 300
	# In detail: the 10,000 most recent finished ones (the default).
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get length)" 10000
	assert_equal "$(json_get '[.[] | select(.state == "FINISHED")] | length')" 300
	run_ray 0 ray-status tasks --state cancelled --json
	assert_equal "$(json_get length)" 9700
	# An evicted task: not listed, and ray-status logs says why.
	run_ray 10 ray-status logs "$(head -1 "$refs")"
	assert_regex "$stderr" "not among the 10000 most recent finished tasks"
	# The logs of the kept ones stay; the evicted ones' are removed.
	[ "$(find /dev/shm/ray-"$RAY_NODE_ID"/logs -name '*.err' | wc -l)" -le 10000 ]
}

@test "node RSS after a second 30,000 tasks grows by less than 10% over the first" {
	# AddressSanitizer holds freed memory in a quarantine (256 MB) before
	# reusing it: without this the figure would measure the quarantine.
	[[ "${SANITIZE:-}" == 1 ]] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
	start_node --task-history 2000
	local first second
	queue_cancel 30000
	run_ray 0 ray-submit --batch < <(yes true | head -200)
	run_ray 0 ray-wait <<<"$output"
	run_ray 0 ray-store free <<<"$output"
	first=$(rss_kb)
	queue_cancel 30000
	run_ray 0 ray-submit --batch < <(yes true | head -200)
	run_ray 0 ray-wait <<<"$output"
	run_ray 0 ray-store free <<<"$output"
	second=$(rss_kb)
	echo "# RSS after the first 30,200 tasks: $first kB, after the second: $second kB"
	((second * 10 < first * 11))
	run_ray 0 ray-status --json
	assert_equal "$(json_get .tasks.CANCELLED)" 60000
	assert_equal "$(json_get .tasks.FINISHED)" 400
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get length)" 2000
}

@test "ray-store ls with 50,000 objects, and ray-get of 100,000 refs" {
	start_node
	local dir=$BATS_TEST_TMPDIR/f refs=$BATS_TEST_TMPDIR/refs
	mkdir "$dir"
	(cd "$dir" && seq 50000 | split -l 1 -a 5 - o)
	(cd "$dir" && ls | timeout 60 xargs ray-put >"$refs")
	assert_equal "$(wc -l <"$refs")" 50000
	# Long outputs go to files (bats keeps $output as an array of lines).
	timeout 60 ray-store ls --json >"$dir.ls"
	assert_equal "$(jq length "$dir.ls")" 50000
	timeout 60 ray-store ls >"$dir.ls"
	assert_equal "$(wc -l <"$dir.ls")" 50000
	timeout 60 ray-status objects --json >"$dir.ls"
	assert_equal "$(jq length "$dir.ls")" 50000
	# Every object twice: 100,000 refs, in order.
	cat "$refs" "$refs" >"$refs.2"
	timeout 60 ray-get <"$refs.2" >"$dir.out"
	(seq 50000; seq 50000) | cmp - "$dir.out"
	timeout 60 ray-wait <"$refs.2" >"$dir.out"
	cmp "$refs.2" "$dir.out"
	run_ray 0 ray-wait -n 3 <"$refs.2"
	assert_equal "${#lines[@]}" 3
	run_ray 0 ray-store free <"$refs"
	run_ray 0 ray-store stats --json
	assert_equal "$(json_get .objects)" 0
}

@test "a put of 99,000 small objects in one call works" {
	start_node
	local dir=$BATS_TEST_TMPDIR/f
	mkdir "$dir"
	(cd "$dir" && seq 99000 | split -l 1 -a 5 - o)
	# One ray-put: 99,000 names fit one command line; the small files go
	# in batches through ray_put_many.
	run_ray 0 bash -c "cd '$dir' && ls | xargs -s 1000000 ray-put | wc -l"
	assert_output 99000
	run_ray 0 ray-store stats --json
	assert_equal "$(json_get .objects)" 99000
}

@test "a single task too large for a frame is refused with a message" {
	start_node
	# (t/050 sends the node such a request by hand: an error reply.)
	head -c 5000000 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/line"
	run_ray 2 ray-submit --batch <"$BATS_TEST_TMPDIR/line"
	assert_regex "$stderr" "too large"
	run_ray 0 ray-status --json
	assert_equal "$(json_get .tasks.PENDING_NODE_ASSIGNMENT)" 0
}

@test "a task evicted from the history is still rebuilt from lineage" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 2 --task-history 1
	local w1 ref more
	w1=$(node_id 1)
	# Over 64 KiB, so the owner gets no copy with the task's report.
	run_ray 0 ray-submit --node "$w1:soft" -- sh -c 'echo computed on $RAY_NODE_ID; seq 20000'
	ref=$output
	run_ray 0 ray-wait "$ref"
	# Three more finish on the head: the first leaves the history.
	run_ray 0 ray-submit --node "$(node_id 0)" --batch <<<$'true\ntrue\ntrue'
	more=$output
	run_ray 0 ray-wait $more
	# Gone from the owner's table (the worker that ran it still lists it).
	wait_for -t 10 evicted "$ref"
	run_ray 0 ray-status --json
	assert_equal "$(json_get .tasks.FINISHED)" 4
	kill_node 1
	wait_for -t 10 node_state_is "$w1" DEAD
	run_ray 0 ray-get "$ref"
	assert_equal "${lines[0]}" "computed on $(node_id 0)"
	assert_equal "${#lines[@]}" 20001
	# Run again, it is back in the table.
	assert_equal "$(task_field "${ref:0:32}" attempt)" 1
}

@test "actor calls and a job's tasks past a short history: answers kept, the job's objects freed" {
	start_node --task-history 2
	local a i refs=()
	run_ray 0 ray-actor create -- bash "$BATS_TEST_DIRNAME/../share/examples/counter-actor.sh"
	a=$output
	for i in $(seq 10); do
		run_ray 0 ray-actor call "$a" add 1
		refs+=("$output")
	done
	run_ray 0 ray-get "${refs[@]}"
	assert_equal "$(echo $output)" "$(echo $(seq 10))"
	run_ray 0 ray-status tasks --state FINISHED --json
	assert_equal "$(json_get length)" 2
	# A job's five tasks leave the history; its objects still go with it.
	run_ray 0 ray-job run -- sh -c 'yes true | head -5 | ray-submit --batch | ray-wait >/dev/null'
	run_ray 0 ray-job list --json
	assert_equal "$(json_get '.[0].status')" SUCCEEDED
	run_ray 0 ray-status --json
	assert_equal "$(json_get .tasks.FINISHED)" 15
	# Left: the ten answers (no job's); the job's five results were freed.
	run_ray 0 ray-store ls --json
	assert_equal "$(json_get length)" 10
	assert_equal "$(json_get '[.[] | select(.job_id != "00000000")] | length')" 0
}
