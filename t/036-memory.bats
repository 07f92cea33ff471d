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
	run_ray 0 grep -c "killing task .* over its --memory" "$RAY_TMPDIR"/node-*/logs/node.log
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
