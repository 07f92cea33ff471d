# ray-tools: one Makefile for build, check, demo, bench, install and deps.
.DELETE_ON_ERROR:
.PHONY: all deps check unit bats demo bench bench-actors bench-pg bench-stream bench-workers chaos soak install uninstall deb clean

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGDIR ?= $(LIBDIR)/pkgconfig
COMPDIR ?= $(PREFIX)/share/bash-completion/completions

CC ?= cc
CFLAGS ?= -O2 -g
PKGS = libuv libcjson libsodium libcurl
# The daemon's own: its state store and /metrics (not libray's, nor ray.pc's).
NODE_PKGS = sqlite3 hiredis libmicrohttpd
DEPS_DEB = libuv1-dev libcjson-dev libsodium-dev libcurl4-openssl-dev libmicrohttpd-dev bats bats-support bats-assert pkg-config \
           jq python3 tcpdump curl prometheus libsqlite3-dev libhiredis-dev redis-server tmux \
           munge slurmctld slurmd slurm-client
WARN = -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
       -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
override CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -Iinclude -Ilib \
	$(shell pkg-config --cflags $(PKGS) $(NODE_PKGS) 2>/dev/null)
LDLIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
NODE_LDLIBS = $(shell pkg-config --libs $(NODE_PKGS) 2>/dev/null) -lpthread
ifeq ($(SANITIZE),1)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=address,undefined
# Under make check SANITIZE=1 every sanitized process (tools and daemons,
# whose stderr may be a log that stop removes) writes its reports to
# t/san/report.PID; any report fails the run.
export SANITIZE
SAN_DIR = $(CURDIR)/t/san
SAN_ENV = rm -rf $(SAN_DIR) && mkdir -p $(SAN_DIR) && \
	ASAN_OPTIONS=log_path=$(SAN_DIR)/report:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(SAN_DIR)/report:print_stacktrace=1:halt_on_error=1
SAN_CHECK = @if ls $(SAN_DIR)/report.* >/dev/null 2>&1; then \
	  echo "sanitizer reports:"; head -n 40 $(SAN_DIR)/report.*; exit 1; fi; echo "no sanitizer reports"
endif

# A build without the libraries stops at once and says how to get them
# (instead of "uv.h: No such file"); the targets that install them pass.
MISSING_PKGS := $(strip $(foreach p,$(PKGS) $(NODE_PKGS),$(if $(shell pkg-config --exists $(p) 2>/dev/null && echo y),,$(p))))
ifneq ($(MISSING_PKGS),)
ifneq ($(filter-out deps check demo bench bench-actors bench-pg bench-stream bench-workers chaos soak deb clean uninstall,$(or $(MAKECMDGOALS),all)),)
$(error missing libraries: $(MISSING_PKGS) (pkg-config finds no .pc). Run 'make deps' to install them (Debian), or 'make demo' to install them and run the demo)
endif
endif

LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:.c=.o)
NODE_SRC = $(wildcard cmd/ray-node/*.c)
NODE_OBJ = $(NODE_SRC:.c=.o)
TOOLS = ray-put ray-get ray-wait ray-store ray-submit ray-cancel ray-status \
        $(patsubst cmd/%.c,%,$(filter-out $(addprefix cmd/,$(addsuffix .c,ray-put ray-get ray-wait ray-store ray-submit ray-cancel ray-status)),$(wildcard cmd/ray-*.c)))
BINS = bin/ray-node $(addprefix bin/,$(TOOLS))
UNIT_SRC = $(wildcard t/unit/*.c)
UNIT_BIN = $(UNIT_SRC:.c=)

all: $(BINS) lib/libray.so lib/libray.a

deps:
	@missing=""; for p in $(DEPS_DEB); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

lib/%.o: lib/%.c include/ray.h lib/rayint.h
	$(CC) $(CFLAGS) -c -o $@ $<

cmd/ray-node/%.o: cmd/ray-node/%.c $(wildcard cmd/ray-node/*.h) include/ray.h lib/rayint.h
	$(CC) $(CFLAGS) $(shell pkg-config --cflags $(NODE_PKGS) 2>/dev/null) -c -o $@ $<

# Every part of the daemon but main(), for unit tests of its modules.
cmd/ray-node/libnode.a: $(filter-out cmd/ray-node/main.o,$(NODE_OBJ))
	rm -f $@
	ar rcs $@ $^

lib/libray.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

lib/libray.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libray.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/ray-node: $(NODE_OBJ) lib/libray.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $(NODE_OBJ) lib/libray.a $(LDLIBS) $(NODE_LDLIBS)

# Each tool is its main plus the few files the tools share (cmd/*.c not
# named ray-*: option table, printers).
TOOL_SHARED = $(filter-out cmd/ray-%.c,$(wildcard cmd/*.c))
bin/%: cmd/%.c $(TOOL_SHARED) $(wildcard cmd/*.h) lib/libray.a include/ray.h lib/rayint.h
	@mkdir -p bin
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TOOL_SHARED) lib/libray.a $(LDLIBS)

t/unit/%: t/unit/%.c t/unit/unit.h cmd/ray-node/libnode.a lib/libray.a $(wildcard cmd/ray-node/*.h)
	$(CC) $(CFLAGS) $(LDFLAGS) -iquote cmd/ray-node -o $@ $< cmd/ray-node/libnode.a lib/libray.a $(LDLIBS) $(NODE_LDLIBS)

unit: all $(UNIT_BIN)
	@rc=0; for t in $(UNIT_BIN); do echo "== $$t"; ./$$t || rc=1; done; exit $$rc

bats: all
	$(SAN_ENV) RAY_TEST_NO_SKIP=1 PATH="$(CURDIR)/bin:$$PATH" bats --timing t/
	$(SAN_CHECK)

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) bats

demo: deps
	$(MAKE) all
	PATH="$(CURDIR)/bin:$$PATH" sh share/examples/demo.sh

bench: deps
	$(MAKE) all bench/putget
	PATH="$(CURDIR)/bin:$$PATH" bash bench/run.sh

bench/putget: bench/putget.c lib/libray.a include/ray.h
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libray.a $(LDLIBS)

bench-actors: deps
	$(MAKE) all bench/actor_calls
	PATH="$(CURDIR)/bin:$$PATH" bash bench/actors.sh

bench/actor_calls: bench/actor_calls.c lib/libray.a include/ray.h
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libray.a $(LDLIBS)

bench-workers: deps
	$(MAKE) all bench/pool_tasks bench/frame-worker
	PATH="$(CURDIR)/bin:$$PATH" bash bench/workers.sh

bench/pool_tasks: bench/pool_tasks.c lib/libray.a include/ray.h
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libray.a $(LDLIBS)

bench/frame-worker: share/examples/frame-worker.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

bench-pg: deps
	$(MAKE) all bench/pg_bench
	PATH="$(CURDIR)/bin:$$PATH" bash bench/pg.sh

bench/pg_bench: bench/pg_bench.c lib/libray.a include/ray.h
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libray.a $(LDLIBS)

bench-stream: deps
	$(MAKE) all bench/stream_bench
	PATH="$(CURDIR)/bin:$$PATH" bash bench/stream.sh

bench/stream_bench: bench/stream_bench.c lib/libray.a include/ray.h
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< lib/libray.a $(LDLIBS)

chaos: deps
	$(MAKE) all
	PATH="$(CURDIR)/bin:$$PATH" bash bench/chaos.sh

# make soak: three nodes under a mixed load for SOAK_SECONDS (600), every
# daemon's memory and fds sampled; fails unless they stay flat, every
# answer checks out and nothing is left after the stop (bench/soak.sh).
soak: deps
	$(MAKE) all
	PATH="$(CURDIR)/bin:$$PATH" bash bench/soak.sh

# Install and uninstall: every directory is read when the command runs, so
# `make && make install PREFIX=/opt/ray` is right, ray.pc included (it is
# written here, not at build time).  uninstall removes the files install
# wrote, by the same lists, and leaves the directories.
VERSION = $(shell sed -n 's/^\#define RAY_VERSION "\(.*\)"/\1/p' include/ray.h)
SOMAJOR = 0
SONAME = libray.so.$(SOMAJOR)
# A directory under PREFIX as ray.pc writes it: ${prefix}/..., so that
# `pkg-config --define-variable=prefix=DIR` finds a tree copied to DIR.
under_prefix = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
MAN1 = $(wildcard share/man/man1/*.1)
MAN3 = $(wildcard share/man/man3/*.3)
MAN7 = $(wildcard share/man/man7/*.7)
INSTALLED = $(addprefix $(BINDIR)/,$(notdir $(BINS))) \
	$(addprefix $(LIBDIR)/,libray.a libray.so $(SONAME) libray.so.$(VERSION)) \
	$(INCDIR)/ray.h $(PKGDIR)/ray.pc \
	$(addprefix $(MANDIR)/man1/,$(notdir $(MAN1))) \
	$(addprefix $(MANDIR)/man3/,$(notdir $(MAN3))) \
	$(addprefix $(MANDIR)/man7/,$(notdir $(MAN7))) \
	$(addprefix $(COMPDIR)/,$(notdir $(BINS)))

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PKGDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(COMPDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 0644 lib/libray.a $(DESTDIR)$(LIBDIR)
	install -m 0644 lib/libray.so $(DESTDIR)$(LIBDIR)/libray.so.$(VERSION)
	ln -sf libray.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libray.so
	install -m 0644 include/ray.h $(DESTDIR)$(INCDIR)
	printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: ray\nDescription: ray-tools client library\nVersion: %s\nRequires.private: %s\nLibs: -L$${libdir} -lray\nCflags: -I$${includedir}\n' \
	  '$(PREFIX)' '$(call under_prefix,$(LIBDIR))' '$(call under_prefix,$(INCDIR))' '$(VERSION)' '$(PKGS)' \
	  > $(DESTDIR)$(PKGDIR)/ray.pc
	chmod 0644 $(DESTDIR)$(PKGDIR)/ray.pc
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(MAN3) $(DESTDIR)$(MANDIR)/man3
	install -m 0644 $(MAN7) $(DESTDIR)$(MANDIR)/man7
	for t in $(notdir $(BINS)); do install -m 0644 share/bash-completion/ray-tools $(DESTDIR)$(COMPDIR)/$$t || exit 1; done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

# Debian packages (ray-tools, libray0, libray-dev; see debian/control),
# built by dpkg-buildpackage in a copy of the source under $(DEBDIR), where
# the .deb files land; lintian must find no errors.  `make deps` with the
# build's own list installs what is missing (man-db: t/096-deb.bats reads
# the packaged pages with man -l).
DEBDIR ?= build/deb
DEPS_DEB_BUILD = debhelper dpkg-dev lintian libuv1-dev libcjson-dev libsodium-dev \
	libcurl4-openssl-dev libsqlite3-dev libhiredis-dev libmicrohttpd-dev pkg-config man-db

deb:
	$(MAKE) deps DEPS_DEB="$(DEPS_DEB_BUILD)"
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	  { echo "debian/changelog says $$v, include/ray.h says $(VERSION)" >&2; exit 1; }
	rm -rf $(DEBDIR)/ray-tools-$(VERSION) $(DEBDIR)/*ray*_$(VERSION)_*
	mkdir -p $(DEBDIR)/ray-tools-$(VERSION)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git ls-files -z -c -o --exclude-standard | xargs -0 cp --parents -t $(DEBDIR)/ray-tools-$(VERSION); \
	else \
	  tar -cf - --exclude=./build --exclude-vcs . | tar -xf - -C $(DEBDIR)/ray-tools-$(VERSION) && \
	  $(MAKE) -C $(DEBDIR)/ray-tools-$(VERSION) clean; \
	fi
	cd $(DEBDIR)/ray-tools-$(VERSION) && env -u SANITIZE -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -b -us -uc
	lintian --fail-on error $(DEBDIR)/ray-tools_$(VERSION)_*.changes

clean:
	rm -rf bin build lib/*.o lib/*.a lib/*.so lib/ray.pc cmd/ray-node/*.o cmd/ray-node/libnode.a $(UNIT_BIN) bench/putget bench/actor_calls bench/pg_bench bench/stream_bench bench/pool_tasks bench/frame-worker

# make fuzz: libFuzzer targets (clang, from Debian) over the parsers that
# see untrusted bytes: frames, the handshake, the actor protocols, refs and
# sizes, and (ops) every op's request validation against a node built
# in-process, linked with the whole daemon but main.c.  Each runs FUZZ_SECONDS (default 600) from the seeds in
# t/fuzz/seed/NAME; new finds and any crash go to t/fuzz/work/NAME (not
# kept).  make fuzz-smoke: 30 s each.
.PHONY: fuzz fuzz-smoke fuzz-deps fuzz-build
FUZZ_TARGETS = frame hs proto parse ops
FUZZ_CC = clang
FUZZ_SECONDS ?= 600
FUZZ_CFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Iinclude -Ilib -iquote cmd/ray-node \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_SRC = $(LIB_SRC) cmd/ray-node/proto.c

fuzz-deps: deps
	@command -v $(FUZZ_CC) >/dev/null || { echo "installing: clang"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; fi; }

t/fuzz/bin/%: t/fuzz/%.c $(FUZZ_SRC) include/ray.h lib/rayint.h cmd/ray-node/proto.h
	@mkdir -p t/fuzz/bin
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRC) $(LDLIBS)

# The daemon in-process: nothing it does may start a process, signal one
# or dial a peer (t/fuzz/ops.c says why each is wrapped).
FUZZ_WRAP = -Wl,--wrap=uv_spawn -Wl,--wrap=spawn_proc -Wl,--wrap=kill -Wl,--wrap=uv_tcp_connect
t/fuzz/bin/ops: t/fuzz/ops.c $(LIB_SRC) $(filter-out cmd/ray-node/main.c,$(NODE_SRC)) include/ray.h lib/rayint.h $(wildcard cmd/ray-node/*.h)
	@mkdir -p t/fuzz/bin
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags $(NODE_PKGS) 2>/dev/null) -o $@ $< \
	  $(LIB_SRC) $(filter-out cmd/ray-node/main.c,$(NODE_SRC)) $(FUZZ_WRAP) $(LDLIBS) $(NODE_LDLIBS)

fuzz-build: fuzz-deps
	$(MAKE) $(addprefix t/fuzz/bin/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p t/fuzz/work/$$t; echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  ./t/fuzz/bin/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=t/fuzz/work/$$t/crash- t/fuzz/work/$$t t/fuzz/seed/$$t 2>t/fuzz/work/$$t.log \
	    || { tail -40 t/fuzz/work/$$t.log; exit 1; }; \
	  grep -E '^stat::number_of_executed_units|^Done' t/fuzz/work/$$t.log; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=30
