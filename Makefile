# Berth. `make run` builds the default image and boots it in QEMU with the
# console on this terminal; `make test` runs every test, the QEMU boot
# matrix included. Both install what they need first (make deps).

SHELL := /bin/bash
GO := $(shell scripts/go.sh)
export PATH := $(dir $(GO)):$(PATH)
export GOTOOLCHAIN := local
OUT ?= out
SPEC ?= images/berth.yaml
# The QEMU suite keeps at most this many cores busy (each TCG vCPU, and
# each build, holds a core).
QEMU_CORES ?= $(shell nproc)
# What qemu-test builds first; scripts/test.sh has built it in a phase of
# its own.
QEMU_TEST_DEPS ?= build

.PHONY: all deps tidy-check vet compile-tests build run test unit-test privileged-test kernel-check test-assets qemu-test fuzz bench clean

all: build

deps:
	@scripts/install-deps.sh
	@$(GO) version >/dev/null
	@$(GO) mod download
	@cd tools && $(GO) mod download

bin/berth: deps $(shell find . -name '*.go' -not -path './test/*' -not -path './out/*') go.mod go.sum
	$(GO) build -trimpath -o bin/berth ./cmd/berth

build: bin/berth
	bin/berth build $(SPEC) -o $(OUT)

run: build
	bin/berth run $(OUT)

# The kernel work tree's incremental build gives the cached kernel's bytes
# (two incremental builds, once per kernel: the verdict is cached).
kernel-check: bin/berth
	bin/berth kernel check-incremental

# Every test, in phases that fail fast: the cheap checks and the
# compilation of every test binary come before the image build (a cold
# cache compiles the kernel there), then the unit tests, the privileged
# network tests (namespaces, as root) and the QEMU boot tests. None is
# ever skipped. scripts/test.sh times each phase and ends with a summary
# of them, red or green.
test:
	@GO=$(GO) MAKE="$(MAKE)" OUT=$(OUT) scripts/test.sh

vet:
	$(GO) vet ./...
	$(GO) vet -tags qemu,privileged ./...

# Compiles the QEMU and privileged test binaries (not run): a broken test
# file fails here, before the image build.
compile-tests:
	$(GO) test -c -tags qemu -o $(OUT)/testbin/ ./test/
	$(GO) test -c -tags privileged -o $(OUT)/testbin/ ./services/network/

unit-test:
	$(GO) test -count=1 ./...

# go.mod and go.sum of both modules (Berth's own, and tools/ with containerd
# and runc) say exactly what the code imports.
tidy-check:
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff

privileged-test:
	@if [ "$$(id -u)" -ne 0 ]; then echo "privileged tests need root (network namespaces)"; exit 1; fi
	$(GO) test -count=1 -tags privileged ./services/network/

# Everything the QEMU suite uses that takes more than a few seconds to
# make (the test userland from its pinned .debs, the docker image, the
# image variants, the helper programs), made into the cache before the
# timed suite: the only step of the tests that may use the network.
test-assets: $(QEMU_TEST_DEPS)
	@timeout=3600; \
	if [ -n "$${BERTH_DEADLINE:-}" ]; then \
		left=$$(( BERTH_DEADLINE - $$(date +%s) - 60 )); \
		if [ $$left -lt $$timeout ]; then timeout=$$(( left > 120 ? left : 120 )); fi; \
	fi; \
	set -x; $(GO) test -count=1 -tags qemu -timeout $${timeout}s -run '^TestAssets$$' -v ./test/ -berth.out $(CURDIR)/$(OUT)/test

# The image and the test assets are made first (a cold cache compiles the
# kernel there), so that go test's time is the suite's own. The suite runs
# in a network namespace with only loopback (unshare -n, as root): a
# request to the outside fails the test that makes it, at once. Its
# /etc/resolv.conf (a mount namespace of its own) names the test's DNS
# server, which refuses every name: a lookup fails at once too, the
# guests' through QEMU's user network as well. Each
# scenario has a deadline of its own (test/sched). BERTH_DEADLINE (a Unix time; .ci/run sets it from CI's
# 90 minutes) bounds the whole suite: it stops at 4 minutes before it,
# killing what runs and printing the timing table, and go test's timeout,
# with its goroutine dump, fires a minute before it. Without it the suite
# has 85 minutes and go test 90.
qemu-test: $(QEMU_TEST_DEPS) $(if $(QEMU_TEST_DEPS),test-assets)
	@timeout=5400; stop=5100; \
	if [ -n "$${BERTH_DEADLINE:-}" ]; then \
		left=$$(( BERTH_DEADLINE - $$(date +%s) )); \
		timeout=$$(( left - 60 )); stop=$$(( left - 240 )); \
		if [ $$stop -lt 300 ]; then stop=300; timeout=420; fi; \
		echo "qemu-test: $$(( left / 60 )) min left before BERTH_DEADLINE: the suite stops after $${stop}s, go test times out after $${timeout}s"; \
	fi; \
	mkdir -p $(OUT)/test && printf 'nameserver 127.0.0.1\n' >$(OUT)/test/resolv.conf; \
	set -x; unshare --net --mount -- sh -c 'ip link set lo up && mount --bind "$$0" /etc/resolv.conf && exec "$$@"' $(CURDIR)/$(OUT)/test/resolv.conf \
		$(GO) test -count=1 -tags qemu -timeout $${timeout}s -run '^(TestQEMU|TestScenarios|TestRefusal)$$' -v ./test/ -berth.out $(CURDIR)/$(OUT)/test -berth.cores $(QEMU_CORES) -berth.deadline $${stop}s -berth.refuse-dns

# Every fuzz target (scripts/fuzz-targets) for FUZZTIME each, one after
# another, a line each; FUZZFLAGS=-parallel=1 on a busy machine. go test
# runs their seeds, so CI does; this explores.
FUZZTIME ?= 10m
FUZZFLAGS ?=
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZFLAGS="$(FUZZFLAGS)" scripts/fuzz.sh

bench: bin/berth
	$(GO) run ./bench -out $(OUT)/bench

clean:
	rm -rf $(OUT) bin
