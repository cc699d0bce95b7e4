#!/bin/sh
# debian-kernels.sh OUTDIR [SUITE...]: fetch Debian's own kernel images
# (bookworm 6.1, trixie 6.12, sid by default), unsigned as shipped, and
# link OUTDIR/debian-SUITE.vmlinuz to each. They boot from the e2e
# initramfs alone: everything the guest needs (serial console, devtmpfs,
# audit, BPF, BTF) is built in.
#
# Each suite is read through a private apt configuration (own sources list,
# lists and cache under the e2e cache), so the host's apt state is never
# touched. The image package is the unsigned twin of the one Debian's
# linux-image-amd64 metapackage depends on; its vmlinuz (and config)
# are kept under $CACHE/debian-kernels/SUITE/VERSION/ and the deb is
# deleted. A suite fetched in the last seven days is not asked again.
set -eu

out=${1:?usage: debian-kernels.sh OUTDIR [SUITE...]}
shift
suites=${*:-bookworm trixie sid}
cache=${AUDISP_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audisp-backlog-e2e}
base=$cache/debian-kernels
mkdir -p "$out" "$base"

for suite in $suites; do
	# The image fetched last, reused without asking the archive for a week
	# (the package lists alone are ~30 MB a suite); AUDISP_E2E_REFRESH=1
	# asks anyway.
	current=$base/$suite/current
	if [ -z "${AUDISP_E2E_REFRESH:-}" ] && [ -f "$current/vmlinuz" ] &&
		[ -n "$(find "$current/" -maxdepth 1 -name fetched -mtime -7)" ]; then
		ln -sf "$(readlink -f "$current")/vmlinuz" "$out/debian-$suite.vmlinuz"
		echo "debian-kernels.sh: $suite: cached $(basename "$(readlink -f "$current")")"
		continue
	fi
	apt=$base/apt-$suite
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	echo "deb http://deb.debian.org/debian $suite main" >"$apt/sources.list"
	set -- -o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts=- \
		-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" \
		-o Dir::State::status=/dev/null -o APT::Sandbox::User=root -o Debug::NoLocking=1 \
		-o Acquire::Languages=none -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
	apt-get "$@" -q update >/dev/null
	meta=$(apt-cache "$@" depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
	[ -n "$meta" ] || { echo "debian-kernels.sh: $suite: linux-image-amd64 depends on no linux-image-*-amd64" >&2; exit 1; }
	# Up to trixie: linux-image-ABI-amd64-unsigned; sid splits the image
	# into linux-binary-unsigned-ABI-amd64 and linux-base-ABI-amd64.
	version=
	for pkg in "$meta-unsigned" "linux-binary-unsigned-${meta#linux-image-}"; do
		version=$(apt-cache "$@" show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
		[ -z "$version" ] || break
	done
	[ -n "$version" ] || { echo "debian-kernels.sh: $suite: no unsigned image for $meta" >&2; exit 1; }
	dest=$base/$suite/$pkg-$version
	if [ ! -f "$dest/vmlinuz" ]; then
		echo "debian-kernels.sh: $suite: downloading $pkg $version"
		tmp=$(mktemp -d "$base/tmp.XXXXXX")
		(cd "$tmp" && apt-get "$@" -q download "$pkg" >/dev/null)
		# boot/vmlinuz-ABI up to trixie, usr/lib/modules/ABI/vmlinuz.unsigned in sid.
		files=$(dpkg-deb -c "$tmp"/*.deb | awk '{print $NF}' | grep -E '^\./(boot/(vmlinuz|config)-|usr/lib/modules/[^/]+/vmlinuz)')
		[ -n "$files" ] || { echo "debian-kernels.sh: $suite: no vmlinuz in $pkg" >&2; exit 1; }
		# shellcheck disable=SC2086 # one path per word
		dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" $files
		mkdir -p "$dest"
		for f in $files; do
			case $f in
			*/config-*) cp "$tmp/$f" "$dest/config" ;;
			*) cp "$tmp/$f" "$dest/vmlinuz" ;;
			esac
		done
		rm -rf "$tmp"
	fi
	touch "$dest/fetched"
	ln -sfn "$dest" "$current"
	ln -sf "$dest/vmlinuz" "$out/debian-$suite.vmlinuz"
	echo "debian-kernels.sh: $suite: $pkg $version ($dest)"
done
