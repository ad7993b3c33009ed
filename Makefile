# Freshet's build, test and CI entry points. `make help` lists the targets.
#
# Every target installs what it needs first (scripts/deps.sh: a fast no-op
# when everything is present), so a fresh clone on a fresh machine works.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Project-local Go tools first, then the Go in /usr/local/go (not on PATH in
# every non-login shell), then whatever PATH already has.
export PATH := $(CURDIR)/.cache/bin:$(if $(wildcard /usr/local/go/bin/go),/usr/local/go/bin:)$(PATH)

GO ?= go
# Debian's cargo: sdk-rust builds with Debian's Rust and its wasm32 std.
CARGO ?= /usr/bin/cargo

# go test ./... : 2 test binaries at a time (the machine and CI have 2 cores).
GOTEST_FLAGS ?= -p 2 -timeout 20m
# Packages also run under the race detector. Narrow or widen it here or on the
# command line: make test RACE_PKGS='./engine/runtime/... ./engine/network/...'
RACE_PKGS ?= ./engine/...
RACE_FLAGS ?= -p 2 -timeout 25m

# make bench: BENCH selects benchmarks, BENCH_PKGS the packages.
BENCH ?= .
BENCH_PKGS ?= ./...
BENCHTIME ?= 200ms
BENCHCOUNT ?= 1
# 1: run benchmarks with the Kafka broker up (FRESHET_KAFKA set).
BENCH_KAFKA ?= 0

# make demo: the job file, and whether to start Kafka for it (auto: when the
# job file mentions kafka).
DEMO ?= examples/demo.yaml
DEMO_KAFKA ?= auto

export GO CARGO GOTEST_FLAGS RACE_PKGS RACE_FLAGS

.PHONY: help deps build plugins generate demo test check bench clean distclean kafka-start kafka-stop kafka-status kafka-smoke

help: ## List the targets
	@echo "Freshet make targets:"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-13s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: RACE_PKGS='$(RACE_PKGS)' GOTEST_FLAGS='$(GOTEST_FLAGS)' DEMO=$(DEMO)"
	@echo "           BENCH=$(BENCH) BENCH_PKGS=$(BENCH_PKGS) BENCHTIME=$(BENCHTIME) BENCHCOUNT=$(BENCHCOUNT)"
	@echo "Kafka broker: scripts/kafka.sh start|stop|status|smoke|run CMD (127.0.0.1:19092 by default)"

deps: ## Install Debian packages and pinned Go tools (no-op when present)
	@scripts/deps.sh

build: deps ## go build ./... and bin/freshet
	$(GO) build ./...
	@if compgen -G 'cmd/freshet/*.go' >/dev/null; then \
		echo "$(GO) build -o bin/freshet ./cmd/freshet"; \
		$(GO) build -o bin/freshet ./cmd/freshet; \
	else \
		echo "build: cmd/freshet has no Go files yet; bin/freshet not built"; \
	fi

plugins: deps ## Build the WASM plugins (make -C plugins, when plugins/Makefile exists)
	@if [[ -f plugins/Makefile ]]; then $(MAKE) -C plugins; else echo "plugins: no plugins/Makefile yet"; fi

generate: deps ## Regenerate protobuf code (proto/**/*.proto) and run go generate ./...
	@scripts/generate.sh

demo: build plugins ## Run bin/freshet run $(DEMO) (DEMO_KAFKA=auto|1|0)
	@[[ -f "$(DEMO)" ]] || { echo "demo: $(DEMO) does not exist yet"; exit 1; }
	@[[ -x bin/freshet ]] || { echo "demo: bin/freshet was not built (no cmd/freshet yet?)"; exit 1; }
	@if [[ "$(DEMO_KAFKA)" == 1 || ( "$(DEMO_KAFKA)" == auto && -n "$$(grep -il kafka '$(DEMO)')" ) ]]; then \
		echo "bin/freshet run $(DEMO)   (with the Kafka broker: FRESHET_KAFKA=127.0.0.1:$${FRESHET_KAFKA_PORT:-19092})"; \
		scripts/kafka.sh run bin/freshet run "$(DEMO)"; \
	else \
		echo "bin/freshet run $(DEMO)"; \
		bin/freshet run "$(DEMO)"; \
	fi

test: build plugins ## Start Kafka, run every test suite (Go, race, sdk-go, sdk-rust), stop Kafka
	@scripts/kafka.sh run scripts/test.sh

check: deps ## gofmt, go vet, go mod tidy -diff, shellcheck, and fail if regenerated code differs
	@scripts/check.sh

bench: deps ## Benchmarks (BENCH, BENCH_PKGS, BENCHTIME, BENCHCOUNT); compares with the last run
	@scripts/deps.sh bench
	@mkdir -p out
	@if [[ -f out/bench.txt ]]; then mv out/bench.txt out/bench.old.txt; fi
	$(if $(filter 1,$(BENCH_KAFKA)),scripts/kafka.sh run )$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem \
		-benchtime=$(BENCHTIME) -count=$(BENCHCOUNT) $(BENCH_PKGS) | tee out/bench.txt
	@if [[ -f out/bench.old.txt ]]; then echo; echo "benchstat out/bench.old.txt out/bench.txt"; \
		benchstat out/bench.old.txt out/bench.txt; fi

# make bench-nexmark: the Nexmark suite (docs/nexmark.md), every query with
# its hand-written limit; appends a table to the Nexmark section of
# docs/benchmarks.md and redraws docs/nexmark.svg. NEXMARK_FLAGS adds flags
# (e.g. NEXMARK_FLAGS='--events 1000000 --state heap').
NEXMARK_FLAGS ?=

.PHONY: bench-nexmark
bench-nexmark: build plugins ## Nexmark suite vs hand-written limits -> docs/benchmarks.md, docs/nexmark.svg
	bin/freshet bench nexmark --all $(NEXMARK_FLAGS) --report docs/benchmarks.md --plot docs/nexmark.svg

kafka-start: deps ## Start the test Kafka broker (scripts/kafka.sh start)
	@scripts/kafka.sh start

kafka-stop: ## Stop the test Kafka broker
	@scripts/kafka.sh stop

kafka-status: ## Say whether the test Kafka broker runs
	@scripts/kafka.sh status

kafka-smoke: ## Transactional round trip against the running broker
	@scripts/kafka.sh smoke

clean: ## Remove build outputs (bin/, out/, .tmp/) and the broker's state
	@scripts/kafka.sh stop
	rm -rf bin out .tmp .cache/kafka/run
	@if [[ -f plugins/Makefile ]]; then $(MAKE) -C plugins clean; fi

distclean: clean ## clean, and drop .cache/ (Go tools, Kafka jars)
	rm -rf .cache
