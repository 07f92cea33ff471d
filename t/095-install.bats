#!/usr/bin/env bats
# make install and make uninstall: the directories are read when install
# runs (PREFIX, DESTDIR, BINDIR, LIBDIR, INCDIR, MANDIR), ray.pc says where
# things went, and a program built with nothing but pkg-config against the
# installed library round-trips an object through a node run from the
# installed ray-node.

load lib/helpers

# Under make check SANITIZE=1 the installed libray is sanitized: its
# clients are built the same way.
SAN_CFLAGS=()
[[ ${SANITIZE:-} == 1 ]] && SAN_CFLAGS=(-fsanitize=address,undefined)

setup() {
	src=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	dest=$BATS_TEST_TMPDIR/dest
	data=$BATS_TEST_TMPDIR/data
	# 1 MiB and a few bytes, every byte value.
	head -c 1048579 /dev/urandom > "$data"
}

# install_into VAR=VALUE...: make install with those variables, quietly.
install_into() {
	run timeout 300 make -s -C "$src" install "$@"
	assert_success
}

# roundtrip LIBDIR: runs the built program against the libray.so.0 in
# LIBDIR and checks the bytes it got back, and those ray-get gets.
roundtrip() {
	run env LD_LIBRARY_PATH="$1" ldd "$BATS_TEST_TMPDIR/roundtrip"
	assert_line --regexp "libray\.so\.0 => $1/libray\.so\.0 "
	LD_LIBRARY_PATH=$1 timeout 60 "$BATS_TEST_TMPDIR/roundtrip" < "$data" \
		> "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/ref"
	cmp "$data" "$BATS_TEST_TMPDIR/out"
	timeout 60 ray-get "$(cat "$BATS_TEST_TMPDIR/ref")" > "$BATS_TEST_TMPDIR/got"
	assert_equal "$(sha256sum < "$BATS_TEST_TMPDIR/got")" "$(sha256sum < "$data")"
}

@test "install into a DESTDIR with every directory moved; pkg-config builds a client that round-trips an object" {
	install_into DESTDIR="$dest" PREFIX=/opt/ray BINDIR=/opt/ray/sbin LIBDIR=/opt/ray/lib64 \
		INCDIR=/opt/ray/inc MANDIR=/opt/ray/man
	local root=$dest/opt/ray
	# ray.pc names the final places, not the staging ones nor the defaults.
	run cat "$root/lib64/pkgconfig/ray.pc"
	assert_line prefix=/opt/ray
	assert_line 'libdir=${prefix}/lib64'
	assert_line 'includedir=${prefix}/inc'
	assert_line "Version: $(sed -n 's/^#define RAY_VERSION "\(.*\)"/\1/p' "$src/include/ray.h")"
	# The shared library carries its soname, with the soname and dev links.
	assert_equal "$(readlink "$root/lib64/libray.so")" libray.so.0
	assert_equal "$(readlink "$root/lib64/libray.so.0")" "$(cd "$root/lib64" && ls libray.so.0.*)"
	run readelf -d "$root/lib64/libray.so"
	assert_line --regexp 'SONAME.*\[libray\.so\.0\]'
	[[ -f $root/inc/ray.h && -f $root/lib64/libray.a && -x $root/sbin/ray-node ]]
	[[ -f $root/man/man1/ray-put.1 && -f $root/man/man3/libray.3 && -f $root/man/man7/ray-tools.7 ]]

	run pkg-config --variable=libdir "$root/lib64/pkgconfig/ray.pc"
	assert_output /opt/ray/lib64

	# Nothing but pkg-config says where the header and library are, the
	# prefix moved into the DESTDIR.
	export PKG_CONFIG_PATH=$root/lib64/pkgconfig
	local pc=(pkg-config --define-variable=prefix="$root")
	run "${pc[@]}" --variable=includedir ray
	assert_output "$root/inc"
	run "${pc[@]}" --libs ray
	assert_output --regexp "^-L$root/lib64 -lray *$"
	timeout 120 cc "${SAN_CFLAGS[@]}" -o "$BATS_TEST_TMPDIR/roundtrip" "$src/share/examples/roundtrip.c" \
		$("${pc[@]}" --cflags --libs ray)

	# The node is the installed ray-node.
	PATH=$root/sbin:$PATH
	assert_equal "$(command -v ray-node)" "$root/sbin/ray-node"
	start_node
	roundtrip "$root/lib64"
}

@test "install with only PREFIX: ray.pc follows it, and libray.a links with the libraries ray.pc requires" {
	local prefix=$BATS_TEST_TMPDIR/inst
	make -s -C "$src" all
	install_into PREFIX="$prefix"
	export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
	run pkg-config --variable=prefix ray
	assert_output "$prefix"
	run pkg-config --variable=includedir ray
	assert_output "$prefix/include"
	run pkg-config --libs ray
	assert_output --regexp "^-L$prefix/lib -lray *$"
	timeout 120 cc "${SAN_CFLAGS[@]}" -o "$BATS_TEST_TMPDIR/roundtrip" "$src/share/examples/roundtrip.c" \
		$(pkg-config --cflags --libs ray)
	# libray.a, with the (shared) libraries ray.pc requires privately.
	run pkg-config --print-requires-private ray
	assert_output "$(printf '%s\n' libuv libcjson libsodium libcurl)"
	timeout 120 cc "${SAN_CFLAGS[@]}" -o "$BATS_TEST_TMPDIR/roundtrip-static" "$src/share/examples/roundtrip.c" \
		$(pkg-config --cflags ray) -Wl,-Bstatic $(pkg-config --libs ray) -Wl,-Bdynamic \
		$(pkg-config --libs $(pkg-config --print-requires-private ray))
	run ldd "$BATS_TEST_TMPDIR/roundtrip-static"
	refute_line --partial libray
	PATH=$prefix/bin:$PATH
	start_node
	roundtrip "$prefix/lib"
	timeout 60 "$BATS_TEST_TMPDIR/roundtrip-static" < "$data" > "$BATS_TEST_TMPDIR/out-static"
	cmp "$data" "$BATS_TEST_TMPDIR/out-static"
}

@test "make uninstall removes every file install wrote and nothing else" {
	local root=$dest/usr/local
	# Files that were there before install must survive uninstall.
	mkdir -p "$root/bin" "$root/lib/pkgconfig" "$root/share/man/man1"
	echo keep > "$root/bin/other-tool"
	echo keep > "$root/lib/pkgconfig/other.pc"
	echo keep > "$root/share/man/man1/other.1"
	ln -s other-tool "$root/bin/other-link"
	find "$dest" ! -type d | sort > "$BATS_TEST_TMPDIR/before"

	install_into DESTDIR="$dest"
	find "$dest" ! -type d | sort > "$BATS_TEST_TMPDIR/after"
	# Every command, both libraries and their links, the header, ray.pc,
	# every man page and a bash completion per command.
	local want
	want=$((2 * $(ls "$src"/bin | wc -l) + 4 + 1 + 1 + $(ls "$src"/share/man/man[137]/* | wc -l)))
	assert_equal "$(comm -13 "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after" | wc -l)" "$want"

	run timeout 120 make -s -C "$src" uninstall DESTDIR="$dest"
	assert_success
	run bash -c "find '$dest' ! -type d | sort"
	assert_output "$(cat "$BATS_TEST_TMPDIR/before")"
	# A second uninstall finds nothing to do and does not fail.
	run timeout 120 make -s -C "$src" uninstall DESTDIR="$dest"
	assert_success
}
