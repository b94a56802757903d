# Aurora — build, test and run a local federation.
# `make demo` runs a local multi-node testnet end to end; `make test` is what CI runs.

GO        ?= go
BIN       ?= bin/aurora
PKGS       = ./...
# Suites that run under the race detector in `make test` (the concurrent core),
# and the rest (CLI end to end, in-process testnet) that run without it.
RACE_PKGS  = ./treaty/... ./clock/... ./credit/... ./order/... ./judge/... ./node/... ./policy/... ./providers/... ./provenance/... ./mesh/... ./release/...
OTHER_PKGS = ./cmd/... ./testnet/... ./internal/... ./web/... ./slo/...
FUZZTIME  ?= 10s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test test-all test-ops check demo bench fuzz fuzz-ci smoke-e2e sustained test-browser chaos release clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/aurora
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/aurora-verify ./cmd/aurora-verify

# What CI runs (under 15 minutes on 2 cores): the core under the race
# detector in short mode, the CLI and testnet in short mode, and the nested
# ops module (promtool, k8s, compose, dashboard checks).
test:
	$(GO) test -race -short -count=1 -timeout 12m $(RACE_PKGS)
	$(GO) test -short -count=1 -timeout 10m $(OTHER_PKGS)
	$(MAKE) test-ops

# What make test skips under -short, run in full by .ci/run (no race
# detector): the kill -9 at every epoch phase, the badger SIGKILL test, the
# bitswap fetch after the origin left, 200,000-leaf epochs, the 10-node
# federation, the 100,000-order simulations, the long-history testnet.
LONG_PKGS = ./node/store/ ./mesh/ ./providers/simulate/ ./providers/akash/ ./providers/salad/ ./policy/ ./policy/std/ \
	./policy/examples/gpulimit/ ./provenance/ ./provenance/... ./testnet/ ./cmd/aurora/
test-long:
	$(GO) test -count=1 -timeout 45m $(LONG_PKGS)

test-ops:
	cd ops && $(GO) test -count=1 -timeout 5m ./...

# Everything, including the slow suites -short skips and the end-to-end smoke test.
test-all:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(MAKE) test-ops
	$(MAKE) smoke-e2e

check:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) mod tidy -diff
	cd ops && $(GO) mod tidy -diff
	cd bench && $(GO) mod tidy -diff

demo: build
	$(BIN) demo

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 ./treaty/ ./order/ ./node/... ./policy/... ./providers/... ./provenance/... ./mesh/...
	cd bench && $(GO) test -run '^$$' -bench . -count 1 ./...

