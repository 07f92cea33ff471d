#!/usr/bin/env bash
# bench/cluster.sh: the multi-node paths, each against its plain
# counterpart measured in the same run on the same machine (all nodes on
# 127.0.0.1, each with its own RAY_TMPDIR):
#
#   e1) a 1 GiB object moved between two nodes (ray-get on node B of an
#       object put on node A: locate, checksummed chunked pull into B's
#       store) vs a plain TCP copy of the same bytes from A's tmpfs to a
#       tmpfs file (python3 sendfile -> recv_into; socat if installed)
#       target >= 0.8x
#   e2) 2,000 `true` tasks (ray-submit --batch | ray-get) on a three-node
#       cluster vs on a single node, --cpus $(nproc) per node; target >= 0.8x
#   e3) failure detection: SIGKILL a worker node (daemon and workers) and
#       time until the head lists it DEAD, default timeout; target <= 5 s
#   e4) the e1 object over an encrypted link (--transport encrypted) vs
#       ssh -c aes128-gcm@openssh.com piping the same file over loopback
#       (an sshd of the bench's own, keys made for it; openssh-server);
#       target >= 1x; the plain link's time is shown beside it
#   e5) one `ray-submit --get -- true` over TCP, RAY_TRANSPORT=encrypted
#       vs plain; target within 10%
#
#   PATH=$PWD/bin:$PATH bash bench/cluster.sh     (make bench runs it too: bench/run.sh, e)
#
# Knobs: BENCH_BIG_MB (1024), BENCH_TASKS (2000), BENCH_REPS (3),
# BENCH_CLUSTER_ONLY ("e1 e2 e3 e4 e5": which to run), BENCH_RTT_REPS (200).
# Prints a table and writes it to bench/out/cluster.txt.
set -u

here=$(cd "$(dirname "$0")" && pwd)
out=$here/out
mkdir -p "$out"
BIG_MB=${BENCH_BIG_MB:-1024}
NTASKS=${BENCH_TASKS:-2000}
REPS=${BENCH_REPS:-3}
NPROC=$(nproc)
ONLY=${BENCH_CLUSTER_ONLY:-e1 e2 e3 e4 e5}
want() { [[ " $ONLY " == *" $1 "* ]]; }

for tool in ray-node ray-put ray-get ray-submit ray-status ray-store python3 jq; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "cluster bench: $tool is not on PATH (make all; PATH=\$PWD/bin:\$PATH)" >&2
		exit 2
	fi
done

say() { printf '%s\n' "$*" >&2; }
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
field() { sed -n "s/^$1=\\([^;]*\\);.*/\\1/p" <<<"$2"; }

unset RAY_ADDRESS RAY_TOKEN_FILE RAY_NODE_ID RAY_TASK_ID RAY_JOB_ID
work=$(mktemp -d /tmp/raybc.XXXXXX)
DIRS=() IDS=() ADDRS=() GONE=()
ROWS=()
row() { ROWS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$@")"); say "  => $1: ours $2, peer $3, ratio $4 (target $5): $6"; }

