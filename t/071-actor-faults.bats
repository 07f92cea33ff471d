#!/usr/bin/env bats
# Actor faults with real processes: crashes and restarts, calls in flight
# retried or failed, death for good, ray-actor kill, actors that break
# their protocol or cannot start, and node stop.

load lib/helpers
load lib/actors

setup() {
	start_node
	make_line_actor
	D=$BATS_TEST_TMPDIR
}

# new_actor [CREATE OPTS...]: a line test actor; sets A and PID.
new_actor() {
	run_ray 0 ray-actor create "$@" -- "$D/actor.sh" "$D"
	A=$output
	PID=$(actor_field "$A" pid)
	assert_regex "$PID" '^[0-9]+$'
}

@test "kill -9: the actor restarts with its state lost, num_restarts 1" {
	new_actor --max-restarts 1
	run_ray 0 ray-actor call "$A" append before
	run_ray 0 ray-get "$output"
	kill -9 "$PID"
	wait_for actor_alive_again "$A" 1
	assert_not_equal "$(actor_field "$A" pid)" "$PID"
	run_ray 0 ray-actor call "$A" get
	run_ray 0 ray-get "$output"
	assert_output ""
	run_ray 0 ray-actor call "$A" pid
	run_ray 0 ray-get "$output"
	assert_output "$(actor_field "$A" pid)"
}

@test "kill -9 with --max-task-retries: the call in flight runs again on the new process" {
	new_actor --max-restarts 1 --max-task-retries 1
	run_ray 0 ray-actor call "$A" block k
	local ref=$output newpid
	wait_for marker_exists "$D/started.k.$PID"
	run_ray 0 ray-actor call "$A" echo after
	local after=$output
	kill -9 "$PID"
	wait_for actor_alive_again "$A" 1
	newpid=$(actor_field "$A" pid)
	wait_for marker_exists "$D/started.k.$newpid"
	touch "$D/go.k"
	run_ray 0 ray-get "$ref" "$after"
	assert_output "$(printf 'k by %s\nafter' "$newpid")"
}

@test "kill -9 without retries: the call in flight fails with exit 5, later calls run" {
	new_actor --max-restarts 1
	run_ray 0 ray-actor call "$A" block k
	local ref=$output
	wait_for marker_exists "$D/started.k.$PID"
	run_ray 0 ray-actor call "$A" echo queued
	local queued=$output
	kill -9 "$PID"
	run_ray 5 ray-get "$ref"
	assert_regex "$stderr" "^ray-get: .*'block'.*killed by signal 9"
	# The call that was not yet sent waits for the new process.
	run_ray 0 ray-get "$queued"
	assert_output queued
	assert_equal "$(actor_field "$A" num_restarts)" 1
}

@test "after the last restart the actor is DEAD and every call fails with exit 5 naming the cause" {
	new_actor --max-restarts 1
	kill -9 "$PID"
	wait_for actor_alive_again "$A" 1
	PID=$(actor_field "$A" pid)
	run_ray 0 ray-actor call "$A" block k
	local inflight=$output
	wait_for marker_exists "$D/started.k.$PID"
	run_ray 0 ray-actor call "$A" echo queued
	local queued=$output
	kill -9 "$PID"
	wait_for actor_in_state "$A" DEAD
	run_ray 5 ray-get "$inflight"
	assert_regex "$stderr" "killed by signal 9"
	run_ray 5 ray-get "$queued"
	assert_regex "$stderr" "dead.*killed by signal 9"
	run_ray 0 ray-actor call "$A" echo late
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "^ray-get: .*actor $A.*dead.*killed by signal 9"
	assert_equal "$(actor_field "$A" num_restarts)" 1
	assert_equal "$(actor_field "$A" pid)" null
	assert_regex "$(actor_field "$A" death_cause)" "signal 9"
}

@test "an actor that keeps exiting restarts --max-restarts times, then is DEAD" {
	new_actor --max-restarts 2
	run_ray 0 ray-actor call "$A" exit 3
	local r1=$output
	run_ray 5 ray-get "$r1"
	assert_regex "$stderr" "exited with code 3"
	wait_for actor_alive_again "$A" 1
	run_ray 0 ray-actor call "$A" exit 4
	run_ray 5 ray-get "$output"
	wait_for actor_alive_again "$A" 2
	run_ray 0 ray-actor call "$A" exit 5
	run_ray 5 ray-get "$output"
	wait_for actor_in_state "$A" DEAD
	run_ray 0 ray-actor call "$A" echo x
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "exited with code 5"
}

