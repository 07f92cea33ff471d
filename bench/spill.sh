#!/usr/bin/env bash
# bench/spill.sh: the object store under memory pressure.  Writes 4x
# --object-store-memory of 16 MiB objects into a fresh node (so three
# quarters of them are spilled to disk, checksummed), then reads them all
# back (restored, checked); against cp of the same files to the spill disk
# and back.  Both start and end on tmpfs and neither syncs, so both measure
# the same page-cache copies; ray-tools adds an XXH64 sum of every byte
# twice.  The ratio is cp time / ray time; the target is >= 0.6.
#
#   make all && PATH=$PWD/bin:$PATH bash bench/spill.sh
#
# Knobs (environment): SPILL_STORE_MB (256: --object-store-memory),
# SPILL_REPS (3), SPILL_DISK (a directory on the disk to spill to; default
# $TMPDIR or /tmp).  Prints one line per measurement and a summary line:
#   spill <MB> MiB: ray put X MB/s get Y MB/s total Z s; cp ... ; ratio R (target >= 0.6) PASS|MISS
set -u

STORE_MB=${SPILL_STORE_MB:-256}
REPS=${SPILL_REPS:-3}
DISK=${SPILL_DISK:-${TMPDIR:-/tmp}}
OBJ_MB=16
N=$((4 * STORE_MB / OBJ_MB))
TOTAL_MB=$((N * OBJ_MB))

for tool in ray-node ray-put ray-get ray-store; do
	command -v "$tool" >/dev/null 2>&1 || { echo "spill.sh: $tool is not on PATH (PATH=\$PWD/bin:\$PATH)" >&2; exit 2; }
done
[[ -d /dev/shm && -w /dev/shm ]] || { echo "spill.sh: needs a writable /dev/shm" >&2; exit 2; }

work=$(mktemp -d "$DISK/ray-spill-bench.XXXXXX") || exit 2
shm=$(mktemp -d /dev/shm/ray-spill-bench.XXXXXX) || exit 2
cleanup() {
	RAY_TMPDIR=$work/tmp ray-node stop >/dev/null 2>&1
	rm -rf "$work" "$shm"
}
trap cleanup EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "spill.sh: $N objects of $OBJ_MB MiB ($TOTAL_MB MiB) through a node with --object-store-memory ${STORE_MB}M, spilling to $DISK" >&2
mkdir -p "$shm/src" "$shm/out"
head -c $((OBJ_MB * 1048576)) /dev/urandom > "$shm/chunk"
for ((i = 0; i < N; i++)); do
	# distinct objects: a different first 8 bytes each
	{ printf '%08d' "$i"; tail -c +9 "$shm/chunk"; } > "$shm/src/f$i"
done
rm -f "$shm/chunk"

rput=() rget=() rtot=() cput=() cget=() ctot=()
ok=1
for ((r = 0; r < REPS; r++)); do
	rm -rf "$work/tmp" "$work/spill" "$shm/out"
	mkdir -p "$work/tmp" "$work/spill" "$shm/out"
	export RAY_TMPDIR=$work/tmp
	unset RAY_ADDRESS RAY_TOKEN_FILE
	eval "$(ray-node start --head --port 0 --object-store-memory "${STORE_MB}M" --spill-dir "$work/spill")" || exit 1
	t0=$(now)
	ray-put "$shm"/src/f* > "$work/refs" || { echo "spill.sh: ray-put failed" >&2; exit 1; }
	t1=$(now)
	ray-get --dir "$shm/out" < "$work/refs" || { echo "spill.sh: ray-get failed" >&2; exit 1; }
	t2=$(now)
	spilled=$(ray-store stats --json | sed -n 's/.*"spills_total":[[:space:]]*\([0-9]*\).*/\1/p')
	i=0
	while read -r ref; do
		# ray-put was given the files in glob order; compare in that order
		f=$(ls "$shm"/src/f* | sed -n "$((i + 1))p")
		cmp -s "$f" "$shm/out/$ref" || { ok=0; echo "spill.sh: $ref differs from $f" >&2; }
		i=$((i + 1))
	done < "$work/refs"
	ray-node stop >/dev/null 2>&1
	rput+=("$(calc "$t1 - $t0")") rget+=("$(calc "$t2 - $t1")") rtot+=("$(calc "$t2 - $t0")")
	rm -rf "$shm/out"
	mkdir -p "$shm/out" "$work/cp"
	t0=$(now)
	cp "$shm"/src/f* "$work/cp/"
	t1=$(now)
	cp "$work"/cp/f* "$shm/out/"
	t2=$(now)
	rm -rf "$work/cp" "$shm/out"
	cput+=("$(calc "$t1 - $t0")") cget+=("$(calc "$t2 - $t1")") ctot+=("$(calc "$t2 - $t0")")
	echo "rep $r: ray put ${rput[-1]} s get ${rget[-1]} s ($spilled spills); cp out ${cput[-1]} s back ${cget[-1]} s" >&2
done
rp=$(median "${rput[@]}") rg=$(median "${rget[@]}") rt=$(median "${rtot[@]}")
cpo=$(median "${cput[@]}") cpb=$(median "${cget[@]}") ct=$(median "${ctot[@]}")
ratio=$(calc "$ct / $rt")
status=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.6) ? "PASS" : "MISS" }')
((ok)) || status=FAIL
printf 'spill %d MiB: ray put %.0f MB/s get %.0f MB/s total %.2f s; cp out %.0f MB/s back %.0f MB/s total %.2f s; ratio %.2f (target >= 0.6) %s\n' \
	"$TOTAL_MB" "$(calc "$TOTAL_MB * 1.048576 / $rp")" "$(calc "$TOTAL_MB * 1.048576 / $rg")" "$rt" \
	"$(calc "$TOTAL_MB * 1.048576 / $cpo")" "$(calc "$TOTAL_MB * 1.048576 / $cpb")" "$ct" "$ratio" "$status"
[[ $status != FAIL ]]
