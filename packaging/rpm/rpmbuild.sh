#!/bin/bash
# Builds packaging/rpm/audisp-backlog.spec with rpmbuild (Debian's `rpm`
# package has it) from a `git archive` of HEAD, as a distribution would from
# a release tarball, and lints the spec and the result. Only committed work
# is built. Run by `make package-rpmbuild`; writes dist/rpmbuild/.
#
# --nodeps: the build host's package database is dpkg's, so rpmbuild cannot
# see the Go toolchain (BuildRequires: golang); go must be on PATH, and the
# modules come from the module cache or proxy (the spec's note says why).
set -euo pipefail
: "${VERSION:?}"
NAME=audisp-backlog
top=$(mktemp -d /tmp/$NAME-rpmbuild.XXXXXX)
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SOURCES" dist/rpmbuild

git archive --format=tar.gz --prefix="$NAME-$VERSION/" -o "$top/SOURCES/$NAME-$VERSION.tar.gz" HEAD
# Debian's rpm runs brp-compress, which needs bash (read -d), with dash, so
# it compresses nothing; run it with bash, as Fedora's buildroot effectively
# does, so the man pages are gzipped like there.
rpmbuild -ba --nodeps \
	--define "_topdir $top" \
	--define "__os_install_post bash /usr/lib/rpm/brp-compress /usr" \
	--define "commit $(git rev-parse --short=12 HEAD)" \
	packaging/rpm/$NAME.spec 2>&1 | grep -v -e 'use Alien instead' -e 'assuming you know what you are doing'
rm -f dist/rpmbuild/*.rpm
cp "$top"/RPMS/*/*.rpm "$top"/SRPMS/*.rpm dist/rpmbuild/

rpm -qlvp dist/rpmbuild/$NAME-$VERSION-*.x86_64.rpm
rpmlint -c packaging/rpm/rpmlint.toml packaging/rpm/$NAME.spec dist/rpmbuild/*.rpm
