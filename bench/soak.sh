#!/usr/bin/env bash
# bench/soak.sh: a three-node cluster under a mixed load for SOAK_SECONDS
# (600), while every daemon's resident memory and open fds are sampled;
# fails when a result is wrong, when the long-lived daemons' memory or fds
# are not flat, or when anything is left running after the stop.
#
#   make soak                       builds, then runs this with bin/ on PATH
#   SOAK_SECONDS=150 make soak      a shorter run
#   SOAK_SAMPLES=FILE               keep the samples (seconds node pid rss_kB fds)
#   SOAK_LOADS="tasks objects"      only these loads (default: tasks objects
#                                   refs actors flood; node kills always)
#
# The load, each loop checking every answer by checksum, all at once:
#  - tasks: batches of shell tasks spread over the nodes (--max-retries),
#    each output's sha256 checked, then the refs freed;
#  - objects: puts of 64 KiB..2 MiB random files on the head and node 1,
#    read back from the other node by ray-get, sha256 compared; the stores
#    are 32 MiB, so they spill and restore all the time;
#  - @REF tasks: a task on node 1 reads an object put on the head;
#  - actors: a stateless line-protocol actor per round (spread, restarts
#    allowed), called a few times, then killed; an answer that lived only
#    on the killed node is lost (ray-get exit 4: actor calls are not run
#    again), which is counted and reported, not failed;
#  - a flood of unauthenticated TCP connections to the head, each sending
#    junk and closing;
#  - every SOAK_KILL_EVERY seconds (SOAK_SECONDS/4) node 2 is SIGKILLed
#    with its workers and started again on its port.
# Samples: every SOAK_SAMPLE seconds (5), VmRSS and /proc/PID/fd of each
# daemon.  Verdict for the head and node 1 (never killed): after the
# warm-up (the first quarter), the median of the last third of samples
# may exceed that of the first third by SOAK_RSS_SLACK_KB (8192) of memory
# and SOAK_FD_SLACK (8) fds.  The daemons keep RAY_TASK_HISTORY (1000)
# finished tasks and RAY_ACTOR_HISTORY (100) dead actors each, so their
# histories fill during the warm-up instead of growing through the run.  Exit 0 on PASS.
set -u

SECS=${SOAK_SECONDS:-600}
SAMPLE=${SOAK_SAMPLE:-5}
KILL_EVERY=${SOAK_KILL_EVERY:-$((SECS / 4))}
RSS_SLACK=${SOAK_RSS_SLACK_KB:-8192}
FD_SLACK=${SOAK_FD_SLACK:-8}
export RAY_TASK_HISTORY=${SOAK_HISTORY:-1000}
export RAY_ACTOR_HISTORY=${SOAK_ACTOR_HISTORY:-100}
export RAY_NODE_DEAD_TIMEOUT=2

for tool in ray-node ray-put ray-get ray-submit ray-status ray-actor ray-store jq sha256sum; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "soak: $tool is not on PATH; run 'make soak' (or put bin/ on PATH)" >&2
		exit 2
	fi
done

source "$(dirname "$0")/lib-cluster.sh"
work=$(mktemp -d /tmp/raysoak.XXXXXX)
say() { printf 'soak: %s\n' "$*" >&2; }
LOADERS=()
WORKER_OPTS=(--cpus 2 --object-store-memory 32M --spill-dir "$work/spill")

