# Convenience wrapper around CMake.  `make check` and `make demo` set up every
# dependency themselves (scripts/setup.sh) before building.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 30
PREFIX ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all setup build build-asan check unit-asan integration-asan demo install clean fuzz

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
	cd $(ASAN_BUILD) && ctest -L unit --output-on-failure

# The webhook, pipeline and reconcile integration tests again with the daemon
# built with ASan+UBSan (a sanitizer report fails the daemon's exit status).
integration-asan: build-asan
	cd $(ASAN_BUILD) && ctest -L integration --output-on-failure \
		-R 'webhook|pipeline|reconcile|build_isolation'

check: setup build build-asan
	cd $(BUILD) && ctest --output-on-failure
	$(MAKE) --no-print-directory unit-asan
	$(MAKE) --no-print-directory integration-asan
	$(MAKE) --no-print-directory fuzz

# libFuzzer on the webhook path (clang, ASan+UBSan, its own build folder), for
# FUZZ_TIME seconds over a copy of the seed corpus; new inputs stay in
# $(FUZZ_BUILD)/corpus, a crash is written as $(FUZZ_BUILD)/crash-<sha1>.
# Longer runs: docs/ARCHITECTURE.md, "Fuzzing".
$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DAOS_FUZZ=ON -DAOS_TESTS=OFF -DAOS_WERROR=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

fuzz: $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_webhook
	mkdir -p $(FUZZ_BUILD)/corpus
	cp tests/fuzz/corpus/* $(FUZZ_BUILD)/corpus/
	$(FUZZ_BUILD)/tests/fuzz/fuzz_webhook -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_control
	mkdir -p $(FUZZ_BUILD)/corpus_control
	cp tests/fuzz/corpus_control/* $(FUZZ_BUILD)/corpus_control/
	$(FUZZ_BUILD)/tests/fuzz/fuzz_control -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus_control

demo: setup build
	scripts/demo.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
