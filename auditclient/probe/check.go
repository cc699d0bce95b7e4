package probe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// The kernel functions the programs attach to.
const (
	fnQueueTail = "skb_queue_tail"     // fexit: every enqueue (required)
	fnLogLost   = "audit_log_lost"     // fentry: lost records by cause (optional)
	fnSendQueue = "kauditd_send_queue" // fentry: audit_queue's address without kallsyms
)

// Where Open finds audit_queue's address (Report.Address, Info.Address).
const (
	AddressKallsyms  = "kallsyms"           // read from /proc/kallsyms before attaching
	AddressSendQueue = "kauditd_send_queue" // learnt from kauditd's first pass after Open
)

// A Report is what Check found out about the running kernel and process.
type Report struct {
	Kernel   string // kernel release, e.g. "6.12.117-amd64"
	BTF      bool   // /sys/kernel/btf/vmlinux is readable
	Lockdown string // LockdownNone, LockdownIntegrity, LockdownConfidentiality; "" if unknown
	// CapBPF: the effective set allows loading tracing programs
	// (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN); CapSyslog: it allows
	// reading kernel addresses in /proc/kallsyms.
	CapBPF, CapSyslog bool
	// Address says where Open would find audit_queue's address
	// (AddressKallsyms or AddressSendQueue), "" if nowhere.
	Address string
	// RetryHold: the retry and hold queues' addresses are known, so
	// Snapshot.RetryMaxDepth and HoldMaxDepth are measured.
	RetryHold bool
	// LostByCause: audit_log_lost can be traced, so Snapshot.Lost is
	// measured.
	LostByCause bool
}

// String summarises the report on one line, for -check.
func (r Report) String() string {
	lock := r.Lockdown
	if lock == "" {
		lock = "unknown"
	}
	addr := r.Address
	if addr == "" {
		addr = "none"
	}
	return fmt.Sprintf("kernel %s, btf %t, lockdown %s, cap_bpf %t, cap_syslog %t, audit_queue from %s, retry/hold queues %t, lost by cause %t",
		r.Kernel, r.BTF, lock, r.CapBPF, r.CapSyslog, addr, r.RetryHold, r.LostByCause)
}

// Check reports whether Open could attach the probe here, and why not,
// without loading anything into the kernel: it reads the kernel release,
// the kernel's BTF, the lockdown mode, the process's capabilities and
// /proc/kallsyms. A nil error means Open should succeed; otherwise the
// error joins every reason found, each wrapping one of the Err sentinels.
//
// Check cannot foresee everything (the verifier has the last word), and
// where it cannot tell (no lockdown file) it assumes the best.
func Check() (Report, error) {
	return check(system{fsys: os.DirFS("/"), functions: kernelFunctions})
}

// system is what check reads: the root file system and a lookup of
// function names in the kernel's BTF (a parameter so tests can fake both).
type system struct {
	fsys      fs.FS
	functions func(names ...string) (map[string]bool, error)
}

// kernelAddresses are the addresses check found, for Open.
type kernelAddresses struct {
	queue, retry, hold uint64
}

func check(sys system) (Report, error) {
	r, _, err := inspect(sys)
	return r, err
}

// inspect is Check, also returning the queues' addresses.
func inspect(sys system) (Report, kernelAddresses, error) {
	var r Report
	var addrs kernelAddresses
	var errs []error

	if b, err := fs.ReadFile(sys.fsys, "proc/sys/kernel/osrelease"); err != nil {
		errs = append(errs, fmt.Errorf("%w: kernel release: %w", ErrUnsupported, err))
	} else {
		r.Kernel = strings.TrimSpace(string(b))
		major, minor, err := parseRelease(r.Kernel)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrKernelTooOld, err))
		} else if major < 5 || major == 5 && minor < 12 {
			errs = append(errs, fmt.Errorf("%w: running %s", ErrKernelTooOld, r.Kernel))
		}
	}

	if b, err := fs.ReadFile(sys.fsys, "sys/kernel/security/lockdown"); err == nil {
		mode, err := parseLockdown(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrLockdown, err))
		}
		r.Lockdown = mode
		if mode == LockdownConfidentiality {
			errs = append(errs, fmt.Errorf("%w (boot without lockdown=confidentiality; integrity is fine)", ErrLockdown))
		}
	}

	if b, err := fs.ReadFile(sys.fsys, "proc/self/status"); err != nil {
		errs = append(errs, fmt.Errorf("%w: read capabilities: %w", ErrPrivileges, err))
	} else if set, err := parseCapEff(b); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrPrivileges, err))
	} else {
		r.CapBPF = hasCap(set, capSysAdmin) || hasCap(set, capBPF) && hasCap(set, capPerfmon)
		r.CapSyslog = hasCap(set, capSyslog)
		if !r.CapBPF {
			errs = append(errs, fmt.Errorf("%w (effective set %#x): run as root or grant them", ErrPrivileges, set))
		}
	}

	funcs := map[string]bool{}
	if _, err := fs.Stat(sys.fsys, "sys/kernel/btf/vmlinux"); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrNoBTF, err))
	} else {
		r.BTF = true
		f, err := sys.functions(fnQueueTail, fnLogLost, fnSendQueue)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrNoBTF, err))
		} else if !f[fnQueueTail] {
			errs = append(errs, fmt.Errorf("%w: no function %s to attach to", ErrNoBTF, fnQueueTail))
		}
		funcs = f
	}
	r.LostByCause = funcs[fnLogLost]

	if f, err := sys.fsys.Open("proc/kallsyms"); err == nil {
		found, err := kallsyms(f, symQueue, symRetryQueue, symHoldQueue)
		f.Close()
		if err == nil {
			addrs = kernelAddresses{queue: found[symQueue], retry: found[symRetryQueue], hold: found[symHoldQueue]}
		}
	}
	switch {
	case addrs.queue != 0:
		r.Address = AddressKallsyms
		r.RetryHold = addrs.retry != 0 && addrs.hold != 0
	case funcs[fnSendQueue]:
		r.Address = AddressSendQueue
	case r.BTF:
		errs = append(errs, fmt.Errorf("%w: not in /proc/kallsyms (needs CONFIG_KALLSYMS_ALL, CAP_SYSLOG and kernel.kptr_restrict < 2) and no function %s to learn it from",
			ErrNoQueueAddress, fnSendQueue))
	}
	if !r.RetryHold {
		addrs.retry, addrs.hold = 0, 0
	}
	return r, addrs, errors.Join(errs...)
}
