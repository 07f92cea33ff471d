#!/usr/bin/env bash
# bench/actors.sh: actor method calls, ray-tools against Dask distributed
# actors and against the fork/exec floor, each pair measured in the same run
# on the same machine and reported as a ratio.
#
#   make bench-actors                  builds, then runs this with bin/ on PATH
#   PATH=$PWD/bin:$PATH bash bench/actors.sh
#
#   a) 5,000 calls to a counter actor through libray (bench/actor_calls:
#      ray_actor_call_many in batches, then one ray_get_many), vs Dask
#      (client.submit(Counter, actor=True), 5,000 actor.increment() futures,
#      then their results; bench/dask_actors.py under /usr/bin/python3).
#      Target: >= 10x.
#   b) 1,000 sequential call-and-get round trips, libray vs Dask.
#      Target: >= 5x.
#   c) the same 5,000 calls through `ray-actor call` (one process per call),
#      from a shell loop and from xargs -P $(nproc), vs the fork/exec floor:
#      a shell loop of /bin/true and `xargs -P $(nproc) true`.
#
# Our actor is the line-protocol awk one-liner `awk -F'\t' '{n++; print n;
# fflush()}'` (mawk needs -W interactive, which is added); Dask's is a
# Python class with the same method.  Every result is checked.
#
#   d) a)'s batched calls to an actor on another node (a worker joined on
#      this host), vs the same to a local actor (target >= 0.8x) and vs
#      Dask (>= 10x).
#   e) 1,000 actors (`cat`) created with --strategy spread over 3 nodes by
#      `xargs -P $(nproc) ray-actor create`, vs xargs -P $(nproc) starting
#      the same process (target >= 0.5x).
#
# Knobs (environment): BENCH_ACTOR_CALLS (5000), BENCH_ACTOR_SEQ (1000),
# BENCH_ACTOR_BATCH (500), BENCH_REPS (3, ours), BENCH_DASK_REPS (1: Dask is
# slow here), BENCH_NO_INSTALL=1 (never apt-get python3-distributed).
# Results: bench/out/actors.txt (the table), bench/out/actors.tsv,
# bench/out/actors.log (every measurement).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
. "$here/lib.sh"
bench_files actors.log actors.tsv actors.txt

CALLS=${BENCH_ACTOR_CALLS:-5000}
SEQ=${BENCH_ACTOR_SEQ:-1000}
BATCH=${BENCH_ACTOR_BATCH:-500}
REPS=${BENCH_REPS:-3}
DASK_REPS=${BENCH_DASK_REPS:-1}
NPROC=$(nproc)
TMPBASE=${TMPDIR:-/tmp}
ACTOR_CALLS=$here/actor_calls

for tool in ray-node ray-actor ray-get; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		say "bench: $tool is not on PATH; run 'make bench-actors' (or put bin/ on PATH)"
		exit 2
	fi
done
if [[ ! -x $ACTOR_CALLS ]]; then
	say "bench: $ACTOR_CALLS is not built; building it (make bench/actor_calls)"
	make -C "$root" -s bench/actor_calls >> "$log" 2>&1 || { say "bench: cannot build bench/actor_calls"; exit 2; }
fi