stop_nodes() {
	local i
	for ((i = ${#DIRS[@]} - 1; i >= 0; i--)); do
		RAY_TMPDIR=${DIRS[i]} timeout 30 ray-node stop >/dev/null 2>&1 ||
			RAY_TMPDIR=${DIRS[i]} timeout 15 ray-node stop --force >/dev/null 2>&1
	done
	for i in "${GONE[@]}"; do
		rm -rf "/dev/shm/ray-$i"
	done
	DIRS=() IDS=() ADDRS=() GONE=()
}
cleanup() {
	ssh_stop 2>/dev/null
	stop_nodes
	rm -rf "$work" /dev/shm/raybc.$$.*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cluster N [NODE OPTS...]: a head and N-1 workers, --cpus NPROC each; the
# head's env.
cluster() {
	local n=$1 i o
	shift
	stop_nodes
	for ((i = 0; i < n; i++)); do
		DIRS[i]=$(mktemp -d "$work/n.XXXX")
		if ((i == 0)); then
			o=$(RAY_TMPDIR=${DIRS[0]} timeout 30 ray-node start --head --port 0 --cpus "$NPROC" "$@") || return 1
			eval "$o"
			export RAY_ADDRESS RAY_TOKEN_FILE
			export RAY_TMPDIR=${DIRS[0]}
		else
			o=$(RAY_TMPDIR=${DIRS[i]} timeout 30 ray-node start --address "${ADDRS[0]}" --port 0 \
				--cpus "$NPROC" "$@") || return 1
		fi
		IDS[i]=$(field RAY_NODE_ID "$o")
		ADDRS[i]=$(field RAY_ADDRESS "$o")
	done
	for ((i = 0; i < 300; i++)); do
		[[ $(timeout 10 ray-status nodes --json | jq '[.[] | select(.state == "ALIVE")] | length') == "$n" ]] &&
			return 0
		sleep 0.05
	done
	say "cluster bench: the head never listed $n nodes alive"
	return 1
}

# ---- e1: 1 GiB between two nodes vs plain TCP ---------------------------

cat >"$work/tcp.py" <<'EOF'
import os, socket, sys
mode = sys.argv[1]
if mode == "recv":
    path = sys.argv[2]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    print(s.getsockname()[1], flush=True)
    c, _ = s.accept()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    buf = bytearray(4 << 20)
    mv = memoryview(buf)
    while True:
        n = c.recv_into(mv)
        if n == 0:
            break
        w = 0
        while w < n:
            w += os.write(fd, mv[w:n])
    os.close(fd)
else:
    port, path = int(sys.argv[2]), sys.argv[3]
    s = socket.create_connection(("127.0.0.1", port))
    with open(path, "rb") as f:
        s.sendfile(f)
    s.close()
EOF

# tcp_copy SRC DST: seconds to copy SRC over loopback TCP into DST.
tcp_copy() {
	local t0 t1 port rpid
	coproc RECV { exec python3 "$work/tcp.py" recv "$2"; }
	rpid=$RECV_PID
	read -r port <&"${RECV[0]}"
	t0=$(now)
	python3 "$work/tcp.py" send "$port" "$1"
	wait "$rpid"
	t1=$(now)
	sub "$t0" "$t1"
}

bench_transfer() {
	local big=/dev/shm/raybc.$$.big ref t0 t1 ours=() peer=() r o p sum1 sum2
	say ""
	say "e1) ${BIG_MB} MiB object from node A to node B vs a plain TCP copy (loopback), $REPS runs"
	cluster 2 || return 1
	head -c $((BIG_MB << 20)) /dev/urandom >"$big"
	for ((r = 0; r < REPS; r++)); do
		ref=$(ray-put "$big") || { say "ray-put failed"; return 1; }
		t0=$(now)
		RAY_ADDRESS=${ADDRS[1]} ray-get -o /dev/null "$ref" || { say "ray-get on B failed"; return 1; }
		t1=$(now)
		ours+=("$(sub "$t0" "$t1")")
		if ((r == 0)); then
			sum1=$(sha256sum <"$big" | cut -c1-64)
			sum2=$(RAY_ADDRESS=${ADDRS[1]} ray-get "$ref" | sha256sum | cut -c1-64)
			[[ $sum1 == "$sum2" ]] || { say "the copy on B differs!"; return 1; }
		fi
		RAY_ADDRESS=${ADDRS[1]} ray-store free "$ref" >/dev/null 2>&1
		ray-store free "$ref" >/dev/null 2>&1
		peer+=("$(tcp_copy "$big" /dev/shm/raybc.$$.copy)")
		rm -f /dev/shm/raybc.$$.copy
	done
	rm -f "$big"
	o=$(median "${ours[@]}")
	p=$(median "${peer[@]}")
	say "   ray-get on B: $(printf '%s ' "${ours[@]}")s; median $(calc "$BIG_MB / $o") MiB/s"
	say "   TCP copy:     $(printf '%s ' "${peer[@]}")s; median $(calc "$BIG_MB / $p") MiB/s"
	row "e1 ${BIG_MB}MiB node to node" "$(calc "$o")s" "$(calc "$p")s" "$(calc "$p / $o")x" ">=0.8x" \
		"$(ge "$(calc "$p / $o")" 0.8 && echo PASS || echo MISS)"
}

# ---- e2: task throughput, three nodes vs one ------------------------------

run_tasks() {
	local t0 t1 n
	t0=$(now)
	n=$(yes true | head -n "$NTASKS" | ray-submit --batch | ray-get | wc -l)
	t1=$(now)
	[[ $n == 0 ]] || say "   (unexpected output from true tasks: $n lines)"
	sub "$t0" "$t1"
}

bench_throughput() {
	local one=() three=() r o p
	say ""
	say "e2) $NTASKS 'true' tasks (ray-submit --batch | ray-get): three nodes vs one, --cpus $NPROC each, $REPS runs"
	cluster 1 || return 1
	run_tasks >/dev/null
	for ((r = 0; r < REPS; r++)); do one+=("$(run_tasks)"); done
	cluster 3 || return 1
	run_tasks >/dev/null
	for ((r = 0; r < REPS; r++)); do three+=("$(run_tasks)"); done
	o=$(median "${three[@]}")
	p=$(median "${one[@]}")
	say "   three nodes: $(printf '%s ' "${three[@]}")s; median $(calc "$NTASKS / $o") tasks/s"
	say "   one node:    $(printf '%s ' "${one[@]}")s; median $(calc "$NTASKS / $p") tasks/s"
	row "e2 $NTASKS tasks, 3 nodes vs 1" "$(calc "$o")s" "$(calc "$p")s" "$(calc "$p / $o")x" ">=0.8x" \
		"$(ge "$(calc "$p / $o")" 0.8 && echo PASS || echo MISS)"
}

# ---- e3: failure detection ------------------------------------------------

source "$here/../t/lib/proctree.bash"

bench_detect() {
	local times=() r pid procs t0 t1 st id m
	say ""
	say "e3) SIGKILL a worker node; time until the head lists it DEAD (default timeout), $REPS runs"
	for ((r = 0; r < REPS; r++)); do
		cluster 3 || return 1
		id=${IDS[2]}
		pid=$(cat "${DIRS[2]}/node-$id/node.pid")
		procs=$(descendants "$pid")
		t0=$(now)
		kill -9 "$pid" $procs
		GONE+=("$id")
		while :; do
			st=$(timeout 10 ray-status nodes --json | jq -r --arg id "$id" '.[] | select(.node_id == $id) | .state')
			[[ $st == DEAD ]] && break
			if ge "$(sub "$t0" "$(now)")" 30; then
				say "   node $id not DEAD after 30 s"
				break
			fi
			sleep 0.02
		done
		t1=$(now)
		times+=("$(sub "$t0" "$t1")")
	done
	m=$(printf '%s\n' "${times[@]}" | sort -g | tail -1)
	say "   detection: $(printf '%s ' "${times[@]}")s"
	row "e3 failure detection (worst of $REPS)" "$(calc "$m")s" "5s" "$(calc "$m / 5")x of budget" "<=5s" \
		"$(ge 5 "$m" && echo PASS || echo MISS)"
}

# ---- e4, e5: encrypted links ----------------------------------------------

# pull_secs REF: seconds for node B to get REF from node A.
pull_secs() {
	local t0 t1
	t0=$(now)
	RAY_ADDRESS=${ADDRS[1]} ray-get -o /dev/null "$1" || return 1
	t1=$(now)
	sub "$t0" "$t1"
}

# An sshd of our own on the loopback, keys made here: what a shell user
# moves data through securely today.
ssh_setup() {
	local port
	[[ -x /usr/sbin/sshd ]] || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$work/userkey" || return 1
	cp "$work/userkey.pub" "$work/authorized_keys"
	port=$((20000 + RANDOM % 20000))
	cat >"$work/sshd_config" <<EOC
Port $port
ListenAddress 127.0.0.1
HostKey $work/hostkey
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin yes
StrictModes no
PasswordAuthentication no
PidFile $work/sshd.pid
EOC
	mkdir -p /run/sshd
	/usr/sbin/sshd -f "$work/sshd_config" || return 1
	SSH=(ssh -p "$port" -i "$work/userkey" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
		-o LogLevel=ERROR -c aes128-gcm@openssh.com "$(id -un)@127.0.0.1")
	for ((i = 0; i < 100; i++)); do
		"${SSH[@]}" true 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

ssh_stop() {
	[[ -f $work/sshd.pid ]] && kill "$(cat "$work/sshd.pid")" 2>/dev/null
	rm -f "$work/sshd.pid"
}

bench_encrypted() {
	local big=/dev/shm/raybc.$$.big ref r enc=() plain=() ssh=() t0 t1 o p s
	say ""
	say "e4) ${BIG_MB} MiB node to node over an encrypted link vs ssh -c aes128-gcm (loopback), $REPS runs"
	head -c $((BIG_MB << 20)) /dev/urandom >"$big"
	cluster 2 --transport encrypted || return 1
	for ((r = 0; r < REPS; r++)); do
		ref=$(ray-put "$big") || return 1
		enc+=("$(pull_secs "$ref")") || return 1
		RAY_ADDRESS=${ADDRS[1]} ray-store free "$ref" >/dev/null 2>&1
		ray-store free "$ref" >/dev/null 2>&1
	done
	cluster 2 --transport plain || return 1
	for ((r = 0; r < REPS; r++)); do
		ref=$(ray-put "$big") || return 1
		plain+=("$(pull_secs "$ref")") || return 1
		RAY_ADDRESS=${ADDRS[1]} ray-store free "$ref" >/dev/null 2>&1
		ray-store free "$ref" >/dev/null 2>&1
	done
	stop_nodes
	o=$(median "${enc[@]}")
	p=$(median "${plain[@]}")
	say "   encrypted: $(printf '%s ' "${enc[@]}")s; median $(calc "$BIG_MB / $o") MiB/s"
	say "   plain:     $(printf '%s ' "${plain[@]}")s; median $(calc "$BIG_MB / $p") MiB/s (encrypted/plain time $(calc "$o / $p"))"
	if ssh_setup; then
		for ((r = 0; r < REPS; r++)); do
			t0=$(now)
			"${SSH[@]}" "cat > /dev/shm/raybc.$$.ssh" <"$big" || break
			t1=$(now)
			ssh+=("$(sub "$t0" "$t1")")
			rm -f /dev/shm/raybc.$$.ssh
		done
		ssh_stop
	fi
	rm -f "$big"
	if ((${#ssh[@]} == 0)); then
		say "   ssh: cannot run an sshd here (apt-get install openssh-server); e4 has no peer"
		row "e4 ${BIG_MB}MiB encrypted node to node" "$(calc "$o")s" "-" "-" ">=1x" "SKIP"
		return 0
	fi
	s=$(median "${ssh[@]}")
	say "   ssh:       $(printf '%s ' "${ssh[@]}")s; median $(calc "$BIG_MB / $s") MiB/s"
	row "e4 ${BIG_MB}MiB encrypted node to node" "$(calc "$o")s" "$(calc "$s")s" "$(calc "$s / $o")x" ">=1x" \
		"$(ge "$(calc "$s / $o")" 1 && echo PASS || echo MISS)"
	row "e4 (plain link beside it)" "$(calc "$p")s" "$(calc "$o")s" "$(calc "$o / $p")x" "-" "-"
}

# e5: one task's round trip through a TCP address, encrypted vs plain.
bench_rtt() {
	local n=${BENCH_RTT_REPS:-200} e=() p=() t0 t1 i r oe op
	say ""
	say "e5) one ray-submit --get round trip over TCP, encrypted vs plain, $n each, $REPS runs"
	cluster 1 || return 1
	for ((r = 0; r < REPS; r++)); do
		for mode in encrypted plain; do
			t0=$(now)
			for ((i = 0; i < n; i++)); do
				RAY_TRANSPORT=$mode ray-submit --get -- true >/dev/null || return 1
			done
			t1=$(now)
			if [[ $mode == encrypted ]]; then e+=("$(calc "($t1 - $t0) / $n * 1000")"); else p+=("$(calc "($t1 - $t0) / $n * 1000")"); fi
		done
	done
	stop_nodes
	oe=$(median "${e[@]}")
	op=$(median "${p[@]}")
	say "   encrypted: $(printf '%s ' "${e[@]}")ms; plain: $(printf '%s ' "${p[@]}")ms"
	row "e5 task round trip, encrypted vs plain" "${oe}ms" "${op}ms" "$(calc "$oe / $op")x" "<=1.1x" \
		"$(ge 1.1 "$(calc "$oe / $op")" && echo PASS || echo MISS)"
}

T0=$(now)
want e1 && bench_transfer
want e2 && bench_throughput
want e3 && bench_detect
want e4 && bench_encrypted
want e5 && bench_rtt
stop_nodes
{
	echo ""
	echo "ray-tools cluster paths ($NPROC CPUs, $(uname -r), git $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo '?'), $(calc "$(sub "$T0" "$(now)")") s)"
	echo "ratio = peer time / our time (higher is better); for e3, the time against its 5 s budget"
	printf '%s\n' "benchmark	ours	peer	ratio	target	status" "${ROWS[@]}" | column -t -s $'\t'
} | tee "$out/cluster.txt"
