# tests/fuzz/fuzz.mk - fuzz targets for every reader of outside input
# (included by the top Makefile).
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="extxyz mlb"]
#       build each target with clang -fsanitize=fuzzer,address,undefined and
#       run it for FUZZ_SECONDS, starting from tests/fuzz/corpus/T and the past
#       findings in tests/fuzz/regress/T; new corpus entries go to
#       build/fuzz/corpus/T, crashes, leaks, timeouts and out-of-memory inputs
#       to build/fuzz/findings/T (to be fixed, then copied to regress/T).
#   make fuzz-replay
#       (part of make check) the same LLVMFuzzerTestOneInput of each target,
#       linked with the plain driver tests/fuzz/replay.c and the normal
#       build, over the corpus and every past finding; needs no clang.
#   make fuzz-replay-asan
#       the same replay with the clang-built targets (libFuzzer -runs=0), so
#       under AddressSanitizer and UBSan.
#
# Limits of `make fuzz`: 10 s per input (-timeout), 2 GB of memory
# (-rss_limit_mb, which also caps a single malloc): a reader that allocates
# what a corrupted header says, or slows down super-linearly, is a finding.

FUZZ_TARGETS ?= extxyz mlearn n2p2 mlb config ckpt
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS = -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
# The inference path and the structure readers, without MPI and plugins.
FUZZ_MODULES = modelfile model descriptor network tensors config yamltree ckpt elements error \
	batch nlist structure outfile log extxyz mlearn n2p2data mtp rng lineio
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -Wno-unknown-pragmas \
	-Ilib -Iplugins -Itests/fuzz $(PKG_CFLAGS) -DMLIP_VERSION='"$(VERSION)"' \
	-DMLIP_PLUGINDIR='"$(PLUGINDIR)"'
FUZZ_LIBS = $(shell pkg-config --libs yaml-0.1 jansson openblas 2>/dev/null) -lm -ldl
FUZZ_LIB_OBJ = $(FUZZ_MODULES:%=build/fuzz/lib/%.o)
FUZZ_BINS = $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
FUZZ_REPLAYS = $(FUZZ_TARGETS:%=build/fuzz/replay_%)

.PHONY: fuzz fuzz-build fuzz-replay fuzz-replay-asan
.SECONDARY: $(FUZZ_LIB_OBJ)
-include $(FUZZ_LIB_OBJ:.o=.d)

build/fuzz/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t build/fuzz/findings/$$t tests/fuzz/regress/$$t || exit 1; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s" >&2; \
	  build/fuzz/fuzz_$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=build/fuzz/findings/$$t/ build/fuzz/corpus/$$t \
	    tests/fuzz/corpus/$$t tests/fuzz/regress/$$t 2> build/fuzz/$$t.log; \
	  rc=$$?; grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^(==[0-9]+==)?ERROR|^SUMMARY|Done [0-9]+ runs' \
	    build/fuzz/$$t.log | sed "s/^/fuzz $$t: /" >&2; \
	  if [ $$rc -ne 0 ]; then echo "fuzz $$t: finding (exit $$rc); see build/fuzz/$$t.log and build/fuzz/findings/$$t" >&2; exit 1; fi; \
	done

# The regression replay with any C compiler: target + tests/fuzz/replay.c + lib/libmlip.a.
build/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h lib/libmlip.a
	@mkdir -p build/fuzz
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -o $@ $< tests/fuzz/replay.c lib/libmlip.a $(LIBS)

# Bit flips and truncations of .mlb streams, models and training checkpoints
# (tests/cli/t0800-hostile-input.sh runs it).
build/fuzz/flipcheck: tests/fuzz/flipcheck.c lib/libmlip.a
	@mkdir -p build/fuzz
	$(CC) $(ALL_CFLAGS) -o $@ $< lib/libmlip.a $(LIBS)

fuzz-replay: $(FUZZ_REPLAYS) build/fuzz/flipcheck
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p tests/fuzz/regress/$$t; \
	  build/fuzz/replay_$$t $$t tests/fuzz/corpus/$$t tests/fuzz/regress/$$t || exit 1; \
	done

fuzz-replay-asan: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	  build/fuzz/fuzz_$$t -runs=0 -timeout=10 -rss_limit_mb=2048 tests/fuzz/corpus/$$t \
	    tests/fuzz/regress/$$t > build/fuzz/$$t-replay.log 2>&1 || \
	    { tail -n 30 build/fuzz/$$t-replay.log >&2; exit 1; }; \
	  echo "fuzz replay $$t (asan): ok"; \
	done

# make check replays the corpus and every past finding with the command-line tests.
cli-tests: fuzz-replay
