# Convenience wrapper around CMake.  `make check` and `make demo` set up every
# dependency themselves (scripts/setup.sh) before building.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
PREFIX ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all setup build build-asan check unit-asan demo install clean fuzz

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

check: setup build build-asan
	cd $(BUILD) && ctest --output-on-failure
	$(MAKE) --no-print-directory unit-asan

demo: setup build
	scripts/demo.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
