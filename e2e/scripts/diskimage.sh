#!/bin/sh
# diskimage.sh OUT.img ROOT.tar TOOLSDIR DEB...: turn a Debian root from
# rootfs.sh into an ext4 disk image the e2e guest boots with systemd as PID
# 1, adding the harness: the guest tools, the packages under test (in
# /root/debs) and a oneshot unit that runs the driver on the serial console
# and powers off. No loop mount: mke2fs copies the tree (-d), keeping owners
# and modes.
set -eu

out=${1:?usage: diskimage.sh OUT.img ROOT.tar TOOLSDIR DEB...}
tarball=${2:?usage: diskimage.sh OUT.img ROOT.tar TOOLSDIR DEB...}
tools=${3:?usage: diskimage.sh OUT.img ROOT.tar TOOLSDIR DEB...}
shift 3
[ $# -gt 0 ] || { echo "diskimage.sh: no package to install given" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir "$root"
tar -C "$root" --numeric-owner -xf "$tarball"

install -m 0755 "$tools"/* "$root/usr/bin/"
mkdir -p "$root/root/debs"
cp "$@" "$root/root/debs/"
echo e2e-guest >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\te2e-guest\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# The root is mounted read-write by the kernel (root=/dev/vda rw); without
# udev no device unit ever appears, so nothing may wait for one.
: >"$root/etc/fstab"
: >"$root/etc/machine-id"

# The harness's unit: after auditd (started by systemd like on any Debian
# machine), run the driver with the serial console as its output, print its
# exit status and power off (e2e-run; SuccessAction and FailureAction are a
# fallback).
cat >"$root/usr/bin/e2e-run" <<'EOF'
#!/bin/sh
/usr/bin/e2e-driver
echo "@e2e {\"ev\":\"exit\",\"code\":$?}"
# Everything the host needs is on the console: power off at once, like the
# initramfs guests (poweroff -f), without waiting for units to stop.
sync
systemctl poweroff --force --force
EOF
chmod 0755 "$root/usr/bin/e2e-run"
cat >"$root/etc/systemd/system/e2e.service" <<'EOF'
[Unit]
Description=audisp-backlog e2e driver
After=auditd.service systemd-journald.service basic.target
Wants=auditd.service

[Service]
Type=oneshot
ExecStart=/usr/bin/e2e-run
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/e2e.service "$root/etc/systemd/system/multi-user.target.wants/e2e.service"
# Units that would wait for devices udev is not there to announce, or
# write to the console the driver reports on.
for u in serial-getty@ttyS0.service getty@tty1.service systemd-firstboot.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done

size=$(( $(du -sm "$root" | cut -f1) + 256 ))
rm -f "$out.tmp"
mke2fs -q -t ext4 -L e2e-root -d "$root" "$out.tmp" "${size}M"
mv "$out.tmp" "$out"
echo "diskimage.sh: $out (${size} MiB, from $(basename "$tarball"), packages: $(for d in "$@"; do basename "$d"; done | tr '\n' ' '))"