@test "ray-actor kill: DEAD at once, calls in flight and later calls exit 5" {
	new_actor --max-restarts 3 --max-task-retries 3
	run_ray 0 ray-actor call "$A" block k
	local inflight=$output
	wait_for marker_exists "$D/started.k.$PID"
	run_ray 0 ray-actor kill "$A"
	wait_for actor_in_state "$A" DEAD
	wait_for proc_gone "$PID"
	run_ray 5 ray-get "$inflight"
	assert_regex "$stderr" "ray-actor kill"
	run_ray 0 ray-actor call "$A" echo x
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "dead.*ray-actor kill"
	assert_equal "$(actor_field "$A" num_restarts)" 0
	# Killing a dead actor again is harmless.
	run_ray 0 ray-actor kill "$A"
}

@test "ray-actor kill --restart restarts the actor when --max-restarts allows" {
	new_actor --max-restarts 1
	run_ray 0 ray-actor call "$A" append x
	run_ray 0 ray-get "$output"
	run_ray 0 ray-actor kill --restart "$A"
	wait_for actor_alive_again "$A" 1
	wait_for proc_gone "$PID"
	run_ray 0 ray-actor call "$A" get
	run_ray 0 ray-get "$output"
	assert_output ""
	# No restarts left: --restart ends it.
	run_ray 0 ray-actor kill --restart "$A"
	wait_for actor_in_state "$A" DEAD
	run_ray 0 ray-actor call "$A" get
	run_ray 5 ray-get "$output"
}

@test "ray-cancel on calls: exit 7 for queued and in-flight calls, the actor lives on" {
	new_actor
	run_ray 0 ray-actor call "$A" block k
	local inflight=$output queued kept dep go="$D/dep-go"
	wait_for marker_exists "$D/started.k.$PID"
	run_ray 0 ray-actor call "$A" append queued
	queued=$output
	# A call waiting for its argument, cancelled, holds nobody back.
	run_ray 0 ray-submit -- sh -c "while [ ! -e $go ]; do sleep 0.02; done; echo dep"
	dep=$output
	run_ray 0 ray-actor call "$A" append "@$dep"
	local waiting=$output
	run_ray 0 ray-actor call "$A" append kept
	kept=$output
	run_ray 0 ray-cancel "$queued" "$waiting"
	run_ray 7 ray-get "$queued"
	run_ray 7 ray-get "$waiting"
	# In flight: the actor cannot take it back, but the caller stops waiting;
	# even --force does not kill the actor, whose other calls would be lost.
	run_ray 0 ray-cancel --force "$inflight"
	run_ray 7 ray-get "$inflight"
	assert_regex "$stderr" "cancelled"
	assert_equal "$(actor_field "$A" pid)" "$PID"
	assert_equal "$(actor_field "$A" state)" ALIVE
	touch "$D/go.k" "$go"
	run_ray 0 ray-get "$kept"
	assert_output kept
	run_ray 0 ray-actor call "$A" get
	run_ray 0 ray-get "$output"
	assert_output kept
	assert_equal "$(actor_field "$A" num_restarts)" 0
}

@test "tagged: an answer with an unknown call id is a protocol error; other actors go on" {
	cat >"$D/liar.sh" <<'EOF'
#!/bin/bash
while IFS=$'\t' read -r id method arg; do
	case $method in
	lie) printf '99999\toops\n' ;;
	*)   printf '%s\t%s\n' "$id" "$arg" ;;
	esac
done
EOF
	chmod +x "$D/liar.sh"
	new_actor
	local good=$A
	run_ray 0 ray-actor create --protocol tagged --max-concurrency 2 -- "$D/liar.sh"
	local liar=$output
	run_ray 0 ray-actor call "$liar" echo fine
	run_ray 0 ray-get "$output"
	assert_output fine
	run_ray 0 ray-actor call "$liar" lie
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "broke the tagged protocol: answer to an unknown call id"
	wait_for actor_in_state "$liar" DEAD
	run_ray 0 ray-status logs "$liar"
	assert_output --partial "broke the tagged protocol"
	run_ray 0 ray-actor call "$good" echo still-here
	run_ray 0 ray-get "$output"
	assert_output still-here
}

