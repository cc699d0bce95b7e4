package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sched is what the scheduler has counted for all threads of a process,
// from /proc/PID/task/*/: time on a CPU and how many times a thread was
// put on one (schedstat), and context switches (status: voluntary, when a
// thread blocked, plus involuntary, when it was preempted).
type sched struct {
	cpu      time.Duration
	slices   uint64
	switches uint64
}

func (a sched) sub(b sched) sched {
	return sched{a.cpu - b.cpu, a.slices - b.slices, a.switches - b.switches}
}

// schedOf sums the scheduler's counts of every thread of pid. Threads that
// ended are missing; Go programs keep theirs.
func schedOf(pid int) (sched, error) {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(dirs) == 0 {
		return sched{}, fmt.Errorf("threads of %d: none (%v)", pid, err)
	}
	var s sched
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 3 {
			return sched{}, fmt.Errorf("%s/schedstat: %q", d, b)
		}
		ns, err1 := strconv.ParseUint(f[0], 10, 64)
		n, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return sched{}, fmt.Errorf("%s/schedstat: %q", d, b)
		}
		status, err := os.ReadFile(d + "/status")
		if err != nil {
			continue
		}
		sw, err := switchesOf(status)
		if err != nil {
			return sched{}, fmt.Errorf("%s/status: %w", d, err)
		}
		s.cpu += time.Duration(ns)
		s.slices += n
		s.switches += sw
	}
	return s, nil
}

// switchesOf adds voluntary_ctxt_switches and nonvoluntary_ctxt_switches
// from a /proc status file; each must be there once.
func switchesOf(status []byte) (uint64, error) {
	var counts [2]uint64
	var found [2]int
	for line := range bytes.Lines(status) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		i := 0
		switch string(k) {
		case "voluntary_ctxt_switches":
		case "nonvoluntary_ctxt_switches":
			i = 1
		default:
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			return 0, err
		}
		counts[i] = n
		found[i]++
	}
	if found != [2]int{1, 1} {
		return 0, fmt.Errorf("want one voluntary and one nonvoluntary context switch count, found %d and %d", found[0], found[1])
	}
	return counts[0] + counts[1], nil
}

// hwm reads VmHWM, the peak resident set, of a running process.
func hwm(pid int) (kb int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM for %d", pid)
}

// rusageCPU is the user and system time in a child's rusage.
func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countGCs counts gctrace lines ("gc N @...") in a child's stderr.
func countGCs(stderr []byte) int {
	n := 0
	for line := range bytes.Lines(stderr) {
		if bytes.HasPrefix(line, []byte("gc ")) {
			n++
		}
	}
	return n
}

// median of durations or numbers.
func median[T int64 | float64 | time.Duration | int](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
