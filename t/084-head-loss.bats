#!/usr/bin/env bats
# Nodes that outlive their head: a worker notices the head's death within
# 5 s, keeps running its tasks and serving its objects, answers
# cluster-wide questions with exit 8, registers again under its own id when
# a head comes back at the same address with the same token, and stops
# after --head-timeout when none does.  Real processes, killed by pid.

load lib/helpers
load lib/cluster

# head_restart: a new head at the old head's address, with its token (a
# copy: the killed head's session is gone with its directory).
head_restart() {
	local dir out
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	out=$(RAY_TMPDIR=$dir timeout 30 ray-node start --head --port "$(node_port 0)" --cpus 2 \
		--token-file "$TOKEN_COPY" 3>&-) || return 1
	CLUSTER_DIRS[0]=$dir
	_record 0 "$out"
}

worker_alive_on_head() {
	local out
	out=$(RAY_ADDRESS=$(node_addr 0) timeout 10 ray-status nodes --json) || return 1
	jq -e --arg id "$(node_id 1)" 'any(.[]; .node_id == $id and .state == "ALIVE")' <<<"$out" >/dev/null
}

head_unreachable_on_worker() {
	on_node 1 timeout 10 ray-status >/dev/null 2>"$BATS_TEST_TMPDIR/st.err"
	[[ $? -eq 8 ]] && grep -q "unreachable" "$BATS_TEST_TMPDIR/st.err"
}

setup() {
	TOKEN_COPY=$BATS_TEST_TMPDIR/token
}

@test "the head is SIGKILLed: the worker knows within 5 s, finishes its task, serves its objects; a new head takes it back" {
	WORKER_OPTS=(--head-timeout 60)
	start_cluster 2
	cp "$RAY_TOKEN_FILE" "$TOKEN_COPY"
	export RAY_TOKEN_FILE=$TOKEN_COPY
	head -c 200000 /dev/urandom >"$BATS_TEST_TMPDIR/blob"
	want=$(sha256sum <"$BATS_TEST_TMPDIR/blob" | cut -d' ' -f1)
	on_node 1 run_ray 0 ray-put "$BATS_TEST_TMPDIR/blob"
	obj=$output
	touch "$BATS_TEST_TMPDIR/gate"
	# A task submitted through the worker, held until the head is gone.
	on_node 1 run_ray 0 ray-submit --node "$(node_id 1)" -- sh -c \
		'while [ -e "$1" ]; do sleep 0.05; done; echo finished on $RAY_NODE_ID' sh "$BATS_TEST_TMPDIR/gate"
	task=$output
	worker_pid=$(node_pid 1)
	t0=$EPOCHREALTIME
	kill_node 0
	wait_for -t 6 head_unreachable_on_worker
	elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	awk -v e="$elapsed" 'BEGIN { exit !(e < 5.5) }'
	# The worker carries on: its task ends, its objects are served.
	rm "$BATS_TEST_TMPDIR/gate"
	on_node 1 run_ray 0 ray-get --timeout 20 "$task"
	assert_output "finished on $(node_id 1)"
	on_node 1 run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/got" "$obj"
	[[ $(sha256sum <"$BATS_TEST_TMPDIR/got" | cut -d' ' -f1) == "$want" ]]
	on_node 1 run_ray 0 ray-status tasks --json
	on_node 1 run_ray 8 ray-status nodes
	# A head comes back at the same address with the same token.
	head_restart
	wait_for -t 10 worker_alive_on_head
	[[ $(node_pid 1) == "$worker_pid" ]]
	on_node 1 run_ray 0 ray-status
	run_ray 0 ray-submit --get --node "$(node_id 1)" -- sh -c 'echo again on $RAY_NODE_ID'
	assert_output "again on $(node_id 1)"
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/got2" "$obj"
	[[ $(sha256sum <"$BATS_TEST_TMPDIR/got2" | cut -d' ' -f1) == "$want" ]]
}

@test "a head that never comes back: the worker stops after --head-timeout" {
	WORKER_OPTS=(--head-timeout 3)
	start_cluster 2
	worker_pid=$(node_pid 1)
	kill_node 0
	t0=$SECONDS
	wait_for -t 15 proc_gone "$worker_pid"
	# Not before the timeout either: it carried on for those 3 s.
	((SECONDS - t0 >= 2))
}

@test "--head-timeout wants seconds" {
	run_ray 2 ray-node start --address 127.0.0.1:1 --head-timeout soon
	[[ "$stderr" == *"--head-timeout"* ]]
}
