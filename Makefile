# The README's commands. `make test` and `make run` do every set-up step themselves.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build/asan
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan test test-unit test-asan run docs bench bench-runtime clean install

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DEQL_SANITIZE=ON \
	  -DEQL_GRAMMARS_DIR=$(CURDIR)/build/grammars $(CMAKE_FLAGS) >/dev/null

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The whole suite, then again under ASan+UBSan; the long-lived parts (libeqx, the LSP
# server) under valgrind; and a short libFuzzer smoke run of every harness.
test: test-unit test-asan test-valgrind test-fuzz-smoke

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

test-valgrind: build
	bash scripts/valgrind.sh $$(ls $(BUILD)/runtime/eqx_test_* 2>/dev/null) \
	  $$(ls $(BUILD)/tests/test_lsp* 2>/dev/null | grep -v '\.')

test-fuzz-smoke: build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-12} bash fuzz/run.sh

fuzz: build
	bash fuzz/run.sh

# The main job on the bundled example project: real diagnostics (exit 1 is expected there).
run: build
	@echo '$$ eqlint check examples/'
	@$(BUILD)/eqlint check examples/ || test $$? -eq 1
	@if [ -x $(BUILD)/examples/fit_square ]; then \
	  echo; echo '$$ build/examples/fit_square    (libeqx: fit y = x^2 with an MLP)'; \
	  $(BUILD)/examples/fit_square | tail -n 3; \
	  echo; echo '$$ build/examples/train_classifier    (libeqx: digits classifier)'; \
	  $(BUILD)/examples/train_classifier | tail -n 3; fi

docs: build
	$(BUILD)/eql_gendocs md rules docs/rules

bench: build
	bash bench/run.sh

# libeqx's training step vs PyTorch and NumPy (builds its own Release tree; never a gate).
bench-runtime: deps
	bash bench/runtime/run.sh

# bin/eqlint, libeqx (library, header, pkg-config file, CMake package) and the man page.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)/CMakeFiles $(BUILD)/CMakeCache.txt $(ASAN_BUILD)
