#!/usr/bin/env bats
# ray-node --metrics-port: /metrics over HTTP in the Prometheus text
# format, checked by promtool; a scraper that stalls does not stall the
# node; bad ports are refused.

load lib/helpers
load lib/cluster

teardown() {
	stop_cluster
	stop_all
}

# metrics_port [DIR]: the port the node under DIR (default $RAY_TMPDIR)
# logged for /metrics.
metrics_port() {
	sed -n 's|.*metrics on http://.*:\([0-9]*\)/metrics$|\1|p' "${1:-$RAY_TMPDIR}"/node-*/logs/node.log
}

scrape() {
	curl -sS --max-time 10 "http://127.0.0.1:$1/metrics"
}

# has_line PORT LINE: the scrape shows LINE exactly (for wait_for).
has_line() {
	scrape "$1" | grep -qxF "$2"
}

@test "metrics: /metrics is valid Prometheus text with tasks, resources, store and histograms" {
	command -v promtool >/dev/null || skip "promtool (Debian package prometheus) is not installed"
	start_node --cpus 3 --metrics-port 0
	local port
	port=$(metrics_port)
	[[ "$port" =~ ^[0-9]+$ ]]
	run_ray 0 sh -c 'ray-submit -- sleep 0.3 | ray-get'
	run_ray 0 sh -c 'head -c 300000 /dev/urandom | ray-put'
	# The snapshot is refreshed each second: wait for the task to show.
	wait_for has_line "$port" 'ray_tasks{state="FINISHED"} 1'
	run_ray 0 curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/hdr" "http://127.0.0.1:$port/metrics"
	local text=$output
	grep -qi '^content-type: text/plain; version=0.0.4' "$BATS_TEST_TMPDIR/hdr"
	run_ray 0 promtool check metrics <<<"$text"
	grep -qxF 'ray_resources_capacity{resource="CPU"} 3' <<<"$text"
	grep -qxF 'ray_resources_available{resource="CPU"} 3' <<<"$text"
	grep -qxF 'ray_task_run_seconds_count 1' <<<"$text"
	grep -qxF 'ray_task_run_seconds_bucket{le="0.25"} 0' <<<"$text"
	grep -qxF 'ray_task_run_seconds_bucket{le="0.5"} 1' <<<"$text"
	grep -qxF 'ray_tasks_submitted_total 1' <<<"$text"
	grep -qxF "ray_node_info{node_id=\"$RAY_NODE_ID\",is_head=\"1\"} 1" <<<"$text"
	grep -qxF 'ray_cluster_nodes{state="ALIVE"} 1' <<<"$text"
	grep -qE '^ray_object_store_bytes\{kind="used"\} [0-9]{6,}$' <<<"$text"
	grep -qE '^ray_object_store_objects 2$' <<<"$text"
	grep -qE '^ray_actors\{state="ALIVE"\} 0$' <<<"$text"
	# Only /metrics, only GET.
	run_ray 0 curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/"
	assert_output 404
	run_ray 0 curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/metrics"
	assert_output 405
}

@test "metrics: used resources and the actor call histogram follow the work" {
	start_node --cpus 2 --metrics-port 0
	local port
	port=$(metrics_port)
	run_ray 0 sh -c 'ray-submit --cpus 2 -- sleep 30 > "$BATS_TEST_TMPDIR/ref"'
	wait_for has_line "$port" 'ray_resources_used{resource="CPU"} 2'
	has_line "$port" 'ray_tasks{state="RUNNING"} 1'
	run_ray 0 sh -c 'ray-cancel --force < "$BATS_TEST_TMPDIR/ref"'
	wait_for has_line "$port" 'ray_resources_used{resource="CPU"} 0'
	run_ray 0 ray-actor create --cpus 0 -- bash "$BATS_TEST_DIRNAME/../share/examples/counter-actor.sh"
	local a=$output
	run_ray 0 ray-actor call "$a" add 5
	run_ray 0 ray-actor call "$a" add 6
	wait_for has_line "$port" 'ray_actor_call_seconds_count 2'
	has_line "$port" 'ray_actors{state="ALIVE"} 1'
}

@test "metrics: a scraper that never sends its request does not stall the node" {
	start_node --metrics-port 0
	local port
	port=$(metrics_port)
	# Half-open connections that say nothing: the server's thread holds
	# them, the loop goes on.
	exec 5<>"/dev/tcp/127.0.0.1/$port" 6<>"/dev/tcp/127.0.0.1/$port"
	printf 'GET /metr' >&5
	run_ray 0 sh -c 'ray-submit -- echo hi | ray-get'
	assert_output hi
	wait_for has_line "$port" 'ray_tasks_submitted_total 1'
	exec 5>&- 6>&-
}

@test "metrics: a joined node counts its heartbeats; the head counts them received" {
	WORKER_OPTS=(--metrics-port 0)
	start_cluster 2 --metrics-port 0
	local hp wp
	hp=$(metrics_port "$(node_dir 0)")
	wp=$(metrics_port "$(node_dir 1)")
	[[ -n "$hp" && -n "$wp" && "$hp" != "$wp" ]]
	hb_sent() { scrape "$wp" | awk '$1 == "ray_heartbeats_sent_total" && $2 >= 2 { ok = 1 } END { exit !ok }'; }
	hb_recv() { scrape "$hp" | awk '$1 == "ray_heartbeats_received_total" && $2 >= 2 { ok = 1 } END { exit !ok }'; }
	wait_for hb_sent
	wait_for hb_recv
	scrape "$wp" | grep -qxF "ray_node_info{node_id=\"$(node_id 1)\",is_head=\"0\"} 1"
	scrape "$hp" | grep -qxF 'ray_cluster_nodes{state="ALIVE"} 2'
}

@test "metrics: a bad --metrics-port is a usage error; a port in use fails the start" {
	run_ray 2 ray-node start --head --port 0 --metrics-port 70000
	assert_regex "$stderr" "^ray-node: bad --metrics-port '70000'"
	start_node --metrics-port 0
	local port
	port=$(metrics_port)
	local dir
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	RAY_TMPDIR=$dir run_ray 2 ray-node start --head --port 0 --metrics-port "$port"
	assert_regex "$stderr" "^ray-node: cannot serve metrics on 127.0.0.1 port $port"
}
