#!/usr/bin/env bash
# bench/actor_store.sh: actor creations per second with each durable state
# store of the head (--state-store none, file: the default SQLite, redis://
# a redis-server started here): BENCH_ACTORS (default 1000) `cat` actors
# created by `ray-actor create` under xargs -P 2, the median of BENCH_REPS
# runs each, all in one run; target: each store at least 0.5x the rate
# without one.
#
#   PATH=$PWD/bin:$PATH bash bench/actor_store.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
N=${BENCH_ACTORS:-1000}
REPS=${BENCH_REPS:-3}
work=$(mktemp -d /tmp/ray-bench-astore.XXXXXX)
rpid=
trap 'RAY_TMPDIR=$work/n ray-node stop >/dev/null 2>&1; [[ -n $rpid ]] && kill $rpid 2>/dev/null; rm -rf "$work"' EXIT
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

rate() {
	local r t0 t1 rates=()
	for ((r = 0; r < REPS; r++)); do
		mkdir -m 700 -p "$work/n"
		eval "$(RAY_TMPDIR=$work/n ray-node start --head --port 0 --cpus 2 --state-store "$1" 3>&-)" || return 1
		export RAY_TMPDIR=$work/n
		t0=$(now)
		seq "$N" | xargs -P 2 -I{} ray-actor create -- cat >/dev/null || return 1
		t1=$(now)
		rates+=("$(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.1f", n / (b - a) }')")
		ray-node stop >/dev/null
	done
	median "${rates[@]}"
}

none=$(rate none) || exit 1
file=$(rate "file:$work/state") || exit 1
echo "actor creations/s: none $none, file $file ($(awk -v a="$file" -v b="$none" 'BEGIN { printf "%.2f", a / b }')x)"
if command -v redis-server >/dev/null; then
	port=$((20000 + RANDOM % 30000))
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
	rpid=$!
	for ((i = 0; i < 100; i++)); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
	redis=$(rate "redis://127.0.0.1:$port/bench") || exit 1
	echo "actor creations/s: redis $redis ($(awk -v a="$redis" -v b="$none" 'BEGIN { printf "%.2f", a / b }')x)"
fi
