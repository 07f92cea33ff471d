#!/usr/bin/env bash
# bench/chaos.sh: a map-reduce on a three-node cluster, run once without
# faults and once while a worker node is SIGKILLed (daemon and task
# workers) twice and restarted on its port each time.  The faulty run
# must give exactly the fault-free output; the two run times are printed.
#
#   make chaos                      builds, then runs this with bin/ on PATH
#   PATH=$PWD/bin:$PATH bash bench/chaos.sh
#
# The job: one input object (put on the head); CHAOS_MAPS map tasks
# (2,000), each reading the input through @REF and printing a few lines;
# reducers over groups of CHAOS_GROUP map refs (@REF arguments); a final
# reducer over the reducers' refs.  Knobs: CHAOS_MAPS, CHAOS_GROUP (40),
# CHAOS_CPUS (per node, 2), CHAOS_DEAD_TIMEOUT (RAY_NODE_DEAD_TIMEOUT for
# the head, 2 s), CHAOS_KILLS (2).  Exit 0 when the outputs match.
set -u

MAPS=${CHAOS_MAPS:-2000}
GROUP=${CHAOS_GROUP:-40}
CPUS=${CHAOS_CPUS:-2}
DEAD=${CHAOS_DEAD_TIMEOUT:-2}
KILLS=${CHAOS_KILLS:-2}

for tool in ray-node ray-put ray-get ray-submit ray-status; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "chaos: $tool is not on PATH; run 'make chaos' (or put bin/ on PATH)" >&2
		exit 2
	fi
done

source "$(dirname "$0")/lib-cluster.sh"
work=$(mktemp -d /tmp/raychaos.XXXXXX)
WORKER_OPTS=(--cpus "$CPUS")
say() { printf 'chaos: %s\n' "$*" >&2; }
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

stop_cluster() {
	local i
	stop_nodes
	for i in "${IDS[@]}" "${DEAD_IDS[@]}"; do
		rm -rf "/dev/shm/ray-$i"
	done
	DIRS=() IDS=() ADDRS=()
}
cleanup() {
	[[ -n "${KILLER:-}" ]] && kill "$KILLER" 2>/dev/null
	stop_cluster
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_cluster() {
	local out i
	for i in 0 1 2; do
		DIRS[i]=$work/n$i.$RUN
		mkdir -p "${DIRS[i]}"
	done
	out=$(RAY_TMPDIR=${DIRS[0]} RAY_NODE_DEAD_TIMEOUT=$DEAD timeout 30 \
		ray-node start --head --port 0 --cpus "$CPUS") || return 1
	eval "$out"
	export RAY_ADDRESS RAY_TOKEN_FILE
	export RAY_TMPDIR=${DIRS[0]}
	IDS[0]=$RAY_NODE_ID
	ADDRS[0]=$RAY_ADDRESS
	start_worker 1 && start_worker 2 && wait_alive 3
}

# kill_restart I, with the time since the run began.
kill_restart_timed() {
	say "at +$(sub "$T0" "$(now)") s:"
	kill_restart "$1"
}

# job OUT: the map-reduce; writes the final result and every reducer's
# result to OUT.
job() {
	local out=$1 input i maps=() reds=() line cmds
	input=$(seq 1 1000 | ray-put) || return 1
	cmds=$work/maps.$RUN
	for ((i = 1; i <= MAPS; i++)); do
		echo "echo $i \$((($i * $i) % 1000003)); head -c $((i % 97 + 1)) @$input | cksum"
	done >"$cmds"
	mapfile -t maps < <(ray-submit --max-retries 10 --batch <"$cmds") || return 1
	[[ ${#maps[@]} == "$MAPS" ]] || { say "submitted ${#maps[@]} maps, not $MAPS"; return 1; }
	: >"$cmds"
	for ((i = 0; i < MAPS; i += GROUP)); do
		line="cat"
		for ((j = i; j < i + GROUP && j < MAPS; j++)); do
			line+=" @${maps[j]}"
		done
		echo "$line | awk '{ n++; s += \$2 } END { print n, s }' | cksum" >>"$cmds"
		echo "$line | awk 'NR % 2 == 1 { s += \$2 } END { print s }'" >>"$cmds"
	done
	mapfile -t reds < <(ray-submit --max-retries 10 --batch <"$cmds") || return 1
	# More refs than a command line may name (64): arguments instead.
	final=$(ray-submit --max-retries 10 -- sh -c 'cat "$@" | sha256sum' final "${reds[@]/#/@}") || return 1
	{
		timeout 600 ray-get "$final" || return 1
		timeout 600 ray-get "${reds[@]}" || return 1
	} >"$out"
}

RUN=clean
start_cluster || { say "cannot start the cluster"; exit 1; }
say "fault-free run: $MAPS maps, $(((MAPS + GROUP - 1) / GROUP * 2)) reducers, 1 final, on 3 nodes x $CPUS CPUs"
T0=$(now)
job "$work/clean.out" || { say "the fault-free run failed"; exit 1; }
T1=$(now)
CLEAN=$(sub "$T0" "$T1")
say "fault-free run: $CLEAN s"
stop_cluster

RUN=faulty
start_cluster || { say "cannot start the cluster"; exit 1; }
T0=$(now)
(
	for ((k = 1; k <= KILLS; k++)); do
		sleep "$(awk -v c="$CLEAN" -v k="$k" -v n="$KILLS" 'BEGIN { printf "%.2f", c * 0.8 / (n + 1) }')"
		kill_restart_timed 1
	done
) &
KILLER=$!
job "$work/faulty.out"
rc=$?
T1=$(now)
wait "$KILLER"
KILLER=
FAULTY=$(sub "$T0" "$T1")
if [[ $rc != 0 ]]; then
	say "the faulty run failed after $FAULTY s"
	exit 1
fi
say "faulty run ($KILLS kills of a worker node): $FAULTY s"
dead=$(timeout 30 ray-status nodes --json | jq '[.[] | select(.state == "DEAD")] | length')
retried=$(timeout 30 ray-status tasks --json --limit 100000 | jq '[.[] | select(.attempt > 0)] | length')
say "the head lists $dead dead node(s); $retried task(s) ran more than once"
if cmp -s "$work/clean.out" "$work/faulty.out"; then
	printf 'chaos: PASS: outputs identical (%s lines, final %s)\n' "$(wc -l <"$work/clean.out")" \
		"$(head -c 16 "$work/clean.out")"
	printf 'chaos: fault-free %s s, with %s kills %s s (%.2fx)\n' "$CLEAN" "$KILLS" "$FAULTY" \
		"$(awk -v a="$CLEAN" -v b="$FAULTY" 'BEGIN { print b / a }')"
	exit 0
fi
say "FAIL: the faulty run's output differs from the fault-free run's"
diff "$work/clean.out" "$work/faulty.out" | head -20 >&2
exit 1
