#!/usr/bin/env bats
# ray-put --url: http (a local python3 -m http.server), file://, and
# failed fetches that store nothing.

load lib/helpers

setup() {
	start_node
	WWW=$BATS_TEST_TMPDIR/www
	mkdir -p "$WWW"
}

teardown() {
	[[ -n "${HTTP_PID:-}" ]] && kill "$HTTP_PID" 2>/dev/null
	stop_all
}

# serve: python3 -m http.server on a free loopback port, serving $WWW.
serve() {
	command -v python3 >/dev/null || skip "python3 is not installed"
	HTTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	(cd "$WWW" && exec python3 -m http.server --bind 127.0.0.1 "$HTTP_PORT" >/dev/null 2>&1 3>&-) &
	HTTP_PID=$!
	wait_for curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/"
}

nobjects() {
	local out
	out=$(timeout "$RAY_TEST_TIMEOUT" ray-store ls) || return 1
	printf '%s' "$out" | grep -c . || true
}

@test "--url over http stores the fetched bytes" {
	serve
	head -c 200000 /dev/urandom >"$WWW/blob"
	echo "small text" >"$WWW/small.txt"
	run_ray 0 ray-put --url "http://127.0.0.1:$HTTP_PORT/blob" --url "http://127.0.0.1:$HTTP_PORT/small.txt"
	assert_equal "${#lines[@]}" 2
	local blob=${lines[0]} small=${lines[1]}
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/back" "$blob"
	cmp "$BATS_TEST_TMPDIR/back" "$WWW/blob"
	run_ray 0 ray-get "$small"
	assert_equal "$output" "small text"
}

@test "--url with a file:// URL, and an empty file" {
	echo "local file" >"$WWW/f"
	: >"$WWW/empty"
	run_ray 0 ray-put --url "file://$WWW/f"
	run_ray 0 ray-get "$output"
	assert_equal "$output" "local file"
	run_ray 0 ray-put --url "file://$WWW/empty"
	run_ray 0 ray-get -o "$BATS_TEST_TMPDIR/e" "$output"
	assert [ ! -s "$BATS_TEST_TMPDIR/e" ]
}

@test "a failed fetch stores nothing: 404 and a missing file are exit 10, a bad URL exit 2" {
	serve
	local before
	before=$(nobjects)
	run_ray 10 ray-put --url "http://127.0.0.1:$HTTP_PORT/no-such-file"
	assert_equal "$output" ""
	assert_regex "$stderr" "^ray-put: cannot fetch 'http://127.0.0.1:$HTTP_PORT/no-such-file': the server answered HTTP 404 \(not found\)\$"
	run_ray 10 ray-put --url "file://$WWW/no-such-file"
	assert_regex "$stderr" "^ray-put: cannot fetch 'file://"
	# Nothing listens on this port (we just closed it).
	local port
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	run_ray 10 ray-put --url "http://127.0.0.1:$port/x"
	run_ray 2 ray-put --url "gopher2://example/x"
	run_ray 2 ray-put --url "not a url"
	run_ray 2 ray-put --url "http://[::1"
	assert_equal "$(nobjects)" "$before"
	run_ray 2 ray-put --url
}
