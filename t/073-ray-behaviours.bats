#!/usr/bin/env bats
# Behaviours that Ray's own tests expect (test_basic_2, test_actor_advanced,
# test_wait, test_scheduling): a failed argument fails an actor call without
# calling the method, a dead actor's name resolves to nothing, an actor's or
# a task's death takes its whole process group, ray-wait -n K prints at most
# K, a hard pin to a node too small for the request fails at once, and -1
# means "without limit" for --max-restarts and --max-task-retries.

load lib/helpers
load lib/actors

setup() {
	start_node
	D=$BATS_TEST_TMPDIR
	# A line actor that logs every call it gets, and starts a child (a
	# sleep) whose pid it writes to DIR/child.PID, so that tests can see
	# what is left of its process tree.
	cat >"$D/tree.sh" <<'EOF'
#!/bin/bash
dir=$1
sleep 1000 &
echo $! >"$dir/child.$$.tmp" && mv "$dir/child.$$.tmp" "$dir/child.$$"
while IFS=$'\t' read -r method a; do
	echo "$method $a" >>"$dir/calls"
	case $method in
	show)  echo "path=$a size=$(wc -c <"$a")" ;;
	pid)   echo "$$" ;;
	crashes)
	       # Dies (SIGKILL, a crash) until it has died $a times.
	       n=$(cat "$dir/crashes" 2>/dev/null || echo 0)
	       if ((n < a)); then echo $((n + 1)) >"$dir/crashes"; kill -9 $$; fi
	       echo "survived $n" ;;
	*)     echo "$a" ;;
	esac
done
EOF
	chmod +x "$D/tree.sh"
}

# tree_actor [CREATE OPTS...]: a tree.sh actor; sets A, PID and KID (its
# sleep), which teardown kills should the test fail.
tree_actor() {
	run_ray 0 ray-actor create "$@" -- "$D/tree.sh" "$D"
	A=$output
	PID=$(actor_field "$A" pid)
	assert_regex "$PID" '^[0-9]+$'
	wait_for marker_exists "$D/child.$PID"
	KID=$(cat "$D/child.$PID")
	RAY_TEST_PIDS+=("$KID")
	run kill -0 "$KID"
	assert_success
}

@test "an actor call whose @REF argument failed fails with that error; the method is not called" {
	tree_actor
	run_ray 0 ray-submit -- sh -c 'echo boom >&2; exit 1'
	local err=$output
	run_ray 0 ray-wait --timeout 20 "$err"
	# The argument had already failed when the call was made.
	run_ray 0 ray-actor call "$A" show "@$err"
	run_ray 1 ray-get "$output"
	assert_regex "$stderr" "argument $err failed"
	assert_regex "$stderr" "boom"
	# The argument fails while the call waits for it.
	run_ray 0 ray-submit -- sh -c 'while [ ! -e "$0/go" ]; do sleep 0.02; done; echo late >&2; exit 3' "$D"
	local late=$output
	run_ray 0 ray-actor call "$A" show "@$late"
	local call=$output
	touch "$D/go"
	run_ray 1 ray-get "$call"
	assert_regex "$stderr" "argument $late failed"
	# The actor lives on, and a later call runs: show was never called.
	run_ray 0 ray-actor call "$A" echo after
	run_ray 0 ray-get "$output"
	assert_output after
	run cat "$D/calls"
	assert_output "echo after"
}

@test "a dead actor's name resolves to nothing: after ray-actor kill and after its job ends" {
	tree_actor --name doomed
	run_ray 0 ray-actor get doomed
	assert_output "$A"
	run_ray 0 ray-actor kill doomed
	wait_for actor_in_state "$A" DEAD
	run_ray 10 ray-actor get doomed
	assert_regex "$stderr" "doomed"
	run_ray 0 ray-job run -- sh -c 'ray-actor create --namespace jobs --name jobbed -- cat >"$0/jobbed"' "$D"
	local j
	j=$(cat "$D/jobbed")
	wait_for actor_in_state "$j" DEAD
	run_ray 10 ray-actor get --namespace jobs jobbed
	# The name is free again.
	run_ray 0 ray-actor create --namespace jobs --name jobbed -- cat
	local again=$output
	assert_not_equal "$again" "$j"
	run_ray 0 ray-actor get --namespace jobs jobbed
	assert_output "$again"
}

