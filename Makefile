# clbdrain: build, test, lint, demo, benchmarks.
# Tools are pinned and built from the Go module proxy into ./bin (git-ignored).

GO            ?= go
BIN           := $(CURDIR)/bin
TEMPORAL_CLI_VERSION := v1.5.1
STATICCHECK_VERSION  := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0

# The temporal CLI: from PATH when there, else built once into ./bin.
TEMPORAL ?= $(or $(shell command -v temporal 2>/dev/null),$(BIN)/temporal)

export CLBDRAIN_TEMPORAL_CLI := $(TEMPORAL)

.PHONY: all build test unit e2e lint fmt-check vet staticcheck workflowcheck tools demo bench fuzz clean

all: build

build:
	$(GO) build ./...
	$(GO) build -o $(BIN)/ ./cmd/...

## test: every test, end-to-end on a real Temporal dev server included, after the linters.
test: lint $(TEMPORAL)
	CLBDRAIN_E2E=1 $(GO) test -race -count=1 -timeout 20m ./...

## unit: the tests that need no Temporal server.
unit:
	$(GO) test -race -count=1 ./...

lint: fmt-check vet staticcheck workflowcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(BIN)/staticcheck
	$(BIN)/staticcheck ./...

workflowcheck: $(BIN)/workflowcheck
	$(BIN)/workflowcheck ./workflows/...

tools: $(BIN)/staticcheck $(BIN)/workflowcheck $(TEMPORAL)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/workflowcheck:
	GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

$(BIN)/temporal:
	@echo "building the temporal CLI $(TEMPORAL_CLI_VERSION) into ./bin (once, a few minutes)"
	GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

## demo: a Temporal dev server, clbsim with a sample fleet, the worker, and two drains with a progress bar.
demo: $(TEMPORAL)
	TEMPORAL=$(TEMPORAL) bash scripts/demo.sh

clean:
	rm -rf $(BIN) .demo
