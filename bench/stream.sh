#!/usr/bin/env bash
# bench/stream.sh: streaming returns (ray-submit --stream), in one run:
#
#   make bench-stream                  builds, then runs this with bin/ on PATH
#   PATH=$PWD/bin:$PATH bash bench/stream.sh
#
#   a) rate: BENCH_STREAM_ITEMS (100,000) one-line items from one task,
#      `ray-submit --stream -- seq 1 N | ray-get > /dev/null`, against the
#      floor for making that many objects: bench/stream_bench put, the same
#      N lines put through libray with ray_put_many in batches of 1,000.
#      Items/s each, the median of BENCH_REPS runs; target ratio >= 0.5.
#   b) the same N items taken through libray's iterator (stream_bench
#      iter): items/s, shown beside (no target).
#   c) latency: a task writes 200 lines, each its CLOCK_REALTIME at the
#      write, 2 ms apart, through `ray-submit --stream | stream_bench stamp`,
#      which notes when each ref arrives: the median (and 90th percentile)
#      from line written to ref read; target median <= 10 ms.
#
# Each run is a ray-job, so its objects are freed when it ends.  The
# figures are noisy on a shared machine: other work changes them by 2x.
# Results: bench/out/stream.txt (the table), bench/out/stream.log.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$here/out
mkdir -p "$out"
log=$out/stream.log
summary=$out/stream.txt
: > "$log"

N=${BENCH_STREAM_ITEMS:-100000}
REPS=${BENCH_REPS:-3}
SB=$here/stream_bench

say() { printf '%s\n' "$*" | tee -a "$log" >&2; }
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"%.3g\", $* }"; }
rate() { awk "BEGIN { printf \"%.0f\", $* }"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

for tool in ray-node ray-submit ray-get ray-job; do
	command -v "$tool" >/dev/null 2>&1 || { say "bench: $tool is not on PATH; run 'make bench-stream'"; exit 2; }
done
if [[ ! -x $SB ]]; then
	make -C "$root" -s bench/stream_bench >>"$log" 2>&1 || { say "bench: cannot build bench/stream_bench"; exit 2; }
fi

BASE=$(mktemp -d "${TMPDIR:-/tmp}/ray-bench-stream.XXXXXX")
trap 'RAY_TMPDIR=$BASE timeout 30 ray-node stop >/dev/null 2>&1; rm -rf "$BASE"' EXIT
trap 'exit 130' INT
unset RAY_ADDRESS RAY_TOKEN_FILE RAY_NODE_ID RAY_TASK_ID RAY_JOB_ID
export RAY_TMPDIR=$BASE
eval "$(ray-node start --head --port 0 --cpus 2 2>>"$log")" || { say "bench: ray-node start failed"; exit 1; }

put_rates=() stream_rates=() iter_rates=() p50s=() p90s=()
for ((r = 1; r <= REPS; r++)); do
	v=$(ray-job run -- "$SB" put "$N" 2>>"$log" | awk '$1 == "put_items_per_s" { print $2 }')
	put_rates+=("${v:-0}")
	# Timed inside the job: the pipeline alone.
	read -r got t0 t1 < <(ray-job run -- bash -c \
		't0=$EPOCHREALTIME; n=$(ray-submit --stream -- seq 1 '"$N"' | ray-get | wc -l); echo $n $t0 $EPOCHREALTIME' 2>>"$log")
	[[ "${got:-}" == "$N" ]] || say "bench: the stream gave ${got:-nothing} lines, want $N"
	stream_rates+=("$(rate "$N / (${t1/,/.} - ${t0/,/.})")")
	v=$(ray-job run -- "$SB" iter "$N" 2>>"$log" | awk '$1 == "iter_items_per_s" { print $2 }')
	iter_rates+=("${v:-0}")
	lat=$(ray-job run -- sh -c "ray-submit --stream -- '$SB' producer 200 2000 | '$SB' stamp" 2>>"$log")
	p50s+=("$(awk '$1 == "latency_us_p50" { print $2 }' <<<"$lat")")
	p90s+=("$(awk '$1 == "latency_us_p90" { print $2 }' <<<"$lat")")
	say "run $r: put ${put_rates[-1]}/s, stream|ray-get ${stream_rates[-1]}/s, iterator ${iter_rates[-1]}/s, latency p50 ${p50s[-1]} us p90 ${p90s[-1]} us"
done

put=$(median "${put_rates[@]}")
stream=$(median "${stream_rates[@]}")
iter=$(median "${iter_rates[@]}")
p50=$(median "${p50s[@]}")
p90=$(median "${p90s[@]}")
ratio=$(calc "$stream / $put")
rstat=FAIL; ge "$ratio" 0.5 && rstat=ok
lstat=FAIL; ge 10000 "$p50" && lstat=ok
{
	printf 'streaming returns, %s items, median of %s runs (noisy: a shared 2-core machine)\n' "$N" "$REPS"
	printf '%-44s %14s %14s %8s %8s %s\n' benchmark us peer ratio target status
	printf '%-44s %14s %14s %8s %8s %s\n' "a) ray-submit --stream | ray-get, items/s" "$stream" "$put" "$ratio" ">=0.5" "$rstat"
	printf '%-44s %14s %14s %8s %8s %s\n' "b) libray ray_stream_next, items/s" "$iter" "$put" "$(calc "$iter / $put")" "-" "-"
	printf '%-44s %14s %14s %8s %8s %s\n' "c) line written -> ref read, median us" "$p50" "10000" "$(calc "$p50 / 10000")" "<=1" "$lstat"
	printf '%-44s %14s\n' "   90th percentile us" "$p90"
	printf '(peer of a and b: %s put through libray in batches of 1,000, bench/stream_bench put)\n' "$N"
} | tee "$summary"