install_dask() {
	have_dask && return 0
	if [[ ${BENCH_NO_INSTALL:-0} == 1 ]]; then
		say "bench: /usr/bin/python3 lacks dask.distributed; BENCH_NO_INSTALL=1, not installing"
	elif [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		say "bench: /usr/bin/python3 lacks dask.distributed (apt-get install python3-distributed)"
	else
		say "bench: installing python3-distributed"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq python3-distributed >> "$log" 2>&1 ||
			{ apt-get update -qq >> "$log" 2>&1 && apt-get install -y -qq python3-distributed >> "$log" 2>&1; } ||
			say "bench: apt-get could not install python3-distributed (see $log)"
	fi
}

# ---- a node of our own ------------------------------------------------------

bench_node actors
note "node $RAY_NODE_ID at $RAY_ADDRESS ($SOCK)"

say "ray-tools actor bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $NPROC CPUs, $(uname -sr), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
install_dask

# ---- a) and b): libray vs Dask ----------------------------------------------

T_START=$(now)
say ""
say "a) $CALLS actor calls, batched ($BATCH per ray_actor_call_many) then gathered; b) $SEQ sequential call+get"
ob=() os=()
for ((i = 0; i < REPS; i++)); do
	r=$("$ACTOR_CALLS" -n "$CALLS" -b "$BATCH" -s "$SEQ" --address "$SOCK" 2>>"$log") ||
		{ say "bench: bench/actor_calls failed (see $log)"; exit 1; }
	note "actor_calls rep $i: $(echo $r)"
	ob+=("$(awk '$1 == "batch_s" { print $2 }' <<< "$r")")
	os+=("$(awk '$1 == "seq_s" { print $2 }' <<< "$r")")
done
o_b=$(median "${ob[@]}")
o_s=$(median "${os[@]}")
say "   libray batched:    median $o_b s of ${ob[*]} ($(fix "$(calc "$CALLS / $o_b")" 0) calls/s)"
say "   libray sequential: median $o_s s of ${os[*]} ($(fix "$(calc "$o_s * 1e6 / $SEQ")" 1) us per call)"

if have_dask; then
	dout=$(/usr/bin/python3 "$here/dask_actors.py" "$CALLS" "$SEQ" "$DASK_REPS" 2>>"$log")
	note "dask: $(echo $dout)"
	mapfile -t db < <(awk '$1 == "batch_s" { print $2 }' <<< "$dout")
	mapfile -t ds < <(awk '$1 == "seq_s" { print $2 }' <<< "$dout")
fi
if have_dask && ((${#db[@]} && ${#ds[@]})); then
	d_b=$(median "${db[@]}")
	d_s=$(median "${ds[@]}")
	say "   dask batched:      median $d_b s of ${db[*]} ($(fix "$(calc "$CALLS / $d_b")" 0) calls/s; in call order: $(awk '$1 == "batch_in_order" { print $2 }' <<< "$dout" | tr '\n' ' '))"
	say "   dask sequential:   median $d_s s of ${ds[*]} ($(fix "$(calc "$d_s * 1e6 / $SEQ")" 1) us per call)"
	say "   (dask cluster start $(awk '$1 == "start_s" { print $2 }' <<< "$dout") s, not counted)"
	ratio=$(calc "$d_b / $o_b")
	row "a ${CALLS} batched calls vs dask" "$(fix "$o_b")s" "$(fix "$d_b")s" "$(fix "$ratio" 1)" ">=10" \
		"$(ge "$ratio" 10 && echo PASS || echo MISS)"
	ratio=$(calc "$d_s / $o_s")
	row "b ${SEQ} sequential calls vs dask" "$(fix "$o_s")s" "$(fix "$d_s")s" "$(fix "$ratio" 1)" ">=5" \
		"$(ge "$ratio" 5 && echo PASS || echo MISS)"
else
	say "   dask: /usr/bin/python3 cannot run dask.distributed actors (see $log); skipped"
	row "a ${CALLS} batched calls vs dask" "$(fix "$o_b")s" "-" "-" ">=10" SKIP
	row "b ${SEQ} sequential calls vs dask" "$(fix "$o_s")s" "-" "-" ">=5" SKIP
fi

# ---- c) ray-actor call, one process per call ----------------------------------

say ""
say "c) $CALLS calls through 'ray-actor call' (a process each) vs the fork/exec floor"
if awk -W version 2>&1 | grep -q mawk; then
	awk_cmd=(awk -W interactive -F '\t' '{ n++; print n; fflush() }')
else
	awk_cmd=(awk -F '\t' '{ n++; print n; fflush() }')
fi
check_refs() { # check_refs FILE N: N refs whose results are N distinct counts
	local n got
	n=$(wc -l < "$1")
	got=$(ray-get < "$1" | sort -n | uniq | wc -l)
	[[ $n == "$2" && $got == "$2" ]] || { say "bench: $1: $n refs, $got distinct results, want $2"; return 1; }
}
a=$(ray-actor create -- "${awk_cmd[@]}") || { say "bench: ray-actor create failed"; exit 1; }
ray-actor call "$a" increment | ray-get > /dev/null

t0=$(now)
for ((i = 0; i < CALLS; i++)); do
	ray-actor call "$a" increment
done > "$WORK/loop.refs"
t1=$(now)
loop=$(sub "$t0" "$t1")
ok_loop=PASS
check_refs "$WORK/loop.refs" "$CALLS" || ok_loop=FAIL

t0=$(now)
seq "$CALLS" | xargs -P "$NPROC" -n 1 ray-actor call "$a" increment > "$WORK/xargs.refs"
t1=$(now)
xray=$(sub "$t0" "$t1")
ok_xargs=PASS
check_refs "$WORK/xargs.refs" "$CALLS" || ok_xargs=FAIL

t0=$(now)
for ((i = 0; i < CALLS; i++)); do
	/bin/true
done
t1=$(now)
floor_loop=$(sub "$t0" "$t1")

t0=$(now)
seq "$CALLS" | xargs -P "$NPROC" -n 1 true
t1=$(now)
floor_xargs=$(sub "$t0" "$t1")
ray-actor kill "$a" > /dev/null

say "   shell loop of ray-actor call:     $loop s ($(fix "$(calc "$CALLS / $loop")" 0) calls/s)"
say "   shell loop of /bin/true:          $floor_loop s ($(fix "$(calc "$CALLS / $floor_loop")" 0) execs/s)"
say "   xargs -P $NPROC ray-actor call:       $xray s ($(fix "$(calc "$CALLS / $xray")" 0) calls/s; 'increment N', N ignored)"
say "   xargs -P $NPROC true:                 $floor_xargs s ($(fix "$(calc "$CALLS / $floor_xargs")" 0) execs/s)"
row "c ray-actor call loop vs /bin/true loop" "$(fix "$(calc "$CALLS / $loop")" 0)/s" \
	"$(fix "$(calc "$CALLS / $floor_loop")" 0)/s" "$(fix "$(calc "$floor_loop / $loop")" 2)" "-" "$ok_loop"
row "c xargs -P$NPROC ray-actor call vs xargs true" "$(fix "$(calc "$CALLS / $xray")" 0)/s" \
	"$(fix "$(calc "$CALLS / $floor_xargs")" 0)/s" "$(fix "$(calc "$floor_xargs / $xray")" 2)" "-" "$ok_xargs"

# ---- d) and e): actors on other nodes ----------------------------------------

say ""
say "d) the batched calls of a) to an actor hosted on another node; e) 1,000 actors created with --strategy spread over 3 nodes"
WDIRS=()
for i in 1 2; do
	d=$(mktemp -d "$TMPBASE/ray-bench-actors-w.XXXXXX")
	WDIRS+=("$d")
	out=$(RAY_TMPDIR=$d ray-node start --address "$RAY_ADDRESS" --cpus "$NPROC" 2>>"$log") ||
		{ say "bench: worker start failed"; exit 1; }
	[[ $i == 1 ]] && W1=$(sed -n 's/^RAY_NODE_ID=\([^;]*\);.*/\1/p' <<<"$out")
done
stop_workers() {
	local d
	for d in "${WDIRS[@]}"; do RAY_TMPDIR=$d ray-node stop >/dev/null 2>&1; rm -rf "$d"; done
	WDIRS=()
}
trap 'stop_workers; cleanup' EXIT
for ((i = 0; i < 200; i++)); do
	[[ $(ray-status nodes --json --state ALIVE 2>/dev/null | jq length) == 3 ]] && break
	sleep 0.05
done
orb=()
for ((i = 0; i < REPS; i++)); do
	r=$("$ACTOR_CALLS" -n "$CALLS" -b "$BATCH" -s 10 --address "$SOCK" --node "$W1" 2>>"$log") ||
		{ say "bench: bench/actor_calls --node failed (see $log)"; exit 1; }
	orb+=("$(awk '$1 == "batch_s" { print $2 }' <<< "$r")")
done
o_rb=$(median "${orb[@]}")
say "   remote host batched: median $o_rb s of ${orb[*]} ($(fix "$(calc "$CALLS / $o_rb")" 0) calls/s)"
ratio=$(calc "$o_b / $o_rb")
row "d ${CALLS} calls to a remote actor vs local" "$(fix "$o_rb")s" "$(fix "$o_b")s" "$(fix "$ratio" 2)" ">=0.8" \
	"$(ge "$ratio" 0.8 && echo PASS || echo MISS)"
if [[ -n ${d_b:-} ]]; then
	ratio=$(calc "$d_b / $o_rb")
	row "d ${CALLS} calls to a remote actor vs dask" "$(fix "$o_rb")s" "$(fix "$d_b")s" "$(fix "$ratio" 1)" ">=10" \
		"$(ge "$ratio" 10 && echo PASS || echo MISS)"
fi
NACT=${BENCH_SPREAD_ACTORS:-1000}
t0=$(now)
seq "$NACT" | xargs -P "$NPROC" -I{} ray-actor create --strategy spread -- cat > "$WORK/spread.ids" 2>>"$log"
t1=$(now)
ospread=$(sub "$t0" "$t1")
ok_spread=PASS
[[ $(sort -u "$WORK/spread.ids" | wc -l) == "$NACT" ]] || { say "bench: $(wc -l < "$WORK/spread.ids") actors made, want $NACT"; ok_spread=FAIL; }
spread_nodes=$(ray-status actors --json --limit "$NACT" | jq '[.[] | select(.state == "ALIVE") | .node_id] | unique | length')
[[ $spread_nodes == 3 ]] || { say "bench: the actors are on $spread_nodes nodes, want 3"; ok_spread=FAIL; }
xargs -a "$WORK/spread.ids" -n 100 ray-actor kill >/dev/null 2>&1
t0=$(now)
seq "$NACT" | xargs -P "$NPROC" -n 1 sh -c 'cat </dev/null' sh
t1=$(now)
pspread=$(sub "$t0" "$t1")
say "   $NACT spread actors: $ospread s ($(fix "$(calc "$NACT / $ospread")" 0)/s) on $spread_nodes nodes; xargs -P $NPROC of the same process: $pspread s"
ratio=$(calc "$pspread / $ospread")
row "e ${NACT} spread actors vs xargs processes" "$(fix "$(calc "$NACT / $ospread")" 0)/s" "$(fix "$(calc "$NACT / $pspread")" 0)/s" \
	"$(fix "$ratio" 2)" ">=0.5" "$([[ $ok_spread == PASS ]] && { ge "$ratio" 0.5 && echo PASS || echo MISS; } || echo FAIL)"
stop_workers

{
	echo ""
	echo "ray-tools actors vs peers ($NPROC CPUs, $(uname -r), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(calc "$(sub "$T_START" "$(now)")") s)"
	echo "ratio = peer time / our time (higher is better; for c, how close to the fork/exec floor, 1 = the floor)"
	printf '%s\n' "benchmark	ours	peer	ratio	target	status" "${ROWS[@]}" |
		column -t -s $'\t'
} | tee "$summary"
echo "results: $summary, $results, $log" >&2
