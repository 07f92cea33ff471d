#!/usr/bin/env bats
# --memory is enforced: a task (or actor) whose process tree holds more
# resident memory than it asked for is killed (exit 6, a message naming
# memory, after its retries); a node whose host is above
# --memory-threshold kills its most recently started retriable task.

load lib/helpers

# hog MB GATE: holds MB MiB resident (written, so resident), says so on
# stderr, then waits for the file GATE (or 300 s) and exits 0.
HOG='import os, sys, time
b = bytearray(int(sys.argv[1]) << 20)
for i in range(0, len(b), 4096):
    b[i] = 1
sys.stderr.write("holding %s MiB\n" % sys.argv[1]); sys.stderr.flush()
for _ in range(3000):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)
print("done")'

@test "a task past its --memory is killed with exit 6 naming memory; a neighbour within its limit lives" {
	command -v python3 >/dev/null || skip "python3 is needed for the allocator"
	start_node --cpus 2
	local gate=$BATS_TEST_TMPDIR/gate
	run_ray 0 ray-submit --name small --memory 200M -- python3 -c "$HOG" 20 "$gate"
	local small=$output
	run_ray 0 ray-submit --name big --memory 100M --max-retries 1 -- python3 -c "$HOG" 300 "$gate"
	local big=$output
	run_ray 6 ray-get --timeout 60 "$big"
	assert_regex "$stderr" "memory"
	assert_regex "$stderr" "over its --memory 100 MiB"
	assert_regex "$stderr" "after 2 attempts"
	assert_equal "$(task_field "$(task_id_named big)" attempt)" 1
	# The neighbour is still running; let it finish.
	assert_equal "$(task_field "$(task_id_named small)" state)" RUNNING
	touch "$gate"
	run_ray 0 ray-get --timeout 60 "$small"
	assert_output done
	run_ray 0 grep -c "task .* over its --memory" "$RAY_TMPDIR"/node-*/logs/node.log
}

@test "a tree of processes counts together against --memory" {
	command -v python3 >/dev/null || skip "python3 is needed for the allocator"
	start_node --cpus 2
	# Two children of 80 MiB each: neither alone passes 100M, both do.
	run_ray 0 ray-submit --memory 100M --max-retries 0 -- sh -c \
		'python3 -c "$1" 80 /nonexistent & python3 -c "$1" 80 /nonexistent & wait' sh "$HOG"
	run_ray 6 ray-get --timeout 60 "$output"
	assert_regex "$stderr" "killed for memory"
}

@test "above --memory-threshold the node kills its newest retriable task and says so" {
	# Any host is above 1% used: the node must act on every task.
	start_node --cpus 2 --memory-threshold 0.01
	local gate=$BATS_TEST_TMPDIR/gate
	run_ray 0 ray-submit --name victim --max-retries 1 -- sh -c 'echo started >&2; while [ ! -e "$1" ]; do sleep 0.1; done' sh "$gate"
	run_ray 6 ray-get --timeout 60 "$output"
	assert_regex "$stderr" "memory-threshold"
	assert_regex "$stderr" "most recently started"
	run_ray 0 grep -c "above --memory-threshold 1.00%: killing task" "$RAY_TMPDIR"/node-*/logs/node.log
	run_ray 2 ray-node start --head --port 0 --memory-threshold 1.5
	assert_regex "$stderr" "memory-threshold"
}

@test "an actor past its --memory is killed: the call it was running gives exit 6 naming memory" {
	command -v python3 >/dev/null || skip "python3 is needed for the allocator"
	start_node --cpus 2
	run_ray 0 ray-actor create --memory 50M -- sh -c 'read line; python3 -c "$1" 200 /nonexistent' sh "$HOG"
	local a=$output
	run_ray 0 ray-actor call "$a" grow
	run_ray 6 ray-get --timeout 60 "$output"
	assert_regex "$stderr" "killed for memory"
	run_ray 0 ray-status actors --json
	assert_equal "$(json_get '.[0].state')" DEAD
}

# node_cgroup_dir: the node's memory cgroup directory, from its log; fails
# when the node samples /proc instead (no writable memory cgroup here).
node_cgroup_dir() {
	sed -n 's/.*--memory limits are held by memory cgroups (cgroup v[12]) under //p' \
		"$RAY_TMPDIR"/node-*/logs/node.log | tail -1 | grep .
}

@test "a result larger than the task's --memory is its output, not its memory" {
	start_node --cpus 2
	run_ray 0 ray-submit --memory 20M --max-retries 0 -- sh -c 'head -c 64M /dev/zero | tr "\0" x'
	local r=$output
	run_ray 0 sh -c "ray-get --timeout 60 $r | md5sum"
	assert_output "$(head -c 64M /dev/zero | tr '\0' x | md5sum)"
}

