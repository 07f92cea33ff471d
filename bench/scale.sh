#!/usr/bin/env bash
# bench/scale.sh: ray-tools at scale on one host, each figure beside a
# peer measured in the same run (a shared machine is noisy: the ratio is
# the result, the absolute figures only a guide).
#
#   make bench-scale                  builds, then runs this with bin/ on PATH
#   PATH=$PWD/bin:$PATH bash bench/scale.sh
#
#   a) 1,000,000 `true` tasks submitted in batches (ray-submit --batch) to
#      one node with --cpus $(nproc): submit time, the node's peak RSS with
#      them all queued, and the drain rate once submitted, until the first
#      BENCH_DRAIN are done (the queue a million deep), against `xargs -P
#      $(nproc)` over as many, and against the same node draining 2,000
#      tasks from a shallow queue (the median of 3 such runs).  The rest are then cancelled.  (Ray's published figure for 1M
#      queued tasks is 184 s on 64 vCPUs: 5,400 tasks/s.)
#   b) 100,000 small objects put (one ray-put, batched) and listed
#      (ray-store ls), against cp of the same files to /dev/shm and ls -l.
#   c) 20 nodes on this host joined and idle for BENCH_IDLE seconds: the
#      head's CPU time and RSS, against a head alone for as long.
#
# Knobs (environment): BENCH_ONLY="a b c", BENCH_SCALE_TASKS (1000000),
# BENCH_DRAIN (20000), BENCH_OBJECTS (100000), BENCH_NODES (20),
# BENCH_IDLE (30).  Results: bench/out/scale.txt and bench/out/scale.log.
set -u

here=$(cd "$(dirname "$0")" && pwd)
out=$here/out
mkdir -p "$out"
log=$out/scale.log
summary=$out/scale.txt
: >"$log"

ONLY=${BENCH_ONLY:-a b c}
NTASKS=${BENCH_SCALE_TASKS:-1000000}
DRAIN=${BENCH_DRAIN:-20000}
NOBJ=${BENCH_OBJECTS:-100000}
NNODES=${BENCH_NODES:-20}
IDLE=${BENCH_IDLE:-30}
NPROC=$(nproc)
BASE=$(mktemp -d "${TMPDIR:-/tmp}/ray-scale.XXXXXX")
DIRS=()

say() { printf '%s\n' "$*" | tee -a "$log" >&2; }
t_now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(t_now)" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"%.4g\", $* }"; }
want() { [[ " $ONLY " == *" $1 "* ]]; }

LINES=()
line() {
	LINES+=("$(printf '%-44s %14s %14s %8s' "$@")")
	say "  => $1: ours $2, peer $3, ratio $4"
}

cleanup() {
	local d
	for d in "${DIRS[@]}"; do
		RAY_TMPDIR=$d timeout 30 ray-node stop --force >/dev/null 2>&1
	done
	rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in ray-node ray-submit ray-status ray-put ray-store ray-cancel; do
	command -v "$tool" >/dev/null || { say "bench-scale: $tool is not on PATH; run 'make bench-scale'"; exit 2; }
done

# start DIR ARGS...: a node in its own RAY_TMPDIR; its env lines into DIR/env.
start() {
	local d=$1
	shift
	mkdir -p -m 700 "$d"
	DIRS+=("$d")
	RAY_TMPDIR=$d ray-node start --port 0 "$@" >"$d/env" 3>&- || { say "bench-scale: ray-node start $* failed"; exit 1; }
}
pid_of() { (. "$1/env"; RAY_TMPDIR=$1 ray-status nodes --json) | jq '.[] | select(.is_head) | .pid'; }
stop() { RAY_TMPDIR=$1 timeout 60 ray-node stop >/dev/null 2>&1; }
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }
finished() { (. "$1/env"; RAY_TMPDIR=$1 ray-status --json) | jq '.tasks.FINISHED'; }

say "bench-scale: $NPROC CPUs; $(uptime)"

