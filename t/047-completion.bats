#!/usr/bin/env bats
# Bash completion (share/bash-completion/ray-tools): subcommands, options
# from each tool's --help, states, and ids and names from the running
# cluster.

load lib/helpers

COMPLETION="$BATS_TEST_DIRNAME/../share/bash-completion/ray-tools"

teardown() {
	stop_all
}

# complete_line WORD...: what completing the last WORD offers (one a line;
# an empty last word completes a new one).
complete_line() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ray_tools
	         printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$COMPLETION" "$@"
}

@test "completion: registered for every tool" {
	run bash -c 'source "$1"; complete -p' _ "$COMPLETION"
	local t
	for t in $(ls "$BATS_TEST_DIRNAME/../bin"); do
		assert_line --regexp "^complete -F _ray_tools .*\b$t\b"
	done
}

@test "completion: subcommands and the options each tool's --help names" {
	run complete_line ray-status ''
	assert_line nodes
	assert_line metrics
	assert_line timeline
	assert_line top
	run complete_line ray-pg r
	assert_output remove
	run complete_line ray-node start --metr
	assert_output --metrics-port
	run complete_line ray-submit --retry-e
	assert_output $'--retry-exceptions\n--retry-exit-codes'
	run complete_line ray-submit --str
	assert_output $'--strategy\n--stream'
	run complete_line ray-cancel --no
	assert_output --no-recursive
	run complete_line ray-job run --work
	assert_output --working-dir
	mkdir -p "$BATS_TEST_TMPDIR/codedir"
	run complete_line ray-submit --working-dir "$BATS_TEST_TMPDIR/code"
	assert_output "$BATS_TEST_TMPDIR/codedir"
	run complete_line ray-status tasks --state RUN
	assert_output RUNNING
	run complete_line ray-status pgs --state ''
	assert_output $'CREATED\nPENDING\nREMOVED\nRESCHEDULING'
	run complete_line ray-pg create --strategy STRICT_
	assert_output $'STRICT_PACK\nSTRICT_SPREAD'
	# After -- comes the user's command: nothing of ours.
	run complete_line ray-submit -- ''
	assert_output ''
}

@test "completion: node ids, actor ids and names, placement groups and jobs from the running cluster" {
	start_node --cpus 2
	run_ray 0 ray-actor create --cpus 0 --name counter -- bash "$BATS_TEST_DIRNAME/../share/examples/counter-actor.sh"
	local actor=$output
	run_ray 0 ray-pg create CPU=1
	local pg=$output
	run complete_line ray-submit --node ''
	assert_output "$RAY_NODE_ID"
	run complete_line ray-actor call ''
	assert_line "$actor"
	assert_line counter
	run complete_line ray-actor get c
	assert_output counter
	run complete_line ray-pg remove ''
	assert_output "$pg"
	run complete_line ray-submit --pg ''
	assert_output "$pg"
}
