#!/bin/sh
# rootfs.sh SUITE: build a bootable Debian root of SUITE (bookworm, sid) with
# systemd as init and Debian's auditd, as a tarball in the e2e cache, and
# print its path. An existing tarball of the same key is reused.
#
#   $CACHE/root-SUITE-KEY.tar   KEY = hash of the suite, the package list
#                               and this script
#
# debootstrap's first stage only downloads and unpacks; the second stage
# runs every package's maintainer scripts, inside a chroot. Those scripts
# must never start auditd or load audit rules on this machine, so the
# second stage runs
#   - with a policy-rc.d that refuses every service start (invoke-rc.d and
#     deb-systemd-invoke ask it first), and
#   - in a new PID namespace: the kernel refuses AUDIT_SET, AUDIT_ADD_RULE
#     and every other audit control message from outside the initial PID
#     namespace (audit_netlink_ok in kernel/audit.c), so even a daemon
#     that started could neither register as the audit daemon nor load a
#     rule.
# policy-rc.d is removed again: the root is Debian as installed, and the
# guest's services start as on any machine.
set -eu

suite=${1:?usage: rootfs.sh SUITE}
cache=${AUDISP_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audisp-backlog-e2e}
mirror=http://deb.debian.org/debian
# systemd as PID 1, auditd, and pgrep (the README's "check it runs").
include=systemd-sysv,auditd,procps
key=$( { echo "$suite $include"; cat "$0"; } | sha256sum | cut -c1-16)
out=$cache/root-$suite-$key.tar

if [ -f "$out" ]; then
	echo "$out"
	exit 0
fi
command -v debootstrap >/dev/null || { echo "rootfs.sh: apt-get install debootstrap" >&2; exit 1; }
command -v unshare >/dev/null || { echo "rootfs.sh: unshare (util-linux) missing" >&2; exit 1; }

work=$(mktemp -d "$cache/root-$suite.XXXXXX")
trap 'rm -rf "$work"' EXIT
dir=$work/root
start=$(date +%s)
debootstrap --variant=minbase --foreign --include="$include" "$suite" "$dir" "$mirror" >"$work/stage1.log" 2>&1 ||
	{ tail -20 "$work/stage1.log" >&2; echo "rootfs.sh: debootstrap (first stage) of $suite failed" >&2; exit 1; }
printf '#!/bin/sh\n# rootfs.sh: no service starts while the root is built\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
chmod 0755 "$dir/usr/sbin/policy-rc.d"
unshare --pid --fork --mount --propagation private \
	chroot "$dir" /debootstrap/debootstrap --second-stage >"$work/stage2.log" 2>&1 ||
	{ tail -20 "$work/stage2.log" >&2; echo "rootfs.sh: debootstrap (second stage) of $suite failed" >&2; exit 1; }
rm -f "$dir/usr/sbin/policy-rc.d"
# Nothing of the build stays mounted or cached in the root.
rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*_* "$dir/debootstrap"
for d in proc sys dev/pts; do
	if mountpoint -q "$dir/$d" 2>/dev/null; then
		echo "rootfs.sh: $dir/$d is still mounted" >&2
		exit 1
	fi
done
tar -C "$dir" --numeric-owner -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "rootfs.sh: $suite root in $(( $(date +%s) - start )) s: $out ($(du -m "$out" | cut -f1) MiB)" >&2
echo "$out"
