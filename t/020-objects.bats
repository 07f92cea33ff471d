#!/usr/bin/env bats
# Objects: ray-put, ray-get, ray-wait, ray-store.

load lib/helpers

setup() {
	start_node
}

@test "put a file, get its bytes back (binary safe)" {
	printf 'a\0b\377c\n\n' >"$BATS_TEST_TMPDIR/bin"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/bin"
	assert_regex "$output" '^[0-9a-f]{1,64}$'
	local ref=$output
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/back" "$ref"
	assert_equal "$output" ""
	cmp "$BATS_TEST_TMPDIR/bin" "$BATS_TEST_TMPDIR/back"
}

@test "put from stdin, with no operand and with '-'" {
	run_ray 0 ray-put <<<"from stdin"
	local r1=$output
	run_ray 0 ray-put - <<<"dash"
	local r2=$output
	assert_not_equal "$r1" "$r2"
	run_ray 0 ray-get "$r1" "$r2"
	assert_equal "$output" "from stdin
dash"
}

@test "put several files: one ref per input, in order; get writes them in argument order" {
	local d=$BATS_TEST_TMPDIR
	echo one >"$d/1"
	echo two >"$d/2"
	echo three >"$d/3"
	run_ray 0 ray-put "$d/1" "$d/2" "$d/3"
	assert_equal "${#lines[@]}" 3
	local r1=${lines[0]} r2=${lines[1]} r3=${lines[2]}
	run_ray 0 ray-get "$r3" "$r1" "$r2"
	assert_equal "$output" "three
one
two"
	# The same refs, read from stdin.
	run_ray 0 ray-get <<<"$r2 $r3
$r1"
	assert_equal "$output" "two
three
one"
}

@test "an empty object round-trips" {
	run_ray 0 ray-put </dev/null
	local ref=$output
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/empty" "$ref"
	assert [ -f "$BATS_TEST_TMPDIR/empty" ]
	assert [ ! -s "$BATS_TEST_TMPDIR/empty" ]
}

@test "put of a missing file stores nothing" {
	echo ok >"$BATS_TEST_TMPDIR/ok"
	run_ray 2 ray-put "$BATS_TEST_TMPDIR/ok" "$BATS_TEST_TMPDIR/missing"
	assert_equal "$output" ""
	assert_regex "$stderr" "^ray-put: cannot open '.*/missing'"
	run_ray 0 ray-store ls
	assert_equal "$output" ""
}

@test "put --url stores what libcurl fetches" {
	printf 'fetched\n' >"$BATS_TEST_TMPDIR/page"
	run_ray 0 ray-put --url "file://$BATS_TEST_TMPDIR/page"
	run_ray 0 ray-get "$output"
	assert_output "fetched"
}

@test "get -o FILE and --dir DIR" {
	run_ray 0 ray-put - <<<"alpha"
	local a=$output
	run_ray 0 ray-put - <<<"beta"
	local b=$output
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/both" "$a" "$b"
	assert_equal "$output" ""
	assert_equal "$(cat "$BATS_TEST_TMPDIR/both")" "alpha
beta"
	mkdir "$BATS_TEST_TMPDIR/d"
	run_ray 0 ray-get --dir "$BATS_TEST_TMPDIR/d" "$a" "$b"
	assert_equal "$output" ""
	assert_equal "$(cat "$BATS_TEST_TMPDIR/d/$a")" alpha
	assert_equal "$(cat "$BATS_TEST_TMPDIR/d/$b")" beta
	run_ray 2 ray-get -o "$BATS_TEST_TMPDIR/x" --dir "$BATS_TEST_TMPDIR/d" "$a"
}

@test "get --timeout on an object not made yet: exit 3, promptly" {
	run_ray 0 ray-submit -- sleep 30
	local ref=$output
	local t0=$SECONDS
	run_ray 3 ray-get --timeout 0.5 "$ref"
	assert_equal "$output" ""
	assert_regex "$stderr" "^ray-get: .*timed out"
	assert [ $((SECONDS - t0)) -lt 10 ]
	run_ray 2 ray-get --timeout soon "$ref"
	run_ray 2 ray-get --timeout 1x "$ref"
}

@test "a 100 MiB object keeps its checksum through put and get" {
	local f=$BATS_TEST_TMPDIR/big
	head -c 100M /dev/urandom >"$f"
	run_ray 0 ray-put "$f"
	local ref=$output
	run_ray 0 ray-get -o "$f.back" "$ref"
	assert_equal "$(stat -c %s "$f.back")" $((100 << 20))
	assert_equal "$(sha256sum <"$f.back")" "$(sha256sum <"$f")"
	rm -f "$f.back"
	# Through pipes on both sides (no file to map or splice).
	run_ray 0 bash -o pipefail -c 'cat "$1" | ray-put' _ "$f"
	ref=$output
	run_ray 0 bash -o pipefail -c 'ray-get "$1" | sha256sum' _ "$ref"
	assert_equal "$output" "$(sha256sum <"$f")"
	run_ray 0 ray-store stats --json
	assert [ "$(json_get .used_bytes)" -ge $((200 << 20)) ]
}

@test "wait: all ready prints all, in input order" {
	run_ray 0 ray-put - <<<"1"
	local a=$output
	run_ray 0 ray-put - <<<"2"
	local b=$output
	run_ray 0 ray-wait "$b" "$a"
	assert_equal "$output" "$b
$a"
	run_ray 0 ray-wait <<<"$a $b"
	assert_equal "$output" "$a
$b"
}