@test "frame: a bad status byte is a protocol error; calls in flight fail with exit 5" {
	# Answers call 1 with status 7 whatever it was asked.
	cat >"$D/badframe.sh" <<'EOF'
#!/bin/bash
head -c 4 >/dev/null
printf '\0\0\0\5\0\0\0\1\7'
while :; do sleep 1; done
EOF
	chmod +x "$D/badframe.sh"
	run_ray 0 ray-actor create --protocol frame --max-restarts 1 -- "$D/badframe.sh"
	local a=$output
	run_ray 0 ray-actor call "$a" anything
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "broke the frame protocol: bad status byte"
	# It was restarted, as for any crash.
	wait_for actor_alive_again "$a" 1
}

@test "an actor that closes its stdout but lingers is killed and its calls fail" {
	new_actor
	run_ray 0 ray-actor call "$A" closeout
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "closed its standard output"
	wait_for actor_in_state "$A" DEAD
	wait_for proc_gone "$PID"
}

@test "an actor that closes its stdin is killed when a call cannot reach it" {
	new_actor
	run_ray 0 ray-actor call "$A" closein
	run_ray 0 ray-get "$output"
	assert_output closed
	run_ray 0 ray-actor call "$A" echo x
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "closed its standard input"
	wait_for actor_in_state "$A" DEAD
	wait_for proc_gone "$PID"
}

@test "a blocked actor wedges nobody else" {
	new_actor
	local stuck=$A
	run_ray 0 ray-actor call "$stuck" block forever
	local ref=$output
	new_actor
	run_ray 0 ray-actor call "$A" echo free
	run_ray 0 ray-get "$output"
	assert_output free
	run_ray 3 ray-get --timeout 0.2 "$ref"
	run_ray 0 ray-put <<<"store still answers"
}

@test "a command that does not exist: create fails with a clear error" {
	run_ray '?' ray-actor create -- "$D/no-such-program"
	assert_equal "$status" 1
	assert_regex "$stderr" "^ray-actor: .*could not start '$D/no-such-program': no such file or directory"
	run_ray '?' ray-actor create -- "$D"
	assert_equal "$status" 1
	assert_regex "$stderr" "could not start"
	run_ray 0 ray-status actors --json
	assert_equal "$(json_get '[.[] | select(.state == "DEAD")] | length')" 2
}

@test "an actor that exits at once fails its calls with exit 5 naming the exit code" {
	run_ray 0 ray-actor create -- sh -c 'echo dying >&2; exit 7'
	local a=$output
	wait_for actor_in_state "$a" DEAD
	run_ray 0 ray-actor call "$a" anything
	run_ray 5 ray-get "$output"
	assert_regex "$stderr" "exited with code 7"
	run_ray 0 ray-status logs "$a"
	assert_output --partial dying
}

@test "actors die with their job unless --detached; a stubborn one is killed after a grace period" {
	cat >"$D/stubborn.sh" <<'EOF'
#!/bin/bash
trap '' TERM
while :; do sleep 0.1; done
EOF
	chmod +x "$D/stubborn.sh"
	run_ray 0 ray-job run -- sh -c '
		ray-actor create -- cat >"$0/inner" &&
		ray-actor create -- "$0/stubborn.sh" >"$0/stubborn" &&
		ray-actor create --detached --namespace kept --name keeper -- "$0/actor.sh" "$0"' "$D"
	local inner stubborn keeper pid_inner pid_stubborn
	inner=$(cat "$D/inner")
	stubborn=$(cat "$D/stubborn")
	keeper=$output
	wait_for actor_in_state "$inner" DEAD
	assert_regex "$(actor_field "$inner" death_cause)" "job ended"
	# Ignores EOF and SIGTERM: SIGKILL after the grace period.
	wait_for -t 10 actor_in_state "$stubborn" DEAD
	run_ray 0 ray-actor get --namespace kept keeper
	assert_output "$keeper"
	assert_equal "$(actor_field "$keeper" state)" ALIVE
	run_ray 0 ray-actor call "$keeper" echo alive
	run_ray 0 ray-get "$output"
	assert_output alive
}

@test "ray-node stop ends actors and the processes they started" {
	run_ray 0 ray-actor create --protocol tagged --max-concurrency 2 -- bash "$BATS_TEST_DIRNAME/../share/examples/sleeper-actor.sh"
	local a=$output pid kids
	run_ray 0 ray-actor call "$a" sleep 60
	pid=$(actor_field "$a" pid)
	wait_for eval "pgrep -P $pid >/dev/null"
	kids=$(pgrep -P "$pid" | tr '\n' ' ')
	run_ray 0 ray-node stop
	wait_for proc_gone "$pid"
	for k in $kids; do
		wait_for proc_gone "$k"
	done
}
