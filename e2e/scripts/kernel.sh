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
# The unpatched kernel is the patched build's objects with kernel/audit.c
# recompiled from the reverted tree and relinked (see below why that is the
# same kernel as a build from scratch), so it costs about a minute, not a
# second full build. ccache is used when installed (it helps when the config
# changes on a developer's machine; on a fresh CI machine it is cold).
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

	echo "kernel.sh: building linux-source-6.12 $version into $dest ($jobs jobs)"
	obj=$dest/build.tmp
	rm -rf "$obj" && mkdir -p "$obj"
	save() { # save FLAVOR START: keep the bzImage and config just built
		mkdir -p "$dest/$1"
		cp "$obj/arch/x86/boot/bzImage" "$dest/$1/bzImage"
		cp "$obj/.config" "$dest/$1/config"
		echo "kernel.sh: built $1 in $(( $(date +%s) - $2 )) s" | tee -a "$dest/build-times.txt"
	}

	start=$(date +%s)
	patch -d "$src" -p1 -s <"$patchfile"
	trap 'patch -d "$src" -p1 -R -s <"$patchfile"' EXIT
	make -s -C "$src" O="$obj" CC="$cc" tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" >/dev/null
	make -s -C "$src" O="$obj" CC="$cc" olddefconfig >/dev/null
	grep '^CONFIG_' "$fragment" | while read -r want; do
		grep -qx "$want" "$obj/.config" || { echo "kernel.sh: $want did not stick in .config" >&2; exit 1; }
	done
	make -s -C "$src" O="$obj" CC="$cc" -j"$jobs" bzImage
	save patched "$start"

	# The unpatched kernel from the same objects. The patch changes
	# include/uapi/linux/audit.h (a new #define and a new last field of
	# struct audit_status) and kernel/audit.c, and nothing but kernel/audit.c
	# uses struct audit_status or the new names (checked here), so every
	# other object compiles the same either way. Revert the patch, give the
	# header back its release time stamp so its hundreds of includers are
	# not rebuilt, and let make recompile kernel/audit.c and relink.
	start=$(date +%s)
	users=$(cd "$src" && grep -rlE --include='*.[ch]' --exclude-dir=tools --exclude-dir=samples \
		'audit_status|AUDIT_STATUS_BACKLOG_MAX_DEPTH|backlog_max_depth' . | sort | tr '\n' ' ')
	if [ "$users" != "./include/uapi/linux/audit.h ./kernel/audit.c " ]; then
		echo "kernel.sh: struct audit_status is used beyond kernel/audit.c ($users): cannot reuse the objects" >&2
		exit 1
	fi
	patch -d "$src" -p1 -R -s <"$patchfile"
	trap - EXIT
	touch -r "$src/Makefile" "$src/include/uapi/linux/audit.h"
	touch "$src/kernel/audit.c"
	marker=$obj/.unpatched-start
	touch "$marker"
	make -s -C "$src" O="$obj" CC="$cc" -j"$jobs" bzImage
	rebuilt=$(cd "$obj" && find . -name '*.o' -newer "$marker" ! -name 'vmlinux*.o' ! -name '.tmp_*' | sort | tr '\n' ' ')
	echo "kernel.sh: unpatched: recompiled $rebuilt" | tee -a "$dest/build-times.txt"
	case " $rebuilt" in *" ./kernel/audit.o "*) ;; *)
		echo "kernel.sh: kernel/audit.o was not rebuilt for the unpatched kernel" >&2; exit 1 ;;
	esac
	save unpatched "$start"
	rm -rf "$obj"
fi

ln -sf "$dest/patched/bzImage" "$out/patched.bzImage"
ln -sf "$dest/unpatched/bzImage" "$out/unpatched.bzImage"
