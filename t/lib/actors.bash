# actors.bash: helpers for the actor suites (t/07*-actor*.bats), loaded
# after helpers.bash.
#
#   make_line_actor             writes $BATS_TEST_TMPDIR/actor.sh, a line
#                               protocol test actor (methods below); its
#                               first argument is a directory for markers
#   actor_field ACTOR FIELD     one field from ray-status actors --json
#                               (ACTOR: id or name); "null" when null
#   actor_in_state ACTOR STATE  for wait_for
#   actor_alive_again ACTOR N   for wait_for: ALIVE after N restarts
#   ref_task REF                the task id of a call's result ref
#   marker_exists GLOB          for wait_for: a file matches GLOB

# The test actor's methods:
#   append X   remembers X, answers X      get       the remembered, comma-joined
#   echo X     answers X                   pid       answers its pid
#   fail MSG   fails with MSG              split A B answers A<TAB>B
#   block K    touches DIR/started.K.PID, waits for DIR/go.K, answers "K by PID"
#   exit C     exits with status C         closeout  closes stdout, lingers
#   closein    answers "closed", closes stdin, lingers
make_line_actor() {
	cat >"$BATS_TEST_TMPDIR/actor.sh" <<'EOF'
#!/bin/bash
dir=$1
items=()
while IFS=$'\t' read -r method a b; do
	case $method in
	append) items+=("$a"); echo "$a" ;;
	get)    (IFS=,; echo "${items[*]}") ;;
	echo)   echo "$a" ;;
	pid)    echo "$$" ;;
	fail)   echo "!$a" ;;
	split)  printf '%s\t%s\n' "$a" "$b" ;;
	block)  : >"$dir/started.$a.$$"
	        while [[ ! -e $dir/go.$a ]]; do sleep 0.02; done
	        echo "$a by $$" ;;
	exit)   exit "$a" ;;
	closeout) exec 1>&-; while :; do sleep 1; done ;;
	closein) echo closed; exec 0<&-; while :; do sleep 1; done ;;
	*)      echo "!no method '$method'" ;;
	esac
done
EOF
	chmod +x "$BATS_TEST_TMPDIR/actor.sh"
}

actor_field() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status actors --json) || return 1
	jq -er --arg a "$1" --arg f "$2" \
		'[.[] | select(.actor_id == $a or .name == $a)] | last | .[$f] | if . == null then "null" else tostring end' <<<"$out"
}

actor_in_state() {
	local s
	s=$(actor_field "$1" state) && [[ "$s" == "$2" ]]
}

actor_alive_again() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-status actors --json) || return 1
	jq -e --arg a "$1" --argjson n "$2" \
		'[.[] | select(.actor_id == $a or .name == $a)] | last | .state == "ALIVE" and .num_restarts == $n and .pid != null' \
		<<<"$out" >/dev/null
}

# A call's refs are its task id followed by 8 hex digits (the return index).
ref_task() {
	echo "${1:0:${#1}-8}"
}

# marker_exists GLOB: for wait_for, true once a file matches GLOB.
marker_exists() {
	compgen -G "$1" >/dev/null
}
