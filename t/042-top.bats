#!/usr/bin/env bats
# ray-status top: a live view redrawn in place on a terminal (a tmux pane,
# read with capture-pane), quit with q or Ctrl-C; one frame in a pipe.

load lib/helpers

TM=

setup() {
	G=$BATS_TEST_TMPDIR/gate
	TM="rayt-top-$$-$BATS_TEST_NUMBER"
	start_node --cpus 2
}

teardown() {
	tmux -L "$TM" kill-server 2>/dev/null || true
	stop_all
}

# top_in_tmux [ARGS...]: ray-status top in a detached 120x40 tmux pane,
# with this test's cluster.
top_in_tmux() {
	tmux -L "$TM" new-session -d -s top -x 120 -y 40 \
		env PATH="$PATH" RAY_TMPDIR="$RAY_TMPDIR" RAY_ADDRESS="$RAY_ADDRESS" \
		RAY_TOKEN_FILE="$RAY_TOKEN_FILE" ray-status top "$@" 3>&-
}

pane() {
	tmux -L "$TM" capture-pane -p -t top
}

# pane_has REGEX: for wait_for.
pane_has() {
	pane | grep -Eq -- "$1"
}

top_gone() {
	! tmux -L "$TM" has-session -t top 2>/dev/null
}

@test "top draws nodes, resources, store, tasks and actors, and redraws as they change; q quits" {
	top_in_tmux --interval 0.2
	wait_for -t 20 pane_has '^ray-status top - .* 1 nodes alive'
	pane_has "^$RAY_NODE_ID +127\\.0\\.0\\.1:[0-9]+ +ALIVE +head "
	pane_has '^Object store: \['
	pane_has '^  CPU +\[-{20}\] 0/2'
	# A task and an actor appear on a later frame: the view is live.
	run_ray 0 ray-submit --name gated-sleeper -- sh -c "while [ ! -e '$G' ]; do sleep 0.05; done"
	local ref=$output
	run_ray 0 ray-actor create --name counter -- cat
	wait_for -t 20 pane_has "^${ref:0:32} +RUNNING +$RAY_NODE_ID +gated-sleeper"
	wait_for -t 20 pane_has '^[0-9a-f]{32} +ALIVE +[0-9a-f]{16} +[0-9]+ +counter$'
	wait_for -t 20 pane_has '^  CPU +\[#{10}-{10}\] 1/2'
	head -c 3145728 /dev/zero >"$BATS_TEST_TMPDIR/obj"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/obj"
	wait_for -t 20 pane_has '^Object store: .* 1 objects'
	# The task ends: it leaves the running list.
	touch "$G"
	wait_for -t 20 bash -c "! tmux -L '$TM' capture-pane -p -t top | grep -q gated-sleeper"
	tmux -L "$TM" send-keys -t top q
	wait_for -t 10 top_gone
}

@test "top quits on Ctrl-C and gives the terminal back (alternate screen left)" {
	tmux -L "$TM" new-session -d -s top -x 100 -y 30 "printf 'before-top\\n'; env PATH='$PATH' RAY_TMPDIR='$RAY_TMPDIR' RAY_ADDRESS='$RAY_ADDRESS' RAY_TOKEN_FILE='$RAY_TOKEN_FILE' ray-status top; echo top-exit=\$?; sleep 30"
	wait_for -t 20 pane_has '^ray-status top - '
	run pane_has before-top
	assert_failure
	tmux -L "$TM" send-keys -t top C-c
	wait_for -t 10 pane_has '^top-exit=0$'
	# The shell's screen is back, top's frame gone.
	pane_has '^before-top$'
	run pane_has '^ray-status top - '
	assert_failure
}

@test "top in a pipe prints one frame and exits; bad options are usage errors" {
	run_ray 0 ray-status top
	assert_line --regexp '^ray-status top - .* 1 nodes alive, 0 dead'
	assert_line --regexp "^$RAY_NODE_ID +127"
	run_ray 2 ray-status top --interval 0
	run_ray 2 ray-status top --interval abc
	run_ray 2 ray-status nodes --interval 1
	run_ray 2 ray-status top --json
	# A lost cluster ends the view with exit 8.
	run_ray 0 ray-node stop
	run_ray 8 ray-status top
}
