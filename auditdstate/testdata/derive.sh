#!/bin/sh
# derive.sh: regenerate testdata/derived-<version>.state from auditd's own
# writer code, until real captures from the e2e guest replace them.
#
#   sh testdata/derive.sh AUDIT_USERSPACE_GIT_DIR OUT_DIR
#
# For each tag below it takes, from that tag of linux-audit/audit-userspace,
# the functions that write the state report (cont_handler and
# write_memory_state from src/auditd.c, write_logging_state from
# src/auditd-event.c, libdisp_write_queue_state from audisp/audispd.c,
# write_queue_state from audisp/queue.c, write_connection_state from
# src/auditd-listen.c), compiles them unchanged except for one rename
# (auditd-event.c's `config->` becomes `config_p->`, because auditd.c's
# `config` is a struct in the same file here) with stubs for the state they
# print, and runs cont_handler twice (the second report is kept, so the
# glibc "was:" figures are not zero). Nothing of audit-userspace is
# committed: only the files this writes. Needs git, sed and gcc (glibc 2.33
# or later, for mallinfo2).
set -eu
src=$1
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fn() { # fn TAG FILE SEDRANGE: print one function of FILE at TAG
	git --git-dir="$src" show "$1:$2" | sed -n "$3"
}

# tag queue-depth max-used q-depth overflowed
for spec in "v3.0.9 0 1834 2000 0" "v4.0.2 17 2000 2000 1" "v4.0.5 3 412 2000 0" "v4.2.1 0 7 2000 0"; do
	set -- $spec
	tag=$1 version=${1#v}
	c="$work/$tag.c"
	cat > "$c" <<HDR
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/resource.h>

#define VERSION "$version"
#define MEGABYTE 1048576UL
#define D_BACKGROUND 1
#define USE_LISTENER 1
#define HAVE_MALLINFO2 1
#define AUDIT_ATOMIC_LOAD(x) (x)
#define audit_msg(...) ((void)0)
#define plist_count(p) 2u

struct ev_loop;
struct ev_signal;
struct ev_tcp { int client_active; struct ev_tcp *next; };
struct daemon_conf {
	int write_logs, daemonize;
	unsigned long max_log_size, space_left, admin_space_left;
	gid_t log_group;
};
static struct daemon_conf config = { 1, D_BACKGROUND, 8, 75, 50, 0 };
static struct daemon_conf *config_p = &config;
static int plugin_conf;
static const char *state_file;
static int log_fd;
static off_t log_size = 3412877;
static unsigned int known_logs = 5, disk_err_warning;
static int fs_space_left = 1, logging_suspended, fs_space_warning, fs_admin_space_warning;
static unsigned int currently_used = $2, max_used = $3, q_depth = $4, overflowed = $5, processing_suspended;
static int nlsocks;
static struct ev_tcp *client_chain;
HDR
	fn "$tag" src/auditd-event.c '/^void write_logging_state/,/^}/p' | sed 's/config->/config_p->/g' >> "$c"
	fn "$tag" audisp/queue.c '/^void write_queue_state/,/^}/p' >> "$c"
	fn "$tag" audisp/audispd.c '/^void libdisp_write_queue_state/,/^}/p' >> "$c"
	fn "$tag" src/auditd-listen.c '/^void write_connection_state/,/^}/p' >> "$c"
	if git --git-dir="$src" show "$tag:src/auditd.c" | grep -q '^static void write_memory_state'; then
		echo 'static struct mallinfo2 last_mi;' >> "$c"
		fn "$tag" src/auditd.c '/^static void write_memory_state/,/^}/p' >> "$c"
	fi
	fn "$tag" src/auditd.c '/^static void cont_handler/,/^}/p' >> "$c"
	cat >> "$c" <<'MAIN'
int main(int argc, char **argv)
{
	state_file = argv[1];
	log_fd = open(argv[2], O_RDONLY);
	void *p = malloc(200000);
	cont_handler(NULL, NULL, 0);
	void *q = malloc(90000);
	free(p);
	cont_handler(NULL, NULL, 0);
	free(q);
	return 0;
}
MAIN
	gcc -w -o "$work/$tag" "$c"
	LC_ALL=C TZ=UTC "$work/$tag" "$out/derived-$version.state" "$out"
	echo "wrote $out/derived-$version.state"
done
