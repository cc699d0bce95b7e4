#!/bin/sh
# initramfs.sh OUT.cpio.gz TOOLSDIR [PLUGIN]: assemble the e2e guest's
# initramfs from Debian packages fetched with `apt-get download` (never
# installed on the host: auditd's postinst would start it here), the static
# guest tools in TOOLSDIR, and the plugin binary if given.
#
# Shared libraries are found by following the ELF NEEDED entries of every
# dynamic binary through the unpacked packages only, so the guest never
# depends on what happens to be installed on the host; a library that no
# listed package provides stops the build and is named.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: initramfs.sh OUT.cpio.gz TOOLSDIR [PLUGIN]}
tools=${2:?usage: initramfs.sh OUT.cpio.gz TOOLSDIR [PLUGIN]}
plugin=${3:-}
cache=${AUDISP_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audisp-backlog-e2e}

# auditd, its libraries and theirs, and busybox. Keep in step with README.md.
pkgs="auditd libaudit1 libaudit-common libauparse0 libc6 libcap-ng0 libgssapi-krb5-2
libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 libwrap0
libnsl2 libtirpc3 busybox-static"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
stage=$root/stage
mkdir -p "$stage"
if [ -n "${AUDISP_E2E_SUITE:-}" ]; then
	# The auditd matrix: auditd of another suite with that suite's own
	# closure, libc6 and loader included (suite-debs.sh).
	list=$("$here/scripts/suite-debs.sh" "$AUDISP_E2E_SUITE" auditd busybox-static)
	pkgs="the $AUDISP_E2E_SUITE closure of auditd"
else
	debs=$cache/debs
	mkdir -p "$debs"
	# _apt needs to write into the download directory.
	chmod 0777 "$debs"
	list=
	for p in $pkgs; do
		# One file per package name; a newer candidate version replaces it.
		v=$(apt-cache policy "$p" | sed -n 's/^  Candidate: //p' | sed 's/:/%3a/')
		[ -n "$v" ] && [ "$v" != "(none)" ] || { echo "initramfs.sh: no candidate for $p (apt-get update?)" >&2; exit 1; }
		if ! ls "$debs/${p}_${v}_"*.deb >/dev/null 2>&1; then
			rm -f "$debs/${p}_"*.deb
			(cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$p" >/dev/null)
		fi
		list="$list $(ls "$debs/${p}_${v}_"*.deb)"
	done
fi
for d in $list; do dpkg-deb -x "$d" "$stage"; done

fs=$root/fs
mkdir -p "$fs/bin" "$fs/sbin" "$fs/usr/bin" "$fs/usr/sbin" "$fs/lib/x86_64-linux-gnu" "$fs/lib64" "$fs/etc/audit/plugins.d" \
	"$fs/proc" "$fs/sys" "$fs/dev" "$fs/run" "$fs/tmp" "$fs/var/log/audit" "$fs/var/run" "$fs/root"
cp "$stage/bin/busybox" "$fs/bin/busybox" 2>/dev/null || cp "$stage/usr/bin/busybox" "$fs/bin/busybox"
ln -s busybox "$fs/bin/sh"
# Merged-/usr suites (trixie, sid) ship these under usr/.
for b in auditd auditctl; do
	cp "$stage/sbin/$b" "$fs/sbin/" 2>/dev/null || cp "$stage/usr/sbin/$b" "$fs/sbin/"
done
for l in lib64 usr/lib64 lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
	cp -L "$stage/$l/ld-linux-x86-64.so.2" "$fs/lib64/" 2>/dev/null && break
done
[ -e "$fs/lib64/ld-linux-x86-64.so.2" ] || { echo "initramfs.sh: no ld-linux-x86-64.so.2 in $pkgs" >&2; exit 1; }

# Copy the closure of NEEDED libraries, looked up in the staging tree only.
need() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
todo="$fs/sbin/auditd $fs/sbin/auditctl"
while [ -n "$todo" ]; do
	next=
	for f in $todo; do
		for lib in $(need "$f"); do
			[ -e "$fs/lib/x86_64-linux-gnu/$lib" ] && continue
			src=
			for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
				[ -e "$stage/$dir/$lib" ] && src=$stage/$dir/$lib && break
			done
			[ -n "$src" ] || { echo "initramfs.sh: $lib (needed by ${f#"$fs"}) is in none of: $pkgs" >&2; exit 1; }
			cp -L "$src" "$fs/lib/x86_64-linux-gnu/$lib"
			next="$next $fs/lib/x86_64-linux-gnu/$lib"
		done
	done
	todo=$next
done
# glibc loads these by name, not through NEEDED.
for lib in libnss_files.so.2; do
	for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
		[ -e "$stage/$dir/$lib" ] && cp -L "$stage/$dir/$lib" "$fs/lib/x86_64-linux-gnu/" && break
	done
done

for t in "$tools"/*; do cp "$t" "$fs/bin/"; done
cp "$here/guest/init" "$fs/init"
cp "$here/guest/auditd.conf" "$fs/etc/audit/auditd.conf"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$fs/etc/passwd"
printf 'root:x:0:\nadm:x:4:\n' >"$fs/etc/group"
printf 'passwd: files\ngroup: files\n' >"$fs/etc/nsswitch.conf"
if [ -n "$plugin" ]; then
	# The shipped plugins.d entry, switched on; the binary where it points.
	entry=$here/../packaging/plugins.d/audisp-backlog.conf
	mkdir -p "$fs/usr/sbin"
	cp "$plugin" "$fs/usr/sbin/audisp-backlog"
	sed 's/^active = no$/active = yes/' "$entry" >"$fs/etc/audit/plugins.d/audisp-backlog.conf"
	grep -qx 'active = yes' "$fs/etc/audit/plugins.d/audisp-backlog.conf" ||
		{ echo "initramfs.sh: could not switch on $entry" >&2; exit 1; }
fi

# Modes auditd demands: its config and plugin entries root-owned and not
# writable by group or others; the plugin executable root-owned.
chmod 0755 "$fs/init" "$fs/bin/"* "$fs/sbin/"*
[ -z "$plugin" ] || chmod 0755 "$fs/usr/sbin/audisp-backlog"
chmod 0750 "$fs/etc/audit" "$fs/etc/audit/plugins.d"
chmod 0640 "$fs/etc/audit/auditd.conf" "$fs/etc/audit/plugins.d/"* 2>/dev/null || true
chmod 0700 "$fs/var/log/audit"

(cd "$fs" && find . -print | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "initramfs.sh: $out ($(du -k "$out" | cut -f1) KiB, plugin: ${plugin:-none})"
