#!/usr/bin/env bats
# ray-status: the summary, the node, task and object lists with their JSON
# fields, --state and --limit, task logs, the timeline and metrics.

load lib/helpers

setup() {
	start_node --labels zone=test
}

@test "nodes --json: the documented fields" {
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get length)" 1
	assert_equal "$(json_get '.[0].node_id')" "$RAY_NODE_ID"
	assert_equal "$(json_get '.[0].address')" "$RAY_ADDRESS"
	assert_equal "$(json_get '.[0].state')" ALIVE
	assert_equal "$(json_get '.[0].is_head')" true
	assert_equal "$(json_get '.[0].labels | type')" object
	assert_equal "$(json_get '.[0].labels.zone')" test
	assert_equal "$(json_get '.[0].resources_total.CPU')" 2
	assert_equal "$(json_get '.[0].resources_available.CPU')" 2
	local pid
	pid=$(json_get '.[0].pid')
	assert_regex "$(tr '\0' ' ' <"/proc/$pid/cmdline")" 'ray-node'
	# Plain: one line per node.
	run_ray 0 ray-status nodes
	assert_equal "${#lines[@]}" 1
	assert_regex "${lines[0]}" "^$RAY_NODE_ID"$'\t'
}

@test "resources_available drops while a task runs and comes back after" {
	run_ray 0 ray-submit --name holder --cpus 1.5 -- sleep 300
	local ref=$output
	wait_for named_task_in_state holder RUNNING
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_available.CPU')" 0.5
	run_ray 0 ray-cancel "$ref"
	run_ray 7 ray-get --timeout 30 "$ref"
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_available.CPU')" 2
}

@test "tasks --json: task_id, name, state, node_id, attempt, exit_code" {
	run_ray 0 ray-submit --get --name ok-task -- true
	run_ray 1 ray-submit --get --name bad-task -- sh -c 'exit 4'
	run_ray 0 ray-submit --name slow-task -- sleep 300
	wait_for named_task_in_state slow-task RUNNING
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get length)" 3
	local k
	for k in task_id name state node_id attempt exit_code; do
		assert_equal "$(json_get "map(has(\"$k\")) | all")" true
	done
	assert_equal "$(json_get '.[] | select(.name == "ok-task") | "\(.state) \(.exit_code) \(.attempt) \(.node_id)"')" \
		"FINISHED 0 0 $RAY_NODE_ID"
	assert_equal "$(json_get '.[] | select(.name == "bad-task") | "\(.state) \(.exit_code)"')" "FAILED 4"
	assert_equal "$(json_get '.[] | select(.name == "slow-task") | "\(.state) \(.exit_code)"')" "RUNNING null"
	assert_regex "$(json_get '.[0].task_id')" '^[0-9a-f]+$'
	# Every state is a documented one.
	run_ray 0 ray-status tasks --json
	assert_equal "$(json_get '[.[].state | select(IN("PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT",
		"SUBMITTED_TO_WORKER", "RUNNING", "FINISHED", "FAILED", "CANCELLED") | not)] | length')" 0
}

@test "--state filters before --limit: the newest matches are never hidden" {
	run_ray 1 ray-submit --get --name old-failure -- false
	local i
	for i in 1 2 3; do
		run_ray 0 ray-submit --get --name "fine-$i" -- true
	done
	# The newest task of all is FINISHED, yet --state FAILED --limit 1 finds the failure.
	run_ray 0 ray-status tasks --json --state FAILED --limit 1
	assert_equal "$(json_get length)" 1
	assert_equal "$(json_get '.[0].name')" old-failure
	run_ray 0 ray-status tasks --json --state finished --limit 2
	assert_equal "$(json_get '[.[].name] | join(",")')" "fine-2,fine-3"
	run_ray 0 ray-status tasks --json --limit 2
	assert_equal "$(json_get '[.[].name] | join(",")')" "fine-2,fine-3"
	run_ray 0 ray-status tasks --json --state CANCELLED
	assert_equal "$(json_get length)" 0
	run_ray 0 ray-status tasks --state FAILED
	assert_equal "${#lines[@]}" 1
	assert_regex "${lines[0]}" $'\tFAILED\t.*\told-failure$'
	run_ray 2 ray-status tasks --limit many
	run_ray 2 ray-status tasks --limit -1
}

@test "objects --json lists refs with their state and size" {
	run_ray 0 ray-put - <<<"four"
	local ref=$output
	run_ray 0 ray-submit -- sleep 300
	local pending=$output
	run_ray 0 ray-status objects --json
	assert_equal "$(json_get ".[] | select(.ref == \"$ref\") | \"\(.state) \(.size)\"")" "READY 5"
	assert_equal "$(json_get ".[] | select(.ref == \"$pending\") | .state")" PENDING
	run_ray 0 ray-status objects --json --state READY
	assert_equal "$(json_get '[.[].ref] | join(",")')" "$ref"
	run_ray 0 ray-status objects
	assert_line --regexp "^$ref"$'\t'
}

@test "logs TASK prints the task's stderr, also for a ref" {
	run_ray 0 ray-submit --name chatty -- sh -c 'echo "to stderr 1" >&2; echo out; echo "to stderr 2" >&2'
	local ref=$output tid
	run_ray 0 ray-get --timeout 30 "$ref"
	assert_output out
	tid=$(task_id_named chatty)
	run_ray 0 ray-status logs "$tid"
	assert_output "to stderr 1
to stderr 2"
	run_ray 0 ray-status logs "$ref"
	assert_output "to stderr 1
to stderr 2"
	run_ray 10 ray-status logs 0123456789abcdef0123456789abcdef
	run_ray 2 ray-status logs NOT-AN-ID
	run_ray 2 ray-status logs
}

@test "the summary: nodes, resources, demands, tasks, store" {
	run_ray 0 ray-put - <<<"x"
	run_ray 0 ray-submit --name waiting --cpus 99 -- true
	run_ray 0 ray-status
	assert_line --partial "Nodes: 1 alive"
	assert_line --regexp '^ +0/2 CPU$'
	assert_output --partial "infeasible"
	assert_line --regexp '^Object store: 1 objects'
	run_ray 0 ray-status --json
	assert_equal "$(json_get .nodes_alive)" 1
	assert_equal "$(json_get .resources_total.CPU)" 2
	assert_equal "$(json_get .tasks.PENDING_NODE_ASSIGNMENT)" 1
	assert_equal "$(json_get .store.objects)" 1
}

@test "actors, pgs and jobs --json are JSON arrays" {
	local what
	for what in actors pgs jobs; do
		run_ray 0 ray-status "$what" --json
		assert_equal "$(json_get type)" array
	done
}

@test "timeline writes a Chrome trace; metrics prints Prometheus text" {
	run_ray 0 ray-submit --get --name traced -- true
	run_ray 0 ray-status timeline -o "$BATS_TEST_TMPDIR/trace.json"
	assert_equal "$output" ""
	run jq -r '.[] | select(.name == "traced") | .ph' "$BATS_TEST_TMPDIR/trace.json"
	assert_success
	assert_output X
	run_ray 0 ray-status timeline
	assert_equal "$(json_get '.[0].name')" traced
	run_ray 0 ray-status metrics
	assert_line 'ray_tasks{state="FINISHED"} 1'
	assert_line 'ray_nodes{state="ALIVE"} 1'
	assert_line --regexp '^# TYPE ray_tasks gauge$'
}

@test "ray-status usage errors exit 2" {
	run_ray 2 ray-status bogus
	run_ray 2 ray-status nodes extra
	run_ray 2 ray-status --frobnicate
}
