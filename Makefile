# clbdrain: build, test, lint, demo, benchmarks.
# Tools are pinned and built from the Go module proxy into ./bin (git-ignored).

GO            ?= go
BIN           := $(CURDIR)/bin
TEMPORAL_CLI_VERSION := v1.5.1
STATICCHECK_VERSION  := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0
# The Temporal server of make test-cluster: the release of docker-compose.yaml's images.
TEMPORAL_SERVER_VERSION := v1.31.0

# The temporal CLI: from PATH when there, else built once into ./bin.
TEMPORAL ?= $(or $(shell command -v temporal 2>/dev/null),$(BIN)/temporal)

export CLBDRAIN_TEMPORAL_CLI := $(TEMPORAL)

.PHONY: all build test test-cluster unit lint fmt-check tidy-check vet staticcheck workflowcheck tools demo bench fuzz clean

all: build

build:
	$(GO) build ./...
	$(GO) build -o $(BIN)/ ./cmd/...

## test: every test, end-to-end and reliability on a real Temporal dev server included, after the
## linters; the reliability campaign's table is printed at the end, pass or fail.
test: lint $(TEMPORAL)
	@mkdir -p $(BIN) && rm -f $(BIN)/reliability.txt
	CLBDRAIN_E2E=1 CLBDRAIN_REPORT=$(BIN)/reliability.txt $(GO) test -race -count=1 -timeout 20m ./...; \
		status=$$?; cat $(BIN)/reliability.txt 2>/dev/null; exit $$status

## test-cluster: the end-to-end scenarios on a real Temporal cluster: two server nodes over
## PostgreSQL, one killed with kill -9 mid-drain and started again (about 3 minutes, the
## first time 4-20 more to build the server, depending on load; installs PostgreSQL with
## apt-get when missing).
test-cluster:
	TEMPORAL_SERVER_VERSION=$(TEMPORAL_SERVER_VERSION) GO=$(GO) bash scripts/test-cluster.sh

## unit: the tests that need no Temporal server (the end-to-end ones are skipped).
unit:
	CLBDRAIN_E2E=0 $(GO) test -race -count=1 ./...

lint: fmt-check tidy-check vet staticcheck workflowcheck

## tidy-check: go.mod and go.sum are what `go mod tidy` makes of them.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(BIN)/staticcheck
	$(BIN)/staticcheck ./...

workflowcheck: $(BIN)/workflowcheck
	$(BIN)/workflowcheck ./workflows/... ./examples/...

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

## bench: clbdrain against clbsim and a Temporal dev server (about 4 minutes): one table of ratios and counts; exits 1 if a target is missed.
bench: $(TEMPORAL)
	$(GO) build -o $(BIN)/ ./cmd/worker ./cmd/starter ./cmd/bench
	$(BIN)/bench -temporal $(TEMPORAL) -worker $(BIN)/worker -starter $(BIN)/starter

## fuzz: every fuzz target of the module (each func Fuzz* of a _test.go file), one after another, for FUZZTIME each.
FUZZTIME ?= 1m
fuzz:
	@set -e; grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' . | \
		sed -E 's|^(.*)/[^/]+:func (Fuzz[A-Za-z0-9_]+)\(.*|\1 \2|' | sort | \
		while read -r pkg target; do \
			echo "fuzzing $$target ($$pkg) for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done

clean:
	rm -rf $(BIN) .demo
