# The two entry points: `make demo` (the main job) and `make test` (the test suite).
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: setup configure build cli test test-distributed demo bench clean

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

cli: configure
	@cmake --build $(BUILD) -j $(JOBS) --target flotilla_cli

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Only the MPI tests (label mpi), one at a time: local ranks, a killed rank, two netns "hosts".
test-distributed: configure
	@cmake --build $(BUILD) -j $(JOBS) --target flotilla_cli test_mpi
	@cd $(BUILD) && ctest -L '^mpi$$' --output-on-failure

demo: cli
	@scripts/demo.sh $(BUILD)

bench: build
	@scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)
