# `make demo` runs the main job end to end; `make test` installs what the tests need and runs them.
CARGO ?= cargo

.PHONY: all build test test-deps lint demo clean

all: build

build:
	$(CARGO) build --release

test-deps:
	./scripts/install-test-deps.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test: test-deps lint
	$(CARGO) test --all-targets

demo: test-deps build
	./scripts/demo.sh

clean:
	$(CARGO) clean
