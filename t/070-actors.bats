#!/usr/bin/env bats
# Actors: create, call and get through the line, tagged and frame protocols
# (docs/actor-protocols.md), call order, several returns, names and
# namespaces, listing.  Faults are in 071-actor-faults.bats.

load lib/helpers
load lib/actors

EXAMPLES="$BATS_TEST_DIRNAME/../share/examples"

setup_file() {
	# The frame example is a C program built against libray, as a user would
	# (with the sanitizers when libray has them: make SANITIZE=1).
	local root="$BATS_TEST_DIRNAME/.." san=()
	[[ "${SANITIZE:-}" == 1 ]] && san=(-fsanitize=address,undefined)
	${CC:-cc} "${san[@]}" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$root/include" \
		-o "$BATS_FILE_TMPDIR/frame-actor" "$root/share/examples/frame-actor.c" \
		"$root/lib/libray.a" $(pkg-config --libs libuv libcjson libsodium libcurl)
}

setup() {
	start_node
	make_line_actor
}

@test "create prints an actor id; the actor is ALIVE in ray-actor list" {
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	assert_output --regexp '^[0-9a-f]{16,64}$'
	local id=$output
	run_ray 0 ray-actor list
	assert_line --regexp "^$id	ALIVE	-$"
}

@test "line: a call's result is the answer line with its newline" {
	run_ray 0 ray-actor create -- bash "$EXAMPLES/counter-actor.sh"
	local a=$output
	run_ray 0 ray-actor call "$a" add 5
	assert_output --regexp '^[0-9a-f]+$'
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r" "$output"
	run cmp "$BATS_TEST_TMPDIR/r" <(printf '5\n')
	assert_success
	run_ray 0 ray-actor call "$a" add 37
	run_ray 0 ray-get "$output"
	assert_output 42
	# A call with no arguments is METHOD alone.
	run_ray 0 ray-actor call "$a" get
	run_ray 0 ray-get "$output"
	assert_output 42
}

@test "line: '!MESSAGE' fails the call with exit 1 and the actor lives on" {
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	local a=$output pid
	run_ray 0 ray-actor call "$a" append x
	run_ray 0 ray-actor call "$a" fail "no good: bad input"
	run_ray 1 ray-get "$output"
	assert_equal "$output" ""
	assert [ "${#stderr_lines[@]}" -eq 1 ]
	assert_regex "$stderr" "^ray-get: .*'fail'.*no good: bad input$"
	pid=$(actor_field "$a" pid)
	run_ray 0 ray-actor call "$a" get
	run_ray 0 ray-get "$output"
	assert_output x
	assert_equal "$(actor_field "$a" pid)" "$pid"
	assert_equal "$(actor_field "$a" state)" ALIVE
	# An unknown method is the actor's business: it says so with '!'.
	run_ray 0 ray-actor call "$a" frobnicate
	run_ray 1 ray-get "$output"
	assert_regex "$stderr" "no method 'frobnicate'"
}

@test "line: @REF arrives as the path of a file holding the object, @@x as @x" {
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	local a=$output ref path
	run_ray 0 ray-put <<<"object bytes"
	ref=$output
	run_ray 0 ray-actor call "$a" echo "@$ref"
	run_ray 0 ray-get "$output"
	path=$output
	assert [ -f "$path" ]
	assert_equal "$(cat "$path")" "object bytes"
	run_ray 0 ray-actor call "$a" echo "@@literal"
	run_ray 0 ray-get "$output"
	assert_output "@literal"
	# An unknown ref is refused at once.
	run_ray 10 ray-actor call "$a" echo "@$(printf '%040d' 7)"
}

@test "line: 200 calls from one caller run in the order they were made" {
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	local a=$output i refs=() want=()
	for i in $(seq 200); do
		refs+=("$(timeout 10 ray-actor call "$a" append "$i")") || fail "call $i failed"
		want+=("$i")
	done
	run_ray 0 ray-get "${refs[@]}"
	assert_output "$(printf '%s\n' "${want[@]}")"
	run_ray 0 ray-actor call "$a" get
	run_ray 0 ray-get "$output"
	assert_output "$(IFS=,; echo "${want[*]}")"
}