# Short runs of every fuzz target (go test runs one fuzz target at a time).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# CI's fuzzing: every Fuzz target of the module for FUZZTIME (3s here)
# each, so a new finding fails the build (the failing input is left under
# the package's testdata/fuzz/ for review). Each package's instrumented test
# binary is built once and run per target (go test -fuzz would relink it
# every time); the corpus grows in the go command's fuzz cache. About five
# minutes on 2 cores.
fuzz-ci: FUZZTIME = 3s
fuzz-ci:
	@cache=$$($(GO) env GOCACHE)/fuzz; bin=$$(mktemp -d); trap 'rm -rf "$$bin"' EXIT; \
	$(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do \
	  targets=$$(cat "$$dir"/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p'); \
	  [ -n "$$targets" ] || continue; \
	  $(GO) test -c -fuzz=. -o "$$bin/fuzz.test" $$pkg || exit 1; \
	  for f in $$targets; do \
	    echo "== $$pkg $$f"; \
	    (cd "$$dir" && "$$bin/fuzz.test" -test.run='^$$' -test.fuzz="^$$f$$" -test.fuzztime=$(FUZZTIME) -test.fuzzcachedir="$$cache/$$pkg") || exit 1; \
	  done; \
	done

# The slow-network budget: 200 orders/s for 5 minutes against a provider
# whose leases take 60 s to run (SUSTAINED=45s is .ci/run's variant).
SUSTAINED ?= 5m
sustained:
	AURORA_SUSTAINED=$(SUSTAINED) $(GO) test -count=1 -timeout 20m -run TestSustainedSlowLaunches -v ./node/ | grep -E 'offered|^(--- |ok|FAIL)'

# The provenance soak: 3 aurora processes on loopback, sim providers,
# SOAK_RATE orders/s for SOAK with SOAK_EPOCH epochs; prints the budget
# table (.ci/run runs a short variant).
SOAK ?= 10m
SOAK_RATE ?= 1000
SOAK_EPOCH ?= 60s
soak: build
	$(GO) test -count=1 -timeout 40m -run TestSoak -v ./testnet/e2e/ -aurora-bin=$(abspath $(BIN)) -soak=$(SOAK) -soak-rate=$(SOAK_RATE) -soak-epoch=$(SOAK_EPOCH) | grep -E '^\s*(\||soak:)|^(--- |ok|FAIL)|soak_test'

# The browser verifier (web/verify) in headless Chromium against a real
# two-node federation: tampered bundles, agreement with the Go verifier, the
# page's own timing. Fails (not skips) without /usr/bin/chromium, which
# .ci/run installs.
test-browser:
	$(GO) test -count=1 -timeout 5m -v -run 'TestBrowser' ./testnet/browser/ -require-chromium

smoke-e2e: build
	$(GO) test -count=1 -timeout 10m -run TestSmokeE2E ./testnet/e2e/ -aurora-bin=$(abspath $(BIN))

# The chaos suite (issue 18), as root on network namespaces (iproute2,
# nftables, tc; skipped with a message where namespaces cannot be made): a
# 3-node federation of aurora processes partitioned for each of
# CHAOS_PARTITIONS under load, killed with SIGKILL and restarted
# CHAOS_ROUNDS times, and gossiping over a CHAOS_RATE bit/s link. Prints
# the figures ("chaos:" lines). The default takes about 6 minutes on 2
# cores; .ci/run adds a 5-minute partition and 30 rounds (about 13 minutes).
CHAOS_PARTITIONS ?= 10s,75s
CHAOS_ROUNDS     ?= 5
CHAOS_RATE       ?= 256000
chaos: build
	@out=$$(mktemp); \
	$(GO) test -count=1 -timeout 40m -run 'TestChaos' -v ./testnet/e2e/ -aurora-bin=$(abspath $(BIN)) \
	  -chaos-partitions=$(CHAOS_PARTITIONS) -chaos-rounds=$(CHAOS_ROUNDS) -chaos-rate=$(CHAOS_RATE) >$$out 2>&1; rc=$$?; \
	grep -E 'chaos:|^\s*(--- |ok|FAIL|panic|SKIP)|_test\.go:[0-9]+: ' $$out; \
	if [ $$rc -ne 0 ]; then echo "== make chaos failed ($$rc); the last 60 lines:"; tail -n 60 $$out; fi; \
	rm -f $$out; exit $$rc

# The release bundle (README "Releases"): dist/aurora-YYYYMMDD.tar.gz with
# static linux/amd64 and linux/arm64 binaries, the std policy module rebuilt
# from source, and the shipped source paths (release.Sources), reproducible
# from SOURCE_DATE_EPOCH (default: the last commit's time); SHA256SUMS; then
# with RELEASE_KEY (the operator's secret key file) it is signed and
# timestamped by the home's two TSAs and logged on the node (RELEASE_API,
# default the home's), else `aurora release dev` signs, timestamps and logs
# it with throw-away DEV keys, TSAs and log in dist/dev.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
RELEASE_STAGE     ?= dist/.stage
RELEASE_KEY       ?=
RELEASE_PUBKEY    ?= $(RELEASE_KEY:.asc=.pub.asc)
RELEASE_API       ?=
RELEASE_VERSION    = $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y%m%d)
RELEASE_LDFLAGS    = -s -w -buildid= -X main.version=$(RELEASE_VERSION)
release: build
	@test -n "$(SOURCE_DATE_EPOCH)" || { echo "release: no SOURCE_DATE_EPOCH and no git history"; exit 1; }
	rm -rf $(RELEASE_STAGE) dist/aurora-*.tar.gz* dist/SHA256SUMS dist/dev
	for arch in amd64 arm64; do for cmd in aurora aurora-verify; do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -buildvcs=false -ldflags='$(RELEASE_LDFLAGS)' \
	    -o $(RELEASE_STAGE)/bin/linux-$$arch/$$cmd ./cmd/$$cmd || exit 1; \
	done; done
	mkdir -p $(RELEASE_STAGE)/policy/std
	cd policy/std && $(GO) run ../cmd/fpbuild -o $(abspath $(RELEASE_STAGE))/policy/std/std.wasm ./guest
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(BIN) release build --src . --stage $(RELEASE_STAGE) --out dist
	rm -rf $(RELEASE_STAGE)
	@if [ -n "$(RELEASE_KEY)" ]; then \
	  set -e; t=$$(ls dist/aurora-*.tar.gz); \
	  $(BIN) release sign --key $(RELEASE_KEY) $$t; \
	  $(BIN) release log --key $(RELEASE_PUBKEY) $(if $(RELEASE_API),--api $(RELEASE_API)) $$t; \
	else \
	  echo "release: no RELEASE_KEY: signing, timestamping and logging with throw-away DEV keys (dist/dev)"; \
	  $(BIN) release dev dist/aurora-*.tar.gz; \
	fi

clean:
	rm -rf bin dist
