package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropPrivileges keeps only CAP_AUDIT_CONTROL, which the kernel checks on
// every AUDIT_GET and AUDIT_SET, once the netlink socket is open: it clears
// every other capability from the effective, permitted and inheritable sets,
// the ambient set and the bounding set, and sets no_new_privs so that no
// exec could regain any.
//
// Capabilities, the bounding set and no_new_privs are per-thread in Linux,
// and a Go program runs on several threads, so each change is made on all
// of them at once with syscall.AllThreadsSyscall. That works only in a
// binary without cgo, as the Makefile builds it; with cgo it returns
// ENOTSUP and nothing is changed.
//
// The process stays uid 0: files owned by root remain writable to it by
// ownership alone. It opens no files for writing and runs no programs.
func dropPrivileges() error {
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		if e == syscall.ENOTSUP {
			return errors.New("drop capabilities: not possible in a binary built with cgo (build with CGO_ENABLED=0)")
		}
		return fmt.Errorf("set no_new_privs: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 && e != syscall.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", e)
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	// Dropping from the bounding set needs CAP_SETPCAP, so it comes before
	// the effective set is cut down. Each drop stops the world, so a
	// capability the bounding set lacks already (as in a container) is
	// skipped: every thread inherited the same set, and nothing has
	// changed it yet, so one thread's answer is every thread's.
	for c := 0; c <= last; c++ {
		if c == unix.CAP_AUDIT_CONTROL {
			continue
		}
		if in, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(c), 0); e == 0 && in == 0 {
			continue
		}
		if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 && e != syscall.EINVAL {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	keep := uint32(1) << unix.CAP_AUDIT_CONTROL // capability 30 is in the first word
	data[0].Effective, data[0].Permitted = keep, keep
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("keep only CAP_AUDIT_CONTROL: %w", e)
	}
	return nil
}

// lastCap returns the highest capability number this kernel knows.
func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("drop capabilities: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("drop capabilities: cap_last_cap: %w", err)
	}
	return n, nil
}
