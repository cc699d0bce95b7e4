package compat32

// Supported says whether Syscall is implemented on this architecture.
const Supported = true

// Syscall makes the i386 system call trap through int $0x80 with three
// arguments and returns what the kernel put in EAX: a result, or -errno.
// The kernel runs it only if built with IA32_EMULATION and not booted with
// ia32_emulation=0 (it returns -ENOSYS then).
func Syscall(trap, a1, a2, a3 uintptr) int32
