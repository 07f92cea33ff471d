#!/usr/bin/env bats
# Hardening: what a local or remote user without the token, or a careless
# one, can do to a node and the tools: lock-out, disk fill, session
# hijack, stdin closed, NUL bytes, huge counts, control characters.

load lib/helpers

RAW="$BATS_TEST_DIRNAME/lib/rawclient.py"

teardown() {
	[[ -n "${HOLDER:-}" ]] && kill "$HOLDER" 2>/dev/null
	stop_all
}

# node_log_file: the running node's node.log.
node_log_file() {
	echo "$(dirname "$(readlink -f "$RAY_TMPDIR/latest")")/$(basename "$(readlink "$RAY_TMPDIR/latest")")/logs/node.log"
}

@test "a flood of unauthenticated connections locks out neither the Unix socket nor other clients" {
	start_node
	local ready=$BATS_TEST_TMPDIR/held sock
	python3 "$RAW" hold 4200 127.0.0.2 "$ready" 3>&- &
	HOLDER=$!
	wait_for -t 30 test -e "$ready"
	sock=$(readlink -f "$RAY_TMPDIR/latest")/node.sock
	RAY_ADDRESS=$sock run_ray 0 ray-put - <<<"over the unix socket"
	RAY_ADDRESS=$sock run_ray 0 ray-get "$output"
	assert_output "over the unix socket"
	# Over TCP, from another source address than the flood's.
	run_ray 0 ray-put - <<<"over tcp"
	run_ray 0 ray-get "$output"
	assert_output "over tcp"
}

@test "failed handshakes do not fill the log" {
	start_node
	local log before after
	log=$(node_log_file)
	before=$(stat -c %s "$log")
	run_ray 0 python3 "$RAW" badauth 300
	after=$(stat -c %s "$log")
	echo "# node.log grew by $((after - before)) bytes"
	assert [ $((after - before)) -lt 4000 ]
	run_ray 0 ray-put - <<<"still here"
}

@test "RAY_TMPDIR defaults to /tmp/ray-UID" {
	run_ray 0 bash -c 'unset RAY_TMPDIR RAY_ADDRESS RAY_TOKEN_FILE; ray-status nodes 2>&1; true'
	assert_output --partial "/tmp/ray-$(id -u)"
}

@test "a RAY_TMPDIR that group or others may write to is refused by every tool" {
	local d
	d=$(mktemp -d /tmp/rayt.XXXXXX)
	RAY_TEST_CLEANUP+=("$d")
	chmod 0777 "$d"
	RAY_TMPDIR=$d run_ray 2 ray-node start --head --port 0 3>&-
	assert_equal "$stderr" "ray-node: refusing RAY_TMPDIR '$d': group or others may write to it (chmod go-w)"
	RAY_TMPDIR=$d run_ray 2 ray-node stop
	unset RAY_ADDRESS RAY_TOKEN_FILE
	RAY_TMPDIR=$d run_ray 2 ray-put - <<<"x"
	assert_output ""
	chmod 0755 "$d"
	RAY_TMPDIR=$d run_ray 8 ray-put - <<<"x"
	assert [ -z "$(ls "$d")" ]
}

@test "a RAY_TMPDIR, latest link, socket or token of another user's is refused" {
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	[[ $(id -u) == 0 ]] || skip "needs root to give files away"
	start_node
	unset RAY_ADDRESS RAY_TOKEN_FILE
	local sess
	sess=$(readlink -f "$RAY_TMPDIR/latest")
	run_ray 0 ray-status nodes
	local p what
	for p in "$RAY_TMPDIR" "$RAY_TMPDIR/latest" "$sess" "$sess/node.sock" "$sess/token"; do
		chown -h nobody "$p"
		run_ray 2 ray-put - <<<"x"
		assert_output ""
		assert_equal "${stderr_lines[0]%%: *}" "ray-put"
		assert [ "${stderr/belongs to uid $(id -u nobody)/}" != "$stderr" ]
		chown -h "$(id -u)" "$p"
	done
	chmod g+w "$sess/token"
	run_ray 2 ray-put - <<<"x"
	chmod g-w "$sess/token"
	run_ray 0 ray-put - <<<"x"
}

