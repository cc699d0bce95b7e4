#!/bin/sh
# suite-debs.sh SUITE PKG...: download PKG and everything it depends on from
# Debian SUITE (bookworm, trixie, sid) into the e2e cache, without touching
# the machine's own apt state, and print the directory holding the .debs.
#
# A private apt configuration under $CACHE/apt-SUITE/ (its own sources list,
# lists, cache and an empty dpkg status) makes `apt-get install
# --download-only` resolve the whole dependency closure from nothing, libc6
# included: a sid auditd needs sid's glibc and loader in the guest, not the
# host's. It prints the closure's .deb files, one a line (the cache directory
# may hold other closures too). The lists are refreshed when older than a day (or when
# AUDISP_E2E_APT_UPDATE=1); an unchanged closure downloads nothing.
set -eu

suite=${1:?usage: suite-debs.sh SUITE PKG...}
shift
[ $# -gt 0 ] || { echo "usage: suite-debs.sh SUITE PKG..." >&2; exit 2; }
cache=${AUDISP_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audisp-backlog-e2e}
dir=$cache/apt-$suite
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/state"
: >"$dir/state/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$dir/sources.list"

apt() { # apt COMMAND ARGS: apt-get (or apt-cache) with the private configuration
	cmd=$1
	shift
	"$cmd" -q -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=- \
		-o Dir::Etc::preferencesparts=- -o Dir::State="$dir/state" -o Dir::State::Lists="$dir/lists" \
		-o Dir::State::status="$dir/state/status" -o Dir::Cache="$dir/cache" \
		-o APT::Sandbox::User=root -o Debug::NoLocking=1 \
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false \
		-o Acquire::Languages=none "$@"
}

stamp=$dir/lists/.updated
if [ "${AUDISP_E2E_APT_UPDATE:-0}" = 1 ] || [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
	apt apt-get update >/dev/null
	touch "$stamp"
fi
apt apt-get install --download-only -y --no-install-recommends "$@" >"$dir/download.log" 2>&1 ||
	{ cat "$dir/download.log" >&2; echo "suite-debs.sh: cannot download $* from $suite" >&2; exit 1; }
# The closure as apt resolves it from an empty system: "Inst NAME (VERSION
# SUITE [ARCH])" lines, whose files apt names NAME_VERSION_ARCH.deb with the
# epoch's colon escaped.
apt apt-get install --simulate --no-install-recommends "$@" 2>/dev/null |
	sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) [^[]*\[\([a-z0-9]*\)\].*/\1_\2_\3.deb/p' | sed 's/:/%3a/' |
	while read -r f; do
		[ -f "$dir/cache/archives/$f" ] || { echo "suite-debs.sh: $f not downloaded" >&2; exit 1; }
		echo "$dir/cache/archives/$f"
	done
