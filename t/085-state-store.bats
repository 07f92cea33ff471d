#!/usr/bin/env bats
# The head's durable tables: placement groups (with their bundles' nodes)
# and jobs outlive a SIGKILLed head, with the embedded SQLite store and with
# a real redis-server started here; a clean stop clears the store; bad,
# corrupt, foreign and unreachable stores are clear errors.

load lib/helpers
load lib/cluster

REDIS_PID=

teardown() {
	stop_cluster
	if [[ -n $REDIS_PID ]]; then
		kill "$REDIS_PID" 2>/dev/null
		wait "$REDIS_PID" 2>/dev/null
	fi
	return 0
}

redis_start() {
	command -v redis-server >/dev/null || skip "needs redis-server (make deps installs it)"
	local i
	for i in 1 2 3 4 5; do
		REDIS_PORT=$((20000 + RANDOM % 30000))
		redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
			--daemonize no >"$BATS_TEST_TMPDIR/redis.log" 2>&1 &
		REDIS_PID=$!
		if wait_for -t 5 redis-cli -p "$REDIS_PORT" ping; then
			return 0
		fi
		# It may have exited already (its port was taken): try another.
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
		REDIS_PID=
	done
	echo "# redis-server would not start: $(tail -3 "$BATS_TEST_TMPDIR/redis.log")" >&2
	return 1
}

# head_restart ARGS...: a new head at the old head's address, with the
# same token, in a fresh RAY_TMPDIR.
head_restart() {
	local dir out
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	out=$(RAY_TMPDIR=$dir timeout 30 ray-node start --head --port "$(node_port 0)" --cpus 0 \
		--token-file "$TOKEN_COPY" "$@" 3>&-) || return 1
	CLUSTER_DIRS[0]=$dir
	_record 0 "$out"
	export RAY_TMPDIR=$dir RAY_ADDRESS=$(node_addr 0)
}

workers_alive() {
	nodes_alive "$(node_addr 0)" 3
}

# resume_case URL: the whole round for one back end.
resume_case() {
	local url=$1 pg nodes job
	TOKEN_COPY=$BATS_TEST_TMPDIR/token
	WORKER_OPTS=(--head-timeout 60)
	start_cluster 3 --cpus 0 --state-store "$url"
	cp "$RAY_TOKEN_FILE" "$TOKEN_COPY"
	export RAY_TOKEN_FILE=$TOKEN_COPY
	run_ray 0 ray-pg create --strategy STRICT_SPREAD --name spanning CPU=1 CPU=1
	pg=$output
	run_ray 0 ray-pg list --json
	nodes=$(json_get '.[0].bundles | map(.node_id) | sort | join(",")')
	[[ $nodes == *,* && $nodes != *"$(node_id 0)"* ]]
	run_ray 0 ray-job run -- sh -c 'echo recorded'
	run_ray 0 ray-job list --json
	job=$(json_get '.[0].job_id')
	# A named detached counter on a worker, holding state in its process.
	run_ray 0 ray-actor create --detached --name counter --node "$(node_id 1)" -- \
		sh -c 'n=0; while read -r m; do n=$((n + 1)); echo "$n"; done'
	actor=$output
	for i in 1 2 3; do
		run_ray 0 ray-actor call counter incr
		run_ray 0 ray-get "$output"
	done
	assert_output 3
	kill_node 0
	head_restart --state-store "$url"
	wait_for -t 10 workers_alive
	run_ray 0 ray-pg list --json
	assert_equal "$(json_get '.[0].pg_id')" "$pg"
	assert_equal "$(json_get '.[0].state')" CREATED
	assert_equal "$(json_get '.[0].bundles | map(.node_id) | sort | join(",")')" "$nodes"
	run_ray 0 ray-job list --json
	assert_equal "$(json_get '.[0].job_id')" "$job"
	assert_equal "$(json_get '.[0].status')" SUCCEEDED
	# The counter kept its process and its count: called through the new head.
	run_ray 0 ray-actor get counter
	assert_output --partial "$actor"
	run_ray 0 ray-actor call counter incr
	run_ray 0 ray-get --timeout 20 "$output"
	assert_output 4
	# New work is accepted, and the group's bundles still serve tasks.
	run_ray 0 ray-submit --get --pg spanning --bundle 1 -- sh -c 'echo in bundle on $RAY_NODE_ID'
	assert_output --partial "in bundle on "
	# A clean stop ends the cluster: the next head starts empty.
	RAY_TMPDIR=${CLUSTER_DIRS[0]} run_ray 0 ray-node stop
	head_restart --state-store "$url"
	run_ray 0 ray-pg list --json
	assert_equal "$(json_get 'length')" 0
}

@test "file: a SIGKILLed head's groups and jobs are back when it starts again; a clean stop clears them" {
	resume_case "file:$BATS_TEST_TMPDIR/state"
}

@test "redis: the same through a redis-server, the new head in an empty RAY_TMPDIR" {
	redis_start
	resume_case "redis://127.0.0.1:$REDIS_PORT/t$RANDOM"
}

@test "the default store is in RAY_TMPDIR; a new cluster there starts afresh; a corrupt one is refused (exit 2)" {
	start_node
	run_ray 0 ray-pg create CPU=1
	pid=$(node_pid)
	kill -9 "$pid"
	wait_for proc_gone "$pid"
	# A new head there with a new token: the dead cluster's groups are gone.
	NODE_OUTPUT=$(timeout 30 ray-node start --head --port 0 3>&-)
	eval "$NODE_OUTPUT"
	run_ray 0 ray-pg list --json
	assert_equal "$(json_get 'length')" 0
	run_ray 0 ray-node stop
	[[ -f $RAY_TMPDIR/state/state.db ]]
	head -c 4096 /dev/urandom >"$RAY_TMPDIR/state/state.db"
	rm -f "$RAY_TMPDIR"/state/state.db-*
	run_ray 2 ray-node start --head --port 0
	[[ "$stderr" == *"state store"* ]]
}

@test "a store of another cluster (another token) is refused (exit 2)" {
	# The second head makes a token of its own: not the store's.
	start_node --state-store "file:$BATS_TEST_TMPDIR/shared"
	pid=$(node_pid)
	kill -9 "$pid"
	wait_for proc_gone "$pid"
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	RAY_TMPDIR=$dir run_ray 2 ray-node start --head --port 0 --state-store "file:$BATS_TEST_TMPDIR/shared"
	[[ "$stderr" == *"another cluster"* ]]
}

@test "bad, unreachable and misplaced --state-store values" {
	export RAY_TMPDIR=$(_ray_new_tmpdir)
	run_ray 2 ray-node start --head --port 0 --state-store mysql://x
	[[ "$stderr" == *"--state-store"* ]]
	run_ray 2 ray-node start --head --port 0 --state-store redis://nohostport
	run_ray 8 ray-node start --head --port 0 --state-store redis://127.0.0.1:1
	[[ "$stderr" == *"Redis"* ]]
	start_node
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	RAY_TMPDIR=$dir run_ray 2 ray-node start --address "$RAY_ADDRESS" --port 0 --state-store file:/tmp/x 3>&-
}
