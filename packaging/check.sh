#!/bin/bash
# Checks the packages `make packages` wrote; run by `make package-check`,
# which sets the variables below. As root (the install tests use dpkg --root,
# rpm --root and chroot). Steps, all by default, or those named as arguments:
#
#   binary     static, no build paths inside, -version, copyright covers every
#              module, packaging/deps.txt current
#   repro      the binary rebuilt at another path is byte-identical
#   manpages   man --warnings renders both pages with no warning
#   meta       changelog and spec versions agree with VERSION
#   rules      the auditd plugin-rule checker refuses what auditd refuses
#   deb        lintian; data.tar paths, owners, modes; install, upgrade,
#              remove and purge in a scratch root; auditd rules; -check
#   rpm        rpmlint; file list, owners, modes, flags; install, upgrade
#              and erase in a scratch root; auditd rules; -check
#   spec       rpmbuild of packaging/rpm/audisp-backlog.spec from `git archive
#              HEAD` (committed work only), rpmlint, its modes and flags
#
# auditd_rules below reproduces the checks auditd (audit-userspace 3.x:
# auditd-dispatch.c load_plugin_conf, audispd-pconfig.c load_pconfig and
# sanity_check) applies to a plugins.d entry and to the binary it names, so a
# package that auditd would refuse or skip fails here.
set -euo pipefail

: "${GO:=go}" "${VERSION:?}" "${PKG_RELEASE:=1}" "${PKG_BIN:?}" "${BIN:=bin/audisp-backlog}"
: "${PKG_DEB:?}" "${PKG_RPM:?}" "${PKG_CONF5:=packaging/audisp-backlog.conf.5}"
: "${GOFLAGS_BUILD:=-trimpath -buildvcs=false}" "${LDFLAGS:=}"
export CGO_ENABLED=0

NAME=audisp-backlog
PLUGIN_CONF=/etc/audit/plugins.d/$NAME.conf
CONF=/etc/audit/$NAME.conf
SBIN=/usr/sbin/$NAME