@test "memory cgroups: a process that leaves the task's session still counts, and every cgroup goes" {
	command -v python3 >/dev/null || skip "python3 is needed for the allocator"
	start_node --cpus 2
	local dir
	dir=$(node_cgroup_dir) || skip "no writable memory cgroup on this host: limits are sampled"
	[[ -d "$dir" ]]
	# The hog leaves the task's session (setsid): only a cgroup sees it.
	run_ray 0 ray-submit --name escapee --memory 50M --max-retries 0 -- \
		sh -c 'setsid python3 -c "$1" 200 /nonexistent & sleep 300' sh "$HOG"
	run_ray 6 ray-get --timeout 60 "$output"
	assert_regex "$stderr" "went over its --memory 50 MiB, the limit of its memory cgroup"
	# A task within its limit runs in a cgroup of its own while it runs.
	local gate=$BATS_TEST_TMPDIR/gate
	run_ray 0 ray-submit --name within --memory 100M -- python3 -c "$HOG" 10 "$gate"
	local r=$output
	wait_for named_task_in_state within RUNNING
	local id
	id=$(task_id_named within)
	wait_for test -d "$dir/t-$id-0"
	touch "$gate"
	run_ray 0 ray-get --timeout 60 "$r"
	assert_output done
	wait_for test ! -d "$dir/t-$id-0"
	# Its cgroup waits, idle, for the next task, which takes it.
	local n
	n=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name 'idle-*' | wc -l)
	((n >= 1))
	run_ray 0 ray-submit --memory 30M -- echo again
	run_ray 0 ray-get --timeout 60 "$output"
	assert_output again
	assert_equal "$(find "$dir" -mindepth 1 -maxdepth 1 -type d | wc -l)" "$n"
	stop_all
	[[ ! -d "$dir" ]]
}

@test "memory cgroups left by a node killed with SIGKILL are removed by the next node" {
	start_node --cpus 1
	local dir pid
	dir=$(node_cgroup_dir) || skip "no writable memory cgroup on this host"
	run_ray 0 ray-submit --memory 30M -- echo hi
	run_ray 0 ray-get --timeout 60 "$output"
	[[ -n "$(find "$dir" -mindepth 1 -maxdepth 1 -type d)" ]]
	pid=$(node_pid)
	kill -KILL "$pid"
	wait_for proc_gone "$pid"
	[[ -d "$dir" ]]
	start_node --cpus 1
	[[ ! -d "$dir" ]]
}

@test "RAY_MEMORY_CGROUP=0: the node samples /proc, and still kills a task past its --memory" {
	command -v python3 >/dev/null || skip "python3 is needed for the allocator"
	RAY_MEMORY_CGROUP=0 start_node --cpus 2
	run_ray 0 grep -c "limits are held by sampling" "$RAY_TMPDIR"/node-*/logs/node.log
	run_ray 0 ray-submit --memory 50M --max-retries 0 -- python3 -c "$HOG" 200 /nonexistent
	run_ray 6 ray-get --timeout 60 "$output"
	assert_regex "$stderr" "held [0-9]+ MiB resident, over its --memory 50 MiB"
}

@test "a node in a memory cgroup held to 2 GiB advertises 70% of that, and its threshold is of that" {
	start_node --cpus 1
	local dir parent cg
	dir=$(node_cgroup_dir) || skip "no writable memory cgroup on this host"
	parent=${dir%/*}
	stop_all
	cg=$parent/raytest-$$-$BATS_TEST_NUMBER
	mkdir "$cg"
	RAY_TEST_CGROUPS+=("$cg")
	# v1 takes bytes in memory.limit_in_bytes; v2 in memory.max.
	if [[ -e "$cg/memory.limit_in_bytes" ]]; then
		echo $((2 << 30)) >"$cg/memory.limit_in_bytes"
	else
		echo $((2 << 30)) >"$cg/memory.max"
	fi
	# The node starts from a shell that has moved into the cgroup.
	local tmp
	tmp=$(_ray_new_tmpdir)
	RAY_TEST_TMPDIRS+=("$tmp")
	run_ray 0 env RAY_TMPDIR="$tmp" sh -c 'echo $$ >"$1/cgroup.procs" && exec ray-node start --head --port 0 --memory-threshold 0.5 3>&-' sh "$cg"
	eval "$output"
	export RAY_TMPDIR=$tmp
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_total.memory')" $(((2 << 30) - (2 << 30) * 3 / 10))
	assert_equal "$(json_get '.[0].resources_total.object_store_memory')" $(((2 << 30) * 3 / 10))
	# 1.2 GiB is 60% of the cgroup's 2 GiB, whatever the host has.
	command -v python3 >/dev/null || return 0
	run_ray 0 ray-submit --max-retries 0 -- python3 -c "$HOG" 1200 /nonexistent
	run_ray 6 ray-get --timeout 60 "$output"
	assert_regex "$stderr" "memory-threshold"
}
