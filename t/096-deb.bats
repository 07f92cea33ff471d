#!/usr/bin/env bats
# make deb: the Debian packages ray-tools, libray0 and libray-dev, built by
# dpkg-buildpackage (about half a minute here, so it runs in make check),
# then installed into a throwaway root with dpkg --root and used from there.

load lib/helpers

setup_file() {
	src=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	export DEBS=$BATS_FILE_TMPDIR/deb
	export VERSION=$(sed -n 's/^#define RAY_VERSION "\(.*\)"/\1/p' "$src/include/ray.h")
	# make deb installs its own build dependencies, like make deps.
	if ! timeout 900 make -C "$src" deb DEBDIR="$DEBS" > "$BATS_FILE_TMPDIR/build.log" 2>&1; then
		tail -40 "$BATS_FILE_TMPDIR/build.log" >&3
		return 1
	fi
}

setup() {
	src=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	deb_tools=$DEBS/ray-tools_${VERSION}_$(dpkg --print-architecture).deb
	deb_lib=$DEBS/libray0_${VERSION}_$(dpkg --print-architecture).deb
	deb_dev=$DEBS/libray-dev_${VERSION}_$(dpkg --print-architecture).deb
	# A throwaway root whose dpkg database knows the packages this machine
	# has, so that dependencies are checked for real.
	root=$BATS_TEST_TMPDIR/root
	mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
	cp /var/lib/dpkg/status "$root/var/lib/dpkg/status"
}

# in_root DPKG-ARGS...: dpkg on the throwaway root (man pages kept even
# where the machine's dpkg.cfg.d excludes them, as slim images do).
in_root() {
	timeout 120 dpkg --root="$root" --log=/dev/null --path-include='/usr/share/man/*' "$@"
}

# contents DEB: the paths a package holds, one a line, without "./".
contents() {
	dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' | grep -v '^/\?$' | sort
}

@test "make deb: lintian finds no errors; three packages split as Debian does" {
	run grep '^E: ' "$BATS_FILE_TMPDIR/build.log"
	assert_failure
	run grep -F "lintian --fail-on error" "$BATS_FILE_TMPDIR/build.log"
	assert_success

	# ray-tools: the commands and the man pages of sections 1 and 7.
	run contents "$deb_tools"
	local b
	for b in "$src"/bin/ray-*; do
		assert_line "/usr/bin/${b##*/}"
		assert_line "/usr/share/man/man1/${b##*/}.1.gz"
	done
	assert_line /usr/share/man/man7/ray-tools.7.gz
	assert_line /usr/share/man/man7/ray-ref.7.gz
	refute_line --partial libray
	refute_line --partial /include/

	# libray0: the shared library and its soname link, nothing to build with.
	run contents "$deb_lib"
	assert_line "/usr/lib/$arch/libray.so.0"
	assert_line "/usr/lib/$arch/libray.so.$VERSION"
	refute_line "/usr/lib/$arch/libray.so"
	refute_line --partial /bin/
	refute_line --partial /man/
	refute_line --regexp '\.a$'

	# libray-dev: header, static library, dev link, ray.pc, libray.3.
	run contents "$deb_dev"
	assert_line /usr/include/ray.h
	assert_line "/usr/lib/$arch/libray.a"
	assert_line "/usr/lib/$arch/libray.so"
	assert_line "/usr/lib/$arch/pkgconfig/ray.pc"
	assert_line /usr/share/man/man3/libray.3.gz
	refute_line --partial /bin/
	refute_line --partial libray.so.

	# The runtime packages depend on runtime libraries only.
	run dpkg-deb -f "$deb_tools" Depends
	assert_output --partial libuv1
	refute_output --partial -dev
	run dpkg-deb -f "$deb_lib" Depends
	assert_output --partial libc6
	refute_output --partial -dev
	run dpkg-deb -f "$deb_dev" Depends
	assert_output --partial "libray0 (= $VERSION)"
}

@test "dpkg --root installs the packages; man, --version, pkg-config and a client of libray0 work from there" {
	run in_root -i "$deb_tools" "$deb_lib" "$deb_dev"
	assert_success
	run in_root -L ray-tools
	assert_line /usr/bin/ray-node
	run in_root -L libray0
	assert_line "/usr/lib/$arch/libray.so.0"

	local b
	for b in "$root"/usr/bin/ray-*; do
		run "$b" --version
		assert_success
		assert_output "${b##*/} $VERSION"
	done
	run timeout 60 man -l "$root/usr/share/man/man1/ray-put.1.gz"
	assert_success
	assert_output --partial 'ray-put'
	run timeout 60 man -l "$root/usr/share/man/man3/libray.3.gz"
	assert_output --partial 'ray_connect'
	run timeout 60 man -l "$root/usr/share/man/man7/ray-tools.7.gz"
	assert_success

	export PKG_CONFIG_PATH=$root/usr/lib/$arch/pkgconfig
	run pkg-config --modversion ray
	assert_output "$VERSION"
	# The package's ray.pc says /usr; the client is built against the root.
	local pc=(pkg-config --define-variable=prefix="$root/usr")
	run "${pc[@]}" --variable=libdir ray
	assert_output "$root/usr/lib/$arch"
	timeout 120 cc -o "$BATS_TEST_TMPDIR/roundtrip" "$src/share/examples/roundtrip.c" \
		$("${pc[@]}" --cflags --libs ray)
	run env LD_LIBRARY_PATH="$root/usr/lib/$arch" ldd "$BATS_TEST_TMPDIR/roundtrip"
	assert_line --regexp "libray\.so\.0 => $root/usr/lib/$arch/libray\.so\.0 "

	# A node from the package's ray-node; the client round-trips 1 MiB.
	PATH=$root/usr/bin:$PATH
	start_node
	head -c 1048579 /dev/urandom > "$BATS_TEST_TMPDIR/data"
	LD_LIBRARY_PATH=$root/usr/lib/$arch timeout 60 "$BATS_TEST_TMPDIR/roundtrip" \
		< "$BATS_TEST_TMPDIR/data" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/ref"
	cmp "$BATS_TEST_TMPDIR/data" "$BATS_TEST_TMPDIR/out"
	timeout 60 ray-get "$(cat "$BATS_TEST_TMPDIR/ref")" > "$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/data" "$BATS_TEST_TMPDIR/got"
}

@test "libray-dev needs libray0; purging the packages leaves no file behind" {
	run in_root -i "$deb_dev"
	assert_failure
	assert_output --partial "libray-dev"
	assert_output --partial "libray0"
	run in_root --purge libray-dev
	assert_success

	run in_root -i "$deb_tools" "$deb_lib" "$deb_dev"
	assert_success
	run bash -c "find '$root/usr' ! -type d | wc -l"
	[[ $output -gt 20 ]]
	run in_root --purge ray-tools libray-dev libray0
	assert_success
	run bash -c "find '$root' ! -type d | grep -v '^$root/var/lib/dpkg/'"
	assert_output ''
}
