package compat32

import (
	"os"
	"syscall"
	"testing"
)

func TestSyscall(t *testing.T) {
	if !Supported {
		t.Skip("compat32 is implemented on amd64 only")
	}
	r := Syscall(I386Getpid, 0, 0, 0)
	if r == -int32(syscall.ENOSYS) {
		t.Skip("this kernel runs no i386 system calls (no IA32_EMULATION, or ia32_emulation=0)")
	}
	if int(r) != os.Getpid() {
		t.Errorf("i386 getpid = %d, want %d", r, os.Getpid())
	}
}
