# The two entry points: `make demo` (the main job) and `make test` (the test suite).
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: setup configure build cli test demo bench clean

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

demo: cli
	@scripts/demo.sh $(BUILD)

bench: build
	@scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)
