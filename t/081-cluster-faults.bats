#!/usr/bin/env bats
# Cluster faults with real processes: a worker node SIGKILLed (daemon and
# task workers) in the middle of a workload, death detection (the 5 s
# default, and lowered with RAY_NODE_DEAD_TIMEOUT to keep the rest fast),
# results rebuilt from lineage, lost puts, hard affinity to a dead node,
# and a node restarted on the same port.

load lib/helpers
load lib/cluster

# workload OUT: 40 map tasks (sleep, read a shared input through @REF,
# print) spread over the cluster, then 20 reducers over pairs of their
# refs; writes every result, in order, to OUT.  Sets MAP_REFS.
workload() {
	local out=$1 cmds= i refs red=
	run_ray 0 ray-put <<<"shared input $(seq 100)"
	local in=$output
	for i in $(seq 40); do
		cmds+="sleep 0.5; echo map $i; wc -c < @$in"$'\n'
	done
	run_ray 0 ray-submit --strategy spread --batch <<<"$cmds"
	MAP_REFS=$output
	mapfile -t refs <<<"$output"
	for ((i = 0; i < 40; i += 2)); do
		red+="sleep 0.1; cat @${refs[i]} @${refs[i + 1]} | sha256sum"$'\n'
	done
	run_ray 0 ray-submit --strategy spread --batch <<<"$red"
	local reds=$output
	RAY_TEST_TIMEOUT=90 run_ray 0 ray-get $MAP_REFS $reds
	printf '%s\n' "$output" >"$out"
}

# pulls I: how many objects node I has pulled from other nodes.
pulls() {
	local out
	out=$(on_node "$1" timeout "$RAY_TEST_TIMEOUT" ray-store stats --json) || return 1
	jq -er '.pulls' <<<"$out"
}

secs_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# running_on I: true when a task runs on node I now.
running_on() {
	local out
	out=$(on_node "$1" timeout "$RAY_TEST_TIMEOUT" ray-status tasks --json --state RUNNING) || return 1
	jq -e 'length > 0' <<<"$out" >/dev/null
}

@test "SIGKILL of a worker node mid-workload: every result arrives, identical to a fault-free run" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 3
	workload "$BATS_TEST_TMPDIR/clean"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/clean")" 100
	(
		wait_for -t 20 running_on 1 && kill_node 1 2>$BATS_TEST_TMPDIR/killer.err
	) &
	local killer=$!
	workload "$BATS_TEST_TMPDIR/faulty"
	wait "$killer" || { cat $BATS_TEST_TMPDIR/killer.err; false; }
	run_ray 0 ray-status nodes --json
	assert_equal "$(jq -r --arg id "$(node_id 1)" '.[] | select(.node_id == $id) | .state' <<<"$output")" DEAD
	run diff "$BATS_TEST_TMPDIR/clean" "$BATS_TEST_TMPDIR/faulty"
	assert_success
	# Some task ran again.
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get '[.[] | select(.attempt > 0)] | length > 0')" true
}

@test "a SIGKILLed node is declared DEAD within 5 s by default, on every node" {
	start_cluster 3
	local t0 t1 t2
	t0=$EPOCHREALTIME
	kill_node 1
	wait_for -t 10 node_state_is "$(node_id 1)" DEAD
	t1=$EPOCHREALTIME
	wait_for -t 5 node_state_is "$(node_id 1)" DEAD "$(node_addr 2)"
	t2=$EPOCHREALTIME
	echo "# dead on the head after $(secs_between "$t0" "$t1") s, on the other worker after $(secs_between "$t0" "$t2") s"
	# Documented: dead within 5 s (t0 is taken before kill_node even starts);
	# the other nodes hear it with their next heartbeat reply.
	awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a <= 5) }'
	awk -v a="$t0" -v b="$t2" 'BEGIN { exit !(b - a <= 5.5) }'
	# It is not only marked: a fresh task avoids it.
	run_ray 0 ray-status
	assert_regex "$output" '2 alive, 1 dead'
}

