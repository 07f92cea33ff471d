#!/usr/bin/env bash
# bench/workers.sh: pooled workers (ray-submit --worker), against a process
# per item and against Dask, each pair measured in the same run on the same
# machine and reported as a ratio.
#
#   make bench-workers                 builds, then runs this with bin/ on PATH
#   PATH=$PWD/bin:$PATH bash bench/workers.sh
#
#   a) 20,000 calls "sum I 1" to the C frame worker (share/examples/
#      frame-worker.c) with `ray-submit --worker --batch | ray-get`, vs
#      `xargs -P $(nproc)` running the same program once per item.
#      Target: >= 10x.
#   b) 5,000 Python tasks (square I) through the line worker
#      share/examples/line-worker.py under /usr/bin/python3, vs Dask's
#      client.map of the same function (bench/dask_tasks.py --square).
#      Target: >= 10x.
#   c) 10,000 pooled tasks through libray in one process (bench/pool_tasks:
#      one ray_submit each, not waiting, then one ray_get_many), in tasks/s
#      beside Ray's published 8,041/s for async tasks on 64 vCPUs.
#
# Every result is checked.  Knobs (environment): BENCH_WORKER_CALLS
# (20000), BENCH_PY_TASKS (5000), BENCH_LIB_TASKS (10000), BENCH_REPS (3,
# ours), BENCH_DASK_REPS (1), BENCH_XARGS_CALLS (the xargs side runs this
# many, all by default; fewer are scaled up, a process per item being linear).
# Results: bench/out/workers.txt (the table), bench/out/workers.tsv,
# bench/out/workers.log (every measurement).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
. "$here/lib.sh"
bench_files workers.log workers.tsv workers.txt

CALLS=${BENCH_WORKER_CALLS:-20000}
XCALLS=${BENCH_XARGS_CALLS:-$CALLS}
PYTASKS=${BENCH_PY_TASKS:-5000}
LIBTASKS=${BENCH_LIB_TASKS:-10000}
REPS=${BENCH_REPS:-3}
DASK_REPS=${BENCH_DASK_REPS:-1}
NPROC=$(nproc)
TMPBASE=${TMPDIR:-/tmp}
FW=$here/frame-worker
POOL_TASKS=$here/pool_tasks
PYW="/usr/bin/python3 $root/share/examples/line-worker.py"

for tool in ray-node ray-submit ray-get; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		say "bench: $tool is not on PATH; run 'make bench-workers' (or put bin/ on PATH)"
		exit 2
	fi
done
for b in "$FW" "$POOL_TASKS"; do
	if [[ ! -x $b ]]; then
		say "bench: $b is not built; building it"
		make -C "$root" -s "bench/${b##*/}" >> "$log" 2>&1 || { say "bench: cannot build $b"; exit 2; }
	fi
done

bench_node workers
say "ray-tools pooled worker bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $NPROC CPUs, $(uname -sr), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
T_START=$(now)

# ---- a) the C frame worker: pool vs a process per item ----------------------

say ""
say "a) $CALLS calls 'sum I 1': ray-submit --worker --batch | ray-get vs xargs -P $NPROC running it once per item"
seq "$CALLS" | awk '{ printf "sum\t%d\t1\n", $1 }' > "$WORK/calls"
seq "$CALLS" | awk '{ print $1 + 1 }' > "$WORK/want"
ray-submit --worker "$FW" --protocol frame --get -- sum 1 1 > /dev/null
oa=()
ok_a=PASS
for ((i = 0; i < REPS; i++)); do
	t0=$(now)
	ray-submit --worker "$FW" --protocol frame --batch < "$WORK/calls" | ray-get > "$WORK/got"
	t1=$(now)
	oa+=("$(sub "$t0" "$t1")")
	cmp -s "$WORK/got" "$WORK/want" || { say "bench: a) wrong results (rep $i)"; ok_a=FAIL; }
done
o_a=$(median "${oa[@]}")
head -n "$XCALLS" "$WORK/calls" | tr '\t' ' ' > "$WORK/xcalls"
t0=$(now)
xargs -P "$NPROC" -L 1 "$FW" < "$WORK/xcalls" > "$WORK/xgot"
t1=$(now)
x_a=$(calc "$(sub "$t0" "$t1") * $CALLS / $XCALLS")
[[ $(sort -n "$WORK/xgot" | cmp -s - <(head -n "$XCALLS" "$WORK/want") && echo ok) == ok ]] || { say "bench: a) xargs gave wrong results"; ok_a=FAIL; }
say "   pool:  median $o_a s of ${oa[*]} ($(fix "$(calc "$CALLS / $o_a")" 0) calls/s)"
say "   xargs: $(fix "$x_a") s for $CALLS (measured on $XCALLS, $(fix "$(calc "$CALLS / $x_a")" 0) calls/s)"
ratio=$(calc "$x_a / $o_a")
row "a ${CALLS} C worker calls vs xargs -P$NPROC" "$(fix "$o_a")s" "$(fix "$x_a")s" "$(fix "$ratio" 1)" ">=10" \
	"$([[ $ok_a == PASS ]] && { ge "$ratio" 10 && echo PASS || echo MISS; } || echo FAIL)"

