#!/usr/bin/env bats
# What a shell user expects: headers on a terminal only, unknown --state
# is a usage error, sizes people can read, every error prefixed by its
# tool's name, and a plain `make` without the libraries that says what to do.

load lib/helpers

teardown() {
	stop_all
}

@test "shell: --state outside a list's states exits 2 naming the states; any case of a known one is fine" {
	start_node
	local l
	for l in tasks nodes actors objects pgs jobs; do
		run_ray 2 ray-status "$l" --state bogus
		assert_regex "$stderr" "^ray-status: unknown $l state 'BOGUS': want one of "
		[[ -z "$output" ]]
	done
	run_ray 0 ray-status tasks --state running
	run_ray 0 ray-status nodes --state alive
	assert_regex "$output" "^$RAY_NODE_ID"
	run_ray 2 ray-status tasks --state ''
}

@test "shell: lists have a header on a terminal and none in a pipe" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	start_node
	run_ray 0 script -qec "ray-status nodes" /dev/null
	assert_regex "${lines[0]}" $'^NODE_ID\tADDRESS\tSTATE\tIS_HEAD\r?$'
	assert_regex "${lines[1]}" "^$RAY_NODE_ID"
	run_ray 0 ray-status nodes
	assert_equal "${#lines[@]}" 1
	assert_regex "${lines[0]}" "^$RAY_NODE_ID"
	run_ray 0 script -qec "ray-status tasks" /dev/null
	assert_output ''
}

@test "shell: an infeasible memory request is told in GiB, in the warning and the summary" {
	start_node --memory 1G
	run_ray 0 ray-submit --memory 3G -- true
	assert_regex "$stderr" 'no live node has 3\.0 GiB of memory \(the largest node has 1\.0 GiB\)'
	run_ray 0 ray-status
	assert_regex "$output" '\{CPU: 1, memory: 3\.0 GiB\} \(infeasible: no live node has 3\.0 GiB of memory'
}

@test "shell: every tool's bad option is one line prefixed by the tool's own name" {
	local t
	for t in ray-node ray-put ray-get ray-wait ray-store ray-submit ray-cancel ray-status ray-actor ray-pg ray-job; do
		run_ray 2 "$t" --bogus-option
		assert_regex "$stderr" "^$t: "
		[[ "${#stderr_lines[@]}" -eq 1 ]]
	done
	run_ray 2 ray-job submit --bogus-option -- true
	assert_regex "$stderr" "^ray-job: bad option '--bogus-option'"
	run_ray 2 ray-node start --head --bogus-option
	assert_regex "$stderr" "^ray-node: bad option '--bogus-option'"
}

@test "shell: make without the libraries says to run make deps" {
	command -v make >/dev/null || skip "make is not installed"
	run_ray 2 env PKG_CONFIG_LIBDIR=/nonexistent make -C "$BATS_TEST_DIRNAME/.." -n all
	assert_regex "$stderr" "missing libraries: libuv .*Run 'make deps'"
	run_ray 0 make -C "$BATS_TEST_DIRNAME/.." -n all
}
