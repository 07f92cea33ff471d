#!/usr/bin/env bats
# The object store under memory pressure: spilling least recently used
# objects to --spill-dir, restoring them on access (checksummed), pins,
# exit 9 when nothing can be spilled, ray-store ls/stats/free.

load lib/helpers

MiB=1048576

# stat_of FIELD: one number from ray-store stats --json.
stat_of() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-store stats --json) || return 1
	jq -er --arg f "$1" '.[$f]' <<<"$out"
}

# where_of REF: memory, shm or spilled, from ray-store ls --json.
where_of() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-store ls --json) || return 1
	jq -er --arg r "$1" '.[] | select(.ref == $r) | .where' <<<"$out"
}

is_spilled() {
	[[ "$(where_of "$1")" == spilled ]]
}

spill_dir_empty() {
	[[ "$(stat_of spill_dir_bytes)" -eq 0 ]]
}

# gen FILE MIB SEED: MIB MiB of reproducible bytes.
gen() {
	local seed=$3
	yes "ray-tools spill test $seed $(printf '%08d' "$seed")" | head -c $(($2 * MiB)) >"$1"
}

teardown() {
	stop_all
	if [[ -n "${SPILL_MNT:-}" ]]; then
		umount "$SPILL_MNT" 2>/dev/null
		rmdir "$SPILL_MNT" 2>/dev/null
	fi
}

@test "512 MiB of puts and task outputs through a 64 MiB store: every object reads back byte-identical" {
	start_node --object-store-memory 64M --cpus 2
	local d=$BATS_TEST_TMPDIR i
	# 24 puts of 16 MiB (distinct bytes each) ...
	for i in $(seq 1 24); do
		gen "$d/in$i" 16 "$i"
	done
	run_ray 0 ray-put $(for i in $(seq 1 24); do echo "$d/in$i"; done)
	assert_equal "${#lines[@]}" 24
	printf '%s\n' "${lines[@]}" >"$d/refs"
	# ... and 8 task outputs of 16 MiB, made while the store is full.
	for i in $(seq 1 8); do
		echo "yes 'task output $i' | head -c $((16 * MiB))"
	done >"$d/cmds"
	run_ray 0 ray-submit --batch <"$d/cmds"
	assert_equal "${#lines[@]}" 8
	printf '%s\n' "${lines[@]}" >>"$d/refs"
	for i in $(seq 1 8); do
		yes "task output $i" | head -c $((16 * MiB)) >"$d/in$((24 + i))"
	done
	mkdir "$d/out"
	run_ray 0 ray-get --dir "$d/out" <"$d/refs"
	i=0
	while read -r ref; do
		i=$((i + 1))
		[[ "$(sha256sum <"$d/out/$ref")" == "$(sha256sum <"$d/in$i")" ]] ||
			fail "object $i ($ref) does not read back byte-identical"
	done <"$d/refs"
	assert_equal "$i" 32
	# Most of it went through the spill directory; ray-get --dir copied
	# the spilled objects from their spill files itself, checked, so
	# none had to be restored into the store.
	run stat_of spills_total
	assert [ "$output" -ge 24 ]
	run stat_of restores_total
	assert_equal "$output" 0
	run stat_of lost_objects
	assert_equal "$output" 0
	# Once readers are done the store is back within its capacity.
	run stat_of used_bytes
	assert [ "$output" -le $((64 * MiB)) ]
	# Reading again, two at once through one stream, still matches: the
	# spilled one is restored (checked) for that.
	assert is_spilled "$(sed -n 3p "$d/refs")"
	run_ray 0 ray-get -o "$d/two" "$(sed -n 3p "$d/refs")" "$(sed -n 30p "$d/refs")"
	cat "$d/in3" "$d/in30" | cmp - "$d/two"
	run stat_of restores_total
	assert [ "$output" -ge 1 ]
}

