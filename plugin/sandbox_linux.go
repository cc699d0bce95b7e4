package main

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// apply confines the process for the rest of its life, on every thread:
// Landlock first (what it may read), then seccomp (what it may call). It
// must come after everything that needs more: the configuration, the
// netlink socket, an eBPF probe (bpf() is refused after), and the
// capability drop (capset is refused after).
//
// Both are best effort, as far as the kernel goes: Landlock restricts what
// the kernel's ABI knows (landlockRights), and nothing on a kernel without
// Landlock; a kernel without seccomp filters (all distributions' have
// them) gets none. sandboxed says what was done. An error means the kernel
// refused what it has: the process may be partly confined, and must stop.
func (s *sandbox) apply() (sandboxed, error) {
	abi, err := s.applyLandlock()
	if err != nil {
		return sandboxed{}, err
	}
	done := sandboxed{landlockABI: abi, seccomp: seccomp.Supported()}
	if done.seccomp {
		if done.denied, err = applySeccomp(os.Getpid()); err != nil {
			return sandboxed{}, err
		}
	}
	return done, nil
}

// sandboxSupport says what apply would do on this kernel, for -check: the
// Landlock ABI (0: none) and whether it has seccomp filters.
func sandboxSupport() (landlockABI int, seccompFilters bool) {
	abi, err := llsys.LandlockGetABIVersion()
	if err != nil {
		abi = 0
	}
	return abi, seccomp.Supported()
}

// landlockRights is what the Landlock ruleset handles: every file access
// of ABI 1 to 8 (the rules grant only reading), binding TCP ports (ABI 4),
// and the IPC scopes (ABI 6: no signal to, no abstract unix socket of, a
// process outside the sandbox). Not handled, so never restricted: TCP
// connect (the collector's address may change on reload), connect on
// pathname unix sockets (ABI 9; syslog's /dev/log and a statsd socket,
// which may appear after start) and UDP (ABI 10; DNS, statsd).
var landlockRights = landlock.Config{
	HandledAccessFS: llsys.AccessFSExecute | llsys.AccessFSWriteFile | llsys.AccessFSReadFile |
		llsys.AccessFSReadDir | llsys.AccessFSRemoveDir | llsys.AccessFSRemoveFile |
		llsys.AccessFSMakeChar | llsys.AccessFSMakeDir | llsys.AccessFSMakeReg |
		llsys.AccessFSMakeSock | llsys.AccessFSMakeFifo | llsys.AccessFSMakeBlock |
		llsys.AccessFSMakeSym | llsys.AccessFSRefer | llsys.AccessFSTruncate |
		llsys.AccessFSIoctlDev,
	HandledAccessNet: llsys.AccessNetBindTCP,
	Scoped:           llsys.ScopeAbstractUnixSocket | llsys.ScopeSignal,
}

// applyLandlock restricts the process to reading s.read, with whatever
// of landlockRights the kernel supports, and returns the kernel's Landlock
// ABI (0 when it has none, and then restricts nothing).
func (s *sandbox) applyLandlock() (int, error) {
	// time.Local is loaded on first use, from /etc/localtime, which the
	// sandbox does not allow: load it now.
	//lint:ignore SA4017 the call is for its side effect, loading time.Local
	time.Now().Zone()

	var rules []landlock.Rule
	for _, r := range s.read {
		access := landlock.AccessFSSet(llsys.AccessFSReadFile)
		if r.list {
			access |= llsys.AccessFSReadDir
		}
		rules = append(rules, landlock.PathAccess(access, r.path))
	}
	if err := landlockRights.BestEffort().Restrict(rules...); err != nil {
		return 0, fmt.Errorf("sandbox: Landlock: %w", err)
	}
	abi, err := llsys.LandlockGetABIVersion()
	if err != nil {
		return 0, nil // no Landlock here; Restrict did nothing
	}
	return abi, nil
}

// Flags of the system calls the seccomp filter looks into.
const (
	// openWrite opens a file for writing, or creates or empties it.
	openWrite = unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC
	// sockTypeNotDgram: a socket type (its low 4 bits) other than
	// SOCK_DGRAM (2) has bit 0 or bit 2 set.
	sockTypeBit0, sockTypeBit2 = 1, 4
)

