# helpers.bash: what every t/NNN-*.bats file loads.
#
#   run_ray [RC] CMD [ARG...]   run CMD under `timeout`, assert its exit
#                               status (default 0) first; $output is its
#                               stdout, $stderr its stderr
#   start_node [OPTS...]        a fresh head node in its own RAY_TMPDIR
#   stop_all                    stops every node a test started (teardown)
#   wait_for [-t SEC] CMD...    polls CMD until it succeeds, with a deadline
#   json_get FILTER             jq FILTER over $output, one value a line
#
# Tools are taken from $PATH (the Makefile puts bin/ first).  Every tool
# call is bounded by RAY_TEST_TIMEOUT seconds (60 by default), so a hung
# daemon fails one test instead of hanging the suite.  Under `make check`
# RAY_TEST_NO_SKIP is set and a skipped test counts as a failure.

bats_require_minimum_version 1.5.0

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

RAY_TEST_TIMEOUT=${RAY_TEST_TIMEOUT:-60}

# RAY_TMPDIRs of the nodes this test started, and dirs to remove after.
RAY_TEST_TMPDIRS=()
RAY_TEST_CLEANUP=()
# Pids a test saw that must not outlive it (killed in teardown if alive).
RAY_TEST_PIDS=()
# Cgroup directories a test made (removed in teardown).
RAY_TEST_CGROUPS=()

if [[ -n "${RAY_TEST_NO_SKIP:-}" ]]; then
	skip() {
		echo "# skipped tests fail under make check: ${*:-no reason}" >&2
		return 1
	}
fi

# run_ray [RC] CMD [ARG...]: like podman's run_podman.  RC may be a number
# or '?' (any status; check $status yourself).
run_ray() {
	local expect=0
	case "${1:-}" in
	[0-9] | [0-9][0-9] | [0-9][0-9][0-9]) expect=$1; shift ;;
	'?') expect=; shift ;;
	esac
	# Shown by bats only when the test fails.
	echo "# \$ $*"
	run --separate-stderr timeout --kill-after=5 "$RAY_TEST_TIMEOUT" "$@"
	if [[ -n "$output" ]]; then
		printf '# %s\n' "${lines[@]}"
	fi
	if [[ -n "${stderr:-}" ]]; then
		printf '# stderr: %s\n' "${stderr_lines[@]}"
	fi
	if [[ "$status" -eq 124 || "$status" -eq 137 ]] && [[ "$expect" != 124 && "$expect" != 137 ]]; then
		echo "# TIMED OUT after ${RAY_TEST_TIMEOUT}s: $*" >&2
	fi
	if [[ -n "$expect" && "$status" -ne "$expect" ]]; then
		echo "# exit status $status, expected $expect: $*" >&2
		return 1
	fi
	return 0
}