@test "wait -n K returns once K are ready; --timeout exits 3 and prints the ready ones" {
	run_ray 0 ray-put - <<<"ready"
	local ready=$output
	run_ray 0 ray-submit -- sleep 30
	local slow=$output
	run_ray 0 ray-wait -n 1 "$slow" "$ready"
	assert_output "$ready"
	local t0=$SECONDS
	run_ray 3 ray-wait --timeout 0.5 "$slow" "$ready"
	assert_output "$ready"
	assert [ $((SECONDS - t0)) -lt 10 ]
	run_ray 3 ray-wait -n 2 --timeout 0.2 "$slow" "$ready"
	assert_output "$ready"
	run_ray 2 ray-wait -n 3x "$ready"
	run_ray 2 ray-wait -n -1 "$ready"
}

@test "get and wait over a long list with repeated refs answer every entry" {
	local go=$BATS_TEST_TMPDIR/go refs=() i
	run_ray 0 ray-submit -- sh -c "i=0; while [ ! -e '$go' ] && [ \$i -lt 1200 ]; do sleep 0.05; i=\$((i+1)); done; echo a"
	local a=$output
	run_ray 0 ray-put - <<<"b"
	local b=$output
	for i in $(seq 20); do refs+=("$a" "$b"); done
	# Half the entries are ready while the task runs.
	run_ray 3 ray-wait --timeout 0.3 "${refs[@]}"
	assert_equal "$(grep -c "^$b\$" <<<"$output")" 20
	assert_equal "$(grep -c . <<<"$output")" 20
	# A get over all forty, usually waiting when the task ends: every
	# entry of the repeated ref is answered by its one completion.
	timeout 60 ray-get "${refs[@]}" >"$BATS_TEST_TMPDIR/got" &
	local getter=$!
	touch "$go"
	wait "$getter"
	assert_equal "$(tr '\n' ' ' <"$BATS_TEST_TMPDIR/got")" "$(for i in $(seq 20); do printf 'a b '; done)"
	run_ray 0 ray-wait -n 30 "${refs[@]}"
	assert_equal "$(grep -c . <<<"$output")" 30
}

@test "wait wakes when a task's result appears" {
	run_ray 0 ray-submit -- sh -c 'sleep 0.3; echo done'
	local ref=$output
	run_ray 0 ray-wait --timeout 30 "$ref"
	assert_output "$ref"
	run_ray 0 ray-get "$ref"
	assert_output done
}

@test "store ls and stats, with and without --json" {
	run_ray 0 ray-put - <<<"small"
	local small=$output
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/mid"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/mid"
	local mid=$output
	run_ray 0 ray-store ls
	assert_equal "${#lines[@]}" 2
	assert_line --regexp "^$small"$'\t'"6"$'\t'
	assert_line --regexp "^$mid"$'\t'"300000"$'\t'
	run_ray 0 ray-store ls --json
	assert_equal "$(json_get 'length')" 2
	assert_equal "$(json_get ".[] | select(.ref == \"$mid\") | .size")" 300000
	run_ray 0 ray-store stats
	assert_line --regexp '^objects'$'\t''2$'
	run_ray 0 ray-store --json stats
	assert_equal "$(json_get .objects)" 2
	assert_equal "$(json_get .used_bytes)" 300006
	assert [ "$(json_get .capacity_bytes)" -gt 0 ]
	run_ray 2 ray-store
	run_ray 2 ray-store frob
	run_ray 2 ray-store ls extra
}

@test "store free releases objects; a freed ref is unknown (exit 10)" {
	run_ray 0 ray-put - <<<"doomed"
	local a=$output
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/mid"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/mid"
	local b=$output
	run_ray 0 ray-put - <<<"kept"
	local c=$output
	run_ray 0 ray-store free "$a" "$b"
	run_ray 0 ray-store ls
	assert_equal "${#lines[@]}" 1
	assert_line --regexp "^$c"$'\t'
	run_ray 10 ray-get "$a"
	assert_regex "$stderr" "^ray-get: unknown ref '$a'"
	run_ray 10 ray-get "$b"
	run_ray 0 ray-get "$c"
	assert_output kept
	# No file of the freed object is left in the store.
	assert [ ! -e "/dev/shm/ray-$RAY_NODE_ID/o/$b" ]
}

@test "malformed refs are usage errors (exit 2) in every tool" {
	local bad
	for bad in XYZ 0123ABCD "$(printf 'a%.0s' {1..65})" "12 34x"; do
		run_ray 2 ray-get "$bad"
		assert_equal "$output" ""
		assert_regex "$stderr" "^ray-get: malformed ref"
	done
	run_ray 2 ray-get <<<"abc xyz"
	run_ray 2 ray-get ''
	run_ray 2 ray-wait G00D
	run_ray 2 ray-store free nothex
	run_ray 2 ray-cancel nothex
}

@test "unknown refs: exit 10 from get and wait" {
	local ref=0123456789abcdef0123456789abcdef0123456789
	run_ray 10 ray-get "$ref"
	assert_regex "$stderr" "^ray-get: unknown ref '$ref'"
	run_ray 10 ray-wait --timeout 1 "$ref"
	run_ray 10 ray-get --timeout 1 "$ref"
	run_ray 10 ray-cancel "$ref"
}

@test "ray-get on a pipe prints the first objects while refs still come" {
	local a gate=$BATS_TEST_TMPDIR/gate
	a=$(echo first | ray-put)
	# The producer gives one ref, then the next only once the first object
	# is out of ray-get (the reader opens the gate): ray-get that read to
	# EOF first would never print, and the producer would give up.
	run_ray 0 bash -c "{ echo $a; timeout 10 bash -c 'until [[ -e $gate ]]; do sleep 0.05; done' || exit 1; echo $a; } |
		ray-get | while IFS= read -r l; do echo \"\$l\"; touch '$gate'; done"
	assert_output $'first\nfirst'
}
