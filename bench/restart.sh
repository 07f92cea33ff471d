#!/usr/bin/env bash
# bench/restart.sh: a head SIGKILLed and started again with the same state
# store, address and token: the time from the new head's start until the
# cluster has resumed (the worker registered again and a call to an actor
# restored on it is answered).  Target: under 5 s.
#
#   PATH=$PWD/bin:$PATH bash bench/restart.sh      (BENCH_REPS runs, default 3)
set -u
REPS=${BENCH_REPS:-3}
work=$(mktemp -d /tmp/ray-bench-restart.XXXXXX)
trap 'for d in "$work"/*/; do RAY_TMPDIR=$d ray-node stop >/dev/null 2>&1; done; rm -rf "$work"' EXIT
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
field() { sed -n "s/^$1=\([^;]*\);.*/\1/p" <<<"$2"; }
times=()
for ((r = 0; r < REPS; r++)); do
	h=$(mktemp -d "$work/h.XXXX") w=$(mktemp -d "$work/w.XXXX")
	out=$(RAY_TMPDIR=$h ray-node start --head --port 0 --cpus 0 --state-store "file:$work/state$r") || exit 1
	addr=$(field RAY_ADDRESS "$out") tok=$(field RAY_TOKEN_FILE "$out")
	cp "$tok" "$work/token$r"
	export RAY_ADDRESS=$addr RAY_TOKEN_FILE=$work/token$r RAY_TMPDIR=$h
	wout=$(RAY_TMPDIR=$w ray-node start --address "$addr" --cpus 2) || exit 1
	ray-actor create --detached --name c$r --node "$(field RAY_NODE_ID "$wout")" -- sh -c 'n=0; while read -r m; do n=$((n+1)); echo $n; done' >/dev/null
	ray-get "$(ray-actor call c$r x)" >/dev/null
	kill -9 "$(cat "$h"/node-*/node.pid)"
	sleep 0.2
	h2=$(mktemp -d "$work/h.XXXX")
	t0=$(now)
	RAY_TMPDIR=$h2 ray-node start --head --port "${addr##*:}" --cpus 0 --token-file "$work/token$r" \
		--state-store "file:$work/state$r" >/dev/null || exit 1
	export RAY_TMPDIR=$h2
	until ref=$(ray-actor call c$r x 2>/dev/null) && [[ $(ray-get --timeout 10 "$ref" 2>/dev/null) == 2 ]]; do
		sleep 0.05
		(( $(awk -v a="$t0" -v b="$(now)" 'BEGIN { print (b - a > 30) }') )) && { echo "not resumed in 30 s" >&2; exit 1; }
	done
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
	times+=("$t")
	echo "run $r: resumed $t s after the new head started" >&2
	RAY_TMPDIR=$w ray-node stop >/dev/null; RAY_TMPDIR=$h2 ray-node stop >/dev/null
done
m=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "head restart to resumed (median of $REPS): ${m} s (target < 5 s)"