@test "an object pinned by a running task is not spilled under pressure" {
	start_node --object-store-memory 32M --cpus 2
	local d=$BATS_TEST_TMPDIR i
	gen "$d/a" 8 1
	run_ray 0 ray-put "$d/a"
	local a=$output
	# The task holds @a until we let it go on, then hashes it.
	run_ray 0 ray-submit -- sh -c "while [ ! -e '$d/go' ]; do sleep 0.05; done; sha256sum < \"\$1\"" sh "@$a"
	local t=$output
	# Pressure: 128 MiB of other objects, four times the store.
	for i in $(seq 1 16); do
		gen "$d/p$i" 8 $((100 + i))
	done
	run_ray 0 ray-put $(for i in $(seq 1 16); do echo "$d/p$i"; done)
	local first=${lines[0]} last=${lines[15]}
	wait_for is_spilled "$first"
	run where_of "$a"
	assert_equal "$output" shm
	run stat_of spilled_objects
	assert [ "$output" -ge 10 ]
	run stat_of pinned_bytes
	assert [ "$output" -ge $((8 * MiB)) ]
	touch "$d/go"
	run_ray 0 ray-get "$t"
	assert_equal "$output" "$(sha256sum <"$d/a")"
	# Unpinned now: more pressure may spill it, and it still reads back.
	run_ray 0 ray-put "$d/p1" "$d/p2" "$d/p3" "$d/p4"
	run_ray 0 ray-get -o "$d/a.back" "$a"
	cmp "$d/a.back" "$d/a"
	run_ray 0 ray-get -o "$d/p16.back" "$last"
	cmp "$d/p16.back" "$d/p16"
}

@test "a corrupted spill file gives exit 4 with a clear message, never wrong bytes" {
	start_node --object-store-memory 16M --cpus 1
	local d=$BATS_TEST_TMPDIR i
	for i in 1 2 3 4 5 6; do
		gen "$d/c$i" 4 "$i"
	done
	run_ray 0 ray-put "$d/c1" "$d/c2" "$d/c3" "$d/c4" "$d/c5" "$d/c6"
	local first=${lines[0]} second=${lines[1]} sixth=${lines[5]}
	wait_for is_spilled "$first"
	wait_for is_spilled "$second"
	run stat_of spill_dir
	local dir=$output
	assert [ -f "$dir/$first" ]
	# Flip a few bytes in the middle of the data.
	printf 'XXXX' | dd of="$dir/$first" bs=1 seek=$((2 * MiB)) conv=notrunc status=none
	run_ray 4 ray-get "$first"
	assert_equal "$output" ""
	assert_regex "$stderr" "ray-get: object $first is lost: its spill file .* is corrupt"
	# It stays lost; a task that needs it fails with the same code.
	run_ray 4 ray-get "$first"
	run_ray 0 ray-submit -- cat "@$first"
	run_ray 4 ray-get "$output"
	# A truncated spill file is caught too.
	: >"$dir/$second"
	run_ray 4 ray-get -o "$d/out" "$second"
	run stat_of lost_objects
	assert_equal "$output" 2
	# The others are intact.
	run_ray 0 ray-get -o "$d/c6.back" "$sixth"
	cmp "$d/c6.back" "$d/c6"
}

@test "ray-get --dir copies spilled objects from their spill files, checked, without restoring them" {
	start_node --object-store-memory 16M --cpus 1
	local d=$BATS_TEST_TMPDIR k refs
	for k in 1 2 3 4 5 6; do
		gen "$d/s$k" 4 "$((k + 10))"
	done
	run_ray 0 ray-put "$d/s1" "$d/s2" "$d/s3" "$d/s4" "$d/s5" "$d/s6"
	refs=("${lines[@]}")
	wait_for is_spilled "${refs[0]}"
	wait_for is_spilled "${refs[1]}"
	mkdir "$d/out"
	run_ray 0 ray-get --dir "$d/out" "${refs[@]}"
	for k in 1 2 3 4 5 6; do
		cmp "$d/out/${refs[k - 1]}" "$d/s$k"
	done
	run stat_of restores_total
	assert_equal "$output" 0
	# A spill file with other bytes is not taken: the node's restore
	# finds it corrupt, and the object is an error (exit 4).
	run stat_of spill_dir
	printf 'XXXX' | dd of="$output/${refs[0]}" bs=1 seek=$((3 * MiB)) conv=notrunc status=none
	mkdir "$d/out2"
	run_ray 4 ray-get --dir "$d/out2" "${refs[0]}"
	assert_regex "$stderr" "ray-get: object ${refs[0]} is lost: its spill file .* is corrupt"
	assert [ ! -s "$d/out2/${refs[0]}" ]
}

