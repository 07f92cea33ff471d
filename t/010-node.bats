#!/usr/bin/env bats
# ray-node: start and stop, what start prints, finding the node, and who
# may talk to it.

load lib/helpers

@test "start prints ssh-agent style RAY_ADDRESS, RAY_TOKEN_FILE, RAY_NODE_ID" {
	start_node
	run printf '%s\n' "$NODE_OUTPUT"
	assert_line --regexp '^RAY_ADDRESS=127\.0\.0\.1:[0-9]+; export RAY_ADDRESS;$'
	assert_line "RAY_TOKEN_FILE=$RAY_TOKEN_FILE; export RAY_TOKEN_FILE;"
	assert_line --regexp '^RAY_NODE_ID=[0-9a-f]+; export RAY_NODE_ID;$'
	# --port 0 picked a real port.
	assert_not_equal "${RAY_ADDRESS##*:}" 0
	# The token is private to its owner.
	assert_equal "$(stat -c %a "$RAY_TOKEN_FILE")" 600
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].node_id')" "$RAY_NODE_ID"
	assert_equal "$(json_get '.[0].address')" "$RAY_ADDRESS"
}

@test "--port 0 gives two nodes two different free ports" {
	start_node
	local a1=$RAY_ADDRESS
	start_node
	assert_not_equal "$a1" "$RAY_ADDRESS"
	# Both answer on their own port.
	run_ray 0 env RAY_ADDRESS="$a1" RAY_TOKEN_FILE="${RAY_TEST_TMPDIRS[0]}/latest/token" ray-status nodes
	run_ray 0 ray-status nodes
}

@test "clients reach the node by TCP, by its Unix socket, or through RAY_TMPDIR" {
	start_node
	local sock="$RAY_TMPDIR/node-$RAY_NODE_ID/node.sock"
	assert [ -S "$sock" ]
	run_ray 0 ray-put <<<"by tcp"
	local ref=$output
	run_ray 0 env RAY_ADDRESS="$sock" ray-get "$ref"
	assert_output "by tcp"
	# Neither RAY_ADDRESS nor RAY_TOKEN_FILE: the latest node under RAY_TMPDIR.
	run_ray 0 env -u RAY_ADDRESS -u RAY_TOKEN_FILE ray-get "$ref"
	assert_output "by tcp"
}

