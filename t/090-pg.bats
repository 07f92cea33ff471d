#!/usr/bin/env bats
# Placement groups on a 3-node cluster (2 CPUs a node): the four
# strategies as `ray-status pgs --json` and `ray-pg list --json` show them,
# tasks in bundles (where they run, what they may draw on), removal, the
# waits (--timeout, --no-wait, a node that joins later), two groups racing
# for the same room, rescheduling after a node dies, and the exit codes.

load lib/helpers
load lib/cluster

# pg_field PG JQ: JQ applied to the group's record in `ray-status pgs
# --json` of the head.
pg_field() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status pgs --json) || return 1
	jq -er --arg id "$1" ".[] | select(.pg_id == \$id) | $2" <<<"$out"
}

# pg_state_is PG STATE: for wait_for.
pg_state_is() {
	local s
	s=$(pg_field "$1" .state) && [[ "$s" == "$2" ]]
}

# bundle_nodes PG: the node of each bundle, one a line, in index order.
bundle_nodes() {
	pg_field "$1" '.bundles | sort_by(.index) | .[].node_id // "null"'
}

# distinct_nodes PG: how many nodes hold the group's bundles.
distinct_nodes() {
	pg_field "$1" '[.bundles[].node_id] | unique | length'
}

# cpu_free [I]: resources_available.CPU of node I (all nodes summed
# without I), as the head sees it.
cpu_free() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status nodes --json --state ALIVE) || return 1
	if [[ $# -eq 0 ]]; then
		jq -er '[.[].resources_available.CPU] | add' <<<"$out"
	else
		jq -er --arg id "$(node_id "$1")" '.[] | select(.node_id == $id) | .resources_available.CPU' <<<"$out"
	fi
}

# cpu_free_is [I] N: for wait_for.
cpu_free_is() {
	local want=${!#} got
	got=$(cpu_free "${@:1:$#-1}") && [[ "$got" == "$want" ]]
}

# gated CMD...: a command that first waits (bounded) for $GATE to exist.
gated() {
	echo "for i in \$(seq 600); do [ -e $GATE ] && break; sleep 0.05; done; $*"
}

# both_listings_agree: ray-pg list --json and ray-status pgs --json say the
# same thing.
both_listings_agree() {
	local a b
	a=$(timeout "$RAY_TEST_TIMEOUT" ray-pg list --json) || return 1
	b=$(timeout "$RAY_TEST_TIMEOUT" ray-status pgs --json) || return 1
	[[ "$(jq -S . <<<"$a")" == "$(jq -S . <<<"$b")" ]]
}

setup() {
	GATE=$BATS_TEST_TMPDIR/gate
}

@test "PACK packs onto as few nodes as possible" {
	start_cluster 3
	run_ray 0 ray-pg create --strategy PACK CPU=1 CPU=1
	local two=$output
	run_ray 0 ray-pg create --strategy PACK --name three CPU=1 CPU=1 CPU=1
	local three=$output
	assert_equal "$(pg_field "$two" .state)" CREATED
	assert_equal "$(pg_field "$two" .strategy)" PACK
	assert_equal "$(distinct_nodes "$two")" 1
	# 3 CPUs on 2-CPU nodes: two nodes, not three.
	assert_equal "$(pg_field "$three" .state)" CREATED
	assert_equal "$(pg_field "$three" .name)" three
	assert_equal "$(distinct_nodes "$three")" 2
	assert_equal "$(pg_field "$three" '[.bundles[].index] | join(",")')" 0,1,2
	assert_equal "$(pg_field "$three" '.bundles[0].resources.CPU')" 1
	both_listings_agree
	run_ray 0 ray-pg list
	assert_line --regexp "^$three	CREATED	PACK	three\$"
	assert_line --regexp "^$two	CREATED	PACK	-\$"
	wait_for -t 10 cpu_free_is 1
}

@test "SPREAD spreads over the nodes, and doubles up only when it must" {
	start_cluster 3
	run_ray 0 ray-pg create --strategy SPREAD CPU=1 CPU=1 CPU=1
	local three=$output
	assert_equal "$(distinct_nodes "$three")" 3
	run_ray 0 ray-pg create --strategy SPREAD CPU=0.5 CPU=0.5 CPU=0.5 CPU=0.5
	local four=$output
	assert_equal "$(pg_field "$four" .state)" CREATED
	assert_equal "$(pg_field "$four" .strategy)" SPREAD
	assert_equal "$(distinct_nodes "$four")" 3
	both_listings_agree
	wait_for -t 10 cpu_free_is 1
}

@test "STRICT_PACK puts every bundle on one node, or waits for one that fits" {
	start_cluster 3
	run_ray 0 ray-pg create --strategy STRICT_PACK CPU=1 CPU=1
	local two=$output
	assert_equal "$(pg_field "$two" .state)" CREATED
	assert_equal "$(distinct_nodes "$two")" 1
	# 3 CPUs in all are free, but no node has 3.
	run_ray 3 ray-pg create --strategy STRICT_PACK --timeout 1 CPU=1 CPU=1 CPU=1
	local three=$output
	assert_regex "$three" '^[0-9a-f]+$'
	assert_regex "$stderr" '^ray-pg: .*not ready'
	assert_equal "$(pg_field "$three" .state)" PENDING
	assert_equal "$(bundle_nodes "$three" | sort -u)" null
	both_listings_agree
	# A node with room joins: the group is made there, whole.
	add_node --cpus 3
	wait_for -t 10 pg_state_is "$three" CREATED
	assert_equal "$(bundle_nodes "$three" | sort -u)" "$(node_id "$NEW")"
}

@test "STRICT_SPREAD puts each bundle on a different node; more bundles than nodes wait for a node to join" {
	start_cluster 3
	run_ray 0 ray-pg create --strategy STRICT_SPREAD CPU=0.5 CPU=0.5 CPU=0.5
	local three=$output
	assert_equal "$(distinct_nodes "$three")" 3
	run_ray 0 ray-pg create --strategy STRICT_SPREAD --no-wait CPU=0.5 CPU=0.5 CPU=0.5 CPU=0.5
	local four=$output
	assert_equal "$(pg_field "$four" .state)" PENDING
	assert_equal "$(pg_field "$four" .strategy)" STRICT_SPREAD
	# Pending means nothing held: 6 - 1.5 CPUs free.
	wait_for -t 10 cpu_free_is 4.5
	add_node
	wait_for -t 10 pg_state_is "$four" CREATED
	assert_equal "$(distinct_nodes "$four")" 4
	bundle_nodes "$four" | grep -qx "$(node_id "$NEW")"
	both_listings_agree
}

@test "--pg --bundle I runs on the bundle's node and draws on the bundle's room only" {
	start_cluster 3
	run_ray 0 ray-pg create --strategy STRICT_SPREAD CPU=1 CPU=1 CPU=1
	local pg=$output i want
	for i in 0 1 2; do
		want=$(bundle_nodes "$pg" | sed -n "$((i + 1))p")
		run_ray 0 ray-submit --pg "$pg" --bundle "$i" --get -- sh -c 'echo $RAY_NODE_ID'
		assert_equal "$output" "$want"
	done
	# Bundle 0 has 1 CPU: a second 1-CPU task waits for the first, though
	# its node has a CPU free outside the bundle.
	run_ray 0 ray-submit --pg "$pg" --bundle 0 --name first -- sh -c "$(gated echo first)"
	local first=$output
	run_ray 0 ray-submit --pg "$pg" --bundle 0 --name second -- sh -c 'echo second'
	local second=$output
	local node0 fid sid
	node0=$(bundle_nodes "$pg" | head -1)
	fid=$(task_id_named first)
	sid=$(task_id_named second)
	wait_for -t 10 task_in_state "$fid" RUNNING
	run_ray 0 ray-submit --node "$node0" --get -- echo outside
	assert_equal "$output" outside
	run_ray 3 ray-wait --timeout 0.5 "$second"
	assert_equal "$output" ""
	touch "$GATE"
	run_ray 0 ray-get "$first" "$second"
	assert_equal "$output" "first
second"
}

@test "--pg without --bundle uses any bundle with room" {
	start_cluster 3
	run_ray 0 ray-pg create --strategy STRICT_SPREAD CPU=1 CPU=1
	local pg=$output a b c
	run_ray 0 ray-submit --pg "$pg" -- sh -c "$(gated 'echo $RAY_NODE_ID')"
	a=$output
	run_ray 0 ray-submit --pg "$pg" -- sh -c "$(gated 'echo $RAY_NODE_ID')"
	b=$output
	run_ray 0 ray-submit --pg "$pg" -- sh -c 'echo $RAY_NODE_ID'
	c=$output
	# Two 1-CPU bundles: two run at once, the third waits.
	wait_for -t 10 running_count_is 2
	run_ray 3 ray-wait --timeout 0.5 "$c"
	assert_equal "$output" ""
	touch "$GATE"
	run_ray 0 ray-get "$a" "$b" "$c"
	assert_equal "$(sort -u <<<"${lines[0]}
${lines[1]}")" "$(bundle_nodes "$pg" | sort)"
	bundle_nodes "$pg" | grep -qx "${lines[2]}"
}

# running_count_is N: N tasks RUNNING across the cluster.
running_count_is() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status tasks --json --state RUNNING) || return 1
	jq -e --argjson n "$1" 'length == $n' <<<"$out" >/dev/null
}