@test "an actor's crash takes its process tree: no child is left under init" {
	tree_actor
	kill -9 "$PID"
	wait_for actor_in_state "$A" DEAD
	wait_for proc_gone "$KID"
}

@test "an actor's restart takes the old process tree, and ray-actor kill the new one" {
	tree_actor --max-restarts 1
	local old=$KID newpid
	kill -9 "$PID"
	wait_for actor_alive_again "$A" 1
	wait_for proc_gone "$old"
	newpid=$(actor_field "$A" pid)
	wait_for marker_exists "$D/child.$newpid"
	KID=$(cat "$D/child.$newpid")
	RAY_TEST_PIDS+=("$KID")
	run_ray 0 ray-actor kill "$A"
	wait_for actor_in_state "$A" DEAD
	wait_for proc_gone "$KID"
}

@test "an actor stopped at its job's end takes its process tree, even a child that ignores SIGTERM" {
	# The actor itself dies of SIGTERM; its child ignores it.
	cat >"$D/ignores-term.sh" <<'EOF'
#!/bin/bash
(trap '' TERM; exec sleep 1000) &
echo $! >"$1/kid.tmp" && mv "$1/kid.tmp" "$1/kid"
while :; do sleep 0.1; done
EOF
	chmod +x "$D/ignores-term.sh"
	# The driver ends once the actor has started its child.
	run_ray 0 ray-job run -- sh -c 'ray-actor create -- "$0/ignores-term.sh" "$0" >"$0/made" &&
		while [ ! -e "$0/kid" ]; do sleep 0.02; done' "$D"
	local a kid
	a=$(cat "$D/made")
	kid=$(cat "$D/kid")
	RAY_TEST_PIDS+=("$kid")
	wait_for actor_in_state "$a" DEAD
	wait_for proc_gone "$kid"
}

@test "a task's death takes its process tree: crash, and a normal exit" {
	run_ray 0 ray-submit --name crashy --max-retries 0 -- \
		sh -c 'sleep 1000 & echo $! >"$0/tkid.tmp"; mv "$0/tkid.tmp" "$0/tkid"; wait' "$D"
	local ref=$output tid pid kid
	wait_for marker_exists "$D/tkid"
	kid=$(cat "$D/tkid")
	RAY_TEST_PIDS+=("$kid")
	tid=$(ref_task "$ref")
	pid=$(task_field "$tid" pid)
	assert_regex "$pid" '^[0-9]+$'
	kill -9 "$pid"
	run_ray 6 ray-get "$ref"
	wait_for proc_gone "$kid"
	# A task that leaves a child behind when it exits: the child goes too.
	run_ray 0 ray-submit -- sh -c 'sleep 1000 & echo $!' "$D"
	run_ray 0 ray-get "$output"
	kid=$output
	RAY_TEST_PIDS+=("$kid")
	assert_regex "$kid" '^[0-9]+$'
	wait_for proc_gone "$kid"
}

@test "ray-wait -n K prints at most K refs: the first ready ones, in input order" {
	local a b c slow
	a=$(ray-put - <<<a)
	b=$(ray-put - <<<b)
	c=$(ray-put - <<<c)
	run_ray 0 ray-submit -- sleep 30
	slow=$output
	run_ray 0 ray-wait -n 1 "$slow" "$b" "$a" "$c"
	assert_output "$b"
	run_ray 0 ray-wait -n 2 "$a" "$slow" "$b" "$c"
	assert_output "$(printf '%s\n%s' "$a" "$b")"
	run_ray 0 ray-wait "$a" "$b" "$c"
	assert_equal "${#lines[@]}" 3
	# As Ray's num_returns, K is at least 1.
	run_ray 2 ray-wait -n 0 "$a"
	assert_regex "$stderr" "bad -n '0'"
	run_ray 0 ray-cancel "$slow"
}