if want a; then
	say "a) $NTASKS true tasks on one node (--cpus $NPROC)"
	# The shallow reference is short (about a second): the median of 3,
	# each on a node of its own.
	sh_runs=()
	for i in 1 2 3; do
		d=$BASE/a0-$i
		start "$d" --head
		t0=$(t_now)
		(. "$d/env"; export RAY_TMPDIR=$d; yes true | head -2000 | ray-submit --batch | ray-wait >/dev/null)
		sh_runs+=("$(since "$t0")")
		stop "$d"
	done
	shallow=$(printf '%s\n' "${sh_runs[@]}" | sort -g | sed -n 2p)
	say "   2,000 tasks from a shallow queue: median $shallow s of ${sh_runs[*]}"

	d=$BASE/a1
	start "$d" --head
	pid=$(pid_of "$d")
	rss0=$(kb "$pid" VmRSS)
	t0=$(t_now)
	(. "$d/env"; export RAY_TMPDIR=$d; yes true | head -"$NTASKS" | ray-submit --batch >"$BASE/refs")
	submit=$(since "$t0")
	rss1=$(kb "$pid" VmRSS)
	# Tasks run in order: the first DRAIN refs are the first to finish.
	done0=$(finished "$d")
	t0=$(t_now)
	(. "$d/env"; export RAY_TMPDIR=$d; head -"$DRAIN" "$BASE/refs" | ray-wait >/dev/null)
	deep=$(since "$t0")
	hwm=$(kb "$pid" VmHWM)
	say "   submitted $NTASKS in $submit s ($done0 finished meanwhile); RSS $((rss0 / 1024)) MB -> $((rss1 / 1024)) MB"
	t0=$(t_now)
	(. "$d/env"; export RAY_TMPDIR=$d; ray-cancel <"$BASE/refs" >/dev/null 2>&1)
	cancel=$(since "$t0")
	rss2=$(kb "$pid" VmRSS)
	say "   the next $((DRAIN - done0)) done in $deep s; peak RSS $((hwm / 1024)) MB; the rest cancelled in $cancel s (RSS then $((rss2 / 1024)) MB)"
	stop "$d"
	if ((done0 >= DRAIN)); then
		say "bench-scale: all $DRAIN finished while submitting; raise BENCH_DRAIN"
		exit 1
	fi

	t0=$(t_now)
	yes true | head -"$DRAIN" | xargs -P "$NPROC" -n 1 sh -c 'true' sh
	peer=$(since "$t0")
	say "   xargs -P $NPROC: $DRAIN in $peer s"
	ours_rate=$(calc "($DRAIN - $done0) / $deep")
	line "1M queued: submit time (s)" "$submit" "-" "-"
	line "1M queued: node peak RSS (MB)" "$((hwm / 1024))" "1024" "$(calc "$hwm / 1048576")"
	line "1M queued: bytes of RSS per queued task" "$(calc "($rss1 - $rss0) * 1024 / $NTASKS")" "-" "-"
	line "drain, 1M deep, tasks/s (vs xargs -P$NPROC)" "$ours_rate" "$(calc "$DRAIN / $peer")" "$(calc "$ours_rate / ($DRAIN / $peer)")"
	line "drain, 1M deep vs 2,000 shallow (tasks/s)" "$ours_rate" "$(calc "2000 / $shallow")" "$(calc "$ours_rate / (2000 / $shallow)")"
	line "Ray, published: 1M queued on 64 vCPUs (tasks/s)" "-" "5435" "-"
fi

if want b; then
	say "b) $NOBJ small objects put and listed"
	d=$BASE/b
	start "$d" --head
	mkdir -p "$BASE/files"
	(cd "$BASE/files" && seq "$NOBJ" | split -l 1 -a 6 - o)
	t0=$(t_now)
	(. "$d/env"; export RAY_TMPDIR=$d; cd "$BASE/files" && ls | xargs -s 1000000 ray-put >"$BASE/orefs")
	put=$(since "$t0")
	t0=$(t_now)
	n=$(. "$d/env"; RAY_TMPDIR=$d ray-store ls | wc -l)
	ls_t=$(since "$t0")
	say "   put $(wc -l <"$BASE/orefs") in $put s; ray-store ls listed $n in $ls_t s"
	stop "$d"
	t0=$(t_now)
	mkdir /dev/shm/ray-scale-$$ && (cd "$BASE/files" && ls | xargs -s 1000000 cp -t /dev/shm/ray-scale-$$)
	cp_t=$(since "$t0")
	t0=$(t_now)
	ls -l /dev/shm/ray-scale-$$ | wc -l >/dev/null
	lsl=$(since "$t0")
	rm -rf /dev/shm/ray-scale-$$
	line "put $NOBJ small objects (s, vs cp to /dev/shm)" "$put" "$cp_t" "$(calc "$cp_t / $put")"
	line "list $NOBJ objects (s, vs ls -l)" "$ls_t" "$lsl" "$(calc "$lsl / $ls_t")"
fi

if want c; then
	say "c) $NNODES nodes on this host, idle for $IDLE s"
	d=$BASE/c0
	start "$d" --head --cpus 1
	pid=$(pid_of "$d")
	c0=$(cpu_s "$pid")
	sleep "$IDLE"
	alone=$(calc "$(cpu_s "$pid") - $c0")
	alone_rss=$(kb "$pid" VmRSS)
	stop "$d"
	d=$BASE/c
	start "$d" --head --cpus 1
	pid=$(pid_of "$d")
	head_addr=$(. "$d/env"; echo "$RAY_ADDRESS")
	tok=$(. "$d/env"; echo "$RAY_TOKEN_FILE")
	for i in $(seq 2 "$NNODES"); do
		start "$BASE/c$i" --address "$head_addr" --token-file "$tok" --cpus 1
	done
	until [[ $( (. "$d/env"; RAY_TMPDIR=$d ray-status nodes --state alive --json) | jq length) -ge $NNODES ]]; do
		sleep 0.2
	done
	c0=$(cpu_s "$pid")
	sleep "$IDLE"
	busy=$(calc "$(cpu_s "$pid") - $c0")
	rss=$(kb "$pid" VmRSS)
	say "   head alone: $alone s CPU, $((alone_rss / 1024)) MB; with $NNODES nodes: $busy s CPU, $((rss / 1024)) MB"
	line "head CPU over ${IDLE}s idle (s): $NNODES nodes vs 1" "$busy" "$alone" "$(calc "($alone + 0.001) / ($busy + 0.001)")"
	line "head RSS (MB): $NNODES nodes vs 1" "$((rss / 1024))" "$((alone_rss / 1024))" "$(calc "$alone_rss / $rss")"
fi

{
	printf 'bench-scale on %s CPUs (%s); noisy: a shared machine\n' "$NPROC" "$(date -u +%FT%TZ)"
	printf '%-44s %14s %14s %8s\n' benchmark ours peer ratio
	printf '%s\n' "${LINES[@]}"
} | tee "$summary"