@test "line: a call waiting for its @REF holds back the calls made after it" {
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	local a=$output dep r1 r2 go="$BATS_TEST_TMPDIR/go"
	run_ray 0 ray-submit -- sh -c "while [ ! -e $go ]; do sleep 0.02; done; echo dep"
	dep=$output
	run_ray 0 ray-actor call "$a" append "@$dep"
	r1=$output
	run_ray 0 ray-actor call "$a" append second
	r2=$output
	run_ray 3 ray-wait --timeout 0.3 "$r2"
	touch "$go"
	run_ray 0 ray-wait --timeout 20 "$r1" "$r2"
	run_ray 0 ray-get "$r2"
	assert_output second
	run_ray 0 ray-actor call "$a" get
	run_ray 0 ray-get "$output"
	assert_output --regexp '^/.*,second$'
}

@test "line: --num-returns 2 splits the answer at its TAB" {
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	local a=$output
	run_ray 0 ray-actor call --num-returns 2 "$a" split left right
	assert_equal "${#lines[@]}" 2
	local r0=${lines[0]} r1=${lines[1]}
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r0" "$r0"
	run cmp "$BATS_TEST_TMPDIR/r0" <(printf 'left\n')
	assert_success
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r1" "$r1"
	run cmp "$BATS_TEST_TMPDIR/r1" <(printf 'right\n')
	assert_success
	# One field, or three, where two were asked for: a method error.
	run_ray 0 ray-actor call --num-returns 2 "$a" echo lonely
	run_ray 1 ray-get ${lines[0]}
	assert_regex "$stderr" "answered 1 values but 2 were asked for"
	run_ray 0 ray-actor call --num-returns 2 "$a" split x y z
	run_ray 1 ray-get ${lines[1]}
	assert_regex "$stderr" "answered 3 values but 2 were asked for"
	run_ray 2 ray-actor call --num-returns 0 "$a" echo x
}

@test "line: an argument or method holding a TAB or newline is refused with exit 2" {
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	local a=$output
	run_ray 2 ray-actor call "$a" echo "$(printf 'a\tb')"
	assert_regex "$stderr" "TAB or newline"
	run_ray 2 ray-actor call "$a" echo "$(printf 'a\nb')"
	run_ray 2 ray-actor call "$a" "$(printf 'ec\tho')" x
	run_ray 2 ray-actor call "$a"
	# The actor never saw them.
	run_ray 0 ray-actor call "$a" append ok
	run_ray 0 ray-actor call "$a" get
	run_ray 0 ray-get "$output"
	assert_output ok
}

@test "tagged: with --max-concurrency 4 a faster call answers first" {
	run_ray 0 ray-actor create --protocol tagged --max-concurrency 4 -- bash "$EXAMPLES/sleeper-actor.sh"
	local a=$output slow fast
	run_ray 0 ray-actor call "$a" sleep 1.5
	slow=$output
	run_ray 0 ray-actor call "$a" sleep 0.1
	fast=$output
	run_ray 0 ray-wait -n 1 --timeout 20 "$slow" "$fast"
	assert_output "$fast"
	run_ray 0 ray-get "$slow" "$fast"
	assert_output "$(printf 'slept 1.5\nslept 0.1')"
	run_ray 0 ray-actor call "$a" nap 1
	run_ray 1 ray-get "$output"
	assert_regex "$stderr" "no method 'nap'"
	# --max-concurrency above 1 needs a protocol with call ids.
	run_ray 2 ray-actor create --max-concurrency 2 -- bash "$EXAMPLES/sleeper-actor.sh"
}