# A directory for a node's session: short enough for a Unix socket path
# (108 bytes) even with node-<ID>/node.sock appended.
_ray_new_tmpdir() {
	local d
	if [[ -n "${BATS_TEST_TMPDIR:-}" && ${#BATS_TEST_TMPDIR} -lt 50 ]]; then
		d=$(mktemp -d "$BATS_TEST_TMPDIR/n.XXXX")
	else
		d=$(mktemp -d /tmp/rayt.XXXXXX)
		RAY_TEST_CLEANUP+=("$d")
	fi
	echo "$d"
}

# start_node [--bare] [OPTS...]: starts a head node (--port 0 --cpus 2
# unless OPTS say otherwise, later options win; --bare: only --port 0) in a
# fresh RAY_TMPDIR, evals what it prints, and exports RAY_TMPDIR,
# RAY_ADDRESS, RAY_TOKEN_FILE, RAY_NODE_ID.  NODE_OUTPUT holds what start
# printed.
start_node() {
	local dir rc defaults=(--port 0 --cpus 2)
	if [[ "${1:-}" == --bare ]]; then
		defaults=(--port 0)
		shift
	fi
	dir=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$dir")
	export RAY_TMPDIR=$dir
	unset RAY_ADDRESS RAY_TOKEN_FILE RAY_NODE_ID
	# fd 3 closed: bats waits for it, and the daemon must not hold it.
	NODE_OUTPUT=$(timeout "$RAY_TEST_TIMEOUT" ray-node start --head "${defaults[@]}" "$@" 3>&-)
	rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "# ray-node start $* failed with exit status $rc: $NODE_OUTPUT" >&2
		return 1
	fi
	eval "$NODE_OUTPUT"
	if [[ -z "${RAY_ADDRESS:-}" || -z "${RAY_TOKEN_FILE:-}" || -z "${RAY_NODE_ID:-}" ]]; then
		echo "# ray-node start printed no RAY_ADDRESS/RAY_TOKEN_FILE/RAY_NODE_ID: $NODE_OUTPUT" >&2
		return 1
	fi
}

# stop_all: stops every node started by this test, whatever happened in it,
# and kills what is left of RAY_TEST_PIDS.  Never fails the teardown
# itself; a node that will not stop is reported.
stop_all() {
	local d
	for d in "${RAY_TEST_TMPDIRS[@]}"; do
		if ! RAY_TMPDIR=$d timeout 30 ray-node stop 3>&- >/dev/null 2>&1; then
			echo "# ray-node stop failed under $d; forcing" >&2
			RAY_TMPDIR=$d timeout 15 ray-node stop --force 3>&- >/dev/null 2>&1
		fi
	done
	RAY_TEST_TMPDIRS=()
	for d in "${RAY_TEST_PIDS[@]}"; do
		proc_gone "$d" || kill -KILL "$d" 2>/dev/null
	done
	RAY_TEST_PIDS=()
	for d in "${RAY_TEST_CLEANUP[@]}"; do
		rm -rf "$d"
	done
	RAY_TEST_CLEANUP=()
	# Cgroups a test made: empty once their nodes stopped.
	for d in "${RAY_TEST_CGROUPS[@]}"; do
		rmdir "$d" 2>/dev/null || echo "# cannot remove cgroup $d" >&2
	done
	RAY_TEST_CGROUPS=()
	return 0
}

# wait_for [-t SEC] CMD [ARG...]: runs CMD (quietly) every 50 ms until it
# exits 0; after SEC seconds (default 20) runs it once more aloud and fails
# naming CMD.
wait_for() {
	local secs=20 deadline
	if [[ "$1" == -t ]]; then
		secs=$2
		shift 2
	fi
	deadline=$((SECONDS + secs))
	while ((SECONDS < deadline)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	# The last try speaks, so a failure shows why.
	if "$@"; then
		return 0
	fi
	echo "# timed out after ${secs}s waiting for: $*" >&2
	return 1
}

# proc_gone PID: true once PID has exited (gone, or a zombie of ours).
proc_gone() {
	local st
	[[ -r /proc/$1/stat ]] || return 0
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st%% *}
	[[ "$st" == Z || -z "$st" ]]
}

# node_pid: the pid of the node at RAY_ADDRESS, from ray-status nodes.
node_pid() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status nodes --json) || return 1
	jq -er '.[0].pid' <<<"$out"
}

# json_get FILTER: applies jq to $output (a ray-* --json result).
json_get() {
	jq -r "$1" <<<"$output"
}

# task_field TASK_ID FIELD: one field of a task from ray-status tasks --json
# (fails when the task is not listed).
task_field() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status tasks --json) || return 1
	jq -er --arg id "$1" --arg f "$2" \
		'.[] | select(.task_id == $id) | .[$f] | if . == null then "null" else tostring end' <<<"$out"
}

# task_in_state TASK_ID STATE: for wait_for.
task_in_state() {
	local s
	s=$(task_field "$1" state) && [[ "$s" == "$2" ]]
}

# task_id_named NAME: the id of the (newest) task submitted with --name NAME.
task_id_named() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status tasks --json) || return 1
	jq -er --arg n "$1" '[.[] | select(.name == $n)] | last | .task_id' <<<"$out"
}

# named_task_in_state NAME STATE: for wait_for; the name is looked up on
# every try, as a task that another task submits may not exist yet.
named_task_in_state() {
	local id
	id=$(task_id_named "$1") && [[ "$id" != null ]] && task_in_state "$id" "$2"
}

teardown() {
	stop_all
}

# task_in_state_attempt TASK_ID STATE ATTEMPT: for wait_for.
task_in_state_attempt() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status tasks --json) || return 1
	jq -e --arg id "$1" --arg s "$2" --argjson a "$3" \
		'any(.[]; .task_id == $id and .state == $s and .attempt == $a)' <<<"$out" >/dev/null
}
