#!/bin/sh
# kernel.sh OUTDIR: build the e2e guest kernels from Debian's linux-source-6.12,
# once with the backlog_max_depth patch and once without, from the same tree
# and the same small config, and cache them outside the repo.
#
# The cache key is the source package version + the patch + the config
# fragment + this script, so a change to any of them builds anew and an
# unchanged run costs nothing. Results:
#   $CACHE/kernel-$KEY/patched/bzImage
#   $CACHE/kernel-$KEY/unpatched/bzImage
# and OUTDIR/{patched,unpatched}.bzImage are symlinked to them.
#
# The unpatched build reuses the patched one's objects through ccache (only
# kernel/audit.c and the files that include uapi/linux/audit.h differ), so
# the second build takes a fraction of the first.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: kernel.sh OUTDIR}
cache=${AUDISP_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audisp-backlog-e2e}
tarball=/usr/src/linux-source-6.12.tar.xz
patchfile=$here/kernel/audit-backlog-max-depth.patch
fragment=$here/kernel/config.fragment
jobs=$(nproc)

[ -r "$tarball" ] || { echo "kernel.sh: $tarball missing: apt-get install linux-source-6.12" >&2; exit 1; }
version=$(dpkg-query -W -f='${Version}' linux-source-6.12)
key=$( { echo "$version"; cat "$patchfile" "$fragment" "$0"; } | sha256sum | cut -c1-16)
dest=$cache/kernel-$key
mkdir -p "$out"

if [ -f "$dest/patched/bzImage" ] && [ -f "$dest/unpatched/bzImage" ]; then
	echo "kernel.sh: cached: $dest (linux-source-6.12 $version)"
else
	src=$cache/linux-source-6.12-$version
	if [ ! -f "$src/.extracted" ]; then
		echo "kernel.sh: extracting $tarball"
		rm -rf "$src" && mkdir -p "$src"
		tar -xJf "$tarball" -C "$src" --strip-components=1
		touch "$src/.extracted"
	fi
	# A run stopped mid-way may have left the tree patched: undo that first.
	if patch -d "$src" -p1 -R --dry-run -s -f <"$patchfile" >/dev/null 2>&1; then
		patch -d "$src" -p1 -R -s <"$patchfile"
	fi

	cc=gcc
	if command -v ccache >/dev/null 2>&1; then
		cc="ccache gcc"
		export CCACHE_DIR="$cache/ccache" CCACHE_BASEDIR="$cache" CCACHE_NOHASHDIR=1
		export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
	fi

	build() { # build FLAVOR: configure and build $dest/FLAVOR from the tree as it is now
		obj=$dest/$1.tmp
		rm -rf "$obj" && mkdir -p "$obj"
		start=$(date +%s)
		make -s -C "$src" O="$obj" CC="$cc" tinyconfig >/dev/null
		"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" >/dev/null
		make -s -C "$src" O="$obj" CC="$cc" olddefconfig >/dev/null
		grep '^CONFIG_' "$fragment" | while read -r want; do
			grep -qx "$want" "$obj/.config" || { echo "kernel.sh: $want did not stick in .config" >&2; exit 1; }
		done
		make -s -C "$src" O="$obj" CC="$cc" -j"$jobs" bzImage
		mkdir -p "$dest/$1"
		cp "$obj/arch/x86/boot/bzImage" "$dest/$1/bzImage"
		cp "$obj/.config" "$dest/$1/config"
		rm -rf "$obj"
		echo "kernel.sh: built $1 in $(( $(date +%s) - start )) s" | tee -a "$dest/build-times.txt"
	}

	echo "kernel.sh: building linux-source-6.12 $version into $dest ($jobs jobs)"
	patch -d "$src" -p1 -s <"$patchfile"
	trap 'patch -d "$src" -p1 -R -s <"$patchfile"' EXIT
	build patched
	patch -d "$src" -p1 -R -s <"$patchfile"
	trap - EXIT
	build unpatched
fi

ln -sf "$dest/patched/bzImage" "$out/patched.bzImage"
ln -sf "$dest/unpatched/bzImage" "$out/unpatched.bzImage"
