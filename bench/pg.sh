#!/usr/bin/env bash
# bench/pg.sh: placement groups created and removed per second, against
# the figure Ray publishes for its own (about 800 create+remove per second,
# the "placement group create/removal" row of Ray's microbenchmarks).
#
#   make bench-pg                      builds, then runs this with bin/ on PATH
#   PATH=$PWD/bin:$PATH bash bench/pg.sh
#
#   a) libray, one node: bench/pg_bench makes 1,000 groups of one bundle
#      (CPU=0.001), each create waiting until the group is CREATED, then
#      removes them all; one process, one connection.  Reported: creates/s,
#      removes/s and pairs/s (one create plus one remove), the median of
#      BENCH_REPS runs.  Target: pairs/s >= 800.
#   b) libray, three nodes, the head with no CPUs: every bundle is reserved
#      on another node, so each create is the full two-phase round (head ->
#      worker prepare -> head).  Same figures and target.
#   d) part a with each durable state store of the head (--state-store
#      none, file: the default SQLite, redis:// a redis-server started
#      here): pairs/s with the store against pairs/s without; target >= 0.5x
#   c) the CLI on one node: 1,000 `ray-pg create` then 1,000 `ray-pg
#      remove` from a shell loop, a process each (the fork/exec floor is
#      shown beside it).  No target: the figure is mostly process spawns.
#
# After each part every group must be gone and every node's CPUs free again.
# Knobs (environment): BENCH_PG_GROUPS (1000), BENCH_REPS (3).
# Results: bench/out/pg.txt (the table), bench/out/pg.tsv, bench/out/pg.log.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$here/out
mkdir -p "$out"
log=$out/pg.log
results=$out/pg.tsv
summary=$out/pg.txt
: > "$log"
printf 'benchmark\tcreate/s\tremove/s\tpairs/s\tray\tratio\ttarget\tstatus\n' > "$results"

GROUPS_N=${BENCH_PG_GROUPS:-1000}
REPS=${BENCH_REPS:-3}
RAY_FIGURE=800
TMPBASE=${TMPDIR:-/tmp}
PG_BENCH=$here/pg_bench

say() { printf '%s\n' "$*" | tee -a "$log" >&2; }
note() { printf '%s\n' "$*" >> "$log"; }

for tool in ray-node ray-pg ray-status; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		say "bench: $tool is not on PATH; run 'make bench-pg' (or put bin/ on PATH)"
		exit 2
	fi
done
if [[ ! -x $PG_BENCH ]]; then
	say "bench: $PG_BENCH is not built; building it (make bench/pg_bench)"
	make -C "$root" -s bench/pg_bench >> "$log" 2>&1 || { say "bench: cannot build bench/pg_bench"; exit 2; }
fi

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"%.6g\", $* }"; }
fix() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

ROWS=()
row() {
	ROWS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$@")")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$results"
	say "  => $1: $2 creates/s, $3 removes/s, $4 pairs/s (Ray $5; ratio $6, target $7): $8"
}

# ---- clusters of our own --------------------------------------------------------

