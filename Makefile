# Berth. `make run` builds the default image and boots it in QEMU with the
# console on this terminal; `make test` runs every test, the QEMU boot
# matrix included. Both install what they need first (make deps).

SHELL := /bin/bash
GO := $(shell scripts/go.sh)
export PATH := $(dir $(GO)):$(PATH)
export GOTOOLCHAIN := local
OUT ?= out
SPEC ?= images/berth.yaml
# The QEMU matrix runs this many machines at once (each TCG vCPU is a core).
QEMU_PARALLEL ?= 2

.PHONY: all deps tidy-check build run test unit-test privileged-test qemu-test fuzz bench clean

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

# Unit tests, then the privileged network tests (namespaces, as root), then
# the QEMU boot tests. None is ever skipped.
test: deps tidy-check
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(MAKE) --no-print-directory privileged-test qemu-test

# go.mod and go.sum of both modules (Berth's own, and tools/ with containerd
# and runc) say exactly what the code imports.
tidy-check:
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff

privileged-test:
	@if [ "$$(id -u)" -ne 0 ]; then echo "privileged tests need root (network namespaces)"; exit 1; fi
	$(GO) test -count=1 -tags privileged ./services/network/

# The image is built first (a cold cache compiles the kernel here), so that
# go test's timeout is the suite's own: its budget is 40 minutes, and a hang
# is reported by go test (with every goroutine) well before CI's 90 minutes
# are up.
qemu-test: build
	$(GO) test -count=1 -tags qemu -timeout 50m -v ./test/ -berth.out $(CURDIR)/$(OUT)/test -berth.vms $(QEMU_PARALLEL) -berth.budget 40m

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
