# Packaging, included by the top Makefile.
#
#   make packages       dist/audisp-backlog_$(VERSION)-1_amd64.deb and
#                       dist/audisp-backlog-$(VERSION)-1.x86_64.rpm, built by nfpm
#   make package-check  lintian, rpmlint, install tests, auditd's plugin
#                       rules and reproducibility (packaging/check.sh; as root)
#   make package-rpmbuild  the Fedora-style spec, built with rpmbuild
#
# nfpm is pinned in packaging/tools/go.mod, a module file of its own so that
# its dependencies stay out of the product's go.mod; the Go toolchain builds
# it from the module proxy like any dependency.

PKG_RELEASE  ?= 1
PKG_BIN      ?= $(BIN)
# Who the packages name as maintainer: set it to yourself for builds you
# distribute (make packages PKG_MAINTAINER='Jane Doe <jane@example.org>').
PKG_MAINTAINER ?= audisp-backlog maintainers <maintainers@users.noreply.r-seed-2336950b.example>
PKG_STAGE    := dist/stage
PKG_DEB      := dist/audisp-backlog_$(VERSION)-$(PKG_RELEASE)_amd64.deb
PKG_RPM      := dist/audisp-backlog-$(VERSION)-$(PKG_RELEASE).x86_64.rpm
# The conf helper's files; overridable only to test the packaging alone.
PKG_CONF     ?= packaging/audisp-backlog.conf
PKG_CONF5    ?= packaging/audisp-backlog.conf.5
PKG_SYNOPSIS := auditd plugin reporting the audit backlog high-water mark
PKG_RPM_INTRO := audisp-backlog is a plugin for the Linux audit daemon, auditd.
NFPM         := $(GO) tool -modfile=packaging/tools/go.mod nfpm

# Packages carry the time of the last commit, not of the build, so two
# builds of one commit are byte-identical (nfpm and gzip -n honour it).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: packages package-stage package-check package-rpmbuild package-deps

# PKG_BIN other than $(BIN) packages a given binary without building.
packages: $(if $(filter $(BIN),$(PKG_BIN)),build) package-stage
	@mkdir -p dist
	rm -f $(PKG_DEB) $(PKG_RPM)
	PKG_VERSION=$(VERSION) PKG_RELEASE=$(PKG_RELEASE) PKG_STAGE=$(PKG_STAGE) PKG_MAINTAINER='$(PKG_MAINTAINER)' \
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) PKG_DESC_FIRST='$(PKG_SYNOPSIS)' \
		$(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(PKG_DEB)
	PKG_VERSION=$(VERSION) PKG_RELEASE=$(PKG_RELEASE) PKG_STAGE=$(PKG_STAGE) PKG_MAINTAINER='$(PKG_MAINTAINER)' \
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) PKG_DESC_FIRST='$(PKG_RPM_INTRO)' \
		$(NFPM) package --config packaging/nfpm.yaml --packager rpm --target $(PKG_RPM)

# Files nfpm takes from the stage: the binary, the gzipped man pages and the
# default config (modes are set in nfpm.yaml, not taken from here).
package-stage:
	rm -rf $(PKG_STAGE)
	mkdir -p $(PKG_STAGE)
	cp $(PKG_BIN) $(PKG_STAGE)/audisp-backlog
	cp $(PKG_CONF) $(PKG_STAGE)/audisp-backlog.conf
	gzip -9n < packaging/audisp-backlog.8 > $(PKG_STAGE)/audisp-backlog.8.gz
	gzip -9n < $(PKG_CONF5) > $(PKG_STAGE)/audisp-backlog.conf.5.gz
	touch -d @$(SOURCE_DATE_EPOCH) $(PKG_STAGE)/*

# Packaging twice gives the same bytes (the binary's own check is check.sh's
# repro step), then check.sh runs the rest.
package-check: packages
	cd dist && sha256sum $(notdir $(PKG_DEB) $(PKG_RPM)) > packages.sha256
	$(MAKE) --no-print-directory packages PKG_BIN=$(PKG_BIN) PKG_CONF=$(PKG_CONF) PKG_CONF5=$(PKG_CONF5) >/dev/null
	cd dist && sha256sum -c packages.sha256
	GO='$(GO)' GOFLAGS_BUILD='$(GOFLAGS_BUILD)' LDFLAGS='$(LDFLAGS)' \
	VERSION=$(VERSION) PKG_RELEASE=$(PKG_RELEASE) PKG_BIN=$(PKG_BIN) BIN=$(BIN) \
	PKG_DEB=$(PKG_DEB) PKG_RPM=$(PKG_RPM) PKG_CONF5=$(PKG_CONF5) \
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) PKG_DEPS_CMD="$(PKG_DEPS_CMD)" \
		packaging/check.sh $(PKG_CHECKS)

# The spec built by rpmbuild from a `git archive` of HEAD (committed work only).
package-rpmbuild:
	VERSION=$(VERSION) packaging/rpm/rpmbuild.sh

# packaging/deps.txt: every package linked into the binary, with its module
# version (like tailscale's depaware.txt), so a review sees what a change
# pulls in. package-check fails when it is stale; this rewrites it.
PKG_DEPS_CMD := CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) list -deps \
	-f '{{.ImportPath}}{{with .Module}}{{with .Version}} {{.}}{{end}}{{end}}' ./plugin

package-deps:
	{ echo '# Packages linked into bin/audisp-backlog (make package-deps rewrites this).'; \
	  $(PKG_DEPS_CMD); } > packaging/deps.txt
