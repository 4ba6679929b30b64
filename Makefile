# mlip - one GNU Makefile builds the library, the programs, the plugins and the tests.
#
#   make            build lib/libmlip.a, bin/mlip-*, lib/plugins/*.so
#   make deps       install the Debian packages mlip needs (apt-get as root)
#   make deps-optional  also python3-torch (PyTorch oracle, bench/peers) and clang (make fuzz)
#   make check      deps + build + command-line tests + Check unit suites
#   make demo       deps + build + the demo on share/demo
#   make bench      benchmarks (figures on stdout)
#   make shlib      lib/libmlip.so.1: the public API (lib/mlip.h) for other programs
#   make install    PREFIX=/usr/local DESTDIR=  (make uninstall removes it again)
#
VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
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

# What building, the demo and the tests need (lammps and the KIM API: MD through libmlip).
DEB_PACKAGES = gcc make libyaml-dev libjansson-dev libopenblas-dev libmpich-dev mpich \
	check pkg-config python3 python3-ase jq lammps libkim-api-dev cmake g++
# make deps-optional: PyTorch for the independent oracle (tests/cli/t0500, skipped
# without it) and bench/peers; clang and its sanitizer/libFuzzer runtime for make fuzz.
DEB_OPTIONAL = python3-torch clang libclang-rt-14-dev

LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:%.c=build/%.o)
# libmlip.so: the inference path of mlip.h and what it needs: no MPI (it is
# loaded into MPI programs of any MPI), no plugins, no training. Its own
# position-independent objects; only the mlip.h functions are exported
# (lib/libmlip.map). The SONAME changes only when the API loses or changes
# something.
SOVERSION = 1
SHLIB = lib/libmlip.so.$(SOVERSION)
SHLIB_MODULES = api modelfile model descriptor network tensors config yamltree ckpt elements \
	error batch nlist structure outfile log mtp rng
SHLIB_OBJ = $(SHLIB_MODULES:%=build/pic/lib/%.o)
SHLIB_LIBS = $(shell pkg-config --libs yaml-0.1 jansson openblas 2>/dev/null) -lm
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

.PHONY: all shlib deps deps-optional check unit cli-tests demo bench install install-core uninstall uninstall-core \
	clean check-plugin-symbols
.DEFAULT_GOAL := all

all: lib/libmlip.a $(PROGRAMS) $(PLUGINS) shlib

shlib: $(SHLIB) lib/libmlip.so lib/mlip.pc

$(SHLIB): $(SHLIB_OBJ) lib/libmlip.map
	$(CC) -shared -fopenmp -Wl,-soname,libmlip.so.$(SOVERSION) -Wl,--no-undefined \
	  -Wl,--version-script=lib/libmlip.map -o $@ $(SHLIB_OBJ) $(SHLIB_LIBS)

lib/libmlip.so: $(SHLIB)
	ln -sf libmlip.so.$(SOVERSION) $@

# pkg-config file of the build tree; `make install` writes the installed one.
lib/mlip.pc: Makefile
	@$(call write_pc,$(CURDIR)/lib,$(CURDIR)/lib) > $@
write_pc = printf '%s\n' 'libdir=$(1)' 'includedir=$(2)' '' 'Name: mlip' \
	'Description: evaluate trained mlip interatomic potentials' 'Version: $(VERSION)' \
	'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lmlip'

build/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c -o $@ $<

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

# Install the missing ones of a package list with apt-get as root; otherwise
# print the exact command and fail.
define install_debs
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "mlip: not a Debian system; install: $(1)" >&2; exit 1; fi; \
	missing=""; for p in $(1); do \
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
endef

deps:
	$(call install_debs,$(DEB_PACKAGES))

deps-optional: deps
	$(call install_debs,$(DEB_OPTIONAL))

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

# install / uninstall: the core below plus what the fragments included at the
# end add to EXTRA_INSTALL / EXTRA_UNINSTALL (the Python calculator, KIM).
MAN_PAGES = $(wildcard man/man*/*.[0-9])
install-core: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(SHAREDIR) \
	  $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/mlip \
	  $(addprefix $(DESTDIR)$(MANDIR)/,$(sort $(notdir $(patsubst %/,%,$(dir $(MAN_PAGES))))))
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)
	$(if $(PLUGINS),install -m 755 $(PLUGINS) $(DESTDIR)$(PLUGINDIR))
	for m in $(MAN_PAGES); do \
	  install -m 644 $$m $(DESTDIR)$(MANDIR)/$$(basename $$(dirname $$m)) || exit 1; done
	install -m 644 plugins/mlip_plugin.h $(DESTDIR)$(INCLUDEDIR)/mlip
	install -m 644 lib/mlip.h $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)
	ln -sf libmlip.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libmlip.so
	$(call write_pc,$(LIBDIR),$(INCLUDEDIR)) > $(DESTDIR)$(LIBDIR)/pkgconfig/mlip.pc
	cp -R share/. $(DESTDIR)$(SHAREDIR)

# Removes exactly what install-core installs (and directories left empty).
uninstall-core:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(PROGRAMS))) \
	  $(addprefix $(DESTDIR)$(PLUGINDIR)/,$(notdir $(PLUGINS))) \
	  $(foreach m,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/$(notdir $(patsubst %/,%,$(dir $(m))))/$(notdir $(m))) \
	  $(DESTDIR)$(INCLUDEDIR)/mlip/mlip_plugin.h $(DESTDIR)$(INCLUDEDIR)/mlip.h \
	  $(DESTDIR)$(LIBDIR)/libmlip.so $(DESTDIR)$(LIBDIR)/libmlip.so.$(SOVERSION) \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/mlip.pc
	rm -rf $(DESTDIR)$(SHAREDIR)
	-rmdir $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(PREFIX)/lib/mlip $(DESTDIR)$(INCLUDEDIR)/mlip 2>/dev/null

clean:
	rm -rf build bin lib/libmlip.a lib/libmlip.so lib/libmlip.so.$(SOVERSION) lib/mlip.pc \
	  lib/plugins tests/check_mlip

include tests/plugins/plugins.mk
include tests/oracle/oracle.mk
include bench/accuracy.mk
-include share/python/python.mk
-include share/kim/kim.mk
-include tests/fuzz/fuzz.mk

install: install-core $(EXTRA_INSTALL)
uninstall: uninstall-core $(EXTRA_UNINSTALL)

-include $(LIB_OBJ:.o=.d) $(SHLIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
