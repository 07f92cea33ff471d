#!/bin/sh
# demo.sh: a tour of ray-tools on a private one-node cluster.
#
#   make demo                      (builds, then runs this with bin/ on PATH)
#   PATH=$PWD/bin:$PATH sh share/examples/demo.sh
#
# It starts a node under a fresh RAY_TMPDIR, counts words in the texts of
# share/examples/texts/ with one map task per file and one reduce task over
# the map results, prints the top ten words, shows what the cluster did
# (ray-status), demonstrates a shell actor when ray-actor is built, and
# always stops the node and removes its files, also on error or Ctrl-C.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
for tool in ray-node ray-put ray-submit ray-get ray-wait ray-status; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "demo: $tool is not on PATH; run 'make demo', or put bin/ on PATH" >&2
		exit 2
	fi
done

RAY_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/ray-demo.XXXXXX")
export RAY_TMPDIR
work=$RAY_TMPDIR/demo
cleanup() {
	ray-node stop >/dev/null 2>&1 || true
	rm -rf "$RAY_TMPDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() {
	printf '\n== %s\n' "$*"
}

# ---------------------------------------------------------------------------
step "Start a one-node cluster (RAY_TMPDIR=$RAY_TMPDIR)"
echo '$ eval "$(ray-node start --head --port 0)"'
env=$(ray-node start --head --port 0) || {
	echo "demo: ray-node start failed" >&2
	exit 1
}
eval "$env"
echo "node $RAY_NODE_ID listening on $RAY_ADDRESS"
mkdir -p "$work"

# ---------------------------------------------------------------------------
step "Store each text as an object (ray-put)"
: > "$work/inputs"
for f in "$here"/texts/*.txt; do
	ref=$(ray-put "$f")
	printf '%s %s\n' "$ref" "${f##*/}" >> "$work/inputs"
	printf '%-16s %6s bytes  -> %s\n' "${f##*/}" "$(wc -c < "$f" | tr -d ' ')" "$ref"
done

# ---------------------------------------------------------------------------
step "Map: one task per text (ray-submit -- sh wc-map.sh @REF)"
: > "$work/maps"
while read -r ref name; do
	m=$(ray-submit --name "wc-map $name" -- sh "$here/wc-map.sh" "@$ref")
	echo "$m" >> "$work/maps"
	echo "map $name -> $m"
done < "$work/inputs"
printf 'waiting for %s map results (ray-wait)... ' "$(wc -l < "$work/maps" | tr -d ' ')"
ray-wait < "$work/maps" > /dev/null
echo ready

# ---------------------------------------------------------------------------
step "Reduce: one task over every map result, then ray-get the top 10"
set -- 10
while read -r m; do
	set -- "$@" "@$m"
done < "$work/maps"
result=$(ray-submit --name wc-reduce -- sh "$here/wc-reduce.sh" "$@")
echo "reduce -> $result"
echo "top 10 words (count word):"
ray-get "$result" | tee "$work/top10" | sed 's/^/  /'

# The same pipeline without the cluster, to check the answer.
for f in "$here"/texts/*.txt; do
	sh "$here/wc-map.sh" "$f" > "$work/local-${f##*/}"
done
sh "$here/wc-reduce.sh" 10 "$work"/local-*.txt > "$work/expected"
if cmp -s "$work/top10" "$work/expected"; then
	echo "(matches the same pipeline run locally without ray-tools)"
else
	echo "demo: the cluster's answer differs from the local run:" >&2
	diff "$work/expected" "$work/top10" >&2 || true
	exit 1
fi

# ---------------------------------------------------------------------------
if command -v ray-actor >/dev/null 2>&1; then
	step "An actor: a bash counter speaking the line protocol (counter-actor.sh)"
	actor=$(ray-actor create --name demo-counter -- bash "$here/counter-actor.sh")
	echo "actor $actor"
	for f in "$here"/texts/*.txt; do
		words=$(wc -w < "$f" | tr -d ' ')
		printf 'add %-5s (%s) -> ' "$words" "${f##*/}"
		ray-actor call "$actor" add "$words" | ray-get
	done
	printf 'get -> '
	ray-actor call "$actor" get | ray-get
	echo "a method that fails is an error object; ray-get exits 1 and the actor lives on:"
	code=0
	ref=$(ray-actor call "$actor" divide 3) && ray-get "$ref" || code=$?
	echo "  exit $code"
	printf 'get -> '
	ray-actor call "$actor" get | ray-get
	ray-actor kill "$actor"
	echo "actor killed"
else
	step "Actors: ray-actor is not built yet, skipping the counter actor"
fi

# ---------------------------------------------------------------------------
step "What the cluster did: ray-status"
ray-status

step "Every task: ray-status tasks (task id, state, node, name)"
ray-status tasks

step "Stop the node (ray-node stop)"
ray-node stop
echo "done"