@test "tagged: at most --max-concurrency calls are outstanding" {
	# Answers 'wait K' once the file go.K exists, other calls at once.
	cat >"$BATS_TEST_TMPDIR/gate.sh" <<'EOF'
#!/bin/bash
while IFS=$'\t' read -r id method arg; do
	case $method in
	wait) { while [[ ! -e $1/go.$arg ]]; do sleep 0.02; done; printf '%s\t%s\n' "$id" "$arg"; } & ;;
	*)    printf '%s\t%s\n' "$id" "$arg" ;;
	esac
done
EOF
	chmod +x "$BATS_TEST_TMPDIR/gate.sh"
	run_ray 0 ray-actor create --protocol tagged --max-concurrency 2 -- "$BATS_TEST_TMPDIR/gate.sh" "$BATS_TEST_TMPDIR"
	local a=$output w1 w2 e
	run_ray 0 ray-actor call "$a" wait one
	w1=$output
	run_ray 0 ray-actor call "$a" wait two
	w2=$output
	run_ray 0 ray-actor call "$a" echo third
	e=$output
	# Two are sent; the third waits for a free slot.
	assert_equal "$(task_field "$(ref_task "$w1")" state)" RUNNING
	assert_equal "$(task_field "$(ref_task "$w2")" state)" RUNNING
	assert_equal "$(task_field "$(ref_task "$e")" state)" SUBMITTED_TO_WORKER
	run_ray 3 ray-wait --timeout 0.2 "$e"
	# When one answers the third goes, and overtakes the other.
	touch "$BATS_TEST_TMPDIR/go.one"
	run_ray 0 ray-get "$e"
	assert_output third
	run_ray 3 ray-wait --timeout 0.1 "$w2"
	touch "$BATS_TEST_TMPDIR/go.two"
	run_ray 0 ray-get "$w1" "$w2"
	assert_output "$(printf 'one\ntwo')"
}

@test "frame: arguments and results with TAB, newline and NUL cross unchanged" {
	local fa="$BATS_FILE_TMPDIR/frame-actor" tabnl want
	run_ray 0 ray-actor create --protocol frame -- "$fa"
	local a=$output
	tabnl=$(printf 'a\tb\nc')
	run_ray 0 ray-actor call "$a" echo "$tabnl" "x y"
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r" "$output"
	run cmp "$BATS_TEST_TMPDIR/r" <(printf 'a\tb\nc\0x y')
	assert_success
	# An object with NULs, passed as @REF, comes back byte for byte.
	head -c 3000 /dev/urandom >"$BATS_TEST_TMPDIR/bin"
	run_ray 0 ray-put "$BATS_TEST_TMPDIR/bin"
	run_ray 0 ray-actor call "$a" file "@$output"
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r" "$output"
	run cmp "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/bin"
	assert_success
	# The result has no newline added.
	run_ray 0 ray-actor call "$a" echo 42
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r" "$output"
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/r")" 2
}

@test "frame: several returns, method errors, and libray from inside the actor" {
	run_ray 0 ray-actor create --protocol frame --max-concurrency 2 -- "$BATS_FILE_TMPDIR/frame-actor"
	local a=$output
	run_ray 0 ray-actor call --num-returns 3 "$a" items one "$(printf 't\tw\no')" ""
	local r=("${lines[@]}")
	run_ray 0 ray-get "${r[0]}"
	assert_output one
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r1" "${r[1]}"
	run cmp "$BATS_TEST_TMPDIR/r1" <(printf 't\tw\no')
	assert_success
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/r2" "${r[2]}"
	assert_equal "$(stat -c %s "$BATS_TEST_TMPDIR/r2")" 0
	run_ray 0 ray-actor call --num-returns 2 "$a" items only
	run_ray 1 ray-get "${lines[1]}"
	run_ray 0 ray-actor call --num-returns 2 "$a" items x y z
	run_ray 1 ray-get "${lines[0]}"
	assert_regex "$stderr" "answered 3 values but 2 were asked for"
	run_ray 0 ray-actor call "$a" fail "$(printf 'it broke')"
	run_ray 1 ray-get "$output"
	assert_regex "$stderr" "it broke$"
	# The actor stores an object itself and answers with its ref.
	run_ray 0 ray-actor call "$a" put "$(printf 'from\tthe actor')"
	run_ray 0 ray-get "$output"
	assert_output --regexp '^[0-9a-f]+$'
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/p" "$output"
	run cmp "$BATS_TEST_TMPDIR/p" <(printf 'from\tthe actor')
	assert_success
}