@test "ray-pg remove frees the resources and stops the tasks that use them" {
	start_cluster 3
	wait_for -t 10 cpu_free_is 6
	run_ray 0 ray-pg create --strategy STRICT_SPREAD --name big CPU=2 CPU=2 CPU=2
	local pg=$output
	wait_for -t 10 cpu_free_is 0
	run_ray 0 ray-submit --pg "$pg" --bundle 1 --cpus 2 --name inpg -- sh -c "$(gated echo never)"
	local running=$output
	wait_for -t 10 named_task_in_state inpg RUNNING
	run_ray 0 ray-submit --pg "$pg" --bundle 1 --cpus 2 -- echo queued
	local queued=$output
	run_ray 0 ray-pg remove big
	assert_equal "$output" ""
	run_ray 7 ray-get "$running"
	assert_regex "$stderr" 'cancelled'
	run_ray 9 ray-get "$queued"
	assert_regex "$stderr" 'removed'
	wait_for -t 10 cpu_free_is 6
	for i in 0 1 2; do
		assert_equal "$(cpu_free "$i")" 2
	done
	assert_equal "$(pg_field "$pg" .state)" REMOVED
	# Gone for good: a second remove and new tasks say so.
	run_ray 10 ray-pg remove "$pg"
	run_ray 10 ray-submit --pg "$pg" -- true
}

