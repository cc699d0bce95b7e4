// Package auditclient is the kernel side of audisp-backlog: it reads the
// kernel's audit status (AUDIT_GET), detects whether the kernel carries the
// backlog_max_depth patch, and reads-and-resets that high-water mark
// (AUDIT_SET with mask StatusBacklogMaxDepth).
//
// It talks to the kernel over a NETLINK_AUDIT control socket and never
// registers itself as the audit daemon (it never sets the audit pid), so it
// runs beside auditd. Both operations need CAP_AUDIT_CONTROL in the initial
// user and PID namespaces.
package auditclient

import (
	"encoding/binary"
	"fmt"
	"io"
)

// StatusBacklogMaxDepth is AUDIT_STATUS_BACKLOG_MAX_DEPTH, the audit_status
// mask bit that, sent alone in an AUDIT_SET, makes a patched kernel return
// backlog_max_depth in the ack and zero it. Kernels without the patch ignore
// it and ack 0.
const StatusBacklogMaxDepth = 0x0100

// Sizes of struct audit_status replies, in bytes.
const (
	// minStatusLen is the smallest reply decodeStatus accepts: every field
	// up to and including backlog, as in go-libaudit's MinSizeofAuditStatus
	// (Linux 2.6.32).
	minStatusLen = 32
	// statusLenMaxDepth is the reply size of a kernel with the
	// backlog_max_depth patch: today's 44 bytes plus one __u32.
	statusLenMaxDepth = 48
)

// Status is the kernel's audit status as AUDIT_GET reports it (struct
// audit_status in include/uapi/linux/audit.h). Fields that the kernel's
// reply is too short to carry are zero.
//
// The "jiffies" fields count kernel timer ticks: one jiffy is 1/CONFIG_HZ
// seconds (4 ms with HZ=250, 1 ms with HZ=1000). CONFIG_HZ is not the
// USER_HZ that sysconf(_SC_CLK_TCK) reports (always 100 on x86), so don't
// convert with that.
type Status struct {
	// Enabled is 0 (auditing off), 1 (on) or 2 (on and locked until reboot).
	Enabled uint32
	// Failure is what the kernel does when it must drop a record:
	// 0 silent, 1 printk (the default), 2 panic.
	Failure uint32
	// PID is the process id of the registered audit daemon, 0 if none.
	PID uint32
	// RateLimit is the maximum number of records per second, 0 for no limit.
	RateLimit uint32
	// BacklogLimit is the maximum number of records the kernel queues for the
	// audit daemon (audit_queue) before it waits or drops; 0 for no limit.
	BacklogLimit uint32
	// Lost counts records dropped since boot or since it was last reset
	// (auditctl --reset-lost). It wraps at 2^32.
	Lost uint32
	// Backlog is the number of records in audit_queue when the kernel
	// answered: an instantaneous value, not a peak.
	Backlog uint32
	// FeatureBitmap holds the kernel's AUDIT_FEATURE_BITMAP_* bits (before
	// Linux 3.19 this field was the audit API version).
	FeatureBitmap uint32
	// BacklogWaitTime is how long, in jiffies, a process producing a record
	// may sleep waiting for room when the backlog is over BacklogLimit
	// (default 60*HZ, i.e. 60 s; 0 means never wait). It is the
	// schedule_timeout argument in kernel/audit.c audit_log_start.
	BacklogWaitTime uint32
	// BacklogWaitTimeActual is the total time, in jiffies, that processes
	// have slept waiting for room in the backlog since boot or since it was
	// last reset (auditctl --reset_backlog_wait_time_actual). audit_log_start
	// adds rtime-stime, both schedule_timeout values in jiffies, not ms.
	// Added in Linux 5.9; zero on older kernels (shorter reply).
	BacklogWaitTimeActual uint32
	// MaxDepth is backlog_max_depth, the largest number of records
	// audit_queue has held since boot or since it was last reset
	// (Client.ResetMaxDepth). It is zero unless HasMaxDepth.
	MaxDepth uint32
	// HasMaxDepth reports whether the kernel carries the backlog_max_depth
	// patch. It is set from the reply length alone (at least 48 bytes),
	// since that is the patch's only feature test; MaxDepth may well be 0
	// when it is true.
	HasMaxDepth bool
}

// decodeStatus decodes the payload of an AUDIT_GET reply: struct
// audit_status in host byte order. Any length from minStatusLen up is
// accepted; fields past the end of b are left zero and bytes past the last
// known field (a future kernel's additions) are ignored.
func decodeStatus(b []byte) (Status, error) {
	if len(b) < minStatusLen {
		return Status{}, fmt.Errorf("audit status reply is %d bytes, want at least %d: %w",
			len(b), minStatusLen, io.ErrUnexpectedEOF)
	}
	var s Status
	// struct audit_status, one __u32 per field; the first, mask, is left
	// zero by AUDIT_GET and not reported.
	for i, f := range [...]*uint32{
		nil,
		&s.Enabled,
		&s.Failure,
		&s.PID,
		&s.RateLimit,
		&s.BacklogLimit,
		&s.Lost,
		&s.Backlog,
		&s.FeatureBitmap,
		&s.BacklogWaitTime,
		&s.BacklogWaitTimeActual,
		&s.MaxDepth,
	} {
		off := 4 * i
		if f == nil || off+4 > len(b) {
			continue
		}
		*f = binary.NativeEndian.Uint32(b[off:])
	}
	s.HasMaxDepth = len(b) >= statusLenMaxDepth
	return s, nil
}
