#!/usr/bin/env bats
# share/slurm and ray-autoscale against a real single-host Slurm: this
# file starts munged, slurmctld and slurmd (Debian's munge, slurmctld,
# slurmd, slurm-client; make deps installs them) with their own key,
# config, ports and spool under its temporary directory, and stops them
# at the end.  Jobs run here, as the user who runs the tests.
#
#  - sbatch share/slurm/ray-cluster.sbatch: the job runs a head and the
#    user's script with the cluster; the job's exit status is the
#    script's; nothing is left behind;
#  - ray-slurm-up: a Slurm job of the wanted shape that joins a node
#    labelled with its job id; ray-slurm-down cancels it and the node goes;
#  - ray-autoscale --up ray-slurm-up --down ray-slurm-down: a task too big
#    for the head gets a Slurm node, runs, and the idle node is given back.

load lib/helpers

SLURM="$BATS_TEST_DIRNAME/../share/slurm"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slurm_idle() {
	[[ "$(sinfo -h -o %t 2>/dev/null)" == idle ]]
}

setup_file() {
	local d=$BATS_FILE_TMPDIR/slurm host p1 p2
	for t in munged slurmctld slurmd sbatch scontrol; do
		command -v "$t" >/dev/null || return 0  # each test says so (skip)
	done
	host=$(hostname)
	mkdir -p "$d/state" "$d/spool"
	chmod 0755 "$BATS_FILE_TMPDIR" "$d"
	head -c 1024 /dev/urandom >"$d/munge.key"
	chmod 0400 "$d/munge.key"
	munged -F -f --socket="$d/munge.sock" --key-file="$d/munge.key" --pid-file="$d/munged.pid" \
		--log-file="$d/munged.log" --seed-file="$d/munged.seed" >"$d/munged.out" 2>&1 3>&- &
	echo $! >"$d/munged.child"
	wait_for -t 20 test -S "$d/munge.sock"
	p1=$(free_port)
	p2=$(free_port)
	# config_overrides: slurmd takes the CPUs and memory below as given,
	# so a 3-CPU job fits whatever this host has.
	cat >"$d/slurm.conf" <<-CONF
	ClusterName=raytest
	SlurmctldHost=$host(127.0.0.1)
	SlurmUser=$(id -un)
	SlurmdUser=$(id -un)
	SlurmctldPort=$p1
	SlurmdPort=$p2
	AuthType=auth/munge
	AuthInfo=socket=$d/munge.sock
	CredType=cred/munge
	StateSaveLocation=$d/state
	SlurmdSpoolDir=$d/spool
	SlurmctldPidFile=$d/slurmctld.pid
	SlurmdPidFile=$d/slurmd.pid
	SlurmctldLogFile=$d/slurmctld.log
	SlurmdLogFile=$d/slurmd.log
	SlurmdParameters=config_overrides
	ProctrackType=proctrack/linuxproc
	TaskPlugin=task/none
	MpiDefault=none
	SchedulerType=sched/builtin
	SelectType=select/cons_tres
	SelectTypeParameters=CR_CPU_Memory
	ReturnToService=2
	JobAcctGatherType=jobacct_gather/none
	AccountingStorageType=accounting_storage/none
	JobCompType=jobcomp/none
	KillWait=5
	NodeName=$host NodeAddr=127.0.0.1 CPUs=8 RealMemory=8000 State=UNKNOWN
	PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
	CONF
	export SLURM_CONF=$d/slurm.conf
	slurmctld -D -i -f "$SLURM_CONF" >"$d/slurmctld.out" 2>&1 3>&- &
	echo $! >"$d/slurmctld.child"
	slurmd -D -f "$SLURM_CONF" >"$d/slurmd.out" 2>&1 3>&- &
	echo $! >"$d/slurmd.child"
	wait_for -t 60 slurm_idle
}

