package main

import (
	bin "encoding/binary"
	"fmt"
	"math"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// filters runs the plugin's two seccomp filters, as the kernel would, on
// system calls described by number and arguments. It runs the very
// instructions applySeccomp loads, in golang.org/x/net/bpf's interpreter.
type filters struct {
	arch        *arch.Info
	list, guard *bpf.VM
}

func newFilters(t *testing.T, pid int) filters {
	t.Helper()
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	if !nativeLittleEndian() {
		t.Skip("the simulation lays seccomp_data out little-endian")
	}
	policy, _, err := seccompPolicy(pid)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := policy.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	list, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := bpf.NewVM(archGuard(info.ID))
	if err != nil {
		t.Fatal(err)
	}
	return filters{arch: info, list: list, guard: guard}
}

func nativeLittleEndian() bool {
	return bin.NativeEndian.Uint16([]byte{1, 0}) == 1
}

// verdict is what the filters return for system call nr of architecture
// auditArch with args: "allow", or the errno's name ("EPERM").
func (f filters) verdict(t *testing.T, auditArch uint32, nr int, args ...uint64) string {
	t.Helper()
	// struct seccomp_data, native (little-endian) layout. The interpreter
	// loads 32-bit words big-endian, so each word is stored big-endian at
	// its native offset: a 64-bit argument's low word first.
	data := make([]byte, 64)
	be := bin.BigEndian
	be.PutUint32(data[0:], uint32(nr))
	be.PutUint32(data[4:], auditArch)
	for i, a := range args {
		be.PutUint32(data[16+8*i:], uint32(a))
		be.PutUint32(data[16+8*i+4:], uint32(a>>32))
	}
	run := func(vm *bpf.VM) uint32 {
		r, err := vm.Run(data)
		if err != nil {
			t.Fatal(err)
		}
		return uint32(r)
	}
	ret := run(f.guard)
	if ret == uint32(seccomp.ActionAllow) {
		ret = run(f.list)
	}
	switch action := ret & unix.SECCOMP_RET_ACTION_FULL; action {
	case uint32(seccomp.ActionAllow):
		return "allow"
	case uint32(seccomp.ActionErrno):
		return unix.ErrnoName(unix.Errno(ret & unix.SECCOMP_RET_DATA))
	default:
		return fmt.Sprintf("action %#x", action)
	}
}

// call is verdict for a native call by name.
func (f filters) call(t *testing.T, name string, args ...uint64) string {
	t.Helper()
	nr, ok := f.arch.SyscallNames[name]
	if !ok {
		t.Fatalf("no system call %s on %s", name, f.arch.Name)
	}
	return f.verdict(t, uint32(f.arch.ID), nr, args...)
}

// TestSeccompPolicy checks the assembled filter against the policy's
// lists: every call of seccompDenied and seccompENOSYS is refused, whatever
// its arguments; the conditional ones are refused for the arguments they
// name and allowed for those the plugin uses; what the Go runtime needs is
// allowed; another architecture's calls are refused.
func TestSeccompPolicy(t *testing.T) {
	const pid = 4242
	f := newFilters(t, pid)

	t.Run("denied", func(t *testing.T) {
		n := 0
		for _, d := range seccompDenied {
			for _, name := range d.names {
				if _, ok := f.arch.SyscallNames[name]; !ok {
					continue // not on this architecture
				}
				n++
				for _, args := range [][]uint64{nil, {1, 2, 3, 4, 5, 6}, {math.MaxUint64}} {
					if got := f.call(t, name, args...); got != "EPERM" {
						t.Errorf("%s(%v) (%s): %s, want EPERM", name, args, d.why, got)
					}
				}
			}
		}
		if _, count, _ := seccompPolicy(pid); count != n {
			t.Errorf("seccompPolicy says %d denied, the lists hold %d here", count, n)
		}
		for _, name := range seccompENOSYS {
			if got := f.call(t, name); got != "ENOSYS" {
				t.Errorf("%s: %s, want ENOSYS", name, got)
			}
		}
	})

	t.Run("names", func(t *testing.T) {
		// A misspelt name would be skipped silently on every architecture.
		for _, d := range seccompDenied {
			for _, name := range d.names {
				_, amd64 := arch.X86_64.SyscallNames[name]
				_, arm64 := arch.AARCH64.SyscallNames[name]
				if !amd64 && !arm64 {
					t.Errorf("%s: no such system call on x86_64 or aarch64", name)
				}
			}
		}
	})

	const (
		goThread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD
		cloexec  = unix.O_CLOEXEC
	)
	atFDCWD := uint64(math.MaxUint64 - 99) // AT_FDCWD, -100
	tests := []struct {
		call string
		args []uint64
		want string
	}{
		{"clone", []uint64{goThread}, "allow"}, // the Go runtime's new thread
		{"clone", []uint64{goThread | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID}, "allow"},
		{"clone", []uint64{uint64(unix.SIGCHLD)}, "EPERM"},                                    // fork
		{"clone", []uint64{unix.CLONE_VFORK | unix.CLONE_VM | uint64(unix.SIGCHLD)}, "EPERM"}, // os/exec
		{"openat", []uint64{atFDCWD, 0, unix.O_RDONLY | cloexec}, "allow"},
		{"openat", []uint64{atFDCWD, 0, unix.O_RDONLY | unix.O_DIRECTORY | cloexec}, "allow"},
		{"openat", []uint64{atFDCWD, 0, unix.O_PATH | cloexec}, "allow"},
		{"openat", []uint64{atFDCWD, 0, unix.O_WRONLY | cloexec}, "EPERM"},
		{"openat", []uint64{atFDCWD, 0, unix.O_RDWR}, "EPERM"},
		{"openat", []uint64{atFDCWD, 0, unix.O_RDONLY | unix.O_CREAT}, "EPERM"},
		{"openat", []uint64{atFDCWD, 0, unix.O_RDONLY | unix.O_TRUNC}, "EPERM"},
		{"openat", []uint64{atFDCWD, 0, unix.O_WRONLY | unix.O_APPEND}, "EPERM"},
		{"openat", []uint64{atFDCWD, 0, unix.O_RDWR | unix.O_TMPFILE}, "EPERM"},
		{"mmap", []uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}, "allow"},
		{"mmap", []uint64{0, 4096, unix.PROT_NONE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}, "allow"},
		{"mmap", []uint64{0, 4096, unix.PROT_READ, unix.MAP_SHARED}, "allow"}, // an eBPF map
		{"mmap", []uint64{0, 4096, unix.PROT_READ | unix.PROT_EXEC, unix.MAP_PRIVATE}, "EPERM"},
		{"mmap", []uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}, "EPERM"},
		{"mprotect", []uint64{0, 4096, unix.PROT_READ}, "allow"},
		{"mprotect", []uint64{0, 4096, unix.PROT_READ | unix.PROT_EXEC}, "EPERM"},
		{"pkey_mprotect", []uint64{0, 4096, unix.PROT_EXEC, 0}, "EPERM"},
		{"kill", []uint64{pid, uint64(unix.SIGURG)}, "allow"}, // the Go runtime signals itself
		{"kill", []uint64{1, 0}, "EPERM"},
		{"kill", []uint64{0, uint64(unix.SIGTERM)}, "EPERM"},              // its process group: auditd's
		{"kill", []uint64{math.MaxUint64, uint64(unix.SIGKILL)}, "EPERM"}, // -1: every process it may signal
		{"kill", []uint64{pid | 1<<32, 0}, "EPERM"},                       // the kernel would read pid
		{"tgkill", []uint64{pid, pid + 1, uint64(unix.SIGURG)}, "allow"},  // preemption
		{"tgkill", []uint64{1, 1, uint64(unix.SIGKILL)}, "EPERM"},
		{"rt_sigqueueinfo", []uint64{1, uint64(unix.SIGUSR1), 0}, "EPERM"},
		{"rt_tgsigqueueinfo", []uint64{pid, pid, uint64(unix.SIGUSR1), 0}, "allow"},
		{"prlimit64", []uint64{0, unix.RLIMIT_NOFILE, 0, 0}, "allow"},
		{"prlimit64", []uint64{pid, unix.RLIMIT_NOFILE, 0, 0}, "allow"},
		{"prlimit64", []uint64{1, unix.RLIMIT_NOFILE, 0, 0}, "EPERM"},
		{"socket", []uint64{unix.AF_UNIX, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK}, "allow"}, // syslog, statsd
		{"socket", []uint64{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, "EPERM"},
		{"socket", []uint64{unix.AF_UNIX, unix.SOCK_SEQPACKET}, "EPERM"},
		{"socket", []uint64{unix.AF_UNIX, unix.SOCK_RAW}, "EPERM"},
		{"socket", []uint64{unix.AF_UNIX, unix.SOCK_RDM}, "EPERM"},
		{"socket", []uint64{unix.AF_UNIX | 1<<32, unix.SOCK_DGRAM}, "EPERM"},
		{"socket", []uint64{unix.AF_INET, unix.SOCK_STREAM | unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK}, "allow"}, // OTLP
		{"socket", []uint64{unix.AF_INET, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK}, "allow"},  // DNS, statsd
		{"socket", []uint64{unix.AF_INET6, unix.SOCK_STREAM | unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK}, "allow"},
		{"socket", []uint64{unix.AF_NETLINK, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT}, "allow"},
		{"socket", []uint64{unix.AF_PACKET, unix.SOCK_RAW}, "EPERM"},
		{"socket", []uint64{unix.AF_ALG, unix.SOCK_SEQPACKET}, "EPERM"},
		{"socket", []uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, "EPERM"},
		{"socketpair", []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, "allow"},
		{"socketpair", []uint64{unix.AF_INET, unix.SOCK_STREAM}, "EPERM"},
	}
	for _, tc := range tests {
		if _, ok := f.arch.SyscallNames[tc.call]; !ok {
			continue
		}
		if got := f.call(t, tc.call, tc.args...); got != tc.want {
			t.Errorf("%s(%#x): %s, want %s", tc.call, tc.args, got, tc.want)
		}
	}

	// What the Go runtime and the plugin call all the time, with any
	// arguments (TestSandboxAllowsThePlugin checks a whole session).
	for _, name := range []string{
		"read", "write", "close", "futex", "nanosleep", "epoll_pwait", "epoll_ctl", "epoll_create1",
		"sendto", "recvfrom", "sendmsg", "recvmsg", "connect", "getsockopt", "setsockopt",
		"getsockname", "getpeername", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
		"sigaltstack", "madvise", "munmap", "getrandom", "sched_yield", "sched_getaffinity",
		"clock_gettime", "gettid", "getpid", "exit", "exit_group", "fstat", "newfstatat", "pread64",
		"getdents64", "lseek", "fcntl", "uname", "seccomp", "prctl", "pipe2", "eventfd2",
	} {
		if _, ok := f.arch.SyscallNames[name]; !ok {
			continue
		}
		if got := f.call(t, name, 1, 2, 3, 4, 5, 6); got != "allow" {
			t.Errorf("%s: %s, want allow", name, got)
		}
	}

	// The i386 execve (11) and getpid (20), and an x32 call: refused
	// whatever they are.
	if f.arch.ID == arch.X86_64.ID {
		for _, nr := range []int{11, 20} {
			if got := f.verdict(t, uint32(arch.I386.ID), nr); got != "ENOSYS" {
				t.Errorf("i386 call %d: %s, want ENOSYS", nr, got)
			}
		}
		if got := f.verdict(t, uint32(arch.X86_64.ID), 0x40000000|59); got != "ENOSYS" {
			t.Errorf("x32 execve: %s, want ENOSYS", got)
		}
	}
	if f.arch.ID == arch.AARCH64.ID {
		if got := f.verdict(t, uint32(arch.ARM.ID), 11); got != "ENOSYS" {
			t.Errorf("arm execve: %s, want ENOSYS", got)
		}
	}
}
