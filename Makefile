# `make demo` runs the main job end to end; `make test` installs what the tests need and runs them.
CARGO ?= cargo

.PHONY: all build dist test test-deps lint demo bench fuzz fuzz-smoke clean

all: build

build:
	$(CARGO) build --release

# A self-contained, stripped x86_64 Linux binary and its sha256 in dist/, to carry across the gap.
dist:
	./scripts/dist.sh

test-deps:
	./scripts/install-test-deps.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) fmt --manifest-path crates/gzip-exact/fuzz/Cargo.toml -- --check

test: test-deps lint
	$(CARGO) test --workspace --all-targets
	$(MAKE) fuzz-smoke

# Fuzzing (cargo fuzz, libFuzzer): every target for FUZZ_SECONDS each; the smoke is CI's share.
FUZZ_SECONDS ?= 600
fuzz:
	./scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke:
	SANITIZER=none ./scripts/fuzz.sh 15

demo: test-deps build
	./scripts/demo.sh

# Benchmarks against skopeo and the machine's limit (small and medium sets; large by hand:
# bench/run.py large). Results go to bench/results/.
bench: test-deps build
	$(CARGO) build --release -p gzip-exact --example encode_cpu
	command -v python3 >/dev/null || apt-get install -y -qq python3
	python3 bench/run.py small medium

clean:
	$(CARGO) clean
