# sddb's entry points. The README's two commands, `make demo` and `make test`, work as root from
# a clean clone on Debian 12: both run scripts/setup first, which installs what is missing.
# Builds go through CMakePresets.json (scripts/configure): build/ (default), build-asan/ (asan),
# build-fuzz/ (fuzz).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

JOBS ?= $(shell nproc)
export JOBS
# Total seconds of libFuzzer running inside `make test`, split among the fuzz targets.
FUZZ_SECONDS ?= 60
export FUZZ_SECONDS

# The demo imports the package records of `apt-cache dumpavail` into an embedded SQLite database.
DEMO_BIN ?= ./build/examples/debian_packages_demo
DEMO_DB ?= sqlite://./demo-data/packages.db
DEMO_INPUT ?= apt-cache dumpavail
DEMO_CMD ?= $(DEMO_INPUT) | $(DEMO_BIN) --db $(DEMO_DB) -

.PHONY: all setup configure build demo test test-release test-asan test-fuzz fuzz bench python \
        clean help

all: build

help:
	@echo "make setup    install the Debian packages the build needs (scripts/setup)"
	@echo "make build    release build in build/ (RelWithDebInfo)"
	@echo "make demo     setup + build + import apt-cache dumpavail and run queries"
	@echo "make test     setup + release tests + ASan/UBSan tests + a short libFuzzer run"
	@echo "              (FUZZ_SECONDS=$(FUZZ_SECONDS); STAGES='release asan fuzz' picks stages)"
	@echo "make fuzz     only the libFuzzer stage (FUZZ_SECONDS=600 make fuzz for a longer run)"
	@echo "make bench    build and run the benchmarks in build/bench/"
	@echo "make python   build and install the Python package sddb, then run its tests"
	@echo "make clean    remove build/, build-asan/, build-fuzz/ and demo-data/"

setup:
	scripts/setup

configure: setup
	scripts/configure default

build: configure
	cmake --build --preset default -j $(JOBS)

demo: build
	@if [[ ! -x $(DEMO_BIN) ]]; then \
	  echo "make demo: $(DEMO_BIN) was not built (examples/ has no demo target yet?)" >&2; \
	  exit 1; \
	fi
	mkdir -p demo-data
	$(DEMO_CMD)

test: setup
	scripts/run_tests

test-release: setup
	STAGES=release scripts/run_tests

test-asan: setup
	STAGES=asan scripts/run_tests

test-fuzz fuzz: setup
	STAGES=fuzz scripts/run_tests

# Runs every benchmark executable that bench/CMakeLists.txt builds.
bench: build
	@found=0; \
	for exe in build/bench/*; do \
	  [[ -f $$exe && -x $$exe ]] || continue; \
	  found=1; echo "==== $$exe"; "$$exe"; \
	done; \
	if [[ $$found -eq 0 ]]; then echo "make bench: no benchmarks in build/bench/" >&2; exit 1; fi

# The Python package (python/, built in build/ by the default preset with SDDB_BUILD_PYTHON=ON):
# builds the module, installs the package for Debian's /usr/bin/python3 into
# /usr/local/lib/python3.X/dist-packages/sddb (Debian's place for packages not from apt; needs
# root), checks that it imports from anywhere, then runs its pytest suite on the installed copy.
python: setup
	scripts/configure default -DSDDB_BUILD_PYTHON=ON
	cmake --build --preset default -j $(JOBS) --target sddb_python
	cmake --install build --component python
	cd / && /usr/bin/python3 -c "import sddb; print('make python: sddb', sddb.__version__, 'in', sddb.__file__)"
	/usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests

clean:
	rm -rf build build-asan build-fuzz demo-data