@test "--timeout exits 3 and the group stays PENDING; --no-wait returns at once" {
	start_cluster 3
	local t0=$SECONDS
	run_ray 3 ray-pg create --timeout 1 CPU=7
	local pg=$output
	assert_regex "$pg" '^[0-9a-f]+$'
	assert_equal "$(pg_field "$pg" .state)" PENDING
	run_ray 0 ray-pg create --no-wait CPU=7
	local nw=$output
	assert_regex "$nw" '^[0-9a-f]+$'
	assert_equal "$(pg_field "$nw" .state)" PENDING
	((SECONDS - t0 < 10))
	run_ray 0 ray-pg list --json
	assert_equal "$(json_get '[.[] | select(.state == "PENDING")] | length')" 2
	run_ray 0 ray-pg remove "$pg"
	run_ray 0 ray-pg remove "$nw"
	assert_equal "$(pg_field "$pg" .state)" REMOVED
}

@test "groups made and used through a non-head node are proxied to the head" {
	start_cluster 3
	on_node 2 run_ray 0 ray-pg create --strategy STRICT_SPREAD --name viaw CPU=1 CPU=1 CPU=1
	local pg=$output
	assert_equal "$(pg_field "$pg" .state)" CREATED
	on_node 2 run_ray 0 ray-pg list --json
	assert_equal "$(json_get '.[] | select(.name == "viaw") | .pg_id')" "$pg"
	on_node 1 run_ray 0 ray-submit --pg viaw --bundle 2 --get -- sh -c 'echo $RAY_NODE_ID'
	assert_equal "$output" "$(bundle_nodes "$pg" | sed -n 3p)"
	on_node 1 run_ray 3 ray-pg create --timeout 1 CPU=9
	assert_regex "$output" '^[0-9a-f]+$'
	on_node 1 run_ray 0 ray-pg remove viaw
	wait_for -t 10 cpu_free_is 6
}

