# bench/lib.sh: what the bench scripts share (sourced after `here` and
# `root` are set): their files under bench/out, logging, timing and the
# summary table.  Each script measures ours against a peer in the same run
# and reports the ratio.

# bench_files LOG TSV TXT: the run's log (emptied), results (headed) and
# summary under bench/out.
bench_files() {
	out=$here/out
	mkdir -p "$out"
	log=$out/$1
	results=$out/$2
	summary=$out/$3
	: > "$log"
	printf 'benchmark\tours\tpeer\tratio\ttarget\tstatus\n' > "$results"
}

say() { printf '%s\n' "$*" | tee -a "$log" >&2; }
note() { printf '%s\n' "$*" >> "$log"; }

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
# sub A B: B - A, in seconds.
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"%.6g\", $* }"; }
fix() { awk -v v="$1" -v d="${2:-3}" 'BEGIN { printf "%.*f", d, v }'; }   # fix V [DECIMALS]
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# row NAME OURS PEER RATIO TARGET STATUS: one line of the summary table.
ROWS=()
row() {
	ROWS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$@")")
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$results"
	say "  => $1: ours $2, peer $3, ratio $4 (target $5): $6"
}

# bench_node NAME: a head node of our own with --cpus $NPROC in a fresh
# RAY_TMPDIR (removed on exit, with the node stopped); sets WORK (scratch)
# and SOCK (the node's socket).
bench_node() {
	RAY_TMPDIR=$(mktemp -d "$TMPBASE/ray-bench-$1.XXXXXX")
	export RAY_TMPDIR
	unset RAY_ADDRESS RAY_TOKEN_FILE RAY_NODE_ID RAY_TASK_ID RAY_JOB_ID RAY_NAMESPACE
	WORK=$RAY_TMPDIR/work
	mkdir -p "$WORK"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	env=$(ray-node start --head --port 0 --cpus "$NPROC" 2>>"$log") || { say "bench: ray-node start failed"; exit 1; }
	eval "$env"
	SOCK=$RAY_TMPDIR/node-$RAY_NODE_ID/node.sock
}

cleanup() {
	ray-node stop >/dev/null 2>&1
	rm -rf "$RAY_TMPDIR"
}

have_dask() { [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import dask.distributed' >/dev/null 2>&1; }