@test "latest pointing out of RAY_TMPDIR into another user's session is refused" {
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	[[ $(id -u) == 0 ]] || skip "needs root to give files away"
	start_node
	unset RAY_ADDRESS RAY_TOKEN_FILE
	local evil sess
	sess=$(readlink -f "$RAY_TMPDIR/latest")
	evil=$(mktemp -d /tmp/rayt.XXXXXX)
	RAY_TEST_CLEANUP+=("$evil")
	cp -a "$sess/token" "$evil/token"
	chown -R nobody "$evil"
	ln -sfn "$evil" "$RAY_TMPDIR/latest"
	run_ray 2 ray-put - <<<"x"
	ln -sfn "$(basename "$sess")" "$RAY_TMPDIR/latest"
	run_ray 0 ray-put - <<<"x"
}

@test "a put of two million sizes is refused at once and stores nothing" {
	start_node
	run_ray 0 python3 "$RAW" many-sizes
	assert_output --partial "lists over 65536 items"
	run_ray 0 ray-store stats --json
	assert_equal "$(json_get '.objects')" 0
}

@test "packed lists are held to the same bounds: too long, a bad size or a bad ref is refused, nothing stored" {
	start_node
	run_ray 0 python3 "$RAW" many-packed
	run_ray 0 ray-store stats --json
	assert_equal "$(json_get '.objects')" 0
}

@test "ray-put with stdin closed fails at once instead of reading its own socket" {
	start_node
	run_ray 2 bash -c 'exec 0<&-; exec ray-put'
	assert_output ""
	assert [ -n "$stderr" ]
}

@test "tools that read refs or commands from a closed stdin exit 2" {
	start_node
	local t
	for t in "ray-submit --batch" ray-get ray-wait ray-cancel "ray-store free"; do
		run_ray 2 bash -c "exec 0<&-; exec $t"
		assert_output ""
		assert [ "${stderr/stdin/}" != "$stderr" ]
	done
}

@test "a NUL byte in --batch input or among refs is refused with exit 2" {
	start_node
	local marker=$BATS_TEST_TMPDIR/injected
	run_ray 2 bash -c "printf 'echo a\\0; touch $marker\\n' | ray-submit --batch"
	assert_output ""
	assert_equal "$stderr" "ray-submit: line 1 of stdin holds a NUL byte: refusing it"
	run_ray 0 ray-put - <<<"x"
	local ref=$output
	run_ray 2 bash -c "printf '%s\\0ab\\n' $ref | ray-get"
	assert [ ! -e "$marker" ]
}

@test "an empty command is refused with exit 2" {
	start_node
	run_ray 2 ray-submit -- ''
	assert_equal "$stderr" "ray-submit: empty command ''; see 'ray-submit --help'"
	run_ray 2 ray-submit -- '  '
}

@test "newlines and escape sequences in names and commands are escaped in listings, errors and node.log" {
	start_node
	local evil=$'evil\n\e[31mFORGED' ref log
	run_ray 0 ray-submit --name "$evil" -- sh -c 'exit 3'
	ref=$output
	run_ray 1 ray-get "$ref"
	assert [ "${#stderr_lines[@]}" -eq 1 ]
	assert_equal "$(grep -c $'\e' <<<"$stderr")" 0
	run_ray 0 ray-status tasks
	assert_equal "${#lines[@]}" 1
	assert_output --partial 'evil\n\x1b[31mFORGED'
	run_ray 0 ray-job submit -- sh -c $'true\n\e[31mFORGED'
	log=$(node_log_file)
	wait_for grep -q 'started: ' "$log"
	run grep -c $'\e' "$log"
	assert_output 0
	run grep -c '^.\[31mFORGED\|^FORGED' "$log"
	assert_output 0
}
