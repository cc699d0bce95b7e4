//go:build !amd64

package compat32

import "syscall"

// Supported says whether Syscall is implemented on this architecture.
const Supported = false

// Syscall is implemented on amd64 only; elsewhere it returns -ENOSYS.
func Syscall(trap, a1, a2, a3 uintptr) int32 { return -int32(syscall.ENOSYS) }