cleanup() {
	local p
	for p in "${LOADERS[@]}"; do kill "$p" 2>/dev/null; done
	stop_nodes
	for p in "${IDS[@]}" "${DEAD_IDS[@]}"; do rm -rf "/dev/shm/ray-$p"; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/spill" "$work/fail"
for i in 0 1 2; do
	DIRS[i]=$work/n$i
	mkdir -p -m 700 "${DIRS[i]}"
done
out=$(RAY_TMPDIR=${DIRS[0]} timeout 30 ray-node start --head --port 0 --cpus 2 \
	--object-store-memory 32M --spill-dir "$work/spill") || { say "cannot start the head"; exit 1; }
eval "$out"
export RAY_ADDRESS RAY_TOKEN_FILE RAY_TMPDIR=${DIRS[0]}
IDS[0]=$RAY_NODE_ID
ADDRS[0]=$RAY_ADDRESS
start_worker 1 && start_worker 2 && wait_alive 3 || { say "cannot start the workers"; exit 1; }
END=$((SECONDS + SECS))

# fail LOOP MSG: records a wrong answer (the verdict counts them).
fail() {
	echo "$2" >>"$work/fail/$1"
	say "$1: $2"
}
# on I CMD...: CMD against node I.
on() {
	local i=$1
	shift
	RAY_ADDRESS=${ADDRS[$i]} RAY_TMPDIR=${DIRS[$i]} "$@"
}

loop_tasks() {
	local r=0 i refs out want
	while ((SECONDS < END)); do
		r=$((r + 1))
		for i in $(seq 1 16); do echo "echo soak-$r-$i | sha256sum"; done >"$work/tasks.cmds"
		mapfile -t refs < <(timeout 120 ray-submit --strategy spread --max-retries 5 --batch <"$work/tasks.cmds")
		[[ ${#refs[@]} == 16 ]] || { fail tasks "round $r: submitted ${#refs[@]} of 16"; continue; }
		out=$(timeout 120 ray-get "${refs[@]}") || { fail tasks "round $r: ray-get exit $?"; continue; }
		want=$(for i in $(seq 1 16); do echo "soak-$r-$i" | sha256sum; done)
		[[ "$out" == "$want" ]] || fail tasks "round $r: wrong results"
		timeout 60 ray-store free "${refs[@]}" || fail tasks "round $r: free exit $?"
	done
	echo "$r" >"$work/rounds.tasks"
}

loop_objects() {
	local r=0 f ref sum got src dst
	while ((SECONDS < END)); do
		r=$((r + 1))
		src=$((r % 2)) dst=$(((r + 1) % 2))
		f=$work/obj.$r
		head -c $((65536 + (RANDOM * 61) % 2031616)) /dev/urandom >"$f"
		sum=$(sha256sum <"$f")
		ref=$(on "$src" timeout 120 ray-put "$f") || { fail objects "round $r: put exit $?"; rm -f "$f"; continue; }
		echo "$src $ref" >>"$work/live.objs"
		got=$(on "$dst" timeout 120 ray-get "$ref" | sha256sum)
		[[ "$got" == "$sum" ]] || fail objects "round $r: $ref read back wrong from node $dst"
		rm -f "$f"
		# Keep about 40 objects (40 MiB on average) alive: the stores spill.
		if (($(wc -l <"$work/live.objs") > 40)); then
			read -r src ref <"$work/live.objs"
			on "$src" timeout 60 ray-store free "$ref" || fail objects "free of $ref exit $?"
			sed -i 1d "$work/live.objs"
		fi
	done
	echo "$r" >"$work/rounds.objects"
}

loop_refs() {
	local r=0 ref task want got
	while ((SECONDS < END)); do
		r=$((r + 1))
		ref=$(seq 1 $((1000 + r)) | timeout 60 ray-put) || { fail refs "round $r: put exit $?"; continue; }
		want=$(seq 1 $((1000 + r)) | sha256sum)
		task=$(timeout 60 ray-submit --node "${IDS[1]}" --max-retries 5 -- sh -c 'sha256sum <"$1"' t "@$ref") ||
			{ fail refs "round $r: submit exit $?"; continue; }
		got=$(timeout 120 ray-get "$task") || { fail refs "round $r: ray-get exit $?"; continue; }
		[[ "$got" == "$want" ]] || fail refs "round $r: wrong digest"
		timeout 60 ray-store free "$ref" "$task" || fail refs "round $r: free exit $?"
	done
	echo "$r" >"$work/rounds.refs"
}

loop_actors() {
	local r=0 a i ref got
	while ((SECONDS < END)); do
		r=$((r + 1))
		a=$(timeout 60 ray-actor create --strategy spread --cpus 0 --max-restarts 3 --max-task-retries 3 -- \
			sh -c 'while read -r m x; do printf "%s\n" "$x" | sha256sum | cut -c1-16; done') ||
			{ fail actors "round $r: create exit $?"; continue; }
		for i in 1 2 3 4 5; do
			ref=$(timeout 60 ray-actor call "$a" hash "a$r-$i") || { fail actors "round $r: call exit $?"; continue; }
			got=$(timeout 60 ray-get "$ref")
			case $? in
			0) ;;
			# The answer lived only on a node that was killed: an actor
			# call is not re-run, so exit 4 (lost) is the documented end.
			4) echo "round $r" >>"$work/lost.actors"; continue ;;
			*) fail actors "round $r: ray-get exit $?"; continue ;;
			esac
			[[ "$got" == "$(printf '%s\n' "a$r-$i" | sha256sum | cut -c1-16)" ]] || fail actors "round $r: wrong answer"
			timeout 60 ray-store free "$ref" >/dev/null 2>&1
		done
		timeout 60 ray-actor kill "$a" || fail actors "round $r: kill exit $?"
	done
	echo "$r" >"$work/rounds.actors"
}

# Junk from strangers: none of it may cost the others their answers.
loop_flood() {
	local r=0 host=${ADDRS[0]%:*} port=${ADDRS[0]##*:} i
	while ((SECONDS < END)); do
		r=$((r + 1))
		for i in $(seq 1 50); do
			{ exec 5<>"/dev/tcp/$host/$port" && printf 'GET / HTTP/1.0\r\n\r\n%0200d' 0 >&5; exec 5>&-; } 2>/dev/null
		done
		sleep 1
	done
	echo "$r" >"$work/rounds.flood"
}

loop_kills() {
	local k=0 next=$((SECONDS + KILL_EVERY))
	while ((SECONDS < END - 20)); do
		if ((SECONDS >= next)); then
			k=$((k + 1))
			kill_restart 2
			next=$((SECONDS + KILL_EVERY))
		fi
		sleep 1
	done
	echo "$k" >"$work/rounds.kills"
}

# The pid of node I's newest daemon (node 2 restarts in the killer's
# subshell, so this shell's IDS[2] is stale).
live_pid() {
	local f
	f=$(ls -t "${DIRS[$1]}"/node-*/node.pid 2>/dev/null | head -n 1)
	[[ -n "$f" ]] && cat "$f"
}

# sample: one line a daemon: seconds, node index, pid, RSS kB, fds.
sample() {
	local i pid rss
	for i in 0 1 2; do
		pid=$(live_pid "$i") || continue
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
		[[ -n "$rss" ]] || continue
		echo "$SECONDS $i $pid $rss $(ls "/proc/$pid/fd" 2>/dev/null | wc -l)"
	done >>"$work/samples"
}

say "3 nodes (32 MiB stores, spilling), $SECS s of tasks, objects, @REF tasks, actors, a junk flood and a kill of node 2 every $KILL_EVERY s"
for l in ${SOAK_LOADS:-tasks objects refs actors flood}; do
	"loop_$l" &
	LOADERS+=($!)
done
loop_kills &
KILLER=$!
START=$SECONDS
while ((SECONDS < END)); do
	sample
	sleep "$SAMPLE"
done
sample
wait "${LOADERS[@]}" "$KILLER"
LOADERS=()

IDS[2]=$(basename "$(dirname "$(ls -t "${DIRS[2]}"/node-*/node.pid | head -n 1)")")
IDS[2]=${IDS[2]#node-}
verdict=PASS
for l in tasks objects refs actors flood kills; do
	printf 'soak: %-8s %s rounds, %s wrong\n' "$l" "$(cat "$work/rounds.$l" 2>/dev/null || echo 0)" \
		"$(cat "$work/fail/$l" 2>/dev/null | wc -l)"
done
say "actor answers lost with a killed node (exit 4, as documented): $(cat "$work/lost.actors" 2>/dev/null | wc -l)"
if ls "$work"/fail/* >/dev/null 2>&1; then
	say "FAIL: wrong or missing answers (above)"
	verdict=FAIL
fi

# flat I: compares the first and last thirds of node I's samples after
# the warm-up; prints the figures.
flat() {
	awk -v node="$1" -v from=$((START + SECS / 4)) -v rs="$RSS_SLACK" -v fs="$FD_SLACK" '
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : 0
	}
	$2 == node && $1 >= from { n++; rss[n] = $4; fd[n] = $5; if ($4 > mx) mx = $4; if (!mn || $4 < mn) mn = $4 }
	END {
		if (n < 6) { printf "node %d: only %d samples after the warm-up\n", node, n; exit 1 }
		k = int(n / 3)
		for (i = 1; i <= k; i++) { r1[i] = rss[i]; f1[i] = fd[i]; r2[i] = rss[n - k + i]; f2[i] = fd[n - k + i] }
		a = median(r1, k); b = median(r2, k); c = median(f1, k); d = median(f2, k)
		printf "node %d: %d samples; RSS %d -> %d kB (%+d; min %d, max %d), fds %d -> %d (%+d)\n", node, n, a, b, b - a, mn, mx, c, d, d - c
		exit (b - a > rs || d - c > fs) ? 1 : 0
	}' "$work/samples"
}
for i in 0 1; do
	if ! line=$(flat "$i"); then
		say "FAIL: not flat: $line (slack ${RSS_SLACK} kB, $FD_SLACK fds)"
		verdict=FAIL
	else
		say "flat: $line"
	fi
done
line=$(awk '$2 == 2 { n++; l = $0 } END { split(l, f, " "); printf "node 2 (killed and restarted): %d samples, last RSS %d kB, %d fds", n, f[4], f[5] }' "$work/samples")
say "$line"

# Stop, and nothing may be left: daemons, workers, store files.
procs=()
for i in 0 1 2; do
	pid=$(live_pid "$i") || continue
	procs+=("$pid" $(descendants "$pid"))
done
stop_nodes
sleep 0.5
left=()
for p in "${procs[@]}"; do
	if kill -0 "$p" 2>/dev/null && [[ $(ps -o stat= -p "$p") != Z* ]]; then left+=("$p"); fi
done
if ((${#left[@]})); then
	say "FAIL: left running after stop: ${left[*]}"
	verdict=FAIL
fi
for i in "${IDS[@]}"; do
	if [[ -n "$i" && -e "/dev/shm/ray-$i" ]]; then
		say "FAIL: /dev/shm/ray-$i left after stop"
		verdict=FAIL
	fi
done
say "$verdict after $SECS s (samples every $SAMPLE s, $(wc -l <"$work/samples") in all)"
# SOAK_SAMPLES=FILE keeps them: seconds, node, pid, RSS kB, fds a line.
[[ -n "${SOAK_SAMPLES:-}" ]] && cp "$work/samples" "$SOAK_SAMPLES"
[[ $verdict == PASS ]]