@test "a result held only on the dead node is rebuilt from lineage" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 3
	local w1 ref chain
	w1=$(node_id 1)
	# Over 64 KiB, so the owner gets no copy with the task's report.
	run_ray 0 ray-submit --node "$w1:soft" -- sh -c 'echo computed; seq 1000 | sha256sum; seq 20000'
	ref=$output
	# A task submitted on the other worker reads it (a copy goes there,
	# but the owner, the head, does not know of it).
	on_node 2 run_ray 0 ray-submit --node "$(node_id 2)" --batch <<<"cat @$ref | wc -l"
	chain=$output
	run_ray 0 ray-wait "$ref" "$chain"
	assert_equal "$(pulls 0)" 0
	kill_node 1
	wait_for -t 10 node_state_is "$w1" DEAD
	run_ray 0 ray-get "$ref"
	assert_equal "${lines[0]}" computed
	assert_equal "${lines[1]}" "$(seq 1000 | sha256sum)"
	assert_equal "${#lines[@]}" 20002
	run_ray 0 ray-get "$chain"
	assert_output 20002
	assert_equal "$(task_field "${ref:0:32}" attempt)" 1
	assert_equal "$(task_field "${ref:0:32}" state)" FINISHED
	assert_not_equal "$(task_field "${ref:0:32}" node_id)" "$w1"
}

@test "a dependent task whose input died with its node waits for the rebuild" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 3
	local w1 a b
	w1=$(node_id 1)
	run_ray 0 ray-submit --node "$w1:soft" -- sh -c 'seq 5'
	a=$output
	run_ray 0 ray-wait "$a"
	kill_node 1
	# Submitted before the death is known: it must not fail for it.
	run_ray 0 ray-submit --node "$(node_id 2)" --batch <<<"tac @$a"
	b=$output
	run_ray 0 ray-get "$b"
	assert_output "$(seq 5 | tac)"
}

@test "a lost put-object or an unrebuildable result gives exit 4 with a clear message" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 3
	local w1 put res small
	w1=$(node_id 1)
	on_node 1 run_ray 0 ray-put <<<"only on w1"
	put=$output
	run_ray 0 ray-submit --max-retries 0 --node "$w1:soft" -- sh -c 'echo once; seq 20000'
	res=$output
	# A small result rides to its owner with the task's report (as Ray
	# keeps small returns in the owner's memory), so it outlives the node.
	run_ray 0 ray-submit --max-retries 0 --node "$w1:soft" -- echo small
	small=$output
	run_ray 0 ray-wait "$put" "$res" "$small"
	kill_node 1
	wait_for -t 10 node_state_is "$w1" DEAD
	run_ray 0 ray-get "$small"
	assert_output small
	run_ray 4 ray-get "$put"
	assert_regex "$stderr" "^ray-get: .*$put.*lost.*$w1"
	on_node 2 run_ray 4 ray-get "$put"
	run_ray 4 ray-get "$res"
	assert_regex "$stderr" "^ray-get: .*lost.*$w1"
	# A task that needs it fails with the same code.
	run_ray 0 ray-submit -- cat "@$put"
	run_ray 4 ray-get "$output"
}

@test "tasks running on a killed node are retried elsewhere; a hard pin to it fails with exit 9" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 3
	local w1 soft hard late
	w1=$(node_id 1)
	run_ray 0 ray-submit --node "$w1:soft" -- sh -c 'sleep 2; echo $RAY_ATTEMPT'
	soft=$output
	run_ray 0 ray-submit --node "$w1" --cpus 2 -- sh -c 'sleep 2; echo done'
	hard=$output
	wait_for on_node 1 running_on 1
	kill_node 1
	run_ray 0 ray-get "$soft"
	assert_output 1
	run_ray 9 ray-get "$hard"
	assert_regex "$stderr" "$w1"
	run_ray 9 ray-submit --node "$w1" -- true
}

@test "a node restarted on the same port rejoins with a new node id" {
	RAY_NODE_DEAD_TIMEOUT=1 start_cluster 2
	local old port
	old=$(node_id 1)
	port=$(node_port 1)
	kill_node 1
	wait_for -t 10 node_state_is "$old" DEAD
	restart_node 1
	assert_not_equal "$(node_id 1)" "$old"
	assert_equal "$(node_port 1)" "$port"
	run_ray 0 ray-status nodes --json
	assert_equal "$(jq -r --arg id "$old" '.[] | select(.node_id == $id) | .state' <<<"$output")" DEAD
	assert_equal "$(jq -r --arg id "$(node_id 1)" '.[] | select(.node_id == $id) | .state' <<<"$output")" ALIVE
	run_ray 0 ray-submit --get --node "$(node_id 1)" -- sh -c 'echo $RAY_NODE_ID'
	assert_output "$(node_id 1)"
	# Objects cross to and from it.
	run_ray 0 ray-put <<<"to the new node"
	on_node 1 run_ray 0 ray-get "$output"
	assert_output "to the new node"
}