DIRS=()
BASE=$(mktemp -d "$TMPBASE/ray-bench-pg.XXXXXX")
cleanup() {
	local i
	for ((i = ${#DIRS[@]} - 1; i >= 0; i--)); do
		RAY_TMPDIR=${DIRS[i]} timeout 30 ray-node stop >/dev/null 2>&1 ||
			RAY_TMPDIR=${DIRS[i]} timeout 15 ray-node stop --force >/dev/null 2>&1
	done
	DIRS=()
}
trap 'cleanup; rm -rf "$BASE"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
unset RAY_ADDRESS RAY_TOKEN_FILE RAY_NODE_ID RAY_TASK_ID RAY_JOB_ID RAY_NAMESPACE

# start_cluster N HEAD_CPUS: a head and N-1 workers (2 CPUs each); sets
# RAY_ADDRESS (the head's Unix socket) and RAY_TOKEN_FILE.
start_cluster() {
	local n=$1 cpus=$2 i env dir
	dir=$(mktemp -d "$BASE/n.XXXX")
	DIRS=("$dir")
	env=$(RAY_TMPDIR=$dir ray-node start --head --port 0 --cpus "$cpus" ${HEAD_OPTS:-} 2>>"$log") ||
		{ say "bench: ray-node start --head failed"; exit 1; }
	eval "$env"
	export RAY_TMPDIR=$dir
	local tcp=$RAY_ADDRESS
	for ((i = 1; i < n; i++)); do
		dir=$(mktemp -d "$BASE/n.XXXX")
		DIRS+=("$dir")
		RAY_TMPDIR=$dir ray-node start --address "$tcp" --port 0 --cpus 2 >>"$log" 2>&1 ||
			{ say "bench: ray-node start of worker $i failed"; exit 1; }
	done
	for ((i = 0; i < 200; i++)); do
		[[ $(ray-status nodes --json --state ALIVE 2>/dev/null | jq length) == "$n" ]] && break
		sleep 0.05
	done
	RAY_ADDRESS=${DIRS[0]}/node-$RAY_NODE_ID/node.sock
	export RAY_ADDRESS RAY_TOKEN_FILE
	note "cluster of $n at $tcp ($RAY_ADDRESS), head CPUs $cpus"
}

# all_back: no group left but REMOVED ones, and every node's CPUs free
# again (the head's view of the others follows their heartbeats).
all_back() {
	local i live
	live=$(ray-pg list --json | jq '[.[] | select(.state != "REMOVED")] | length')
	[[ $live == 0 ]] || { say "bench: $live groups left that are not REMOVED"; return 1; }
	for ((i = 0; i < 100; i++)); do
		ray-status nodes --json | jq -e 'all(.[]; .resources_available.CPU == .resources_total.CPU)' >/dev/null && return 0
		sleep 0.05
	done
	say "bench: CPUs not all free after the groups were removed: $(ray-status nodes --json | jq -c '[.[].resources_available.CPU]')"
	return 1
}

# libray PART LABEL: BENCH_REPS runs of pg_bench, the medians as a row.
libray() {
	local cs=() rs=() ps=() r i ok=PASS
	for ((i = 0; i < REPS; i++)); do
		r=$("$PG_BENCH" -n "$GROUPS_N" 2>>"$log") || { say "bench: bench/pg_bench failed (see $log)"; ok=FAIL; break; }
		note "pg_bench rep $i: $(echo $r)"
		cs+=("$(awk '$1 == "create_per_s" { print $2 }' <<<"$r")")
		rs+=("$(awk '$1 == "remove_per_s" { print $2 }' <<<"$r")")
		ps+=("$(awk '$1 == "pairs_per_s" { print $2 }' <<<"$r")")
		all_back || ok=FAIL
	done
	((${#ps[@]})) || { row "$1" - - - "$RAY_FIGURE" - ">=1" FAIL; return; }
	local c r2 p
	c=$(median "${cs[@]}")
	r2=$(median "${rs[@]}")
	p=$(median "${ps[@]}")
	say "   creates/s ${cs[*]}; removes/s ${rs[*]}; pairs/s ${ps[*]}"
	[[ $ok == PASS ]] && ! ge "$p" "$RAY_FIGURE" && ok=MISS
	row "$1" "$(fix "$c")" "$(fix "$r2")" "$(fix "$p")" "$RAY_FIGURE" "$(fix "$(calc "$p / $RAY_FIGURE")" 2)" ">=1" "$ok"
}

T_START=$(now)
say "ray-tools placement group bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -sr), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"

say ""
say "a) libray, one node: $GROUPS_N groups of one bundle (CPU=0.001) created (each waited for), then removed"
start_cluster 1 2
libray "a libray, 1 node"
cleanup

say ""
say "b) libray, three nodes, head with no CPUs: every bundle reserved on a worker (two-phase)"
start_cluster 3 0
libray "b libray, 3 nodes, remote bundles"
cleanup

say ""
say "c) the CLI, one node: $GROUPS_N 'ray-pg create' then $GROUPS_N 'ray-pg remove' from a shell loop"
start_cluster 1 2
t0=$(now)
for ((i = 0; i < GROUPS_N; i++)); do
	ray-pg create CPU=0.001
done >"$BASE/ids" 2>>"$log"
t1=$(now)
while read -r id; do
	ray-pg remove "$id"
done <"$BASE/ids" 2>>"$log"
t2=$(now)
ok=PASS
[[ $(wc -l <"$BASE/ids") == "$GROUPS_N" ]] || { say "bench: $(wc -l <"$BASE/ids") ids printed, want $GROUPS_N"; ok=FAIL; }
all_back || ok=FAIL
tc=$(sub "$t0" "$t1")
tr=$(sub "$t1" "$t2")
t0=$(now)
for ((i = 0; i < GROUPS_N; i++)); do
	/bin/true
done
floor=$(sub "$t0" "$(now)")
say "   create $tc s, remove $tr s; a shell loop of $GROUPS_N /bin/true: $floor s ($(fix "$(calc "$GROUPS_N / $floor")") execs/s)"
p=$(calc "$GROUPS_N / ($tc + $tr)")
row "c ray-pg CLI, 1 node" "$(fix "$(calc "$GROUPS_N / $tc")")" "$(fix "$(calc "$GROUPS_N / $tr")")" "$(fix "$p")" \
	"$RAY_FIGURE" "$(fix "$(calc "$p / $RAY_FIGURE")" 2)" "-" "$ok"
cleanup

say ""
say "d) the durable state store: part a with --state-store none, file (SQLite, the default) and redis"
pairs_with() {
	local ps=() r i
	HEAD_OPTS="--state-store $1" start_cluster 1 2
	for ((i = 0; i < REPS; i++)); do
		r=$("$PG_BENCH" -n "$GROUPS_N" 2>>"$log") || { cleanup; return 1; }
		ps+=("$(awk '$1 == "pairs_per_s" { print $2 }' <<<"$r")")
	done
	cleanup
	median "${ps[@]}"
}
p_none=$(pairs_with none)
p_file=$(pairs_with "file:$BASE/state")
say "   pairs/s: none $p_none, file $p_file"
row "d state store file vs none" "-" "-" "$(fix "$p_file")" "$(fix "$p_none")" "$(fix "$(calc "$p_file / $p_none")" 2)" ">=0.5" \
	"$(ge "$p_file" "$(calc "$p_none / 2")" && echo PASS || echo MISS)"
if command -v redis-server >/dev/null; then
	rport=$((20000 + RANDOM % 30000))
	redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >>"$log" 2>&1 &
	rpid=$!
	for ((i = 0; i < 100; i++)); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
	p_redis=$(pairs_with "redis://127.0.0.1:$rport/bench")
	kill "$rpid"; wait "$rpid" 2>/dev/null
	say "   pairs/s: redis $p_redis"
	row "d state store redis vs none" "-" "-" "$(fix "$p_redis")" "$(fix "$p_none")" "$(fix "$(calc "$p_redis / $p_none")" 2)" ">=0.5" \
		"$(ge "$p_redis" "$(calc "$p_none / 2")" && echo PASS || echo MISS)"
else
	say "   redis-server is not installed (make deps installs it): no redis row"
fi

{
	echo ""
	echo "ray-tools placement groups, create+remove of $GROUPS_N one-bundle groups ($(nproc) CPUs, $(uname -r), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(fix "$(calc "$(sub "$T_START" "$(now)")")" 1) s)"
	echo "ratio = our pairs/s / Ray's published ~$RAY_FIGURE/s (higher is better)"
	printf '%s\n' "benchmark	create/s	remove/s	pairs/s	ray	ratio	target	status" "${ROWS[@]}" |
		column -t -s $'\t'
} | tee "$summary"
echo "results: $summary, $results, $log" >&2