@test "a full spill disk gives exit 9, not a hang or a crash; the node serves what it holds" {
	[[ $(id -u) -eq 0 ]] || skip "needs root to mount a small tmpfs"
	SPILL_MNT=$(mktemp -d /tmp/rayspill.XXXXXX)
	mount -t tmpfs -o size=8M tmpfs "$SPILL_MNT" || skip "cannot mount a tmpfs here"
	start_node --object-store-memory 16M --cpus 1 --spill-dir "$SPILL_MNT"
	local d=$BATS_TEST_TMPDIR k r refused=0 refs=()
	# (not $i: bats' run sets a global i)
	for k in $(seq 1 10); do
		gen "$d/f$k" 4 "$k"
		run_ray '?' ray-put "$d/f$k"
		if [[ $status -eq 0 ]]; then
			refs+=("$output:$k")
		else
			assert_equal "$status" 9
			assert_regex "$stderr" "object store full: .*--object-store-memory.*spill directory .* is full"
			refused=$((refused + 1))
		fi
	done
	assert [ "$refused" -ge 3 ]
	assert [ "${#refs[@]}" -ge 5 ]
	run stat_of puts_refused
	assert_equal "$output" "$refused"
	# Everything stored reads back.
	for r in "${refs[@]}"; do
		run_ray 0 ray-get -o "$d/back" "${r%%:*}"
		cmp "$d/back" "$d/f${r##*:}"
	done
	# A task output still lands when nothing can be spilled (and is counted).
	run_ray 0 ray-submit -- sh -c "head -c $((4 * MiB)) '$d/f1'"
	run_ray 0 ray-get -o "$d/t" "$output"
	cmp "$d/t" "$d/f1"
	run stat_of overflow_events
	assert [ "$output" -ge 1 ]
	# Freeing makes room again.
	run_ray 0 ray-store free $(for r in "${refs[@]}"; do echo "${r%%:*}"; done)
	wait_for spill_dir_empty
	run_ray 0 ray-put "$d/f9"
	run_ray 0 ray-get -o "$d/back" "$output"
	cmp "$d/back" "$d/f9"
}

@test "ray-store ls and stats show in-memory, spilled and pinned objects; free drops spilled copies" {
	start_node --object-store-memory 8M --cpus 1
	local d=$BATS_TEST_TMPDIR i
	for i in 1 2 3 4; do
		gen "$d/s$i" 3 "$i"
	done
	echo small >"$d/small"
	run_ray 0 ray-put "$d/s1" "$d/s2" "$d/s3" "$d/s4" "$d/small"
	local r1=${lines[0]} r4=${lines[3]} rs=${lines[4]}
	wait_for is_spilled "$r1"
	run_ray 0 ray-store ls
	assert_equal "${#lines[@]}" 5
	assert_line --regexp "^$r1	$((3 * MiB))	spilled	-\$"
	assert_line --regexp "^$r4	$((3 * MiB))	shm	-\$"
	assert_line --regexp "^$rs	6	memory	-\$"
	run_ray 0 ray-store ls --json
	run json_get "map(select(.where == \"spilled\")) | length"
	assert [ "$output" -ge 1 ]
	run_ray 0 ray-store stats --json
	local stats=$output f
	for f in capacity_bytes used_bytes in_memory_bytes in_memory_objects spilled_bytes spilled_objects \
		pinned_bytes pinned_objects spill_dir spills_total restores_total puts_refused overflow_events; do
		jq -e --arg f "$f" 'has($f)' <<<"$stats" >/dev/null || fail "ray-store stats --json lacks $f"
	done
	run stat_of capacity_bytes
	assert_equal "$output" $((8 * MiB))
	run stat_of spilled_bytes
	assert [ "$output" -ge $((3 * MiB)) ]
	run_ray 0 ray-store stats
	assert_line --regexp '^spilled_bytes	[0-9]+$'
	# Free a spilled object: its spill file goes too; asking for it is exit 10.
	run stat_of spill_dir
	local dir=$output
	assert [ -f "$dir/$r1" ]
	run_ray 0 ray-store free "$r1"
	wait_for test ! -e "$dir/$r1"
	run_ray 10 ray-get "$r1"
	run_ray 10 ray-store free "$r1"
	run_ray 0 ray-store ls
	assert_equal "${#lines[@]}" 4
}

@test "--spill-dir is created; a bad one fails at start" {
	local d=$BATS_TEST_TMPDIR
	start_node --object-store-memory 4M --spill-dir "$d/new/spill"
	run stat_of spill_dir
	assert_regex "$output" "^$d/new/spill/ray-"
	assert [ -d "$output" ]
	touch "$d/file"
	run_ray 0 ray-node stop
	run_ray 2 ray-node start --head --port 0 --spill-dir "$d/file/x"
	assert_regex "$stderr" "spill directory"
}
