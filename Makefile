# The two entry points: `make demo` (the main job) and `make test` (the test suite).
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu)
FUZZ_SECONDS ?= 30

.PHONY: setup configure build cli arm64-sysroot test test-distributed test-sanitize fuzz demo bench clean

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

cli: configure
	@cmake --build $(BUILD) -j $(JOBS) --target flotilla_cli

# Debian's arm64 libtorch and the CLI's other libraries, unpacked (not installed) for the test that
# cross-builds the CLI and runs it under qemu; without them that test skips (fails under CI).
arm64-sysroot:
	@scripts/arm64_sysroot.sh $(BUILD)/arm64-sysroot || echo "make: no arm64 sysroot; Arm64Cli.GenerateUnderQemu will skip" >&2

test: build arm64-sysroot
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Only the MPI tests (label mpi), one at a time: local ranks, a killed rank, two netns "hosts".
test-distributed: configure
	@cmake --build $(BUILD) -j $(JOBS) --target flotilla_cli test_mpi
	@cd $(BUILD) && ctest -L '^mpi$$' --output-on-failure

# The unit tests under ASan+UBSan (gcc, build-sanitize/). Slow, so not part of CI (README "Fuzzing").
test-sanitize: setup
	@cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOTILLA_SANITIZE=ON >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	@cd build-sanitize && LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0 \
	  ctest --output-on-failure -j $(JOBS) -LE 'mpi|demo'
	@# Under mpirun, Open MPI's own allocations come without usable stacks: no leak check there.
	@cd build-sanitize && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j $(JOBS) -L 'mpi|demo'

# Every libFuzzer harness (tests/fuzz; clang, ASan+UBSan) for FUZZ_SECONDS each: make fuzz FUZZ_SECONDS=600
fuzz: setup
	@JOBS=$(JOBS) scripts/fuzz.sh $(FUZZ_SECONDS)

demo: cli
	@scripts/demo.sh $(BUILD)

bench: build
	@scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)
