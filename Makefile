# metricwrap: build, run and test. `make test` is what CI runs.
GO       ?= go
BIN      ?= bin/metricwrap
PKG      := github.com/metricwrap/metricwrap
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w \
	-X github.com/prometheus/common/version.Version=$(VERSION) \
	-X github.com/prometheus/common/version.Revision=$(REVISION) \
	-X github.com/prometheus/common/version.Branch=main
# The whole suite, -race included, must stay well inside CI's 90 minutes.
TEST_TIMEOUT ?= 30m

.PHONY: all build run test test-short test-deps lint bench fuzz soak clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/metricwrap

# Serve the embedded default config on :9761 (nothing else needed).
run:
	$(GO) run ./cmd/metricwrap serve

# Installs the real components the tests use (idempotent), then runs every
# test with the race detector. Tests needing a component fail, not skip, when
# CI is set and it is missing.
test: test-deps
	$(GO) vet ./...
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

test-deps:
	./scripts/install-test-deps

# Quick loop for development: no race detector, long tests skipped.
test-short:
	$(GO) test -short -count=1 ./...

# golangci-lint v2 with .golangci.yml, from PATH or .tools/bin; install it with
#   GOBIN=$(CURDIR)/.tools/bin go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
lint:
	$(GO) vet ./...
	@lint=$$(command -v golangci-lint || ls .tools/bin/golangci-lint 2>/dev/null); \
	if [ -n "$$lint" ]; then $$lint run ./...; else echo "golangci-lint not installed; ran go vet only"; fi

bench:
	./scripts/bench

fuzz:
	./scripts/fuzz

soak:
	./scripts/soak

clean:
	rm -rf bin
