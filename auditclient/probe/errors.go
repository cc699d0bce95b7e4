package probe

import "errors"

// Why the probe cannot run. Open and Check wrap one or more of these with
// the details, so a caller can test errors.Is and fall back.
var (
	// ErrUnsupported: not Linux, or an architecture the BPF object is not
	// built for.
	ErrUnsupported = errors.New("eBPF probe not supported on this platform")
	// ErrKernelTooOld: the kernel predates BPF atomics (5.12).
	ErrKernelTooOld = errors.New("kernel too old for the eBPF probe (needs Linux 5.12 or later)")
	// ErrNoBTF: no /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF), or a
	// function the probe attaches to is not in it.
	ErrNoBTF = errors.New("kernel BTF missing (needs CONFIG_DEBUG_INFO_BTF and /sys/kernel/btf/vmlinux)")
	// ErrLockdown: kernel lockdown=confidentiality forbids tracing
	// programs that read kernel memory.
	ErrLockdown = errors.New("kernel lockdown=confidentiality forbids the eBPF probe")
	// ErrPrivileges: the process lacks CAP_BPF and CAP_PERFMON (or
	// CAP_SYS_ADMIN).
	ErrPrivileges = errors.New("eBPF probe needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)")
	// ErrNoQueueAddress: audit_queue's address is neither in
	// /proc/kallsyms (needs CONFIG_KALLSYMS_ALL, CAP_SYSLOG and
	// kernel.kptr_restrict < 2) nor can it be learnt from kauditd.
	ErrNoQueueAddress = errors.New("audit_queue's address not found")
	// ErrLoad: the kernel refused to load or attach the programs for
	// another reason (the verifier's log is in the wrapped error).
	ErrLoad = errors.New("eBPF probe not loaded")
)
