# cluster.bash: a multi-node cluster on one host, for t/08*-cluster*.bats
# (loaded after helpers.bash).  Every node has its own RAY_TMPDIR under
# $BATS_TEST_TMPDIR and listens on 127.0.0.1 with --port 0.  Node 0 is the
# head; its RAY_TMPDIR, RAY_ADDRESS and RAY_TOKEN_FILE are exported, so
# plain tool calls talk to the head.
#
#   start_cluster N [HEAD OPTS...]  a head and N-1 workers (--cpus 2 each);
#                               returns once the head lists N nodes ALIVE.
#                               WORKER_OPTS (an array) adds worker options.
#   add_node [OPTS...]          one more worker; sets NEW (its index) and
#                               returns once the head lists it ALIVE
#   restart_node I [OPTS...]    starts node I again in its RAY_TMPDIR on
#                               its old port (a new node id)
#   stop_cluster                stops every node; teardown calls it always
#   node_dir I / node_id I / node_addr I / node_port I
#   node_pid [I]                the daemon's pid (no I: node at RAY_ADDRESS)
#   kill_node I                 SIGKILL node I's daemon and all its workers
#   on_node I CMD...            CMD with RAY_ADDRESS/RAY_TMPDIR of node I
#   nodes_alive ADDR N          for wait_for: node at ADDR lists N ALIVE
#   node_state_is ID STATE [ADDR]  for wait_for: ID has STATE in the view
#                               of the node at ADDR (default the head)
#
# Arrays: CLUSTER_DIRS (RAY_TMPDIR), CLUSTER_IDS, CLUSTER_ADDRS, index I.

CLUSTER_DIRS=()
CLUSTER_IDS=()
CLUSTER_ADDRS=()

node_dir() { echo "${CLUSTER_DIRS[$1]}"; }
node_id() { echo "${CLUSTER_IDS[$1]}"; }
node_addr() { echo "${CLUSTER_ADDRS[$1]}"; }
node_port() { echo "${CLUSTER_ADDRS[$1]##*:}"; }

# _nodes_json ADDR: ray-status nodes --json of the node at ADDR.
_nodes_json() {
	RAY_ADDRESS=$1 timeout "$RAY_TEST_TIMEOUT" ray-status nodes --json 2>/dev/null
}

nodes_alive() {
	local out
	out=$(_nodes_json "$1") || return 1
	jq -e --argjson n "$2" '[.[] | select(.state == "ALIVE")] | length == $n' <<<"$out" >/dev/null
}

node_state_is() {
	local out
	out=$(_nodes_json "${3:-${CLUSTER_ADDRS[0]}}") || return 1
	jq -e --arg id "$1" --arg s "$2" 'any(.[]; .node_id == $id and .state == $s)' <<<"$out" >/dev/null
}

# _start_worker DIR [OPTS...]: starts a worker joined to the head in DIR;
# prints what `ray-node start` printed.
_start_worker() {
	local dir=$1
	shift
	RAY_TMPDIR=$dir RAY_ADDRESS=${CLUSTER_ADDRS[0]} RAY_TOKEN_FILE=$RAY_TOKEN_FILE \
		timeout "$RAY_TEST_TIMEOUT" ray-node start --address "${CLUSTER_ADDRS[0]}" \
		--port 0 --cpus 2 "$@" 3>&-
}

# _record I OUTPUT: parses a start's RAY_ADDRESS/RAY_NODE_ID into slot I.
_record() {
	local addr id
	addr=$(sed -n 's/^RAY_ADDRESS=\([^;]*\);.*/\1/p' <<<"$2")
	id=$(sed -n 's/^RAY_NODE_ID=\([^;]*\);.*/\1/p' <<<"$2")
	if [[ -z "$addr" || -z "$id" ]]; then
		echo "# ray-node start printed no RAY_ADDRESS/RAY_NODE_ID: $2" >&2
		return 1
	fi
	CLUSTER_ADDRS[$1]=$addr
	CLUSTER_IDS[$1]=$id
}

start_cluster() {
	local n=$1 i
	shift
	start_node "$@" || return 1
	CLUSTER_DIRS=("$RAY_TMPDIR")
	CLUSTER_IDS=("$RAY_NODE_ID")
	CLUSTER_ADDRS=("$RAY_ADDRESS")
	for ((i = 1; i < n; i++)); do
		add_node "${WORKER_OPTS[@]}" || return 1
	done
	wait_for -t 20 nodes_alive "$RAY_ADDRESS" "$n"
}

add_node() {
	local dir out i=${#CLUSTER_DIRS[@]}
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	CLUSTER_DIRS[$i]=$dir
	if ! out=$(_start_worker "$dir" "$@"); then
		echo "# worker start $* failed: $out" >&2
		return 1
	fi
	_record "$i" "$out" || return 1
	NEW=$i
	wait_for -t 20 node_state_is "${CLUSTER_IDS[$i]}" ALIVE
}

restart_node() {
	local i=$1 out
	shift
	if ! out=$(_start_worker "${CLUSTER_DIRS[$i]}" --port "$(node_port "$i")" "$@"); then
		echo "# restart of node $i failed: $out" >&2
		return 1
	fi
	_record "$i" "$out" || return 1
	wait_for -t 20 node_state_is "${CLUSTER_IDS[$i]}" ALIVE
}

on_node() {
	local i=$1
	shift
	RAY_ADDRESS=${CLUSTER_ADDRS[$i]} RAY_TMPDIR=${CLUSTER_DIRS[$i]} "$@"
}

node_pid() {
	local out
	if [[ $# -eq 0 ]]; then
		out=$(timeout "$RAY_TEST_TIMEOUT" ray-status nodes --json) || return 1
		jq -er '.[0].pid' <<<"$out"
		return
	fi
	cat "${CLUSTER_DIRS[$1]}/node-${CLUSTER_IDS[$1]}/node.pid"
}

source "$(dirname "${BASH_SOURCE[0]}")/proctree.bash"

kill_node() {
	local i=$1 pid procs p
	pid=$(node_pid "$i") || return 1
	# Collected before the kill: afterwards the workers are orphans.
	procs=$(descendants "$pid")
	kill -9 "$pid"
	for p in $procs; do
		kill -9 "$p" 2>/dev/null || true   # short-lived ones may be gone already
	done
	wait_for -t 10 proc_gone "$pid"
	for p in $procs; do
		wait_for -t 10 proc_gone "$p"
	done
	# A killed daemon leaves its store behind.
	rm -rf "/dev/shm/ray-${CLUSTER_IDS[$i]}"
}

stop_cluster() {
	local i
	# Workers first, so none outlives its head for long.
	for ((i = ${#CLUSTER_DIRS[@]} - 1; i > 0; i--)); do
		RAY_TMPDIR=${CLUSTER_DIRS[$i]} timeout 30 ray-node stop 3>&- >/dev/null 2>&1 ||
			RAY_TMPDIR=${CLUSTER_DIRS[$i]} timeout 15 ray-node stop --force 3>&- >/dev/null 2>&1
	done
	for i in "${CLUSTER_IDS[@]}"; do
		rm -rf "/dev/shm/ray-$i"
	done
	stop_all
	CLUSTER_DIRS=()
	CLUSTER_IDS=()
	CLUSTER_ADDRS=()
}

teardown() {
	stop_cluster
}