@test "two groups racing for most of the cluster: one is CREATED, the other PENDING, nothing half-held" {
	start_cluster 3
	local round a b pa pb
	for round in 1 2 3; do
		wait_for -t 10 cpu_free_is 6
		# Each needs 4 of the 6 CPUs.
		ray-pg create --strategy SPREAD --timeout 2 CPU=1 CPU=1 CPU=1 CPU=1 >"$BATS_TEST_TMPDIR/a" 2>/dev/null &
		pa=$!
		on_node 1 ray-pg create --strategy SPREAD --timeout 2 CPU=1 CPU=1 CPU=1 CPU=1 >"$BATS_TEST_TMPDIR/b" 2>/dev/null &
		pb=$!
		local ra=0 rb=0
		wait "$pa" || ra=$?
		wait "$pb" || rb=$?
		a=$(<"$BATS_TEST_TMPDIR/a")
		b=$(<"$BATS_TEST_TMPDIR/b")
		echo "# round $round: $a exit $ra, $b exit $rb"
		assert_equal "$(printf '%s\n' "$ra" "$rb" | sort | paste -sd' ')" "0 3"
		run_ray 0 ray-pg list --json
		assert_equal "$(json_get '[.[] | select(.state == "CREATED")] | length')" 1
		assert_equal "$(json_get '[.[] | select(.state == "PENDING")] | length')" 1
		assert_equal "$(json_get '[.[] | select(.state == "PENDING") | .bundles[].node_id] | unique')" '[
  null
]'
		# 6 - 4: the pending group holds nothing on any node.
		wait_for -t 10 cpu_free_is 2
		run_ray 0 ray-pg remove "$a"
		run_ray 0 ray-pg remove "$b"
	done
}

@test "a dead node takes its bundles down: RESCHEDULING, then CREATED on the remaining nodes" {
	RAY_NODE_DEAD_TIMEOUT=2 start_cluster 3
	run_ray 0 ray-pg create --strategy SPREAD CPU=1 CPU=1 CPU=1
	local pg=$output lost
	# A filler holds the other CPU of every node, so nothing fits at first.
	run_ray 0 ray-pg create --strategy SPREAD --name filler CPU=1 CPU=1 CPU=1
	lost=$(bundle_nodes "$pg" | grep -nx "$(node_id 2)" | cut -d: -f1)
	lost=$((lost - 1))
	run_ray 0 ray-submit --pg "$pg" --bundle "$lost" -- sh -c "$(gated 'echo $RAY_NODE_ID')"
	local ref=$output
	wait_for -t 10 running_count_is 1
	kill_node 2
	wait_for -t 10 pg_state_is "$pg" RESCHEDULING
	assert_equal "$(pg_field "$pg" ".bundles[$lost].node_id // \"null\"")" null
	assert_equal "$(pg_field "$pg" '[.bundles[].node_id | select(. != null)] | length')" 2
	run_ray 0 ray-pg remove filler
	wait_for -t 10 pg_state_is "$pg" CREATED
	local now
	now=$(pg_field "$pg" ".bundles[$lost].node_id")
	[[ "$now" == "$(node_id 0)" || "$now" == "$(node_id 1)" ]]
	# The task that ran there runs again in the bundle's new home.
	touch "$GATE"
	run_ray 0 ray-get "$ref"
	assert_equal "$output" "$now"
}