@test "a hard --node pin to a live node that can never hold the request fails at once with exit 9" {
	run_ray 9 ray-submit --node "$RAY_NODE_ID" --cpus 64 -- true
	assert_regex "$stderr" "$RAY_NODE_ID"
	assert_regex "$stderr" "CPU"
	run_ray 9 ray-submit --node "$RAY_NODE_ID" --resource widget=1 -- true
	assert_regex "$stderr" "widget"
	# One that fits runs; a soft pin that cannot fit stays pending (exit 0).
	run_ray 0 ray-submit --node "$RAY_NODE_ID" --get -- echo pinned
	assert_output pinned
	run_ray 0 ray-submit --node "$RAY_NODE_ID:soft" --cpus 64 -- true
	run_ray 0 ray-cancel "$output"
}

@test "--max-restarts -1 restarts without limit; --max-task-retries -1 retries a call without limit" {
	run_ray 0 ray-actor --help
	assert_output --partial "-1"
	tree_actor --max-restarts -1 --max-task-retries -1
	assert_equal "$(actor_field "$A" max_restarts)" -1
	# The call kills its actor 7 times (more than the backoff's steps)
	# before it is answered by the 8th incarnation.
	run_ray 0 ray-actor call "$A" crashes 7
	run_ray 0 ray-get --timeout 60 "$output"
	assert_output "survived 7"
	assert_equal "$(actor_field "$A" num_restarts)" 7
	assert_equal "$(actor_field "$A" state)" ALIVE
	# Each crash took its incarnation's child with it.
	local f
	for f in "$D"/child.*; do
		RAY_TEST_PIDS+=("$(cat "$f")")
		if [[ $f != "$D/child.$(actor_field "$A" pid)" ]]; then
			wait_for proc_gone "$(cat "$f")"
		fi
	done
}

@test "ray-node stop takes the process trees of running tasks and actors" {
	tree_actor
	local akid=$KID tkid
	run_ray 0 ray-submit -- sh -c 'sleep 1000 & echo $! >"$0/tkid.tmp"; mv "$0/tkid.tmp" "$0/tkid"; wait' "$D"
	wait_for marker_exists "$D/tkid"
	tkid=$(cat "$D/tkid")
	RAY_TEST_PIDS+=("$tkid")
	run_ray 0 ray-node stop
	wait_for proc_gone "$PID"
	wait_for proc_gone "$akid"
	wait_for proc_gone "$tkid"
}

dead_listed() {
	[[ $(ray-actor list --json | jq '[.[] | select(.state == "DEAD")] | length') == "$1" ]]
}

@test "dead actors past RAY_ACTOR_HISTORY are forgotten: the newest stay DEAD (exit 5), older ones are unknown (exit 10)" {
	RAY_ACTOR_HISTORY=3 start_node
	local ids=() i pid
	for i in 1 2 3 4 5 6; do
		run_ray 0 ray-actor create -- cat
		ids+=("$output")
	done
	run_ray 0 ray-actor kill "${ids[@]}"
	wait_for -t 10 dead_listed 3
	run_ray 0 ray-actor list --json
	assert_equal "$(jq -r '.[].actor_id' <<<"$output" | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "${ids[@]:3}" | sort | tr '\n' ' ')"
	run_ray 0 ray-actor call "${ids[5]}" x
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "dead"
	run_ray 10 ray-actor call "${ids[0]}" x
	# A live actor is never forgotten, however many die after it.
	run_ray 0 ray-actor create -- cat
	local live=$output
	for i in 1 2 3 4; do
		run_ray 0 ray-actor create -- cat
		run_ray 0 ray-actor kill "$output"
	done
	wait_for -t 10 dead_listed 3
	run_ray 0 ray-actor call "$live" hello
	run_ray 0 ray-get "$output"
	assert_output hello
}