teardown_file() {
	local d=$BATS_FILE_TMPDIR/slurm f pid
	[[ -n "${SLURM_CONF:-}" ]] || return 0
	squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null
	wait_for -t 30 bash -c '[[ -z "$(squeue -h 2>/dev/null)" ]]' || true
	for f in slurmd slurmctld munged; do
		[[ -f "$d/$f.child" ]] || continue
		pid=$(cat "$d/$f.child")
		kill -TERM "$pid" 2>/dev/null
		wait_for -t 20 proc_gone "$pid" || kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

setup() {
	[[ -n "${SLURM_CONF:-}" ]] || skip "Slurm is not installed (make deps installs munge, slurmctld, slurmd, slurm-client)"
	AS_PID=
	# Jobs write slurm-JOB.out where they were submitted.
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	[[ -n "${AS_PID:-}" ]] && kill -TERM "$AS_PID" 2>/dev/null
	# Jobs of this test: cancelled, and their nodes' sessions gone.
	squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null
	wait_for -t 30 bash -c '[[ -z "$(squeue -h 2>/dev/null)" ]]' || true
	rm -rf /tmp/ray-"$(id -u)"-[0-9]*.slurmtest 2>/dev/null
	stop_all
}

# job_state JOB: its JobState word (COMPLETED, FAILED, CANCELLED...).
job_state() {
	scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'
}

job_in() {
	[[ "$(job_state "$1")" =~ ^($2)$ ]]
}

@test "slurm: sbatch ray-cluster.sbatch runs a head and the script with the cluster; the job's status is the script's" {
	local port job out=$BATS_TEST_TMPDIR/job.out
	port=$(free_port)
	job=$(sbatch --parsable -N 1 --chdir="$BATS_TEST_TMPDIR" -o "$out" \
		--export=ALL,RAY_PORT="$port",RAY_NODE_OPTS="--cpus 2" \
		"$SLURM/ray-cluster.sbatch" sh -c 'ray-submit -- echo hello | ray-get; echo "addr=$RAY_ADDRESS"')
	[[ "$job" =~ ^[0-9]+$ ]]
	wait_for -t 120 job_in "$job" COMPLETED
	run cat "$out"
	assert_line hello
	assert_line "addr=127.0.0.1:$port"
	run scontrol show job "$job"
	assert_output --partial "ExitCode=0:0"
	# The job's token directory and node session are gone.
	[[ ! -e "$BATS_TEST_TMPDIR/.ray-$job" && ! -e "/tmp/ray-$(id -u)-$job" ]]
	# A failing script fails the job with its code.
	job=$(sbatch --parsable -N 1 --chdir="$BATS_TEST_TMPDIR" -o "$out.2" \
		--export=ALL,RAY_PORT="$(free_port)",RAY_NODE_OPTS="--cpus 1" \
		"$SLURM/ray-cluster.sbatch" sh -c 'exit 3')
	wait_for -t 120 job_in "$job" FAILED
	run scontrol show job "$job"
	assert_output --partial "ExitCode=3:0"
}

@test "slurm: ray-slurm-up's job is of the wanted shape and joins; ray-slurm-down cancels it and the node leaves" {
	start_node --cpus 1
	RAY_AUTOSCALE_CPUS=3 RAY_AUTOSCALE_MEMORY=268435456 run_ray 0 "$SLURM/ray-slurm-up"
	local job=$output id
	[[ "$job" =~ ^[0-9]+$ ]]
	run scontrol show job "$job"
	assert_output --regexp 'NumCPUs=3 '
	assert_output --regexp 'MinMemoryNode=256M'
	labelled() {
		ray-status nodes --json | jq -e --arg j "$job" \
			'.[] | select(.labels.slurm_job == $j and .resources_total.CPU == 3 and .state == "ALIVE")' >/dev/null
	}
	wait_for -t 90 labelled
	wait_for -t 10 job_in "$job" RUNNING
	id=$(ray-status nodes --json | jq -r --arg j "$job" '.[] | select(.labels.slurm_job == $j) | .node_id')
	run_ray 0 ray-submit --node "$id" --get -- sh -c 'echo "on $RAY_NODE_ID"'
	assert_output "on $id"
	RAY_NODE_ID=$id run_ray 0 "$SLURM/ray-slurm-down"
	# SIGTERM to the job: the node stops cleanly (exit 0; 0:15 should
	# the signal reach the step first), never by an abort (0:6).
	wait_for -t 60 job_in "$job" 'COMPLETED|CANCELLED|FAILED'
	run scontrol show job "$job"
	assert_output --regexp 'ExitCode=0:(0|15)([^0-9]|$)'
	gone() { ! ray-status nodes --state ALIVE | grep -q "^$id"; }
	wait_for -t 30 gone
	[[ ! -e "/tmp/ray-$(id -u)-$job/node-$id/node.pid" ]]
}

@test "slurm: ray-autoscale gets a Slurm node for a task too big for the head and gives it back when idle" {
	start_node --cpus 1
	ray-autoscale --up "$SLURM/ray-slurm-up" --down "$SLURM/ray-slurm-down" --interval 0.2 \
		--max-nodes 2 --cooldown 1 --idle-timeout 2 >"$BATS_TEST_TMPDIR/actions" \
		2>"$BATS_TEST_TMPDIR/autoscale.err" 3>&- &
	AS_PID=$!
	RAY_TEST_PIDS+=("$AS_PID")
	run_ray 0 ray-submit --cpus 2 -- sh -c 'echo "big on $RAY_NODE_ID"'
	local ref=$output
	RAY_TEST_TIMEOUT=120 run_ray 0 ray-get "$ref"
	assert_output --regexp '^big on [0-9a-f]{16}$'
	[[ "$output" != "big on $RAY_NODE_ID" ]]
	run grep -cE $'^up\tinfeasible\tCPUS=2\t' "$BATS_TEST_TMPDIR/actions"
	assert_output 1
	# Idle: the autoscaler's --down cancels the Slurm job; one node is left.
	wait_for -t 90 grep -qE $'^down\t' "$BATS_TEST_TMPDIR/actions"
	wait_for -t 60 bash -c '[[ -z "$(squeue -h 2>/dev/null)" ]]'
	wait_for -t 30 bash -c '[[ $(ray-status nodes --state ALIVE | wc -l) -eq 1 ]]'
	kill -TERM "$AS_PID"
	wait "$AS_PID" || true
	AS_PID=
}