passed=0
failed=0
TMP=$(mktemp -d /tmp/$NAME-check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*" >&2; return 1; }

# run STEP: runs check_STEP and counts it.
run() {
	say "=== $1"
	if ("check_$1"); then
		say "--- ok: $1"
		passed=$((passed + 1))
	else
		say "--- FAIL: $1" >&2
		failed=$((failed + 1))
	fi
}

# ---------------------------------------------------------------------------
# auditd's plugin rules.

# auditd_rules ROOT: checks ROOT$PLUGIN_CONF and the binary it names the way
# auditd would when the entry is set to active = yes, plus three stricter
# rules of ours (marked "ours"). Prints every problem; fails if any.
auditd_rules() {
	local root=$1 dir=$1/etc/audit/plugins.d f name bad=0

	# load_plugin_conf reads every file in plugins.d except, silently at
	# LOG_DEBUG, hidden files, names with more than one dot and names whose
	# suffix is not ".conf". Exactly one loaded entry must name the plugin:
	# none and it never runs, two and auditd starts it twice.
	local loaded=() skipped=() dots
	for f in "$dir"/* "$dir"/.[!.]*; do
		[ -f "$f" ] || continue
		grep -Eq "^ *path += +$SBIN *\$" "$f" || continue
		name=${f##*/}
		dots=${name//[!.]/}
		if [ "${name:0:1}" = . ] || [ ${#dots} -gt 1 ] ||
			{ [ ${#dots} -eq 1 ] && [ "${name##*.}" != conf ]; }; then
			skipped+=("$name")
		else
			loaded+=("$f")
		fi
	done
	if [ ${#loaded[@]} -ne 1 ]; then
		say "$dir: ${#loaded[@]} entries auditd loads name $SBIN, want 1 (skipped as hidden, backup or not .conf: ${skipped[*]:-none})"
		return 1
	fi
	f=${loaded[0]}
	[ "$f" = "$dir/$NAME.conf" ] || { say "$f: want the entry at $PLUGIN_CONF"; bad=1; }

	# load_pconfig: owned by root, not world writable, a regular file.
	# Not a symlink: ours (auditd's comment asks for it; some versions follow).
	if [ -L "$f" ]; then say "$f: is a symlink, not a regular file (ours)"; return 1; fi
	if [ ! -f "$f" ]; then say "$f: not a regular file"; return 1; fi
	local uid mode
	uid=$(stat -c %u "$f")
	mode=$(stat -c %a "$f")
	[ "$uid" = 0 ] || { say "$f: owned by uid $uid, not root"; bad=1; }
	(((8#$mode & 8#002) == 0)) || { say "$f: world writable ($mode)"; bad=1; }
	(((8#$mode & 8#020) == 0)) || { say "$f: group writable ($mode) (ours)"; bad=1; }

	# The lines: fgets into 160 bytes (a longer line is skipped with an
	# error), tokens split on single spaces only, "#" starts a comment
	# token, then `key = value...` with a known key, one value except for
	# args, and values from auditd's lists.
	local out
	if ! out=$(LC_ALL=C awk -v file="$f" '
		function err(msg) { printf "%s:%d: %s\n", file, NR, msg; bad = 1 }
		BEGIN { known["active"]; known["direction"]; known["path"]; known["type"]; known["args"]; known["format"] }
		{
			if (length($0) + 1 > 159) { err("line too long for auditd (" length($0) " > 158 bytes)"); next }
			if ($0 ~ /[\t\r\v\f]/) { err("tab or other non-space blank: auditd splits on spaces only"); next }
			n = split($0, tok, / +/)
			# split on / +/ leaves an empty first field for leading spaces
			i = 1; if (tok[1] == "") i = 2
			if (i > n || tok[i] == "") next
			if (substr(tok[i], 1, 1) == "#") next
			key = tolower(tok[i])
			if (i + 1 > n) { err("wrong number of arguments"); next }
			if (tok[i + 1] != "=") { err("missing equal sign (auditd wants \"key = value\" with spaces)"); next }
			nv = n - (i + 1); if (tok[n] == "") nv--
			if (nv < 1) { err("no value"); next }
			if (!(key in known)) { err("unknown keyword \"" tok[i] "\""); next }
			if (key != "args" && nv != 1) { err("keyword \"" tok[i] "\" takes one value"); next }
			if (key in seen) err("keyword \"" tok[i] "\" repeated (ours)")
			seen[key]
			v = tok[i + 2]; lv = tolower(v)
			if (key == "active" && lv != "yes" && lv != "no") err("active: " v " not yes or no")
			if (key == "direction" && lv != "out") err("direction: " v " not out")
			if (key == "type" && lv != "always") err("type: " v " not always (builtin is obsolete)")
			if (key == "format" && lv != "string" && lv != "binary") err("format: " v " not string or binary")
			if (key == "path") {
				d = v; sub(/\/[^\/]*$/, "", d)
				if (length(d) < 4) err("path: directory of " v " too short for auditd")
			}
			if (key == "args") { a = ""; for (j = i + 2; j <= n; j++) if (tok[j] != "") a = a (a == "" ? "" : " ") tok[j]; val[key] = a }
			else val[key] = v
		}
		END {
			if (bad) exit 1
			# This package: installed disabled, and the values it must have.
			want["active"] = "no"; want["direction"] = "out"; want["path"] = "'"$SBIN"'"
			want["type"] = "always"; want["args"] = "-config '"$CONF"'"; want["format"] = "string"
			for (k in want) if (val[k] != want[k]) { printf "%s: %s = %s, want %s\n", file, k, val[k], want[k]; bad = 1 }
			exit bad
		}' "$f"); then
		say "$out"
		bad=1
	fi

	# sanity_check, run when active = yes (checked here as if it were, since
	# the admin will flip it): the binary exists, is a regular file, owned by
	# root, and has at least rwxr-x--- (owner write and group r-x included:
	# 0550 is refused). Not group or world writable: ours.
	local exe=$root$SBIN
	if [ ! -f "$exe" ]; then
		say "$SBIN: missing or not a regular file"
		return 1
	fi
	uid=$(stat -L -c %u "$exe")
	mode=$(stat -L -c %a "$exe")
	[ "$uid" = 0 ] || { say "$SBIN: owned by uid $uid, not root"; bad=1; }
	(((8#$mode & 8#750) == 8#750)) || { say "$SBIN: mode $mode lacks rwxr-x--- (auditd: permissions should be 0750)"; bad=1; }
	(((8#$mode & 8#022) == 0)) || { say "$SBIN: mode $mode is group or world writable (ours)"; bad=1; }

	# The config the args name: root's, 0640 (ours: it may hold credentials).
	local c=$root$CONF
	if [ ! -f "$c" ] || [ -L "$c" ]; then
		say "$CONF: missing or not a regular file"
		return 1
	fi
	[ "$(stat -c '%u %g %a' "$c")" = "0 0 640" ] || { say "$CONF: $(stat -c '%U:%G %a' "$c"), want root:root 640 (ours)"; bad=1; }
	return $bad
}

# check_rules: auditd_rules accepts the shipped tree and refuses each way of
# breaking it that auditd refuses, so the checker itself cannot go soft.
check_rules() {
	local base=$TMP/rules-base
	mkdir -p "$base/etc/audit/plugins.d" "$base/usr/sbin"
	install -m 0640 -o 0 -g 0 packaging/plugins.d/$NAME.conf "$base$PLUGIN_CONF"
	printf '# placeholder\n' > "$base$CONF"
	chown 0:0 "$base$CONF"; chmod 0640 "$base$CONF"
	install -m 0755 -o 0 -g 0 "$PKG_BIN" "$base$SBIN"
	auditd_rules "$base" || fail "auditd_rules refuses the shipped tree"

	local ok=1 c=0 r e
	# Each case: a name, then a shell snippet run in the copy's root ($r).
	while IFS='|' read -r name cmd; do
		[ -n "$name" ] || continue
		c=$((c + 1))
		r=$TMP/rules-$c
		cp -a "$base" "$r"
		e=$r$PLUGIN_CONF
		(cd "$r" && R=$r E=$e eval "$cmd")
		if out=$(auditd_rules "$r" 2>&1); then
			say "rules: case '$name' was accepted, want refused" >&2
			ok=0
		else
			say "rules: refused '$name': $(printf '%s' "$out" | head -1)"
		fi
	done <<-'EOF'
		entry world writable|chmod o+w "$E"
		entry group writable|chmod g+w "$E"
		entry not root's|chown 1:0 "$E"
		entry a symlink|mv "$E" "$E.real"; ln -s "$E.real" "$E"
		entry name with two dots|mv "$E" "${E%.conf}.x.conf"
		entry name not .conf|mv "$E" "${E%.conf}.cfg"
		hidden entry|mv "$E" "${E%/*}/.audisp-backlog.conf"
		no spaces around =|sed -i 's/^active = no/active=no/' "$E"
		tab before =|sed -i 's/^active = no/active\t= no/' "$E"
		unknown key|echo 'priority_boost = 4' >> "$E"
		two values|sed -i 's/^format = string/format = string binary/' "$E"
		no value|sed -i 's/^format = string/format =/' "$E"
		direction in|sed -i 's/^direction = out/direction = in/' "$E"
		type builtin|sed -i 's/^type = always/type = builtin/' "$E"
		line too long|printf '# %0200d\n' 0 >> "$E"
		repeated key|echo 'active = no' >> "$E"
		shipped active|sed -i 's/^active = no/active = yes/' "$E"
		wrong args|sed -i 's|^args = .*|args = -config /etc/other.conf|' "$E"
		binary missing|rm "$R/usr/sbin/audisp-backlog"
		binary 0550|chmod 0550 "$R/usr/sbin/audisp-backlog"
		binary 0700|chmod 0700 "$R/usr/sbin/audisp-backlog"
		binary group writable|chmod 0775 "$R/usr/sbin/audisp-backlog"
		binary not root's|chown 1:0 "$R/usr/sbin/audisp-backlog"
		config world readable|chmod 0644 "$R/etc/audit/audisp-backlog.conf"
	EOF
	[ "$ok" = 1 ]
}

# ---------------------------------------------------------------------------
# The binary.

check_binary() {
	local ok=1 bin=$PKG_BIN
	# (grep reads saved output: with pipefail, `cmd | grep -q` can fail on
	# SIGPIPE when grep stops early.)
	local elf
	elf=$(readelf -lW -dW "$bin" 2>&1)
	if grep -q 'INTERP' <<<"$elf"; then fail "$bin: has an ELF interpreter: not static"; ok=0; fi
	if grep -q 'NEEDED' <<<"$elf"; then fail "$bin: needs shared libraries"; ok=0; fi
	local info
	info=$("$GO" version -m "$bin")
	grep -q $'build\tCGO_ENABLED=0' <<<"$info" || { fail "$bin: not built with CGO_ENABLED=0"; ok=0; }
	grep -q $'build\t-trimpath=true' <<<"$info" || { fail "$bin: not built with -trimpath"; ok=0; }
	# No path of this machine inside: the work tree, GOROOT, the module cache.
	local p
	strings -n 6 "$bin" > "$TMP/strings"
	for p in "$PWD/" "$("$GO" env GOROOT)/" "$("$GO" env GOMODCACHE)/" "$HOME/"; do
		if grep -qF -- "$p" "$TMP/strings"; then fail "$bin: contains the build path $p"; ok=0; fi
	done
	# -version names VERSION.
	local v
	v=$("$bin" -version 2>&1) || { fail "$bin -version: exit $?: $v"; ok=0; }
	grep -qF -- "$VERSION" <<<"$v" || { fail "$bin -version: '$v' does not name $VERSION"; ok=0; }
	# The copyright file names every module linked in (the Go standard
	# library is covered by the golang.org/x paragraph's comment).
	local m
	for m in $(awk '$1 == "dep" { print $2 }' <<<"$info"); do
		grep -qF "vendor/$m/*" packaging/deb/copyright || { fail "packaging/deb/copyright: no paragraph for module $m"; ok=0; }
	done
	# packaging/deps.txt is current.
	if [ -n "${PKG_DEPS_CMD:-}" ]; then
		eval "$PKG_DEPS_CMD" > "$TMP/deps.txt"
		if ! diff <(grep -v '^#' packaging/deps.txt) "$TMP/deps.txt" > "$TMP/deps.diff"; then
			fail "packaging/deps.txt is stale (make package-deps rewrites it):"$'\n'"$(grep '^[<>]' "$TMP/deps.diff" | head -20)"
			ok=0
		fi
	fi
	[ "$ok" = 1 ]
}

check_repro() {
	[ "$PKG_BIN" = "$BIN" ] || { fail "PKG_BIN=$PKG_BIN is not the tree's build ($BIN): nothing to reproduce"; return 1; }
	# Copy the tree (tracked and untracked, as the build sees it) elsewhere.
	local src=$TMP/elsewhere/src
	mkdir -p "$src"
	git ls-files -z --cached --others --exclude-standard |
		xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
		tar --null -T - -cf - | tar -xf - -C "$src"
	# shellcheck disable=SC2086 # GOFLAGS_BUILD is a list of flags
	(cd "$src" && "$GO" build $GOFLAGS_BUILD -ldflags "$LDFLAGS" -o "$TMP/rebuilt" ./plugin)
	if cmp -s "$BIN" "$TMP/rebuilt"; then
		say "reproducible: $(sha256sum < "$BIN" | cut -c1-16) built in $PWD and in $src"
	else
		fail "$BIN differs when built in $src"
		return 1
	fi
}

check_manpages() {
	local ok=1 page w
	for page in packaging/$NAME.8 "$PKG_CONF5"; do
		w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null) || { fail "$page: man failed"; ok=0; }
		[ -z "$w" ] || { fail "$page: man warnings:"$'\n'"$w"; ok=0; }
	done
	[ "$ok" = 1 ]
}

check_meta() {
	local ok=1 top
	top=$(awk '/^- semver:/ { print $3; exit }' packaging/changelog.yml)
	[ "$top" = "$VERSION-$PKG_RELEASE" ] || { fail "packaging/changelog.yml: newest entry $top, want $VERSION-$PKG_RELEASE"; ok=0; }
	local spec=packaging/rpm/$NAME.spec
	if [ -f "$spec" ]; then
		local sv
		sv=$(awk '$1 == "Version:" { print $2; exit }' "$spec")
		[ "$sv" = "$VERSION" ] || { fail "$spec: Version $sv, want $VERSION"; ok=0; }
		grep -q -- "- $VERSION-" <<<"$(grep -A1 '^%changelog' "$spec")" || { fail "$spec: newest %changelog entry is not $VERSION"; ok=0; }
	fi
	[ "$ok" = 1 ]
}

# ---------------------------------------------------------------------------
# Shared by the install tests.

# assert_installed ROOT WANT: every path in WANT ("mode owner:group path")
# exists in ROOT with that mode and owner.
assert_installed() {
	local root=$1 want=$2 ok=1 mode own path got
	while read -r mode own path; do
		[ -n "$path" ] || continue
		if [ ! -e "$root$path" ]; then fail "$path: not installed"; ok=0; continue; fi
		got=$(stat -c '%A %U:%G' "$root$path")
		[ "$got" = "$mode $own" ] || { fail "$path: installed $got, want $mode $own"; ok=0; }
	done <<<"$want"
	[ "$ok" = 1 ]
}

# rpmq ARGS: rpm without Debian's "use Alien instead" notice on stderr.
rpmq() {
	local rc=0
	rpm "$@" 2>"$TMP/rpm.err" || rc=$?
	grep -v -e 'use Alien instead' -e 'assuming you know what you are doing' "$TMP/rpm.err" >&2 || true
	return $rc
}

# run_check ROOT: the installed plugin checks the installed config. -check
# validates the config, probes the kernel read-only (on a kernel without
# backlog_max_depth it picks the sampled method, which is fine) and tries each
# emitter. The shipped config sends OTLP to localhost:4317, where CI has no
# collector, so that one emitter probe may fail; nothing else may. The same
# config with emitters = stdout must pass outright. (Not in a chroot: the
# scratch root has no /proc or /etc/hosts, which -check reads.)
run_check() {
	local root=$1 out rc=0
	out=$("$root$SBIN" -check -config "$root$CONF" 2>&1) || rc=$?
	case $rc in
	0) say "installed -check: passed" ;;
	1)
		if grep -Eq '^FAIL' <<<"$out" && ! grep -E '^FAIL' <<<"$out" | grep -Evq '^FAIL[[:space:]]+emitter'; then
			say "installed -check: only the emitter probe failed (no collector here): $(grep -E '^FAIL' <<<"$out" | tr -s ' ' | head -1)"
		else
			fail "$SBIN -check -config $CONF (in $root): exit 1:"$'\n'"$out"
			return 1
		fi
		;;
	*)
		fail "$SBIN -check -config $CONF (in $root): exit $rc, want 0 or 1:"$'\n'"$out"
		return 1
		;;
	esac
	sed 's/^emitters = .*/emitters = stdout/' "$root$CONF" > "$TMP/stdout.conf"
	grep -q '^emitters = stdout$' "$TMP/stdout.conf" || echo 'emitters = stdout' >> "$TMP/stdout.conf"
	chmod 0640 "$TMP/stdout.conf"
	rc=0
	out=$("$root$SBIN" -check -config "$TMP/stdout.conf" 2>&1) || rc=$?
	if [ "$rc" != 0 ]; then
		fail "$SBIN -check with the installed config and emitters = stdout: exit $rc:"$'\n'"$out"
		return 1
	fi
	say "installed -check with emitters = stdout: passed"
}

# ---------------------------------------------------------------------------
# .deb

# Every entry of data.tar: mode owner/group path (dpkg-deb -c shows an empty
# owner name as 0/0).
DEB_DATA='drwxr-xr-x root/root ./etc/
drwxr-x--- root/root ./etc/audit/
-rw-r----- root/root ./etc/audit/audisp-backlog.conf
drwxr-x--- root/root ./etc/audit/plugins.d/
-rw-r----- root/root ./etc/audit/plugins.d/audisp-backlog.conf
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/sbin/
-rwxr-xr-x root/root ./usr/sbin/audisp-backlog
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/audisp-backlog/
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/README.md
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/changelog.Debian.gz
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/copyright
drwxr-xr-x root/root ./usr/share/doc/audisp-backlog/examples/
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/examples/audisp-backlog.rules.yml
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/examples/datadog-monitors.json
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/examples/datadog.yaml
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/examples/grafana-dashboard.json
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/examples/otelcol.yaml
-rw-r--r-- root/root ./usr/share/doc/audisp-backlog/examples/prometheus.yml
drwxr-xr-x root/root ./usr/share/lintian/
drwxr-xr-x root/root ./usr/share/lintian/overrides/
-rw-r--r-- root/root ./usr/share/lintian/overrides/audisp-backlog
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man5/
-rw-r--r-- root/root ./usr/share/man/man5/audisp-backlog.conf.5.gz
drwxr-xr-x root/root ./usr/share/man/man8/
-rw-r--r-- root/root ./usr/share/man/man8/audisp-backlog.8.gz'

check_deb() {
	local deb=$PKG_DEB ok=1 got
	[ "$(id -u)" = 0 ] || { fail "the .deb install test needs root (dpkg --root, chroot)"; return 1; }

	# lintian: no error, and no warning that lintian-overrides does not
	# justify (the overrides ship in the package).
	local out
	out=$(lintian --fail-on error,warning --display-info "$deb" 2>&1) || { fail "lintian"; ok=0; }
	grep -v '^running with root privileges' <<<"$out" || true
	say "lintian: $(grep -c '^[EW]:' <<<"$out" || true) errors or warnings left, $(grep -c '^audisp-backlog:' packaging/deb/lintian-overrides) overridden"

	# Control: fields, the two conffiles, no maintainer scripts.
	local f
	for f in "Package=$NAME" "Version=$VERSION-$PKG_RELEASE" "Architecture=amd64" "Depends=auditd"; do
		got=$(dpkg-deb -f "$deb" "${f%%=*}")
		[ "$got" = "${f#*=}" ] || { fail "control ${f%%=*}: '$got', want '${f#*=}'"; ok=0; }
	done
	got=$(dpkg-deb -I "$deb" conffiles)
	[ "$got" = "$CONF"$'\n'"$PLUGIN_CONF" ] || [ "$got" = "$PLUGIN_CONF"$'\n'"$CONF" ] || { fail "conffiles: $got"; ok=0; }
	mkdir -p "$TMP/control"
	dpkg-deb -e "$deb" "$TMP/control"
	got=$(cd "$TMP/control" && ls | tr '\n' ' ')
	[ "$got" = "conffiles control md5sums " ] || { fail "control members: $got (no maintainer scripts wanted)"; ok=0; }

	# data.tar: exactly these entries, owners and modes.
	got=$(dpkg-deb -c "$deb" | awk '{ o = $2; if (o == "0/0") o = "root/root"; print $1, o, $6 }')
	if [ "$got" != "$DEB_DATA" ]; then
		fail "data.tar entries differ (-want +got):"$'\n'"$(diff <(echo "$DEB_DATA") <(echo "$got") | grep '^[<>]')"
		ok=0
	fi

	# Install into a scratch root with dpkg itself, then check what it put
	# there. A stub auditd package stands for the real one (whose postinst
	# would start auditd): it satisfies Depends and owns /etc/audit and
	# /etc/audit/plugins.d as the real one does.
	local root=$TMP/deb-root stub=$TMP/auditd-stub
	mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
	touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
	mkdir -p "$stub/DEBIAN" "$stub/etc/audit/plugins.d"
	chmod 0750 "$stub/etc/audit" "$stub/etc/audit/plugins.d"
	printf '%s\n' 'Package: auditd' 'Version: 1:0-stub' 'Architecture: amd64' \
		'Maintainer: audisp-backlog check <root@localhost>' 'Description: stub for the install test' > "$stub/DEBIAN/control"
	dpkg-deb --root-owner-group -b "$stub" "$TMP/auditd-stub.deb" >/dev/null
	dpkg --root="$root" -i "$TMP/auditd-stub.deb" >/dev/null || { fail "dpkg -i auditd stub"; return 1; }
	dpkg --root="$root" -i "$deb" >/dev/null || { fail "dpkg -i"; return 1; }
	local want
	want=$(sed -n 's#^\([-d][-rwx]*\) \([a-z]*\)/\([a-z]*\) \./\(.*[^/]\)/*$#\1 \2:\3 /\4#p' <<<"$DEB_DATA")
	assert_installed "$root" "$want" || ok=0
	# dpkg -L lists nothing we did not expect.
	got=$(dpkg --root="$root" -L $NAME | grep -v '^/\.$' | sort)
	[ "$got" = "$(awk '{ print $3 }' <<<"$want" | sort)" ] || { fail "dpkg -L: $got"; ok=0; }
	auditd_rules "$root" || { fail "auditd would refuse the installed plugin entry"; ok=0; }
	run_check "$root" || ok=0

	# Upgrade keeps the admin's edits of both conffiles without asking.
	sed -i 's/^active = no/active = yes/' "$root$PLUGIN_CONF"
	echo '# local edit' >> "$root$CONF"
	dpkg --root="$root" --force-confold -i "$deb" >/dev/null </dev/null || { fail "dpkg -i (upgrade)"; ok=0; }
	grep -q '^active = yes' "$root$PLUGIN_CONF" || { fail "upgrade replaced the edited $PLUGIN_CONF"; ok=0; }
	grep -q '^# local edit' "$root$CONF" || { fail "upgrade replaced the edited $CONF"; ok=0; }
	# Remove keeps the conffiles, purge removes them.
	dpkg --root="$root" -r $NAME >/dev/null || { fail "dpkg -r"; ok=0; }
	[ ! -e "$root$SBIN" ] || { fail "dpkg -r left $SBIN"; ok=0; }
	[ -e "$root$PLUGIN_CONF" ] || { fail "dpkg -r removed the conffile $PLUGIN_CONF"; ok=0; }
	dpkg --root="$root" -P $NAME >/dev/null || { fail "dpkg -P"; ok=0; }
	got=$(cd "$root" && find etc usr -name "$NAME*" 2>/dev/null || true)
	[ -z "$got" ] || { fail "dpkg -P left: $got"; ok=0; }
	[ "$(stat -c %a "$root/etc/audit/plugins.d")" = 750 ] || { fail "dpkg -P changed auditd's /etc/audit/plugins.d"; ok=0; }
	[ "$ok" = 1 ]
}

# ---------------------------------------------------------------------------
# .rpm

# rpm -qlvp: mode owner:group path, then each file's rpm flags.
RPM_FILES='-rw-r----- root:root /etc/audit/audisp-backlog.conf
-rw-r----- root:root /etc/audit/plugins.d/audisp-backlog.conf
-rwxr-xr-x root:root /usr/sbin/audisp-backlog
drwxr-xr-x root:root /usr/share/doc/audisp-backlog
-rw-r--r-- root:root /usr/share/doc/audisp-backlog/README.md
-rw-r--r-- root:root /usr/share/doc/audisp-backlog/copyright
drwxr-xr-x root:root /usr/share/doc/audisp-backlog/examples
-rw-r--r-- root:root /usr/share/doc/audisp-backlog/examples/audisp-backlog.rules.yml
-rw-r--r-- root:root /usr/share/doc/audisp-backlog/examples/datadog-monitors.json
-rw-r--r-- root:root /usr/share/doc/audisp-backlog/examples/datadog.yaml
-rw-r--r-- root:root /usr/share/doc/audisp-backlog/examples/grafana-dashboard.json
-rw-r--r-- root:root /usr/share/doc/audisp-backlog/examples/otelcol.yaml
-rw-r--r-- root:root /usr/share/doc/audisp-backlog/examples/prometheus.yml
drwxr-xr-x root:root /usr/share/licenses/audisp-backlog
-rw-r--r-- root:root /usr/share/licenses/audisp-backlog/LICENSE
-rw-r--r-- root:root /usr/share/man/man5/audisp-backlog.conf.5.gz
-rw-r--r-- root:root /usr/share/man/man8/audisp-backlog.8.gz'
RPM_FLAGS='cn /etc/audit/audisp-backlog.conf
cn /etc/audit/plugins.d/audisp-backlog.conf
 /usr/sbin/audisp-backlog
 /usr/share/doc/audisp-backlog
d /usr/share/doc/audisp-backlog/README.md
d /usr/share/doc/audisp-backlog/copyright
 /usr/share/doc/audisp-backlog/examples
d /usr/share/doc/audisp-backlog/examples/audisp-backlog.rules.yml
d /usr/share/doc/audisp-backlog/examples/datadog-monitors.json
d /usr/share/doc/audisp-backlog/examples/datadog.yaml
d /usr/share/doc/audisp-backlog/examples/grafana-dashboard.json
d /usr/share/doc/audisp-backlog/examples/otelcol.yaml
d /usr/share/doc/audisp-backlog/examples/prometheus.yml
 /usr/share/licenses/audisp-backlog
l /usr/share/licenses/audisp-backlog/LICENSE
d /usr/share/man/man5/audisp-backlog.conf.5.gz
d /usr/share/man/man8/audisp-backlog.8.gz'

check_rpm() {
	local rpmf=$PKG_RPM ok=1 got
	[ "$(id -u)" = 0 ] || { fail "the .rpm install test needs root (rpm --root, chroot)"; return 1; }

	rpmlint -c packaging/rpm/rpmlint.toml "$rpmf" || { fail "rpmlint"; ok=0; }

	got=$(rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH}\n' "$rpmf")
	[ "$got" = "$NAME $VERSION $PKG_RELEASE x86_64" ] || { fail "rpm header: $got"; ok=0; }
	grep -qx 'audit' <<<"$(rpm -qp --requires "$rpmf")" || { fail "rpm does not require audit"; ok=0; }
	got=$(rpm -qp --scripts "$rpmf")
	[ -z "$got" ] || { fail "rpm has scriptlets (none wanted): $got"; ok=0; }
	got=$(rpm -qlvp "$rpmf" | awk '{ print $1, $3 ":" $4, $NF }')
	[ "$got" = "$RPM_FILES" ] || { fail "rpm -qlvp differs (-want +got):"$'\n'"$(diff <(echo "$RPM_FILES") <(echo "$got") | grep '^[<>]')"; ok=0; }
	got=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpmf")
	[ "$got" = "$RPM_FLAGS" ] || { fail "rpm file flags differ (-want +got):"$'\n'"$(diff <(echo "$RPM_FLAGS") <(echo "$got") | grep '^[<>]')"; ok=0; }

	# Install into a scratch root with rpm itself (no audit package there:
	# --nodeps), then check what it put there.
	local root=$TMP/rpm-root
	mkdir -p "$root/etc/audit/plugins.d"
	chmod 0750 "$root/etc/audit" "$root/etc/audit/plugins.d"
	rpmq --root "$root" --initdb
	rpmq --root "$root" --nodeps -i "$rpmf" || { fail "rpm -i"; return 1; }
	assert_installed "$root" "$RPM_FILES" || ok=0
	auditd_rules "$root" || { fail "auditd would refuse the installed plugin entry"; ok=0; }
	run_check "$root" || ok=0

	# Reinstall keeps the admin's edit (%config(noreplace)).
	sed -i 's/^active = no/active = yes/' "$root$PLUGIN_CONF"
	rpmq --root "$root" --nodeps -U --replacepkgs "$rpmf" || { fail "rpm -U --replacepkgs"; ok=0; }
	grep -q '^active = yes' "$root$PLUGIN_CONF" || { fail "reinstall replaced the edited $PLUGIN_CONF"; ok=0; }
	# Erase saves the edited entry as .rpmsave, a name auditd skips.
	rpmq --root "$root" --nodeps -e $NAME || { fail "rpm -e"; ok=0; }
	[ ! -e "$root$SBIN" ] || { fail "rpm -e left $SBIN"; ok=0; }
	got=$(cd "$root" && find etc usr -name "$NAME*" | sort | tr '\n' ' ')
	[ "$got" = "etc/audit/plugins.d/$NAME.conf.rpmsave " ] || { fail "rpm -e left: $got"; ok=0; }
	[ "$ok" = 1 ]
}

# ---------------------------------------------------------------------------
# The spec, built with rpmbuild.

check_spec() {
	local ok=1 got spec=packaging/rpm/$NAME.spec
	VERSION=$VERSION packaging/rpm/rpmbuild.sh > "$TMP/rpmbuild.log" 2>&1 || {
		tail -40 "$TMP/rpmbuild.log"
		fail "packaging/rpm/rpmbuild.sh"
		return 1
	}
	tail -1 "$TMP/rpmbuild.log"
	local rpmf
	rpmf=$(ls dist/rpmbuild/$NAME-$VERSION-*.x86_64.rpm)
	got=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpmf" |
		grep -E " ($PLUGIN_CONF|$CONF|$SBIN)\$")
	local want="-rw-r----- root:root cn $CONF
-rw-r----- root:root cn $PLUGIN_CONF
-rwxr-xr-x root:root  $SBIN"
	[ "$got" = "$want" ] || { fail "rpmbuild package files (-want +got):"$'\n'"$(diff <(echo "$want") <(echo "$got") | grep '^[<>]')"; ok=0; }
	grep -qx 'audit' <<<"$(rpm -qp --requires "$rpmf")" || { fail "rpmbuild package does not require audit"; ok=0; }
	# The README and every example, as documentation. The doc directory is
	# the build host's %_docdir_fmt: name (Fedora, SUSE) or name-version
	# (rpm's default, as on Debian).
	got=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpmf" |
		sed "s#/usr/share/doc/$NAME-$VERSION/#/usr/share/doc/$NAME/#" | grep -E " /usr/share/doc/$NAME/(README.md|examples/.*)\$")
	want=$(cd packaging/examples && printf -- "-rw-r--r-- d /usr/share/doc/$NAME/README.md\n" && LC_ALL=C ls | sed "s#^#-rw-r--r-- d /usr/share/doc/$NAME/examples/#")
	[ "$got" = "$want" ] || { fail "rpmbuild package docs (-want +got):"$'\n'"$(diff <(echo "$want") <(echo "$got") | grep '^[<>]')"; ok=0; }
	# Provides: bundled(golang(...)) names exactly the modules in the binary.
	got=$(sed -n 's/^Provides: *bundled(golang(\(.*\))) = .*/\1/p' "$spec" | sort)
	local deps
	deps=$("$GO" version -m "$PKG_BIN" | awk '$1 == "dep" { print $2 }' | sort)
	[ "$got" = "$deps" ] || { fail "$spec bundled() differs from the binary's modules (-spec +binary):"$'\n'"$(diff <(echo "$got") <(echo "$deps") | grep '^[<>]')"; ok=0; }
	[ "$ok" = 1 ]
}

# ---------------------------------------------------------------------------

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(binary repro manpages meta rules deb rpm spec)
for s in "${steps[@]}"; do
	run "$s"
done
say "package-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