# ---- b) Python tasks: a line worker vs Dask ---------------------------------

say ""
say "b) $PYTASKS Python tasks square(I): a line worker under /usr/bin/python3 vs Dask client.map"
seq 0 $((PYTASKS - 1)) | awk '{ printf "square\t%d\n", $1 }' > "$WORK/pycalls"
seq 0 $((PYTASKS - 1)) | awk '{ print $1 * $1 }' > "$WORK/pywant"
ray-submit --worker "$PYW" --batch < <(head -n "$((NPROC * 4))" "$WORK/pycalls") | ray-get > /dev/null
ob=()
ok_b=PASS
for ((i = 0; i < REPS; i++)); do
	t0=$(now)
	ray-submit --worker "$PYW" --batch < "$WORK/pycalls" | ray-get > "$WORK/pygot"
	t1=$(now)
	ob+=("$(sub "$t0" "$t1")")
	cmp -s "$WORK/pygot" "$WORK/pywant" || { say "bench: b) wrong results (rep $i)"; ok_b=FAIL; }
done
o_b=$(median "${ob[@]}")
say "   pool:  median $o_b s of ${ob[*]} ($(fix "$(calc "$PYTASKS / $o_b")" 0) tasks/s)"
db=()
if have_dask; then
	dout=$(/usr/bin/python3 "$here/dask_tasks.py" "$NPROC" --square "$PYTASKS" "$DASK_REPS" 2>>"$log")
	note "dask: $(echo $dout)"
	mapfile -t db < <(awk '$1 == "run_s" { print $2 }' <<< "$dout")
fi
if ((${#db[@]})); then
	d_b=$(median "${db[@]}")
	say "   dask:  median $d_b s of ${db[*]} ($(fix "$(calc "$PYTASKS / $d_b")" 0) tasks/s)"
	ratio=$(calc "$d_b / $o_b")
	row "b ${PYTASKS} Python tasks vs dask" "$(fix "$o_b")s" "$(fix "$d_b")s" "$(fix "$ratio" 1)" ">=10" \
		"$([[ $ok_b == PASS ]] && { ge "$ratio" 10 && echo PASS || echo MISS; } || echo FAIL)"
else
	say "   dask: /usr/bin/python3 cannot run dask.distributed (see $log); skipped"
	row "b ${PYTASKS} Python tasks vs dask" "$(fix "$o_b")s" "-" "-" ">=10" SKIP
fi

# ---- c) libray: submit without waiting, then gather --------------------------

say ""
say "c) $LIBTASKS pooled tasks through libray: one ray_submit each, not waiting, then ray_get_many"
oc=()
ok_c=PASS
for ((i = 0; i < REPS; i++)); do
	r=$("$POOL_TASKS" -n "$LIBTASKS" --address "$SOCK" --protocol frame "$FW" 2>>"$log") ||
		{ say "bench: bench/pool_tasks failed (see $log)"; ok_c=FAIL; break; }
	note "pool_tasks rep $i: $(echo $r)"
	oc+=("$(awk '$1 == "tasks_per_s" { print $2 }' <<< "$r")")
done
if ((${#oc[@]})); then
	o_c=$(median "${oc[@]}")
	say "   libray: median $o_c tasks/s of ${oc[*]}; Ray (published, 64 vCPUs): 8041 tasks/s"
	row "c libray pooled tasks/s vs Ray's published" "$o_c/s" "8041/s" "$(fix "$(calc "$o_c / 8041")" 2)" "-" "$ok_c"
fi

{
	echo ""
	echo "ray-tools pooled workers vs peers ($NPROC CPUs, $(uname -r), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(calc "$(sub "$T_START" "$(now)")") s)"
	echo "ratio = peer time / our time (higher is better; c: our rate / Ray's published rate on 64 vCPUs)"
	printf '%s\n' "benchmark	ours	peer	ratio	target	status" "${ROWS[@]}" |
		column -t -s $'\t'
} | tee "$summary"
echo "results: $summary, $results, $log" >&2
