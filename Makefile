# The two commands of the README: `make run` and `make test`. Both install
# whatever is missing first (scripts/bootstrap), so they work on a fresh
# Debian 12 machine as root.

DB     ?= ./dlq.db
LISTEN ?= 127.0.0.1:8480
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build run test bench format clean

all: build

build:
	@scripts/bootstrap
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j$(JOBS)

run: build
	./build/dlq serve --db $(DB) --listen $(LISTEN)

test:
	scripts/test

bench:
	bench/run

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan
