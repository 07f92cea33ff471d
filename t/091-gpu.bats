#!/usr/bin/env bats
# GPUs: a node started with --gpus 4 hands out device indices through
# CUDA_VISIBLE_DEVICES: whole requests get whole devices of their own,
# fractions share one, an actor keeps its device for life; and a node
# started without --gpus counts the /dev/nvidiaN devices (0 without any).

load lib/helpers
load lib/actors

setup() {
	GATE=$BATS_TEST_TMPDIR/gate
}

# gated CMD: a shell command that first waits (bounded) for $GATE.
gated() {
	echo "for i in \$(seq 600); do [ -e $GATE ] && break; sleep 0.05; done; $*"
}

# running_count_is N: for wait_for.
running_count_is() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status tasks --json --state RUNNING) || return 1
	jq -e --argjson n "$1" 'length == $n' <<<"$out" >/dev/null
}

# gpu_free_is N: resources_available.GPU of the node is N.
gpu_free_is() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status nodes --json) || return 1
	jq -e --argjson n "$1" '.[0].resources_available.GPU == $n' <<<"$out" >/dev/null
}

@test "--gpus 1 and --gpus 2 see exactly the indices given, of the node's 4" {
	start_node --gpus 4 --cpus 8
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_total.GPU')" 4
	run_ray 0 ray-submit --gpus 1 --get -- sh -c 'echo "$CUDA_VISIBLE_DEVICES"'
	assert_output --regexp '^[0-3]$'
	run_ray 0 ray-submit --gpus 2 --get -- sh -c 'echo "$CUDA_VISIBLE_DEVICES"'
	assert_output --regexp '^[0-3],[0-3]$'
	local a=${output%,*} b=${output#*,}
	[[ "$a" != "$b" ]]
	# A task that asks for none sees none.
	run_ray 0 ray-submit --get -- sh -c 'echo "${CUDA_VISIBLE_DEVICES-unset}"'
	assert_output unset
	wait_for -t 10 gpu_free_is 4
}

@test "whole-GPU tasks running together never share a device; a fifth waits for one" {
	start_node --gpus 4 --cpus 8
	local refs=() i
	for i in 1 2 3; do
		run_ray 0 ray-submit --gpus 1 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
		refs+=("$output")
	done
	run_ray 0 ray-submit --gpus 1 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
	refs+=("$output")
	wait_for -t 10 running_count_is 4
	wait_for -t 10 gpu_free_is 0
	run_ray 0 ray-submit --gpus 1 -- sh -c 'echo $CUDA_VISIBLE_DEVICES'
	local fifth=$output
	run_ray 3 ray-wait --timeout 0.5 "$fifth"
	touch "$GATE"
	run_ray 0 ray-get "${refs[@]}"
	assert_equal "$(sort <<<"$output" | paste -sd' ')" "0 1 2 3"
	run_ray 0 ray-get "$fifth"
	assert_output --regexp '^[0-3]$'
	# Two 2-GPU tasks at once split the four devices between them.
	rm -f "$GATE"
	run_ray 0 ray-submit --gpus 2 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
	local x=$output
	run_ray 0 ray-submit --gpus 2 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
	local y=$output
	wait_for -t 10 running_count_is 2
	touch "$GATE"
	run_ray 0 ray-get "$x" "$y"
	assert_equal "$(tr ',' '\n' <<<"$output" | sort | paste -sd' ')" "0 1 2 3"
}

@test "--gpus 0.5 tasks share one device" {
	start_node --gpus 4 --cpus 8
	run_ray 0 ray-submit --gpus 0.5 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
	local a=$output
	run_ray 0 ray-submit --gpus 0.5 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
	local b=$output
	wait_for -t 10 running_count_is 2
	wait_for -t 10 gpu_free_is 3
	# The other three devices stay whole.
	run_ray 0 ray-submit --gpus 3 --get -- sh -c 'echo $CUDA_VISIBLE_DEVICES'
	local three=$output
	touch "$GATE"
	run_ray 0 ray-get "$a" "$b"
	assert_line --index 0 --regexp '^[0-3]$'
	assert_equal "${lines[0]}" "${lines[1]}"
	assert_equal "$(printf '%s\n' "${lines[0]}" ${three//,/ } | sort | paste -sd' ')" "0 1 2 3"
}

@test "a fraction waits when no one device has that much left, though the GPU count has room" {
	start_node --gpus 2 --cpus 8
	# 0.6 and 0.6 cannot share a device: 0.4 is left on each.
	run_ray 0 ray-submit --gpus 0.6 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
	local a=$output
	run_ray 0 ray-submit --gpus 0.6 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
	local b=$output
	wait_for -t 10 running_count_is 2
	# 0.8 GPU is free in all, but no device has 0.5.
	run_ray 0 ray-submit --gpus 0.5 -- sh -c 'echo "${CUDA_VISIBLE_DEVICES-none}"'
	local c=$output
	run_ray 3 ray-wait --timeout 0.5 "$c"
	touch "$GATE"
	run_ray 0 ray-get "$a" "$b" "$c"
	assert_equal "$(sort -u <<<"${lines[0]}
${lines[1]}" | paste -sd' ')" "0 1"
	assert_line --index 2 --regexp '^[01]$'
}

@test "an actor with --gpus 1 keeps its device, and tasks get the others" {
	start_node --gpus 4 --cpus 8
	cat >"$BATS_TEST_TMPDIR/dev.sh" <<'EOF'
#!/bin/sh
while read -r m; do echo "$CUDA_VISIBLE_DEVICES"; done
EOF
	chmod +x "$BATS_TEST_TMPDIR/dev.sh"
	run_ray 0 ray-actor create --gpus 1 --max-restarts 1 -- "$BATS_TEST_TMPDIR/dev.sh"
	local actor=$output dev i
	run_ray 0 ray-actor call "$actor" dev
	run_ray 0 ray-get "$output"
	assert_output --regexp '^[0-3]$'
	dev=$output
	local refs=()
	for i in 1 2 3; do
		run_ray 0 ray-submit --gpus 1 -- sh -c "$(gated 'echo $CUDA_VISIBLE_DEVICES')"
		refs+=("$output")
	done
	wait_for -t 10 running_count_is 3
	for i in 1 2 3; do
		run_ray 0 ray-actor call "$actor" dev
		run_ray 0 ray-get "$output"
		assert_output "$dev"
	done
	touch "$GATE"
	run_ray 0 ray-get "${refs[@]}"
	assert_equal "$(printf '%s\n' "$dev" "${lines[@]}" | sort | paste -sd' ')" "0 1 2 3"
	# A restart keeps the device too.
	run_ray 0 ray-actor kill --restart "$actor"
	wait_for -t 10 actor_alive_again "$actor" 1
	run_ray 0 ray-actor call "$actor" dev
	run_ray 0 ray-get "$output"
	assert_output "$dev"
}

@test "without --gpus the node counts /dev/nvidiaN devices: 0 on a machine without them" {
	local want=0 d
	for d in /dev/nvidia[0-9]*; do
		[[ -e $d ]] && want=$((want + 1))
	done
	start_node
	run_ray 0 ray-status nodes --json
	assert_equal "$(json_get '.[0].resources_total.GPU')" "$want"
	if ((want == 0)); then
		run_ray 0 ray-submit --gpus 1 -- true
		assert_regex "$stderr" 'GPU'
	fi
}
