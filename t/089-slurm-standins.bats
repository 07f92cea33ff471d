#!/usr/bin/env bats
# share/slurm, against stand-ins for sbatch, srun, scontrol and scancel
# that need no daemons (t/086 runs the same against a real Slurm; these
# check the exact arguments): the batch script makes a cluster, runs the
# script with its exit status and cleans up; ray-slurm-up's job joins a
# node of the wanted CPUs labelled with its job id; ray-slurm-down
# cancels that job.

load lib/helpers

SLURM="$BATS_TEST_DIRNAME/../share/slurm"

setup() {
	FAKE=$BATS_TEST_TMPDIR/fake
	mkdir -p "$FAKE"
	JOB=$((RANDOM + 100000))
	export FAKE JOB
	cat > "$FAKE/scontrol" <<-'SH'
	#!/bin/sh
	[ "$1 $2" = "show hostnames" ] && echo localhost
	SH
	# sbatch: run --wrap in the background as job $JOB, print the id.
	cat > "$FAKE/sbatch" <<-'SH'
	#!/bin/bash
	printf '%s\n' "$@" > "$FAKE/sbatch.args"
	for a; do
		case $a in
		--wrap=*) wrap=${a#--wrap=} ;;
		--cpus-per-task=*) cpus=${a#--cpus-per-task=} ;;
		esac
	done
	SLURM_JOB_ID=$JOB SLURM_CPUS_PER_TASK=$cpus setsid bash -c "$wrap" > "$FAKE/job.out" 2>&1 3>&- &
	echo $! > "$FAKE/job.pid"
	echo "$JOB"
	SH
	cat > "$FAKE/scancel" <<-'SH'
	#!/bin/sh
	printf '%s\n' "$@" > "$FAKE/scancel.args"
	kill -TERM "$(cat "$FAKE/job.pid")"
	SH
	chmod +x "$FAKE"/*
	export PATH=$FAKE:$PATH
}

teardown() {
	[[ -f "$FAKE/job.pid" ]] && kill -TERM "$(cat "$FAKE/job.pid")" 2>/dev/null
	RAY_TMPDIR=/tmp/ray-$(id -u)-$JOB timeout 30 ray-node stop >/dev/null 2>&1
	rm -rf "/tmp/ray-$(id -u)-$JOB"
	stop_all
}

@test "slurm: the batch script starts the head, runs the script with the cluster, passes its status, cleans up" {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	SLURM_JOB_ID=$JOB SLURM_JOB_NODELIST=localhost SLURM_SUBMIT_DIR=$BATS_TEST_TMPDIR RAY_PORT=$port \
		RAY_NODE_OPTS="--cpus 2" RAY_TEST_TIMEOUT=90 \
		run_ray 0 bash "$SLURM/ray-cluster.sbatch" sh -c 'ray-submit -- echo hello | ray-get; echo "$RAY_ADDRESS"'
	assert_line hello
	assert_line "127.0.0.1:$port"
	[[ ! -e "/tmp/ray-$(id -u)-$JOB" && ! -e "$BATS_TEST_TMPDIR/.ray-$JOB" ]]
	SLURM_JOB_ID=$JOB SLURM_JOB_NODELIST=localhost SLURM_SUBMIT_DIR=$BATS_TEST_TMPDIR RAY_PORT=$port \
		RAY_TEST_TIMEOUT=90 run_ray 3 bash "$SLURM/ray-cluster.sbatch" sh -c 'exit 3'
}

@test "slurm: ray-slurm-up's job joins a node of the wanted CPUs; ray-slurm-down cancels it" {
	command -v jq >/dev/null || skip "jq is not installed"
	start_node --cpus 1
	RAY_AUTOSCALE_CPUS=3 RAY_AUTOSCALE_MEMORY=1073741824 run_ray 0 "$SLURM/ray-slurm-up"
	assert_output "$JOB"
	run cat "$FAKE/sbatch.args"
	assert_line --cpus-per-task=3
	assert_line --mem=1024M
	labelled() {
		ray-status nodes --json | jq -e --arg j "$JOB" \
			'.[] | select(.labels.slurm_job == $j and .resources_total.CPU == 3 and .state == "ALIVE")' >/dev/null
	}
	wait_for -t 60 labelled
	local id
	id=$(ray-status nodes --json | jq -r --arg j "$JOB" '.[] | select(.labels.slurm_job == $j) | .node_id')
	RAY_NODE_ID=$id run_ray 0 "$SLURM/ray-slurm-down"
	run cat "$FAKE/scancel.args"
	assert_line "$JOB"
	gone() { ! ray-status nodes --state ALIVE | grep -q "^$id"; }
	wait_for -t 30 gone
	RAY_NODE_ID=$RAY_NODE_ID run_ray 1 "$SLURM/ray-slurm-down"
	assert_regex "$stderr" "was not started by Slurm"
}