@test "named actors: ray-actor get, calls by name, namespaces, unknown name exits 10" {
	run_ray 0 ray-actor create --name counter -- bash "$EXAMPLES/counter-actor.sh"
	local id=$output other
	run_ray 0 ray-actor get counter
	assert_output "$id"
	run_ray 0 ray-actor call counter add 3
	run_ray 0 ray-get "$output"
	assert_output 3
	# The same name in another namespace is another actor.
	run_ray 10 env RAY_NAMESPACE=team ray-actor get counter
	assert_regex "$stderr" "counter"
	run_ray 0 ray-actor create --namespace team --name counter -- bash "$EXAMPLES/counter-actor.sh"
	other=$output
	assert_not_equal "$other" "$id"
	run_ray 0 ray-actor get --namespace team counter
	assert_output "$other"
	run_ray 0 env RAY_NAMESPACE=team ray-actor get counter
	assert_output "$other"
	run_ray 0 env RAY_NAMESPACE=team ray-actor call counter add 10
	run_ray 0 ray-get "$output"
	assert_output 10
	run_ray 0 ray-actor call counter get
	run_ray 0 ray-get "$output"
	assert_output 3
	# An id works from any namespace.
	run_ray 0 env RAY_NAMESPACE=elsewhere ray-actor call "$id" get
	run_ray 10 ray-actor get nobody
	assert_regex "$stderr" "^ray-actor: .*'nobody'"
	run_ray 10 ray-actor call nobody get
	run_ray 10 ray-actor kill nobody
	run_ray 0 ray-status actors --json
	assert_equal "$(json_get "map(select(.actor_id == \"$other\")) | .[0].namespace")" team
	assert_equal "$(json_get "map(select(.actor_id == \"$id\")) | .[0].namespace")" default
}

@test "--get-if-exists returns the existing actor; a taken name is exit 2" {
	run_ray 0 ray-actor create --name solo -- "$BATS_TEST_TMPDIR/actor.sh"
	local id=$output
	run_ray 0 ray-actor create --name solo --get-if-exists -- "$BATS_TEST_TMPDIR/actor.sh"
	assert_output "$id"
	run_ray 2 ray-actor create --name solo -- "$BATS_TEST_TMPDIR/actor.sh"
	assert_regex "$stderr" "solo.*taken"
	run_ray 0 ray-actor list
	assert_equal "${#lines[@]}" 1
	# Once the actor is dead its name is free again.
	run_ray 0 ray-actor kill solo
	wait_for actor_in_state "$id" DEAD
	run_ray 0 ray-actor create --name solo -- "$BATS_TEST_TMPDIR/actor.sh"
	assert_not_equal "$output" "$id"
	run_ray 0 ray-actor get solo
	assert_not_equal "$output" "$id"
}

@test "ray-actor list --json and ray-status actors --json give the actor's fields" {
	run_ray 0 ray-actor create --name lister -- "$BATS_TEST_TMPDIR/actor.sh"
	local id=$output
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	local anon=$output
	run_ray 0 ray-actor list --json
	assert_equal "$(json_get 'length')" 2
	assert_equal "$(json_get ".[] | select(.actor_id == \"$id\") | .name")" lister
	assert_equal "$(json_get ".[] | select(.actor_id == \"$anon\") | .name")" null
	run_ray 0 ray-status actors --json
	local pid
	run jq -e --arg id "$id" --arg node "$RAY_NODE_ID" '.[] | select(.actor_id == $id)
		| .name == "lister" and .namespace == "default" and .state == "ALIVE"
		and .node_id == $node and (.pid | type) == "number" and .num_restarts == 0' <<<"$output"
	assert_success
	pid=$(actor_field "$id" pid)
	# pid is the actor's own process: the command it was given.
	assert_regex "$(tr '\0' ' ' </proc/"$pid"/cmdline)" "actor\.sh $"
	run_ray 0 ray-actor kill "$anon"
	wait_for actor_in_state "$anon" DEAD
	run_ray 0 ray-status actors --json --state ALIVE
	assert_equal "$(json_get 'length')" 1
	assert_equal "$(json_get '.[0].actor_id')" "$id"
	run_ray 0 ray-status actors --json --state DEAD
	assert_equal "$(json_get '.[0].pid')" null
	run_ray 0 ray-actor list
	assert_line "$anon	DEAD	-"
	assert_line "$id	ALIVE	lister"
}

@test "an actor holds its --cpus for life; a pending actor starts when one dies" {
	local a b c d ref
	run_ray 0 ray-actor create --cpus 1 -- "$BATS_TEST_TMPDIR/actor.sh"
	a=$output
	run_ray 0 ray-actor create --cpus 1 -- "$BATS_TEST_TMPDIR/actor.sh"
	b=$output
	run_ray 0 ray-actor create --cpus 1 -- "$BATS_TEST_TMPDIR/actor.sh"
	c=$output
	assert_equal "$(actor_field "$c" state)" PENDING_CREATION
	run_ray 0 ray-actor call "$c" echo waited
	ref=$output
	run_ray 3 ray-wait --timeout 0.2 "$ref"
	# As in Ray, an actor that asks for no CPU holds none.
	run_ray 0 ray-actor create -- "$BATS_TEST_TMPDIR/actor.sh"
	d=$output
	assert_equal "$(actor_field "$d" state)" ALIVE
	run_ray 0 ray-actor kill "$a"
	wait_for actor_in_state "$c" ALIVE
	run_ray 0 ray-get "$ref"
	assert_output waited
	# More than any node has: created, pending, and said so.
	run_ray 0 ray-actor create --cpus 3 -- "$BATS_TEST_TMPDIR/actor.sh"
	assert_regex "$stderr" "warning: .*infeasible"
	assert_equal "$(actor_field "$output" state)" PENDING_CREATION
}

@test "ray-actor usage errors exit 2" {
	run_ray 2 ray-actor
	run_ray 2 ray-actor frob
	run_ray 2 ray-actor create
	run_ray 2 ray-actor create --protocol morse -- true
	run_ray 2 ray-actor create --max-restarts x -- true
	run_ray 2 ray-actor create --max-concurrency 0 --protocol tagged -- true
	run_ray 2 ray-actor call onlyone
	run_ray 2 ray-actor kill
	run_ray 2 ray-actor get
	run_ray 2 ray-actor list extra
	run_ray 0 ray-actor list
	assert_output ""
}

@test "ray-actor create: 257 --label options are a one-line usage error, as for ray-submit" {
	local args=() i
	for i in $(seq 257); do
		args+=(--label "k$i=v")
	done
	run_ray 2 ray-actor create "${args[@]}" -- true
	assert_equal "$output" ""
	assert_equal "$(wc -l <<<"$stderr")" 1
	assert_regex "$stderr" "^ray-actor: too many --label options"
	run_ray 2 ray-submit "${args[@]}" -- true
	assert_regex "$stderr" "^ray-submit: too many --label options"
	run_ray 0 ray-actor list
	assert_output ""
}

@test "ray-actor create validates the task options as ray-submit does" {
	local bad
	for bad in "--cpus lots" "--memory 1Q" "--resource noqty" "--resource GPU=x" \
	    "--strategy random" "--bundle 0" "--label =v" "--label novalue" \
	    "--prefer-label novalue" "--env NOEQUALS"; do
		# shellcheck disable=SC2086
		run_ray 2 ray-submit $bad -- true
		local want=${stderr#ray-submit: }
		# shellcheck disable=SC2086
		run_ray 2 ray-actor create $bad -- true
		assert_equal "${stderr#ray-actor: }" "${want//ray-submit/ray-actor}"
	done
	run_ray 0 ray-actor list
	assert_output ""
}
