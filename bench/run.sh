#!/usr/bin/env bash
# bench/run.sh: ray-tools against its Unix peers, each pair measured in the
# same run on the same machine, reported as a ratio (absolute times on a
# shared machine are noise; the ratio is the result).
#
#   make bench                        builds, then runs this with bin/ on PATH
#   PATH=$PWD/bin:$PATH bash bench/run.sh
#
#   a) 2,000 trivial tasks: ray-submit --batch | ray-get on a node with
#      --cpus $(nproc), vs xargs -P $(nproc) sh -c, Dask distributed
#      (subprocess, under /usr/bin/python3) and GNU parallel (reference)
#   b) 1 GiB through the object store: ray-put + ray-get vs cp to /dev/shm +
#      cat back
#   c) 100-byte put/get round trips through libray (bench/putget), sequential
#      and pipelined by 16, vs redis-benchmark SET/GET on a Unix socket
#   d) one `ray-submit --get -- true` start to finish vs `sh -c true`
#
# Knobs (environment): BENCH_ONLY="a b c d" (which to run), BENCH_TASKS
# (2000), BENCH_BIG_MB (1024), BENCH_PAIRS (100000), BENCH_REPS (3),
# BENCH_LAT_REPS (200), BENCH_NO_INSTALL=1 (never apt-get).
# Results: bench/out/summary.txt (the table), bench/out/results.tsv, and
# bench/out/run.log (every measurement).  Missing peers are installed with
# apt-get when running as root; a peer that cannot run is skipped, and said so.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
. "$here/lib.sh"
bench_files run.log results.tsv summary.txt

ONLY=${BENCH_ONLY:-a b c d}
NTASKS=${BENCH_TASKS:-2000}
BIG_MB=${BENCH_BIG_MB:-1024}
PAIRS=${BENCH_PAIRS:-100000}
REPS=${BENCH_REPS:-3}
LAT_REPS=${BENCH_LAT_REPS:-200}
NPROC=$(nproc)
TMPBASE=${TMPDIR:-/tmp}

want() { [[ " $ONLY " == *" $1 "* ]]; }

for tool in ray-node ray-put ray-get ray-submit ray-store; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		say "bench: $tool is not on PATH; run 'make bench' (or put bin/ on PATH)"
		exit 2
	fi
done
PUTGET=$here/putget
if want c && [[ ! -x $PUTGET ]]; then
	say "bench: $PUTGET is not built; building it (make bench/putget)"
	make -C "$root" -s bench/putget >> "$log" 2>&1 || { say "bench: cannot build bench/putget"; exit 2; }
fi

# ---- timing helpers ----------------------------------------------------

pct() { # pct P values...: the P-th percentile (nearest rank)
	local p=$1; shift
	printf '%s\n' "$@" | sort -g | awk -v p="$p" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print v[i] }'
}

# ---- peers -------------------------------------------------------------

have_parallel() { command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; }
have_redis() { command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }

install_peers() {
	local missing=()
	want a && ! have_parallel && missing+=(parallel)
	want a && ! have_dask && missing+=(python3-distributed)
	want c && ! command -v redis-server >/dev/null 2>&1 && missing+=(redis-server)
	want c && ! { command -v redis-benchmark >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; } && missing+=(redis-tools)
	((${#missing[@]})) || return 0
	if [[ ${BENCH_NO_INSTALL:-0} == 1 ]]; then
		say "bench: missing peers (${missing[*]}); BENCH_NO_INSTALL=1, not installing"
	elif [[ $(id -u) != 0 ]]; then
		say "bench: missing peers (${missing[*]}); not root, so not installing them (apt-get install ${missing[*]})"
	elif ! command -v apt-get >/dev/null 2>&1; then
		say "bench: missing peers (${missing[*]}); no apt-get here to install them"
	else
		say "bench: installing missing peers: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq "${missing[@]}" >> "$log" 2>&1 ||
			{ apt-get update -qq >> "$log" 2>&1 && apt-get install -y -qq "${missing[@]}" >> "$log" 2>&1; } ||
			say "bench: apt-get could not install ${missing[*]} (see $log)"
	fi
}

# ---- a cluster of our own ----------------------------------------------

RAY_TMPDIR=$(mktemp -d "$TMPBASE/ray-bench.XXXXXX")
export RAY_TMPDIR
unset RAY_ADDRESS RAY_TOKEN_FILE RAY_NODE_ID RAY_TASK_ID RAY_JOB_ID
WORK=$RAY_TMPDIR/work
mkdir -p "$WORK"
BIG=""
REDIS_PID=""
cleanup() {
	ray-node stop >/dev/null 2>&1
	if [[ -n $REDIS_PID ]]; then kill "$REDIS_PID" 2>/dev/null; fi
	[[ -n $BIG ]] && rm -f "$BIG"
	rm -f /dev/shm/ray-bench-peer.$$
	rm -rf "$RAY_TMPDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# CPU seconds (user + system) the node daemon has used so far.
node_cpu() {
	local pid
	pid=$(cat "$RAY_TMPDIR/node-$RAY_NODE_ID/node.pid" 2>/dev/null)
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$pid/stat" 2>/dev/null || echo 0
}

start_node() {
	local env
	env=$(ray-node start --head --port 0 --cpus "$NPROC" 2>>"$log") || { say "bench: ray-node start failed"; exit 1; }
	eval "$env"
	SOCK=$RAY_TMPDIR/node-$RAY_NODE_ID/node.sock
	note "node $RAY_NODE_ID at $RAY_ADDRESS ($SOCK), --cpus $NPROC"
}

loadavg() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?'; }
LOAD0=$(loadavg)
say "ray-tools bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $NPROC CPUs, $(uname -sr), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), load average $LOAD0"
if [[ $LOAD0 != '?' ]] && ge "$LOAD0" "$(calc "$NPROC * 0.5")"; then
	say "bench: warning: the machine is busy (load average $LOAD0 on $NPROC CPUs); other work skews the ratios"
fi
install_peers

# ---- a) many trivial tasks ----------------------------------------------

bench_tasks() {
	local cmds=$WORK/cmds i t0 t1 st ours=() xa=() dask=() o x
	say ""
	say "a) $NTASKS trivial tasks ('true' via sh -c), $NPROC-way parallel"
	yes true | head -n "$NTASKS" > "$cmds"
	# Warm up the node (first spawn, page cache).
	head -n 20 "$cmds" | ray-submit --batch | ray-get > /dev/null
	local cpu0 cpu1 cpu=0
	for ((i = 0; i < REPS; i++)); do
		cpu0=$(node_cpu)
		t0=$(now)
		ray-submit --batch < "$cmds" | ray-get > "$WORK/a.out"
		st="${PIPESTATUS[*]}"
		t1=$(now)
		cpu1=$(node_cpu)
		cpu=$(calc "$cpu + $cpu1 - $cpu0")
		if [[ $st != "0 0" || -s $WORK/a.out ]]; then
			say "bench: ray-submit --batch | ray-get failed (exit $st)"
		fi
		ours+=("$(sub "$t0" "$t1")")
		t0=$(now)
		xargs -P "$NPROC" -I{} sh -c {} < "$cmds"
		t1=$(now)
		xa+=("$(sub "$t0" "$t1")")
		note "a rep $i: ray ${ours[-1]} s, xargs ${xa[-1]} s"
	done
	o=$(median "${ours[@]}")
	x=$(median "${xa[@]}")
	say "   ray-submit --batch | ray-get: median $o s of ${ours[*]}"
	say "   xargs -P $NPROC sh -c:        median $x s of ${xa[*]}"
	say "   (the node daemon itself used $(fix "$(calc "$cpu * 1000000 / ($REPS * $NTASKS)")" 0) us of CPU per task)"
	row "a tasks vs xargs" "$(fix "$o")s" "$(fix "$x")s" "$(fix "$(calc "$x / $o")" 2)" ">=0.9" \
		"$(ge "$(calc "$x / $o")" 0.9 && echo PASS || echo MISS)"

	if have_dask; then
		local dout
		dout=$(/usr/bin/python3 "$here/dask_tasks.py" "$NPROC" "$cmds" 2 2>>"$log")
		note "dask: $(echo $dout)"
		mapfile -t dask < <(awk '$1 == "run_s" { print $2 }' <<< "$dout")
		if ((${#dask[@]})); then
			x=$(median "${dask[@]}")
			say "   dask distributed (subprocess): median $x s of ${dask[*]} (cluster start $(awk '$1 == "start_s" { print $2 }' <<< "$dout") s, not counted)"
			row "a tasks vs dask" "$(fix "$o")s" "$(fix "$x")s" "$(fix "$(calc "$x / $o")" 2)" ">=2" \
				"$(ge "$(calc "$x / $o")" 2 && echo PASS || echo MISS)"
		else
			say "   dask: did not run (see $log); skipped"
			row "a tasks vs dask" "$(fix "$o")s" "-" "-" ">=2" SKIP
		fi
	else
		say "   dask: /usr/bin/python3 cannot import dask.distributed (apt-get install python3-distributed); skipped"
		row "a tasks vs dask" "$(fix "$o")s" "-" "-" ">=2" SKIP
	fi

	if have_parallel; then
		t0=$(now)
		parallel --will-cite -j "$NPROC" < "$cmds"
		t1=$(now)
		x=$(sub "$t0" "$t1")
		say "   GNU parallel -j $NPROC:          $x s"
		row "a tasks vs parallel" "$(fix "$o")s" "$(fix "$x")s" "$(fix "$(calc "$x / $o")" 2)" "-" "-"
	else
		say "   GNU parallel: not installed (apt-get install parallel); skipped"
		row "a tasks vs parallel" "$(fix "$o")s" "-" "-" "-" SKIP
	fi
}

# ---- b) a big object ------------------------------------------------------

bench_big() {
	local i t0 t1 t2 ref n ok=1 ours=() peer=() oput=() oget=() pcp=() pcat=() o x
	local bytes=$((BIG_MB * 1048576)) peerfile=/dev/shm/ray-bench-peer.$$
	say ""
	say "b) a ${BIG_MB} MiB file: ray-put + ray-get | wc -c  vs  cp to /dev/shm + cat | wc -c"
	BIG=$(mktemp "$TMPBASE/ray-bench-big.XXXXXX")
	head -c $((BIG_MB < 64 ? BIG_MB * 1048576 : 67108864)) /dev/urandom > "$BIG.chunk"
	: > "$BIG"
	for ((i = 0; i < (BIG_MB + 63) / 64; i++)); do cat "$BIG.chunk"; done | head -c "$bytes" > "$BIG"
	rm -f "$BIG.chunk"
	sync "$BIG" 2>/dev/null || sync
	for ((i = 0; i < REPS; i++)); do
		t0=$(now)
		ref=$(ray-put "$BIG")
		t1=$(now)
		n=$(ray-get "$ref" | wc -c)
		t2=$(now)
		[[ $n == "$bytes" ]] || { ok=0; say "bench: ray-get returned $n bytes, want $bytes"; }
		ray-store free "$ref" > /dev/null
		oput+=("$(sub "$t0" "$t1")")
		oget+=("$(sub "$t1" "$t2")")
		ours+=("$(sub "$t0" "$t2")")
		t0=$(now)
		cp "$BIG" "$peerfile"
		t1=$(now)
		n=$(cat "$peerfile" | wc -c)
		t2=$(now)
		rm -f "$peerfile"
		[[ $n == "$bytes" ]] || say "bench: cat returned $n bytes, want $bytes"
		pcp+=("$(sub "$t0" "$t1")")
		pcat+=("$(sub "$t1" "$t2")")
		peer+=("$(sub "$t0" "$t2")")
		note "b rep $i: ray-put ${oput[-1]} ray-get ${oget[-1]}; cp ${pcp[-1]} cat ${pcat[-1]}"
	done
	rm -f "$BIG"
	BIG=""
	o=$(median "${ours[@]}")
	x=$(median "${peer[@]}")
	say "   ray-put $(median "${oput[@]}") s + ray-get $(median "${oget[@]}") s = median $o s"
	say "   cp      $(median "${pcp[@]}") s + cat     $(median "${pcat[@]}") s = median $x s"
	if ((ok)); then
		row "b ${BIG_MB}MiB put+get vs cp+cat" "$(fix "$o")s" "$(fix "$x")s" "$(fix "$(calc "$x / $o")" 2)" ">=0.5" \
			"$(ge "$(calc "$x / $o")" 0.5 && echo PASS || echo MISS)"
	else
		row "b ${BIG_MB}MiB put+get vs cp+cat" "$(fix "$o")s" "$(fix "$x")s" "$(fix "$(calc "$x / $o")" 2)" ">=0.5" FAIL
	fi
}

# ---- c) small round trips ---------------------------------------------

redis_rps() { # redis_rps PIPELINE: "SET_RPS GET_RPS"
	redis-benchmark -s "$REDIS_SOCK" -c 1 -P "$1" -t set,get -n "$PAIRS" -d 100 --csv 2>>"$log" |
		tr -d '"' | awk -F, '$1 == "SET" { s = $2 } $1 == "GET" { g = $2 } END { print s, g }'
}

# One putget run on a node of its own (each run adds 2 x PAIRS objects to
# the store: a fresh node keeps the runs alike): "SEQ PIPE" ops/s.
putget_once() {
	local d env pg sock
	d=$(mktemp -d "$TMPBASE/ray-bench-pg.XXXXXX")
	env=$(RAY_TMPDIR=$d ray-node start --head --port 0 --cpus "$NPROC" 2>>"$log") || { rm -rf "$d"; return 1; }
	sock=$d/node-$(sed -n 's/^RAY_NODE_ID=\([^;]*\);.*/\1/p' <<<"$env")/node.sock
	pg=$(RAY_TMPDIR=$d RAY_ADDRESS= RAY_TOKEN_FILE= "$PUTGET" -n "$PAIRS" -s 100 -b 16 --address "$sock" 2>>"$log")
	note "putget: $(echo $pg)"
	RAY_TMPDIR=$d ray-node stop >/dev/null 2>&1
	rm -rf "$d"
	awk '$1 == "seq_ops_per_s" { s = $2 } $1 == "pipe_ops_per_s" { p = $2 } END { if (s && p) print s, p; else exit 1 }' <<<"$pg"
}

bench_small() {
	local s g seq pipe peer1 peer16 d i r
	local oseq=() opipe=() p1=() p16=()
	say ""
	say "c) 100-byte put+get round trips in one process: libray (bench/putget) vs redis SET+GET, median of $REPS"
	if have_redis; then
		d=$(mktemp -d "$TMPBASE/ray-bench-redis.XXXXXX")
		REDIS_SOCK=$d/redis.sock
		redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 --save '' --appendonly no \
			--dir "$d" --daemonize yes --pidfile "$d/redis.pid" --logfile "$d/redis.log" >> "$log" 2>&1
		for ((i = 0; i < 100; i++)); do
			redis-cli -s "$REDIS_SOCK" ping 2>/dev/null | grep -q PONG && break
			sleep 0.05
		done
		REDIS_PID=$(cat "$d/redis.pid" 2>/dev/null)
		if ! redis-cli -s "$REDIS_SOCK" ping 2>/dev/null | grep -q PONG; then
			say "   redis-server did not start (see $d/redis.log); skipped"
			REDIS_PID=""
		fi
	else
		say "   redis: redis-server/redis-benchmark not installed (apt-get install redis-server redis-tools); skipped"
	fi
	# Ours and the peer's in turn, so that a busy minute skews both.
	for ((i = 0; i < REPS; i++)); do
		if r=$(putget_once); then
			oseq+=("${r% *}")
			opipe+=("${r#* }")
		else
			say "bench: bench/putget failed (see $log)"
		fi
		[[ -n $REDIS_PID ]] || continue
		read -r s g <<< "$(redis_rps 1)"
		p1+=("$(fix "$(calc "2 / (1 / $s + 1 / $g)")" 0)")
		read -r s g <<< "$(redis_rps 16)"
		p16+=("$(fix "$(calc "2 / (1 / $s + 1 / $g)")" 0)")
	done
	((${#oseq[@]})) && seq=$(fix "$(median "${oseq[@]}")" 0) pipe=$(fix "$(median "${opipe[@]}")" 0)
	say "   libray sequential put+get: ${seq:-?} ops/s (${oseq[*]}); batches of 16 (ray_put_many + ray_get_many): ${pipe:-?} ops/s (${opipe[*]})"
	if [[ -z $REDIS_PID ]]; then
		row "c 100B put/get seq vs redis -P1" "${seq:-?}/s" "-" "-" "-" SKIP
		row "c 100B put/get x16 vs redis -P16" "${pipe:-?}/s" "-" "-" "-" SKIP
		[[ -n ${d:-} ]] && rm -rf "$d"
		return
	fi
	peer1=$(fix "$(median "${p1[@]}")" 0)
	peer16=$(fix "$(median "${p16[@]}")" 0)
	say "   redis -P 1: $peer1 ops/s (${p1[*]}); -P 16: $peer16 ops/s (${p16[*]})"
	kill "$REDIS_PID" 2>/dev/null
	REDIS_PID=""
	sleep 0.1
	rm -rf "$d"
	row "c 100B put/get seq vs redis -P1" "${seq:-?}/s" "${peer1}/s" "$(fix "$(calc "${seq:-0} / $peer1")" 2)" ">=1" \
		"$(ge "$(calc "${seq:-0} / $peer1")" 1 && echo PASS || echo MISS)"
	row "c 100B put/get x16 vs redis -P16" "${pipe:-?}/s" "${peer16}/s" "$(fix "$(calc "${pipe:-0} / $peer16")" 2)" ">=1" \
		"$(ge "$(calc "${pipe:-0} / $peer16")" 1 && echo PASS || echo MISS)"
}

# ---- d) one task, start to finish -------------------------------------

bench_latency() {
	local i t0 t1 ours=() peer=() o x lim fails=0
	say ""
	say "d) one 'ray-submit --get -- true' vs 'sh -c true', $LAT_REPS runs each, interleaved"
	for ((i = 0; i < 5; i++)); do ray-submit --get -- true > /dev/null; done
	for ((i = 0; i < LAT_REPS; i++)); do
		t0=$(now)
		ray-submit --get -- true > /dev/null || fails=$((fails + 1))
		t1=$(now)
		ours+=("$(sub "$t0" "$t1")")
		t0=$(now)
		sh -c true
		t1=$(now)
		peer+=("$(sub "$t0" "$t1")")
	done
	o=$(fix "$(calc "$(median "${ours[@]}") * 1000")" 2)
	x=$(fix "$(calc "$(median "${peer[@]}") * 1000")" 2)
	lim=$(fix "$(calc "3 * $x + 5")" 2)
	say "   ray-submit --get -- true: median $o ms, p90 $(calc "$(pct 90 "${ours[@]}") * 1000") ms ($fails failed)"
	say "   sh -c true:               median $x ms, p90 $(calc "$(pct 90 "${peer[@]}") * 1000") ms"
	row "d one task latency" "${o}ms" "${x}ms" "$(fix "$(calc "$o / $x")" 2)x slower" "<=3x+5ms (${lim}ms)" \
		"$( ((fails == 0)) && ge "$lim" "$o" && echo PASS || echo MISS)"
}

# Each benchmark gets a fresh node, so none pays for what an earlier one
# left behind (thousands of finished tasks, 200,000 small objects).
run_bench() {
	start_node
	"$1"
	ray-node stop > /dev/null 2>&1
}
T_START=$(now)
want a && run_bench bench_tasks
want b && run_bench bench_big
want c && run_bench bench_small
want d && run_bench bench_latency
{ want e || [[ -z ${BENCH_ONLY:-} ]]; } && env -u RAY_ADDRESS -u RAY_TOKEN_FILE -u RAY_NODE_ID bash "$here/cluster.sh"

{
	echo ""
	echo "ray-tools vs peers ($NPROC CPUs, $(uname -r), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(fix "$(sub "$T_START" "$(now)")" 0) s, load average $LOAD0 at start, $(loadavg) at end)"
	echo "ratio = peer time / our time (throughput: higher is better); for d, our latency / peer latency"
	printf '%s\n' "benchmark	ours	peer	ratio	target	status" "${ROWS[@]}" |
		column -t -s $'\t'
} | tee "$summary"
echo "results: $summary, $results, $log" >&2