# cgroup_mem_limit: the memory limit of our cgroup and its ancestors, in
# bytes, or nothing when there is none (v1: the memory hierarchy's
# hierarchical_memory_limit; v2: the least memory.max up the tree).
cgroup_mem_limit() {
	local path mnt best="" v dir
	path=$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}memory\(,[^:]*\)\{0,1\}:\(.*\)/\3/p' /proc/self/cgroup)
	mnt=$(awk '$0 ~ / - cgroup / && $NF ~ /(^|,)memory(,|$)/ { print $5; exit }' /proc/self/mountinfo)
	if [[ -n "$path" && -n "$mnt" ]]; then
		v=$(awk '$1 == "hierarchical_memory_limit" { print $2 }' "$mnt$path/memory.stat" 2>/dev/null)
		[[ -n "$v" ]] && ((v < 1 << 60)) && best=$v
	else
		path=$(sed -n 's/^0:://p' /proc/self/cgroup)
		mnt=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
		[[ -n "$mnt" ]] || return 0
		dir=$mnt${path%/}
		while [[ -f "$dir/memory.max" ]]; do
			v=$(cat "$dir/memory.max")
			[[ "$v" != max ]] && { [[ -z "$best" ]] || ((v < best)); } && best=$v
			dir=${dir%/*}
		done
	fi
	echo "$best"
}

@test "defaults: CPUs = online cores, GPUs = NVIDIA devices, store = 30% of RAM" {
	start_node --bare
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_total.CPU')" "$(nproc)"
	local gpus=0 d
	for d in /dev/nvidia[0-9]*; do
		[[ -e "$d" ]] && gpus=$((gpus + 1))
	done
	assert_equal "$(json_get '.[0].resources_total.GPU')" "$gpus"
	local ram store mem lim
	ram=$(awk '/^MemTotal:/ { print $2 * 1024 }' /proc/meminfo)
	# RAM is the host's, or less when our memory cgroup is held to less.
	lim=$(cgroup_mem_limit)
	if [[ -n "$lim" ]] && ((lim < ram)); then ram=$lim; fi
	store=$(json_get '.[0].resources_total.object_store_memory')
	mem=$(json_get '.[0].resources_total.memory')
	# Within 2% of 30% and of the remaining 70%.
	run awk -v s="$store" -v m="$mem" -v r="$ram" \
		'BEGIN { exit !(s > r * 0.28 && s < r * 0.32 && m > r * 0.68 && m < r * 0.72) }'
	assert_success
}

@test "node options set the node's resources and labels" {
	start_node --cpus 3 --gpus 0 --memory 1G --object-store-memory 256M \
		--resources widget=2,gizmo=0.5 --labels zone=a,tier=gold
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_total.CPU')" 3
	assert_equal "$(json_get '.[0].resources_total.memory')" $((1 << 30))
	assert_equal "$(json_get '.[0].resources_total.object_store_memory')" $((256 << 20))
	assert_equal "$(json_get '.[0].resources_total.widget')" 2
	assert_equal "$(json_get '.[0].resources_total.gizmo')" 0.5
	assert_equal "$(json_get '.[0].labels.zone')" a
	assert_equal "$(json_get '.[0].labels.tier')" gold
	assert_equal "$(json_get '.[0].is_head')" true
	assert_equal "$(json_get '.[0].state')" ALIVE
}

@test "--token-file: the node uses the given token" {
	local tok="$BATS_TEST_TMPDIR/cluster-token"
	printf '%s\n' 0123456789abcdef0123456789abcdef >"$tok"
	chmod 600 "$tok"
	start_node --token-file "$tok"
	assert_equal "$(cat "$RAY_TOKEN_FILE")" "$(cat "$tok")"
	run_ray 0 env RAY_TOKEN_FILE="$tok" ray-status nodes
}

@test "stop leaves no process, no worker, no object files and no session" {
	start_node
	local pid dir=$RAY_TMPDIR id=$RAY_NODE_ID wpid
	pid=$(node_pid)
	# A stored object (in a file) and a running worker.
	head -c 200000 /dev/urandom >"$BATS_TEST_TMPDIR/blob"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/blob"
	run_ray 0 ray-submit --name sleeper -- sleep 300
	wait_for named_task_in_state sleeper RUNNING
	wpid=$(task_field "$(task_id_named sleeper)" pid)
	assert [ -d "/dev/shm/ray-$id" ]
	assert [ -d "$dir/node-$id" ]

	run_ray 0 ray-node stop
	# The workers die before the daemon lets go of its lock.
	proc_gone "$wpid"
	wait_for -t 5 proc_gone "$pid"
	assert [ ! -e "/dev/shm/ray-$id" ]
	assert [ ! -e "$dir/node-$id" ]
	assert [ ! -L "$dir/latest" ]
	# Clients now find no node.
	run_ray 8 ray-status nodes
}

@test "stop stops only the nodes of this RAY_TMPDIR" {
	start_node
	local other=$RAY_TMPDIR other_addr=$RAY_ADDRESS other_tok=$RAY_TOKEN_FILE
	start_node
	run_ray 0 ray-node stop
	run_ray 8 ray-status nodes
	run_ray 0 env RAY_TMPDIR="$other" RAY_ADDRESS="$other_addr" RAY_TOKEN_FILE="$other_tok" ray-status nodes
}

@test "one node per RAY_TMPDIR: a second start exits 2 naming the first; stop stops it" {
	start_node
	local pid1 id1=$RAY_NODE_ID
	pid1=$(node_pid)
	run_ray 2 ray-node start --head --port 0 --cpus 1 3>&-
	[[ "$stderr" == *"$id1"* ]]
	run_ray 0 ray-node stop
	wait_for -t 5 proc_gone "$pid1"
	assert [ ! -e "/dev/shm/ray-$id1" ]
	# Once it stopped, the same RAY_TMPDIR takes a new node.
	NODE_OUTPUT=$(timeout 60 ray-node start --head --port 0 --cpus 1 3>&-)
	eval "$NODE_OUTPUT"
	assert_not_equal "$RAY_NODE_ID" "$id1"
	run_ray 0 ray-node stop
}

@test "stop cleans up after a node that was killed with SIGKILL" {
	start_node
	local pid id=$RAY_NODE_ID
	pid=$(node_pid)
	kill -KILL "$pid"
	wait_for proc_gone "$pid"
	run_ray 0 ray-node stop
	assert [ ! -e "/dev/shm/ray-$id" ]
	assert [ ! -e "$RAY_TMPDIR/node-$id" ]
	assert [ ! -L "$RAY_TMPDIR/latest" ]
}

@test "stop --force ends a node that does not answer SIGTERM" {
	start_node
	local pid id=$RAY_NODE_ID
	pid=$(node_pid)
	kill -STOP "$pid"
	local t0=$SECONDS
	run_ray 0 ray-node stop --force
	assert [ $((SECONDS - t0)) -lt 10 ]
	wait_for -t 5 proc_gone "$pid"
	assert [ ! -e "/dev/shm/ray-$id" ]
	assert [ ! -e "$RAY_TMPDIR/node-$id" ]
	assert [ ! -L "$RAY_TMPDIR/latest" ]
}

@test "stop --force of a hung node also kills its workers" {
	start_node
	local pid wpid
	pid=$(node_pid)
	run_ray 0 ray-submit --name orphan -- sleep 300
	wait_for named_task_in_state orphan RUNNING
	wpid=$(task_field "$(task_id_named orphan)" pid)
	RAY_TEST_PIDS+=("$wpid")
	kill -STOP "$pid"
	run_ray 0 ray-node stop --force
	wait_for -t 5 proc_gone "$wpid"
}

@test "stop with no node running succeeds and says so on stderr" {
	export RAY_TMPDIR=$BATS_TEST_TMPDIR/empty
	mkdir -p "$RAY_TMPDIR"
	run_ray 0 ray-node stop
	assert_equal "$output" ""
	assert_regex "$stderr" "^ray-node: no node"
}

@test "--foreground stays attached and stops cleanly on SIGTERM" {
	export RAY_TMPDIR=$BATS_TEST_TMPDIR/fg
	mkdir -p "$RAY_TMPDIR"
	RAY_TEST_TMPDIRS+=("$RAY_TMPDIR")
	timeout 60 ray-node start --head --port 0 --cpus 1 --foreground \
		>"$BATS_TEST_TMPDIR/fg.out" 2>"$BATS_TEST_TMPDIR/fg.err" 3>&- &
	local bg=$!
	wait_for grep -q RAY_NODE_ID "$BATS_TEST_TMPDIR/fg.out"
	eval "$(cat "$BATS_TEST_TMPDIR/fg.out")"
	local pid
	pid=$(node_pid)
	run_ray 0 ray-put <<<"attached"
	# Still attached: the node is the process we started, not a daemon.
	assert_equal "$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f2)" "$bg"
	kill -TERM "$pid"
	wait_for proc_gone "$bg"
	local rc=0
	wait "$bg" || rc=$?
	assert_equal "$rc" 0
	assert [ ! -e "/dev/shm/ray-$RAY_NODE_ID" ]
	assert [ ! -e "$RAY_TMPDIR/node-$RAY_NODE_ID" ]
}

@test "bad node options are usage errors (exit 2)" {
	export RAY_TMPDIR=$BATS_TEST_TMPDIR/bad
	RAY_TEST_TMPDIRS+=("$RAY_TMPDIR")
	run_ray 2 ray-node
	run_ray 2 ray-node frobnicate
	run_ray 2 ray-node start
	run_ray 2 ray-node start --head --port 0 --cpus 3x
	run_ray 2 ray-node start --head --port 70000
	run_ray 2 ray-node start --head --port 0 --object-store-memory 2X
	run_ray 2 ray-node start --head --port 0 --memory lots
	run_ray 2 ray-node start --head --port 0 --resources widget
	run_ray 2 ray-node start --head --port 0 --labels zone
	run_ray 2 ray-node start --head --port 0 --bogus
	run_ray 2 ray-node start --head --address 127.0.0.1:1
	assert_regex "$stderr" "^ray-node: "
	# None of them left a node behind.
	assert [ ! -e "$RAY_TMPDIR/latest" ]
}

@test "a start that fails (port in use) leaves no session behind" {
	start_node
	local port=${RAY_ADDRESS##*:}
	export RAY_TMPDIR=$BATS_TEST_TMPDIR/second
	mkdir -p "$RAY_TMPDIR"
	RAY_TEST_TMPDIRS+=("$RAY_TMPDIR")
	run_ray '?' ray-node start --head --port "$port" --cpus 1
	assert [ "$status" -ne 0 ]
	assert_equal "$output" ""
	assert_regex "$stderr" "^ray-node: .*$port"
	# Nothing under its RAY_TMPDIR: no session a stop could never find.
	run ls -A "$RAY_TMPDIR"
	assert_output ""
}

@test "no node running: every client exits 8 with a hint" {
	export RAY_TMPDIR=$BATS_TEST_TMPDIR/none
	mkdir -p "$RAY_TMPDIR"
	unset RAY_ADDRESS RAY_TOKEN_FILE
	run_ray 8 ray-put <<<"x"
	assert_regex "$stderr" "^ray-put: .*ray-node start"
	run_ray 8 ray-get 0123abcd
	run_ray 8 ray-wait 0123abcd
	run_ray 8 ray-submit -- true
	run_ray 8 ray-cancel 0123abcd
	run_ray 8 ray-status
	run_ray 8 ray-store ls
}

@test "an address where no node listens: exit 8" {
	start_node
	local port
	# A port that was just free: bind and close it.
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	run_ray 8 env RAY_ADDRESS="127.0.0.1:$port" ray-status nodes
	assert_regex "$stderr" "^ray-status: cannot reach cluster at '127\.0\.0\.1:$port'"
}

@test "a wrong token is refused (exit 8) and the node lives on" {
	start_node
	local bad="$BATS_TEST_TMPDIR/wrong-token"
	printf '%s\n' ffffffffffffffffffffffffffffffff >"$bad"
	chmod 600 "$bad"
	run_ray 8 env RAY_TOKEN_FILE="$bad" ray-put <<<"nope"
	assert_equal "$output" ""
	assert_regex "$stderr" "^ray-put: authentication refused"
	run_ray 8 env RAY_TOKEN_FILE="$bad" RAY_ADDRESS="$RAY_TMPDIR/node-$RAY_NODE_ID/node.sock" ray-status nodes
	# A missing token file is refused too.
	run_ray 8 env RAY_TOKEN_FILE="$BATS_TEST_TMPDIR/no-such-token" ray-status nodes
	run_ray 0 ray-status nodes
	# Nothing was stored by the refused client.
	run_ray 0 ray-store ls
	assert_equal "$output" ""
}