// seccompDenied lists what the plugin never does once sandboxed, by
// reason: the seccomp filter refuses these calls with EPERM (and the
// kernel logs each refusal to the audit log as a SECCOMP record). Names
// that an architecture lacks (arm64 has no open, fork, chmod...) are
// skipped there. TestSeccompPolicy checks each row against the assembled
// filter, and TestSandboxAllowsThePlugin every call the plugin makes in a
// whole session against it.
var seccompDenied = []struct {
	why   string
	names []string
}{
	{"run a program", []string{"execve", "execveat"}},
	{"start a process (clone without CLONE_THREAD below)", []string{"fork", "vfork"}},
	{"reach into another process", []string{"ptrace", "process_vm_readv", "process_vm_writev",
		"pidfd_getfd", "kcmp", "process_madvise", "process_mrelease", "pidfd_send_signal", "tkill"}},
	{"mount, change root or namespaces", []string{"mount", "umount2", "pivot_root", "chroot",
		"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "open_tree_attr",
		"mount_setattr", "unshare", "setns"}},
	{"load code into the kernel", []string{"init_module", "finit_module", "delete_module",
		"kexec_load", "kexec_file_load", "bpf", "perf_event_open"}},
	{"change identity or capabilities", []string{"setuid", "setgid", "setreuid", "setregid",
		"setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups", "capset"}},
	{"use the kernel keyrings", []string{"keyctl", "add_key", "request_key"}},
	{"create, change or remove a file", []string{"creat", "truncate", "ftruncate", "fallocate",
		"mknod", "mknodat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat",
		"rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
		"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
		"utime", "utimes", "futimesat", "utimensat",
		"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
		"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
		"name_to_handle_at", "open_by_handle_at", "quotactl", "quotactl_fd"}},
	{"accept connections (the plugin is a client)", []string{"bind", "listen", "accept", "accept4"}},
	{"use System V or POSIX IPC", []string{"shmget", "shmat", "shmdt", "shmctl",
		"msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl",
		"mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr"}},
	{"use io_uring, which this filter cannot see into", []string{"io_uring_setup", "io_uring_enter", "io_uring_register"}},
	{"reschedule processes", []string{"setpriority", "sched_setscheduler", "sched_setparam",
		"sched_setattr", "sched_setaffinity", "ioprio_set"}},
	{"administer the system", []string{"reboot", "swapon", "swapoff", "sethostname", "setdomainname",
		"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "acct", "syslog", "vhangup",
		"iopl", "ioperm", "modify_ldt", "personality", "uselib", "userfaultfd", "fanotify_init",
		"lookup_dcookie", "nfsservctl", "remap_file_pages"}},
}

