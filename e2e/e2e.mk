# The VM end-to-end harness (e2e/README.md). Included by the top Makefile.
#
#   make e2e        kernels (cached) + tools + initramfs, then every scenario
#   make e2e-smoke  the guests without the plugin: kernel, auditd, tools
#   make e2e-results  scenario 5, rewriting results/compare.{tsv,png}
#
# Kernels are cached under $(E2E_CACHE), keyed by source version, patch,
# config and build script; everything else is rebuilt into $(E2E_BUILD).

E2E_BUILD   := e2e/.build
E2E_CACHE   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/audisp-backlog-e2e
E2E_TIMEOUT ?= 40m
# Guests booted at once: qemu TCG keeps one host core busy per guest.
E2E_PARALLEL ?= $(shell nproc)
E2E_RUN     ?= .
E2E_ENV      = AUDISP_E2E=1 AUDISP_E2E_BUILD=$(CURDIR)/$(E2E_BUILD) AUDISP_E2E_CACHE=$(E2E_CACHE)

.PHONY: e2e e2e-results e2e-smoke e2e-kernels e2e-tools e2e-initramfs e2e-initramfs-noplugin e2e-clean
.PHONY: e2e-matrix e2e-matrix-initramfs e2e-images e2e-roots e2e-state

e2e: e2e-kernels e2e-debian-kernels e2e-initramfs e2e-initramfs-noplugin e2e-matrix-initramfs e2e-images
	$(E2E_ENV) $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) -parallel $(E2E_PARALLEL) -run '$(E2E_RUN)' ./e2e

# Scenario 5 again, rewriting the table and plot that the READMEs show.
e2e-results: e2e-kernels e2e-initramfs e2e-initramfs-noplugin
	$(E2E_ENV) $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) -run 'TestCompare' ./e2e -update

e2e-smoke: e2e-kernels e2e-initramfs-noplugin
	$(E2E_ENV) $(GO) test -count=1 -v -timeout 10m -run 'TestSmoke' ./e2e

e2e-kernels:
	AUDISP_E2E_CACHE=$(E2E_CACHE) e2e/scripts/kernel.sh $(E2E_BUILD)

# Static guest tools: the driver, the collector, the burst generator, the
# "other tool" that resets the mark and the 1 s poller.
e2e-tools:
	@mkdir -p $(E2E_BUILD)/tools
	$(GO) build $(GOFLAGS_BUILD) -ldflags '-s -w' -o $(E2E_BUILD)/tools/ ./e2e/cmd/...

e2e-initramfs: e2e-tools build
	AUDISP_E2E_CACHE=$(E2E_CACHE) e2e/scripts/initramfs.sh $(E2E_BUILD)/initramfs.cpio.gz $(E2E_BUILD)/tools $(BIN)

e2e-initramfs-noplugin: e2e-tools
	AUDISP_E2E_CACHE=$(E2E_CACHE) e2e/scripts/initramfs.sh $(E2E_BUILD)/initramfs-noplugin.cpio.gz $(E2E_BUILD)/tools

# The auditd matrix (issue 13): one initramfs per Debian suite, each with
# that suite's auditd and its own libraries (scripts/suite-debs.sh), and the
# Debian roots booting systemd (scripts/rootfs.sh, cached) as disk images
# holding the built .deb and a newer build of it (release 2).
E2E_SUITES ?= bookworm trixie sid
E2E_ROOTS  ?= bookworm sid

e2e-matrix: e2e-kernels e2e-matrix-initramfs e2e-images
	$(E2E_ENV) $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) -parallel $(E2E_PARALLEL) -run 'TestMatrix|TestInstall' ./e2e

# auditd 4.2.1's reload stall with the plugin vs with cat (issue 13): a
# timing in an emulated guest, so a benchmark, not part of make e2e.
.PHONY: e2e-stall
e2e-stall: e2e-kernels e2e-matrix-initramfs
	$(E2E_ENV) AUDISP_E2E_BENCH=1 $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) -run 'TestStall' ./e2e

# auditd's state reports, idle and after a burst, rewritten into
# auditdstate/testdata (the fixtures of the state report's parser).
e2e-state: e2e-kernels e2e-matrix-initramfs
	$(E2E_ENV) $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) -run 'TestMatrix/.*/state' ./e2e -update-state

e2e-matrix-initramfs: e2e-tools build
	@set -e; for s in $(E2E_SUITES); do \
		AUDISP_E2E_SUITE=$$s AUDISP_E2E_CACHE=$(E2E_CACHE) e2e/scripts/initramfs.sh \
			$(E2E_BUILD)/initramfs-$$s.cpio.gz $(E2E_BUILD)/tools $(BIN); \
	done

