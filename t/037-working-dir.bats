#!/usr/bin/env bats
# --working-dir DIR|REF for tasks and actors (a directory of the node, or a
# tar archive put as an object, unpacked once per node, read-only), and
# ray-job run|submit --env / --working-dir as defaults for a job's tasks
# and actors.

load lib/helpers
load lib/cluster

# make_src DIR: a small tree to ship.
make_src() {
	mkdir -p "$1/sub"
	echo "hello from the archive" >"$1/greeting.txt"
	echo nested >"$1/sub/inner.txt"
}

@test "--working-dir DIR runs the task there; a DIR the node lacks fails it naming the DIR" {
	start_node
	make_src "$BATS_TEST_TMPDIR/src"
	run_ray 0 ray-submit --get --working-dir "$BATS_TEST_TMPDIR/src" -- cat greeting.txt
	assert_output "hello from the archive"
	# Relative: made absolute against the caller's directory.
	cd "$BATS_TEST_TMPDIR"
	run_ray 0 ray-submit --get --working-dir src/sub -- cat inner.txt
	assert_output nested
	run_ray 1 ray-submit --get --working-dir /no/such/dir -- true
	assert_regex "$stderr" "no working directory '/no/such/dir'"
	run_ray 2 ray-submit --working-dir "" -- true
	run_ray 10 ray-submit --working-dir 0123456789abcdef0123456789abcdef01234567 -- true
}

@test "a tar working dir is seen by tasks on two nodes, unpacked read-only, freed with its object" {
	start_cluster 2 --cpus 1
	make_src "$BATS_TEST_TMPDIR/src"
	run_ray 0 sh -c "tar c -C '$BATS_TEST_TMPDIR/src' . | ray-put"
	local ref=$output id
	for id in "$(node_id 0)" "$(node_id 1)"; do
		run_ray 0 ray-submit --get --node "$id" --working-dir "$ref" -- \
			sh -c 'echo "$RAY_NODE_ID $(cat greeting.txt) $(cat sub/inner.txt)"'
		assert_output "$id hello from the archive nested"
	done
	# Several tasks at once on one node share one copy.
	run_ray 0 sh -c "for n in 1 2 3 4; do echo 'cat greeting.txt'; done |
		ray-submit --batch --node $(node_id 1) --working-dir $ref | ray-get"
	assert_equal "${#lines[@]}" 4
	local copy
	copy=$(node_dir 1)/node-$(node_id 1)/wd/$ref
	run_ray 0 stat -c %A "$copy" "$copy/greeting.txt"
	assert_output "$(printf 'dr-xr-xr-x\n-r--r--r--')"
	run_ray 0 sh -c "ls '$(node_dir 1)/node-$(node_id 1)/wd' | grep -c tmp || true"
	assert_output 0
	# Freed on the node that holds the object: its copy goes.
	copy=$(node_dir 0)/node-$(node_id 0)/wd/$ref
	[[ -d "$copy" ]]
	run_ray 0 ray-store free "$ref"
	wait_for test ! -e "$copy"
}

@test "an actor runs in its --working-dir, DIR or REF" {
	start_node
	make_src "$BATS_TEST_TMPDIR/src"
	run_ray 0 sh -c "tar c -C '$BATS_TEST_TMPDIR/src' . | ray-put"
	local ref=$output
	run_ray 0 ray-actor create --working-dir "$ref" -- sh -c 'while read m; do cat "$m"; done'
	local a=$output
	run_ray 0 ray-actor call "$a" greeting.txt
	run_ray 0 ray-get "$output"
	assert_output "hello from the archive"
	run_ray 0 ray-actor create --working-dir "$BATS_TEST_TMPDIR/src/sub" -- sh -c 'while read m; do cat "$m"; done'
	run_ray 0 ray-actor call "$output" inner.txt
	run_ray 0 ray-get "$output"
	assert_output nested
}

# The driver checks what its tasks, its tasks' tasks and its actor see.
DRIVER='echo "driver $GREETING $(pwd)"
ray-submit --get -- sh -c "echo task \$GREETING \$(pwd); ray-submit --get -- sh -c \"echo nested \\\$GREETING\""
a=$(ray-actor create -- sh -c "while read m; do echo actor \$GREETING \$(cat greeting.txt); done")
ray-get "$(ray-actor call "$a" m)"
ray-submit --get --env GREETING=own -- sh -c "echo override \$GREETING"'

@test "ray-job run --env --working-dir: defaults for the job's tasks, their tasks and actors" {
	start_node
	make_src "$BATS_TEST_TMPDIR/src"
	run_ray 0 ray-job run --env GREETING=hi --working-dir "$BATS_TEST_TMPDIR/src" -- sh -c "$DRIVER"
	assert_line --index 0 --regexp "^driver hi "
	assert_line --index 1 "task hi $BATS_TEST_TMPDIR/src"
	assert_line --index 2 "nested hi"
	assert_line --index 3 "actor hi hello from the archive"
	assert_line --index 4 "override own"
}

@test "ray-job submit --env --working-dir (a REF): the driver, its tasks and actors see them" {
	start_node
	make_src "$BATS_TEST_TMPDIR/src"
	run_ray 0 sh -c "tar c -C '$BATS_TEST_TMPDIR/src' . | ray-put"
	local ref=$output job
	run_ray 0 ray-job submit --env GREETING=sub --working-dir "$ref" -- sh -c "$DRIVER"
	job=$output
	wait_for job_done "$job"
	run_ray 0 ray-job status "$job"
	assert_output SUCCEEDED
	run_ray 0 ray-job logs "$job"
	assert_line --index 0 --regexp "^driver sub "
	assert_line --index 1 --regexp "^task sub .*/wd/$ref$"
	assert_line --index 2 "nested sub"
	assert_line --index 3 "actor sub hello from the archive"
	assert_line --index 4 "override own"
	run_ray 2 ray-job submit --env NOEQUALS -- true
	run_ray 2 ray-job status --env A=1 "$job"
	run_ray 10 ray-job submit --working-dir 0123456789abcdef0123456789abcdef01234567 -- true
}

# job_done JOB: for wait_for.
job_done() {
	local s
	s=$(ray-job status "$1") && [[ "$s" != RUNNING && "$s" != PENDING ]]
}

@test "an actor on another node than its archive: the copy is fetched there" {
	start_cluster 2 --cpus 0
	make_src "$BATS_TEST_TMPDIR/src"
	run_ray 0 sh -c "tar c -C '$BATS_TEST_TMPDIR/src' . | ray-put"
	local ref=$output
	run_ray 0 ray-actor create --node "$(node_id 1)" --working-dir "$ref" -- \
		sh -c 'while read m; do echo "$RAY_NODE_ID $(cat "$m")"; done'
	run_ray 0 ray-actor call "$output" greeting.txt
	run_ray 0 ray-get "$output"
	assert_output "$(node_id 1) hello from the archive"
	[[ -d "$(node_dir 1)/node-$(node_id 1)/wd/$ref" ]]
}
