# audisp-backlog: `make build`, `sudo make run`, `make test`. See README.md.

# sudo's secure_path often lacks Go: fall back to where Go installs itself.
GO          ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN         := bin/audisp-backlog
VERSION     := $(shell cat VERSION)
COMMIT      := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# Static, reproducible: no cgo, no build paths, version from VERSION and git.
GOFLAGS_BUILD := -trimpath -buildvcs=false
LDFLAGS     := -s -w -buildid= -X main.version=$(VERSION) -X main.commit=$(COMMIT)
export CGO_ENABLED := 0

# `make fuzz` explores each target for FUZZTIME; `make fuzz-quick` for seconds.
FUZZTIME_TEST ?= 3s
FUZZTIME      ?= 2m
STATICCHECK   ?= staticcheck

.PHONY: all build run test unit fuzz-quick fuzz lint bench bench-idle clean soak

all: build

build: $(BIN)

$(BIN): FORCE
	$(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o $@ ./plugin

FORCE:

# Runs the plugin by hand against the live kernel: stdout emitter, 5 s
# interval, logs on stderr. Needs root (CAP_AUDIT_CONTROL) for netlink audit.
# It reads records on stdin like under auditd; here stdin is empty input kept
# open, so only the kernel figures move. Stop it with Ctrl-C.
run: build
	@rm -f bin/run.conf; umask 077; printf 'interval = 5s\nemitters = stdout\nlog_level = info\n' > bin/run.conf
	tail -f /dev/null | ./$(BIN) -foreground -config bin/run.conf

# The test command (README, .ci/run): vet, then the unit tests under the
# race detector. `go test` runs every fuzz target on its seeds and on its
# checked-in corpus (testdata/fuzz), so the gate is deterministic: new
# inputs come from `make fuzz`, and each one found is checked in there.
test: unit

unit:
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# Every FuzzXxx in the module, run for FUZZTIME_TEST (fuzz-quick) or FUZZTIME (fuzz).
FUZZ_TARGETS = $(shell grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./e2e/' | xargs -r grep -o '^func Fuzz[A-Za-z0-9_]*' | sed 's,^\./,,; s,/[^/]*_test.go:func , ,')

fuzz-quick:
	@set -e; echo "$(FUZZ_TARGETS)" | xargs -n2 | while read -r dir fn; do \
		[ -n "$$fn" ] || continue; \
		echo "fuzz ./$$dir $$fn $(FUZZTIME_TEST)"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME_TEST) -fuzzminimizetime=1s ./$$dir; \
	done

fuzz:
	@$(MAKE) --no-print-directory fuzz-quick FUZZTIME_TEST=$(FUZZTIME)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# Benchmarks (BENCHMARKS.md). The stdin reader's in-process benchmarks run
# BENCH_COUNT times, the other packages' once; then procbench measures the
# plugin as a process (cat | plugin, a socketpair feed, idle, a loopback OTLP
# collector) against baselines and prints issue 7's goals as ratios from the
# same run. The plugin runs with method = sampled: read-only on the host
# kernel. Pass procbench flags in BENCH_FLAGS, e.g. BENCH_FLAGS='-idle 60s'.
# The idle comparison (issue 16) builds a C poller with $(CC); `make
# bench-idle` runs it alone (about 40 s).
BENCH_COUNT ?= 3
BENCH_FLAGS ?=

bench: build
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	$(GO) build -o "$$d/" ./bench/cmd/procbench ./bench/cmd/nullreader ./bench/cmd/gopoller; \
	$(GO) test -run='^$$' -bench=. -benchmem $$($(GO) list ./... | grep -v -e '/plugin/records$$' -e '/e2e'); \
	$(GO) test -run='^$$' -bench='^BenchmarkReaders$$' -count=$(BENCH_COUNT) ./plugin/records | tee "$$d/inprocess.txt"; \
	"$$d/procbench" -plugin $(BIN) -nullreader "$$d/nullreader" -gopoller "$$d/gopoller" -inprocess "$$d/inprocess.txt" -dir "$$d" -cc "$(CC)" $(BENCH_FLAGS)

bench-idle: build
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	$(GO) build -o "$$d/" ./bench/cmd/procbench ./bench/cmd/nullreader ./bench/cmd/gopoller; \
	"$$d/procbench" -only idle -plugin $(BIN) -nullreader "$$d/nullreader" -gopoller "$$d/gopoller" -dir "$$d" -cc "$(CC)" $(BENCH_FLAGS)

clean:
	rm -rf bin dist

# The eBPF probe's object (auditclient/probe, issue 12): `make generate`
# compiles queue.bpf.c again with clang-14 through bpf2go; generate-check
# does so and fails if the committed files change (CI). `make build` uses
# the committed files and needs no clang.
.PHONY: generate generate-check
generate:
	$(GO) generate ./auditclient/probe

generate-check: generate
	@out=$$(git status --porcelain -- auditclient/probe); if [ -n "$$out" ]; then \
		echo "generate-check: the committed BPF files differ from a fresh make generate:"; echo "$$out"; \
		git diff --stat -- auditclient/probe; exit 1; fi

# Packaging (packaging/packaging.mk) and the VM end-to-end harness (e2e/e2e.mk).
-include packaging/packaging.mk
-include e2e/e2e.mk

# Soak: the binary-level fault tests (plugin/faults_test.go) with every
# run's stdin fed at full speed for SOAKTIME, beside a run without a fault;
# prints each run's records/s and its ratio to the no-fault run and checks
# the ratio, then TestExitBlackholed checks the exit time against the
# README's 2 s. These are measurements: `make test` runs the same tests
# with waits on conditions only. Loopback only; root.
SOAKTIME ?= 5m
soak:
	AUDISP_SOAK=$(SOAKTIME) $(GO) test -count=1 -run '^(TestFaults|TestExitBlackholed)$$' -timeout 0 -v ./plugin