@test "exit codes: unknown group 10, bad bundle or strategy 2, a task bigger than its bundle 9" {
	start_cluster 3
	run_ray 10 ray-pg remove 0123456789abcdef0123456789abcdef
	assert_regex "$stderr" "^ray-pg: unknown placement group"
	run_ray 10 ray-submit --pg nosuchgroup -- true
	run_ray 2 ray-pg create CPU=abc
	assert_regex "$stderr" '^ray-pg: '
	run_ray 2 ray-pg create CPU
	run_ray 2 ray-pg create CPU=-1
	run_ray 2 ray-pg create --strategy BEST CPU=1
	run_ray 2 ray-pg create
	run_ray 2 ray-pg remove
	run_ray 0 ray-pg create --name two CPU=1 CPU=1
	local pg=$output
	run_ray 2 ray-pg create --name two CPU=1
	run_ray 2 ray-submit --pg "$pg" --bundle 2 -- true
	assert_regex "$stderr" 'no bundle 2'
	run_ray 9 ray-submit --pg "$pg" --bundle 0 --cpus 2 -- true
	assert_regex "$stderr" 'bundle'
}

# summary_cpu_used_is N: ray-status --json says N CPUs in use cluster-wide.
summary_cpu_used_is() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status --json) || return 1
	jq -e --argjson n "$1" '.resources_total.CPU - .resources_available.CPU == $n' <<<"$out" >/dev/null
}

@test "ray-status: totals, used, and pending demands, infeasible ones with the reason" {
	start_cluster 3
	run_ray 0 ray-pg create --strategy STRICT_PACK CPU=2
	local pg=$output
	run_ray 0 ray-submit --pg "$pg" --cpus 2 -- sh -c "$(gated echo in-pg)"
	local inpg=$output
	run_ray 0 ray-submit --pg "$pg" --cpus 2 -- echo after
	local after=$output
	run_ray 0 ray-submit --cpus 3 -- true
	assert_regex "$stderr" 'infeasible: no live node has 3 CPU \(the largest node has 2\)'
	run_ray 0 ray-submit --label zone=nowhere -- true
	assert_regex "$stderr" 'infeasible: .*zone=nowhere'
	wait_for -t 10 summary_cpu_used_is 2
	run_ray 0 ray-status --json
	assert_equal "$(json_get .nodes_alive)" 3
	assert_equal "$(json_get .resources_total.CPU)" 6
	assert_equal "$(json_get '[.demands[] | select(.infeasible)] | length')" 2
	assert_equal "$(json_get '.demands[] | select(.resources.CPU == 3) | .reason')" \
		"no live node has 3 CPU (the largest node has 2)"
	assert_regex "$(json_get '.demands[] | select(.infeasible and .resources.CPU == 1) | .reason')" 'zone=nowhere'
	# Waiting for room in its bundle is not infeasible.
	assert_equal "$(json_get '.demands[] | select(.pg != null) | "\(.pg) \(.infeasible)"')" "$pg false"
	assert_equal "$(json_get .tasks.PENDING_NODE_ASSIGNMENT)" 3
	run_ray 0 ray-status
	assert_line "Nodes: 3 alive, 0 dead"
	assert_line --regexp '^ +2/6 CPU$'
	assert_line --regexp '^  \{CPU: 3\} \(infeasible: no live node has 3 CPU \(the largest node has 2\)\)$'
	assert_line --regexp "^  \{CPU: 2\} in placement group $pg\$"
	touch "$GATE"
	run_ray 0 ray-get "$inpg" "$after"
}

@test "a task blocked in ray-get lends its CPU to its bundle, so a nested task in the group runs" {
	start_node
	run_ray 0 ray-pg create CPU=1
	local pg=$output
	# The parent holds the bundle's only CPU while it waits for its child,
	# which needs that CPU too.
	run_ray 0 ray-submit --pg "$pg" --bundle 0 --get -- \
		sh -c 'echo parent; ray-submit --pg "$1" --bundle 0 --get -- echo child' sh "$pg"
	assert_output "parent
child"
	# Nothing leaked: the bundle still runs a 1-CPU task, and the node's
	# other CPU was never used by the group.
	run_ray 0 ray-submit --pg "$pg" --bundle 0 --get -- echo again
	assert_output again
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_available.CPU')" 1
	run_ray 0 ray-pg remove "$pg"
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_available.CPU')" 2
}