// seccompConditional lists the calls the filter refuses for some
// arguments only, pid being the process's own; each condition set is a
// refusal (its conditions all hold).
func seccompConditional(pid int) []seccomp.NameWithConditions {
	self := uint64(pid)
	bits := func(arg uint32, v uint64) seccomp.Condition {
		return seccomp.Condition{Argument: arg, Operation: seccomp.BitsSet, Value: v}
	}
	notEq := func(arg uint32, v uint64) seccomp.Condition {
		return seccomp.Condition{Argument: arg, Operation: seccomp.NotEqual, Value: v}
	}
	eq := func(arg uint32, v uint64) seccomp.Condition {
		return seccomp.Condition{Argument: arg, Operation: seccomp.Equal, Value: v}
	}
	one := func(name string, cs ...seccomp.Condition) seccomp.NameWithConditions {
		return seccomp.NameWithConditions{Name: name, Conditions: cs}
	}
	return []seccomp.NameWithConditions{
		// A new process: the Go runtime's threads pass CLONE_THREAD.
		one("clone", seccomp.Condition{Argument: 0, Operation: seccomp.BitsNotSet, Value: unix.CLONE_THREAD}),
		// Writing a file (Landlock refuses it too, where the kernel has it).
		one("open", bits(1, openWrite)),
		one("openat", bits(2, openWrite)),
		// New executable memory: no code is ever loaded after start. That
		// is what systemd's MemoryDenyWriteExecute=yes refuses, and more.
		one("mmap", bits(2, unix.PROT_EXEC)),
		one("mprotect", bits(2, unix.PROT_EXEC)),
		one("pkey_mprotect", bits(2, unix.PROT_EXEC)),
		// Signals to anyone but itself: uid 0 may signal every process of
		// uid 0 without CAP_KILL, auditd included.
		one("kill", notEq(0, self)),
		one("tgkill", notEq(0, self)),
		one("rt_sigqueueinfo", notEq(0, self)),
		one("rt_tgsigqueueinfo", notEq(0, self)),
		// Lowering the limits of another process.
		one("prlimit64", notEq(0, 0), notEq(0, self)),
		// Sockets other than unix datagram (syslog, statsd), IP and netlink;
		// no unix stream socket, which would reach systemd's, D-Bus's or a
		// container engine's socket, where uid 0 may have programs run.
		one("socket", notEq(0, unix.AF_UNIX), notEq(0, unix.AF_INET), notEq(0, unix.AF_INET6), notEq(0, unix.AF_NETLINK)),
		one("socket", eq(0, unix.AF_UNIX), bits(1, sockTypeBit0)),
		one("socket", eq(0, unix.AF_UNIX), bits(1, sockTypeBit2)),
		one("socketpair", notEq(0, unix.AF_UNIX)),
	}
}

// seccompENOSYS lists calls refused with ENOSYS, as if the kernel had
// none: clone3 takes its flags in memory, which the filter cannot read, and
// C libraries fall back to clone on ENOSYS (Go's runtime uses clone).
// openat2 likewise: Go falls back to openat.
var seccompENOSYS = []string{"clone3", "openat2"}

// seccompPolicy is the filter for this architecture, pid being the
// process's own, and how many calls it refuses outright.
func seccompPolicy(pid int) (*seccomp.Policy, int, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, 0, err
	}
	known := func(names []string) []string {
		var have []string
		for _, n := range names {
			if _, ok := info.SyscallNames[n]; ok {
				have = append(have, n)
			}
		}
		return have
	}
	var deny []string
	for _, d := range seccompDenied {
		deny = append(deny, known(d.names)...)
	}
	var cond []seccomp.NameWithConditions
	for _, c := range seccompConditional(pid) {
		if len(known([]string{c.Name})) == 1 {
			cond = append(cond, c)
		}
	}
	p := &seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionErrno, Names: deny},
			{Action: seccomp.ActionErrno, NamesWithCondtions: cond},
			{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: known(seccompENOSYS)},
		},
	}
	return p, len(deny), nil
}

// archGuard is a second filter: it refuses, with ENOSYS, every call made
// through another architecture's entry point (int $0x80 on x86-64 reaches
// the i386 table), which go-seccomp-bpf's filter lets through, and which
// would get round it: the i386 execve is not the x86-64 one. (The x32
// calls it refuses itself.)
func archGuard(native arch.AuditArch) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(native), SkipFalse: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionAllow)},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
	}
}

// applySeccomp loads the filter and the architecture guard on every thread
// (SECCOMP_FILTER_FLAG_TSYNC), with no_new_privs, which seccomp requires,
// and returns how many calls the filter refuses outright.
func applySeccomp(pid int) (int, error) {
	policy, n, err := seccompPolicy(pid)
	if err != nil {
		return 0, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	flags := seccomp.FilterFlagTSync | seccomp.FilterFlagLog
	if err := seccomp.LoadFilter(seccomp.Filter{NoNewPrivs: true, Flag: flags, Policy: *policy}); err != nil {
		return 0, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	info, _ := arch.GetInfo("")
	if err := loadFilter(archGuard(info.ID), flags); err != nil {
		return 0, fmt.Errorf("sandbox: seccomp architecture guard: %w", err)
	}
	return n, nil
}

// loadFilter loads a seccomp filter on every thread.
func loadFilter(prog []bpf.Instruction, flags seccomp.FilterFlag) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return e
	}
	return nil
}
