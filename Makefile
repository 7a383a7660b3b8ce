# Convenience wrapper around CMake.  `make check` and `make demo` set up every
# dependency themselves (scripts/setup.sh) before building.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 30
PREFIX ?= /usr/local
CMAKE_FLAGS ?=
# The tests two at a time (CTEST_JOBS): most of an integration test's time is
# spent waiting on servers and children, and every test takes its own free
# ports and temporary folders, so they run side by side (make check-stress
# runs them so under load too).
CTEST_JOBS ?= 2

.PHONY: all setup build build-asan check check-stress unit-asan integration-asan bench-smoke \
	demo install clean fuzz deb soak

all: build

setup:
	scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DAOS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DAOS_WERROR=ON -DAOS_SANITIZE=ON \
		-DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)

build-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
unit-asan: build-asan
	cd $(ASAN_BUILD) && ctest -L unit -j $(CTEST_JOBS) --output-on-failure --no-tests=error

# The webhook, pipeline and reconcile integration tests again with the daemon
# built with ASan+UBSan (a sanitizer report fails the daemon's exit status).
integration-asan: build-asan
	cd $(ASAN_BUILD) && ctest -L integration -j $(CTEST_JOBS) --output-on-failure \
		--no-tests=error \
		-R 'webhook|pipeline|reconcile|build_isolation|listen_tls'

# Every benchmark once on tiny inputs (ctest label `bench`): one that no
# longer works fails; nothing is timed.  `make check` runs them with the rest
# of ctest.  Real runs: docs/benchmarks.md.
bench-smoke: build
	cd $(BUILD) && ctest -L bench --output-on-failure --no-tests=error

check: setup build build-asan
	cd $(BUILD) && ctest -j $(CTEST_JOBS) --output-on-failure --no-tests=error
	$(MAKE) --no-print-directory unit-asan
	$(MAKE) --no-print-directory integration-asan
	$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(FUZZ_CHECK_TIME)

# The integration tests three times in a row (STRESS_RUNS) under stress-ng on
# both cores (STRESS_ARGS), stress-ng stopped at the end whatever happens;
# STRESS_TESTS=REGEX for a subset.  Not part of `make check`: for a quiet
# machine (docs/ARCHITECTURE.md, "Tests").
check-stress: build
	scripts/check-stress.sh $(BUILD)

# The fleet test (tests/integration/test_fleet.py: three daemons on one
# PostgreSQL under kills, stops and a database restart; issue 17) with
# SOAK_JOBS publish jobs instead of the 100 `make check` runs; AOS_FLEET_SEED
# replays a run.  Not part of `make check`: it takes tens of minutes.
SOAK_JOBS ?= 1000
soak: build
	AOS_FLEET_JOBS=$(SOAK_JOBS) AOS_BUILD_DIR=$(abspath $(BUILD)) AOS_SOURCE_DIR=$(CURDIR) \
		.venv/bin/python -m pytest -q -s -p no:cacheprovider tests/integration/test_fleet.py

# libFuzzer targets (clang, ASan+UBSan, their own build folder): every
# tests/fuzz/fuzz_NAME.c, each for FUZZ_TIME seconds in turn, over a copy of
# its seeds tests/fuzz/corpus_NAME (and with tests/fuzz/fuzz_NAME.dict when
# there is one); new inputs stay in $(FUZZ_BUILD)/corpus_NAME, a crash is
# written as $(FUZZ_BUILD)/fuzz_NAME-crash-<sha1>.  `make check` runs each
# for FUZZ_CHECK_TIME seconds.  Longer runs: docs/ARCHITECTURE.md, "Fuzzing".
FUZZ_CHECK_TIME ?= 5
FUZZ_TARGETS ?= $(sort $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))

$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DAOS_FUZZ=ON -DAOS_TESTS=OFF -DAOS_WERROR=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

fuzz: $(FUZZ_BUILD)/CMakeCache.txt
	cmake $(FUZZ_BUILD) > /dev/null # a target added since the folder was configured
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	@set -e; for t in $(FUZZ_TARGETS); do \
		n=$${t#fuzz_}; seeds=tests/fuzz/corpus_$$n; corpus=$(FUZZ_BUILD)/corpus_$$n; \
		if [ ! -d $$seeds ]; then echo "$$t: no seed corpus $$seeds" >&2; exit 1; fi; \
		mkdir -p $$corpus; cp $$seeds/* $$corpus/; \
		dict=; [ ! -f tests/fuzz/$$t.dict ] || dict=-dict=tests/fuzz/$$t.dict; \
		echo "== $$t for $(FUZZ_TIME) s"; \
		$(FUZZ_BUILD)/tests/fuzz/$$t -max_total_time=$(FUZZ_TIME) -timeout=25 \
			-print_final_stats=1 $$dict -artifact_prefix=$(FUZZ_BUILD)/$$t- $$corpus; \
	done

demo: setup build
	scripts/demo.sh $(BUILD)

install: build
	cmake --install $(BUILD)

# The Debian package (docs/packaging.md): the tree's files (tracked and
# untracked, not ignored) are copied to DEB_OUT/src and built there with
# `dpkg-buildpackage -us -uc -b`, so the checkout stays clean; the .deb,
# .buildinfo and .changes land in DEB_OUT, then lintian checks the package
# (errors and warnings fail; the overrides are explained in packaging.md).
DEB_OUT ?= $(abspath $(CURDIR)/..)/$(notdir $(CURDIR))-deb
deb:
	scripts/build-deb.sh "$(DEB_OUT)" $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
