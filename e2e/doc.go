// Package e2e is the VM end-to-end harness of audisp-backlog: its tests boot
// a kernel carrying the backlog_max_depth patch (and one without it) under
// qemu, with Debian's auditd inside, and check that the plugin, spawned by
// auditd exactly as in production, reports the kernel's exact peaks to a
// collector in the guest. See README.md; `make e2e` runs it. The tests skip,
// saying why, unless AUDISP_E2E=1.
package e2e
