# bench/lib-cluster.sh: the cluster plumbing that bench/chaos.sh and
# bench/soak.sh share (sourced, not run): a three-node cluster on this
# host, each node in its own RAY_TMPDIR, node 0 the head.
#
#   DIRS IDS ADDRS        arrays: RAY_TMPDIR, node id, HOST:PORT by index
#   WORKER_OPTS           extra ray-node options for the workers (array)
#   field NAME OUTPUT     a value from ray-node start's output
#   start_worker I [PORT] node I (a worker) in DIRS[I]
#   wait_alive N          until the head lists N nodes ALIVE (30 s)
#   descendants PID       every process below PID
#   node_pid I            the daemon's pid
#   kill_restart I        SIGKILL node I and its workers, start it again on its port
#   stop_nodes            ray-node stop (else --force) for every node, workers first
#
# The caller defines say (one line to stderr), sets RAY_ADDRESS and friends
# for node 0, and appends killed ids to DEAD_IDS.

DIRS=() IDS=() ADDRS=() DEAD_IDS=() WORKER_OPTS=()

field() { sed -n "s/^$1=\\([^;]*\\);.*/\\1/p" <<<"$2"; }

start_worker() {
	local out
	out=$(RAY_TMPDIR=${DIRS[$1]} timeout 30 ray-node start --address "${ADDRS[0]}" \
		--port "${2:-0}" "${WORKER_OPTS[@]}") || return 1
	IDS[$1]=$(field RAY_NODE_ID "$out")
	ADDRS[$1]=$(field RAY_ADDRESS "$out")
}

alive_count() {
	timeout 30 ray-status nodes --json 2>/dev/null | jq '[.[] | select(.state == "ALIVE")] | length'
}

wait_alive() {
	local deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		[[ "$(alive_count)" == "$1" ]] && return 0
		sleep 0.1
	done
	say "the head never listed $1 nodes alive"
	return 1
}

source "$(dirname "${BASH_SOURCE[0]}")/../t/lib/proctree.bash"

node_pid() {
	cat "${DIRS[$1]}/node-${IDS[$1]}/node.pid"
}

kill_restart() {
	local i=$1 pid procs port=${ADDRS[$1]##*:} p
	pid=$(node_pid "$i") || return 1
	procs=$(descendants "$pid")
	kill -9 "$pid" $procs 2>/dev/null
	say "killed node ${IDS[i]} (pid $pid and $(wc -w <<<"$procs") workers)"
	DEAD_IDS+=("${IDS[i]}")
	while kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid") != Z* ]]; do sleep 0.01; done
	rm -rf "/dev/shm/ray-${IDS[i]}"
	for p in {1..50}; do
		start_worker "$i" "$port" && break
		sleep 0.1
	done
	say "restarted it as ${IDS[i]} on port $port"
}

stop_nodes() {
	local i
	for ((i = ${#DIRS[@]} - 1; i >= 0; i--)); do
		RAY_TMPDIR=${DIRS[i]} timeout 30 ray-node stop >/dev/null 2>&1 ||
			RAY_TMPDIR=${DIRS[i]} timeout 15 ray-node stop --force >/dev/null 2>&1
	done
}
