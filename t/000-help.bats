#!/usr/bin/env bats
# Every tool answers --help (usage on stdout, exit 0) and --version, and
# rejects an unknown option with exit 2 (git's t0012-help.sh).

load lib/helpers

tools() {
	local f
	for f in "$BATS_TEST_DIRNAME"/../bin/ray-*; do
		[[ -x "$f" ]] && basename "$f"
	done
}

@test "bin/ holds every documented tool" {
	local t
	for t in ray-node ray-put ray-get ray-wait ray-store ray-submit ray-cancel ray-status; do
		assert [ -x "$BATS_TEST_DIRNAME/../bin/$t" ]
	done
}

@test "every tool: --help prints usage on stdout and exits 0" {
	local t
	for t in $(tools); do
		run_ray 0 "$t" --help
		assert_output --partial "usage: $t"
		assert_equal "$stderr" ""
	done
}

@test "every tool: --help gives every option it names a one-line description" {
	local t o opts
	for t in $(tools); do
		run_ray 0 "$t" --help
		assert_line "options:"
		opts=$(grep -o -- '--[a-z][a-z-]*' <<<"$output" | sort -u)
		[[ -n "$opts" ]]
		for o in $opts; do
			# "  [-x, ]--opt [ARG]   description", description two words at least
			grep -qE -- "^  (-[a-z], )?$o( [^ ]+)? +[^ -][^ ]* [^ ]" <<<"$output" ||
				{ echo "# $t --help: no description line for $o" >&2; return 1; }
		done
		assert_line --partial "  --help "
		assert_line --partial "  --version "
	done
}

@test "every tool: --version prints its name and version" {
	local t
	for t in $(tools); do
		run_ray 0 "$t" --version
		assert_output --regexp "^$t [0-9]+\.[0-9]+\.[0-9]+"
	done
}

@test "every tool: an unknown option is a usage error (exit 2)" {
	local t
	for t in $(tools); do
		run_ray 2 "$t" --no-such-option
		assert_equal "$output" ""
		assert [ -n "$stderr" ]
	done
}

@test "every tool has a man page" {
	local t page
	for t in $(tools); do
		page="$BATS_TEST_DIRNAME/../share/man/man1/$t.1"
		assert [ -f "$page" ]
	done
}
