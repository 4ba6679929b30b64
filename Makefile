# mlip - one GNU Makefile builds the library, the programs, the plugins and the tests.
#
#   make            build lib/libmlip.a, bin/mlip-*, lib/plugins/*.so
#   make deps       install the Debian packages mlip needs (apt-get as root)
#   make check      deps + build + command-line tests + Check unit suites
#   make demo       deps + build + the demo on share/demo
#   make bench      benchmarks (figures on stdout)
#   make install    PREFIX=/usr/local DESTDIR=
#
VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
PLUGINDIR = $(PREFIX)/lib/mlip/plugins
MANDIR = $(PREFIX)/share/man
SHAREDIR = $(PREFIX)/share/mlip

CC ?= cc
OPT ?= -O2 -g -fopenmp
PKGS = yaml-0.1 jansson openblas mpich
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

WARN = -Wall -Wextra -Wno-unused-parameter
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -MMD -MP -Ilib -Iplugins \
	-DMLIP_VERSION='"$(VERSION)"' -DMLIP_PLUGINDIR='"$(PLUGINDIR)"'
ALL_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) $(CFLAGS)
LIBS = $(PKG_LIBS) -ldl -lm

DEB_PACKAGES = gcc make libyaml-dev libjansson-dev libopenblas-dev libmpich-dev mpich \
	check pkg-config python3 python3-ase python3-torch

LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:%.c=build/%.o)
CLI_OBJ = build/cmd/cli.o
CMD_SRC = $(wildcard cmd/mlip-*.c)
PROGRAMS = $(CMD_SRC:cmd/%.c=bin/%)
PLUGIN_SRC = $(wildcard plugins/*_*.c)
PLUGINS = $(foreach p,$(PLUGIN_SRC),lib/plugins/mlip-$(subst _,-,$(notdir $(p:.c=))).so)
TEST_SRC = $(wildcard tests/check_*.c)
TEST_OBJ = $(TEST_SRC:%.c=build/%.o)
SUITES = $(filter-out main,$(patsubst tests/check_%.c,%,$(TEST_SRC)))
BENCH_SRC = $(wildcard bench/bench_*.c)
BENCHES = $(BENCH_SRC:bench/%.c=build/bench/%)

.SECONDEXPANSION:
.PHONY: all deps check unit cli-tests demo bench install clean check-plugin-symbols
.DEFAULT_GOAL := all

all: lib/libmlip.a $(PROGRAMS) $(PLUGINS)

lib/libmlip.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

build/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

bin/mlip-%: build/cmd/mlip-%.o $(CLI_OBJ) lib/libmlip.a
	@mkdir -p bin
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CLI_OBJ) lib/libmlip.a $(LIBS)

lib/plugins/mlip-%.so: plugins/$$(subst -,_,%).c plugins/mlip_plugin.h
	@mkdir -p lib/plugins
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared -fvisibility=hidden -o $@ $< -lm

# The Check runner: one Suite per lib module, registered from the file names.
build/tests/suites.inc: $(TEST_SRC)
	@mkdir -p build/tests
	@{ for s in $(SUITES); do echo "SUITE($$s)"; done; } > $@.tmp && \
	  { cmp -s $@.tmp $@ || mv $@.tmp $@; }; rm -f $@.tmp

build/tests/check_main.o: build/tests/suites.inc
build/tests/%.o: ALL_CFLAGS += $(CHECK_CFLAGS) -Ibuild/tests -Itests

tests/check_mlip: $(TEST_OBJ) lib/libmlip.a
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJ) lib/libmlip.a $(CHECK_LIBS) $(LIBS)

MPI_TESTS = build/tests/mpi/dist_test
build/tests/mpi/%: tests/mpi/%.c lib/libmlip.a
	@mkdir -p build/tests/mpi
	$(CC) $(ALL_CFLAGS) -o $@ $< lib/libmlip.a $(LIBS)

build/bench/%: bench/%.c lib/libmlip.a
	@mkdir -p build/bench
	$(CC) $(ALL_CFLAGS) -o $@ $< lib/libmlip.a $(LIBS)

deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "mlip: not a Debian system; install: $(DEB_PACKAGES)" >&2; exit 1; fi; \
	missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "mlip: installing$$missing" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "mlip: missing Debian packages:$$missing" >&2; \
	  echo "mlip: run: sudo apt-get install$$missing" >&2; exit 1; \
	fi

# make check ends with Check's summary line.
check:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all tests/check_mlip
	@$(MAKE) --no-print-directory check-plugin-symbols
	@$(MAKE) --no-print-directory cli-tests
	@$(MAKE) --no-print-directory unit

# ENABLE_VALGRIND=1 runs the unit suites under valgrind (no fork, so leaks are seen).
VALGRIND = $(if $(filter 1,$(ENABLE_VALGRIND)),CK_FORK=no CK_DEFAULT_TIMEOUT=600 valgrind -q \
	--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite)

unit: tests/check_mlip
	@CK_VERBOSITY=$${CK_VERBOSITY:-normal} $(VALGRIND) ./tests/check_mlip

# Each plugin exports mlip_plugin_entry and nothing else (the toolchain's own
# _init, _fini, __bss_start, _edata, _end aside).
check-plugin-symbols: $(PLUGINS)
	@for so in $(PLUGINS); do \
	  syms=$$(nm -D --defined-only "$$so" | awk '{ print $$NF }') || exit 1; \
	  extra=$$(printf '%s\n' $$syms | grep -vx -e mlip_plugin_entry -e _init -e _fini \
	    -e __bss_start -e _edata -e _end); \
	  if [ -n "$$extra" ]; then echo "$$so exports more than mlip_plugin_entry:" $$extra >&2; exit 1; fi; \
	  printf '%s\n' $$syms | grep -qx mlip_plugin_entry || \
	    { echo "$$so does not export mlip_plugin_entry" >&2; exit 1; }; \
	done; echo "plugin symbols: $(words $(PLUGINS)) plugins export only mlip_plugin_entry"

cli-tests: all $(MPI_TESTS)
	@sh tests/cli/run.sh

demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@sh share/demo/run.sh

bench: all $(BENCHES)
	@sh bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(SHAREDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)
	$(if $(PLUGINS),install -m 755 $(PLUGINS) $(DESTDIR)$(PLUGINDIR))
	install -m 644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1
	-install -m 644 man/man5/*.5 $(DESTDIR)$(MANDIR)/man5 2>/dev/null
	-install -m 644 man/man7/*.7 $(DESTDIR)$(MANDIR)/man7 2>/dev/null
	install -d $(DESTDIR)$(PREFIX)/include/mlip
	install -m 644 plugins/mlip_plugin.h $(DESTDIR)$(PREFIX)/include/mlip
	cp -R share/. $(DESTDIR)$(SHAREDIR)

clean:
	rm -rf build bin lib/libmlip.a lib/plugins tests/check_mlip

include tests/plugins/plugins.mk
include tests/oracle/oracle.mk
include bench/accuracy.mk

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