# The roots alone (network and dpkg, little CPU): .ci/run builds them while
# the unit tests run, first thing on a fresh machine, so the cache
# directory may not exist yet (rootfs.sh's cache key hashes the script, so
# the directory is made here).
e2e-roots:
	@mkdir -p $(E2E_CACHE)
	@set -e; for s in $(E2E_ROOTS); do AUDISP_E2E_CACHE=$(E2E_CACHE) e2e/scripts/rootfs.sh $$s; done

e2e-images: e2e-tools e2e-roots
	$(MAKE) --no-print-directory packages PKG_RELEASE=2
	$(MAKE) --no-print-directory packages PKG_RELEASE=1
	@set -e; for s in $(E2E_ROOTS); do \
		root=$$(AUDISP_E2E_CACHE=$(E2E_CACHE) e2e/scripts/rootfs.sh $$s); \
		e2e/scripts/diskimage.sh $(E2E_BUILD)/root-$$s.img "$$root" $(E2E_BUILD)/tools \
			dist/audisp-backlog_$(VERSION)-1_amd64.deb dist/audisp-backlog_$(VERSION)-2_amd64.deb; \
	done

e2e-clean:
	rm -rf $(E2E_BUILD)

# The monitoring examples (packaging/examples) against the real programs:
# promtool checks and unit-tests the rules, and the plugin sends to a real
# Prometheus 3 over OTLP/HTTP (e2e/examples). Prometheus is built from the
# Go module proxy and promtool taken from Debian's package, once, into
# $(E2E_CACHE) (e2e/scripts/prometheus.sh). The live test needs root for
# the plugin's AUDIT_GET; it changes no audit setting (method = sampled).
.PHONY: examples-check
examples-check: build
	@set -e; eval "$$(GO='$(GO)' e2e/scripts/prometheus.sh '$(E2E_CACHE)')"; \
	AUDISP_PROMETHEUS="$$PROMETHEUS" AUDISP_PROMTOOL="$$PROMTOOL" AUDISP_PLUGIN='$(CURDIR)/$(BIN)' \
		$(GO) test -count=1 -v -timeout 10m ./e2e/examples

# The eBPF probe (issue 12, e2e/probe_test.go). Debian's own kernels, as
# shipped, for the stock-kernel scenarios; cached under $(E2E_CACHE).
.PHONY: e2e-debian-kernels e2e-probe e2e-probe-bench

e2e-debian-kernels:
	AUDISP_E2E_CACHE=$(E2E_CACHE) e2e/scripts/debian-kernels.sh $(E2E_BUILD)

# The probe's scenarios alone: against the patch, on Debian's kernels.
e2e-probe: e2e-kernels e2e-debian-kernels e2e-initramfs-noplugin
	$(E2E_ENV) $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) -parallel $(E2E_PARALLEL) -run 'TestProbe' ./e2e

# The probe's overhead in the guest (BENCHMARKS.md); not part of make e2e.
# Pass audit-probe flags comma-separated, e.g. E2E_BENCH_FLAGS=-rounds=12,-dur=2s.
E2E_BENCH_FLAGS ?=
e2e-probe-bench: e2e-kernels e2e-debian-kernels e2e-initramfs-noplugin
	$(E2E_ENV) AUDISP_E2E_BENCH=1 AUDISP_E2E_BENCH_FLAGS='$(E2E_BENCH_FLAGS)' $(GO) test -count=1 -v -timeout 60m -run 'TestProbeBench' ./e2e

# What a plugin costs auditd under a flood of records (issue 16, part 2;
# e2e/flood_test.go, BENCHMARKS.md): none, cat and audisp-backlog's three
# methods, interleaved rounds in one boot of the patched kernel; not part of
# make e2e; about 6 minutes. Pass driver options comma-separated, e.g.
# E2E_FLOOD_FLAGS=rounds=3,window=5s,mode=user,variants=cat+kernel.
E2E_FLOOD_FLAGS ?=
.PHONY: e2e-flood
e2e-flood: e2e-kernels e2e-initramfs
	$(E2E_ENV) AUDISP_E2E_FLOOD=1 AUDISP_E2E_FLOOD_FLAGS='$(E2E_FLOOD_FLAGS)' $(GO) test -count=1 -v -timeout 45m -run 'TestFlood' ./e2e
