//go:build linux

package main

// The eBPF probe's scenarios (issue 12, e2e/probe_test.go). They run in the
// guest without the plugin: the driver opens auditclient/probe itself, so
// nothing else resets the kernel's mark, and prints what the probe, the
// kernel's own backlog_max_depth and AUDIT_GET polls said; the host test
// compares them.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
)

// ebpfScenario runs the scenario named (ebpf-compare, ebpf-stock,
// ebpf-kptr, ebpf-bench).
func (d *driver) ebpfScenario(name string, seed uint64) error {
	// Check reads the lockdown mode from securityfs.
	if err := syscall.Mount("securityfs", "/sys/kernel/security", "securityfs", 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
		d.event("note", map[string]any{"msg": "mount securityfs: " + err.Error()})
	}
	if name == "ebpf-kptr" {
		// Hide kernel addresses, as kptr_restrict=2 does on hardened hosts.
		if err := os.WriteFile("/proc/sys/kernel/kptr_restrict", []byte("2\n"), 0o644); err != nil {
			return err
		}
	}
	// A scenario stuck on the guest's one CPU prints nothing: after its
	// budget, print where every goroutine and process is, then fail.
	watchdog := time.AfterFunc(8*time.Minute, func() {
		d.stuck(name)
		os.Exit(3)
	})
	defer watchdog.Stop()
	r, err := probe.Check()
	d.event("probe-check", map[string]any{"report": r.String(), "kernel": r.Kernel, "address": r.Address,
		"retry_hold": r.RetryHold, "lost_by_cause": r.LostByCause, "lockdown": r.Lockdown, "err": errString(err)})
	if err := d.startAuditd(); err != nil {
		return err
	}
	if name == "ebpf-bench" {
		return d.ebpfBench()
	}
	start := time.Now()
	p, err := probe.Open(nil)
	if err != nil {
		return fmt.Errorf("open probe: %w", err)
	}
	defer p.Close()
	info := p.Info()
	d.event("probe-open", map[string]any{"ms_taken": time.Since(start).Milliseconds(), "address": info.Address,
		"retry_hold": info.RetryHold, "lost_by_cause": info.LostByCause, "kernel": info.Kernel, "watching": p.Watching()})
	st, err := d.nl.Status()
	if err != nil {
		return err
	}
	e := &ebpfRun{d: d, p: p, patched: st.Len >= 48, rng: rand.New(rand.NewPCG(seed, 0xeb0f))}
	switch name {
	case "ebpf-compare":
		return e.compare()
	case "ebpf-stock":
		if err := e.held(5); err != nil {
			return err
		}
		return e.poll(20)
	case "ebpf-kptr":
		return e.kptr()
	}
	return fmt.Errorf("unknown scenario %q", name)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type ebpfRun struct {
	d       *driver
	p       *probe.Probe
	patched bool // the kernel has backlog_max_depth: compare with it
	rng     *rand.Rand
}

// snapFields is a Snapshot as event fields; the histogram keeps only its
// non-empty buckets, keyed by bucket number.
func snapFields(s probe.Snapshot) map[string]any {
	hist := map[string]uint64{}
	for k, v := range s.Histogram {
		if v != 0 {
			hist[strconv.Itoa(k)] = v
		}
	}
	lost := map[string]uint64{}
	for c, v := range s.Lost {
		if v != 0 {
			lost[probe.LostCause(c).String()] = v
		}
	}
	return map[string]any{"max": s.MaxDepth, "enqueued": s.Enqueued, "depth_sum": s.DepthSum, "hist": hist,
		"retry_max": s.RetryMaxDepth, "hold_max": s.HoldMaxDepth, "lost": lost}
}

// resetPair ends an interval for the probe and then, on the patched
// kernel, for the kernel's mark: the probe first, so that records queued
// between the two count in the kernel's interval and the probe's next one.
func (e *ebpfRun) resetPair() (probe.Snapshot, uint32, error) {
	s, err := e.p.ReadAndReset()
	if err != nil {
		return s, 0, err
	}
	if !e.patched {
		return s, 0, nil
	}
	old, err := e.d.nl.ResetMaxDepth()
	return s, old, err
}

// compare: random bursts with auditd running; per interval, the probe's
// figures beside the kernel's backlog_max_depth. Phase "quiet" resets the
// pair after the interval's bursts have returned (nothing is being queued
// then but the reset's own record); phase "race" resets while bursts run.
func (e *ebpfRun) compare() error {
	if !e.patched {
		return errors.New("ebpf-compare needs the patched kernel")
	}
	if _, _, err := e.resetPair(); err != nil {
		return err
	}
	for i := range 20 {
		for range 1 + e.rng.IntN(3) {
			time.Sleep(time.Duration(e.rng.IntN(300)) * time.Millisecond)
			if err := e.d.burst(200+e.rng.IntN(5800), fmt.Sprintf("q%d", i)); err != nil {
				return err
			}
		}
		s, old, err := e.resetPair()
		if err != nil {
			return err
		}
		f := snapFields(s)
		f["phase"], f["i"], f["kernel"] = "quiet", i, old
		e.d.event("cmp", f)
	}
	// Race: a burst generator runs while the pair is reset every 20-200 ms.
	done := make(chan error, 1)
	// The goroutine's own generator; it ends after its 20 bursts.
	rng := rand.New(rand.NewPCG(e.rng.Uint64(), 1))
	go func() {
		for i := range 20 {
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			if err := exec.Command("/bin/audit-burst", "-n", strconv.Itoa(200+rng.IntN(5800)), "-tag", fmt.Sprintf("r%d", i)).Run(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var burstErr error
	for i, running := 0, true; running; i++ {
		select {
		case burstErr = <-done:
			running = false
		case <-time.After(time.Duration(20+e.rng.IntN(180)) * time.Millisecond):
		}
		s, old, err := e.resetPair()
		if err != nil {
			return err
		}
		f := snapFields(s)
		f["phase"], f["i"], f["kernel"] = "race", i, old
		e.d.event("cmp", f)
	}
	if burstErr != nil {
		return fmt.Errorf("audit-burst: %w", burstErr)
	}
	e.d.event("scenario-done", nil)
	return nil
}

// rtBurst runs audit-burst -rt: n records queued with nothing leaving the
// queue meanwhile, and the backlog right after the last one.
func (e *ebpfRun) rtBurst(n int, tag string) (uint32, error) {
	// Real-time tasks may use the whole CPU (default: 95 % of each second).
	if err := os.WriteFile("/proc/sys/kernel/sched_rt_runtime_us", []byte("-1\n"), 0o644); err != nil {
		return 0, err
	}
	start := time.Now()
	out, err := exec.Command("/bin/audit-burst", "-rt", "-n", strconv.Itoa(n), "-tag", tag).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("audit-burst -rt: %w: %s", err, out)
	}
	_, v, ok := strings.Cut(strings.TrimSpace(string(out)), " backlog=")
	backlog, perr := strconv.ParseUint(v, 10, 32)
	if !ok || perr != nil {
		return 0, fmt.Errorf("audit-burst -rt printed %q", out)
	}
	e.d.event("burst", map[string]any{"n": n, "tag": tag, "start_ms": start.UnixMilli(), "took_ms": time.Since(start).Milliseconds(), "backlog": backlog})
	return uint32(backlog), nil
}

// held: bursts made at real-time priority while auditd is stopped; the
// backlog right after each, then AUDIT_GET every 10 ms while it is held,
// then the probe's (and the kernel's) figures.
func (e *ebpfRun) held(rounds int) error {
	for i := range rounds {
		if err := e.d.signalAuditd(syscall.SIGSTOP); err != nil {
			return err
		}
		if _, _, err := e.resetPair(); err != nil {
			return err
		}
		n := 1000 + e.rng.IntN(4000)
		after, err := e.rtBurst(n, fmt.Sprintf("held%d", i))
		if err != nil {
			return err
		}
		reads := []uint32{after}
		for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			st, err := e.d.nl.Status()
			if err != nil {
				return err
			}
			reads = append(reads, st.Backlog)
		}
		s, old, err := e.resetPair()
		if err != nil {
			return err
		}
		f := snapFields(s)
		f["i"], f["n"], f["reads"], f["kernel"], f["patched"] = i, n, reads, old, e.patched
		e.d.event("held", f)
		if err := e.d.signalAuditd(syscall.SIGCONT); err != nil {
			return err
		}
		if _, err := e.d.drain(); err != nil {
			return err
		}
	}
	return nil
}

// poll: random bursts with auditd running; a poller reads AUDIT_GET every
// 10 ms while the probe is read and reset every 100 ms. Times are
// microseconds since the scenario began, on the guest's monotonic clock.
func (e *ebpfRun) poll(bursts int) error {
	nl, err := auditnl.Open()
	if err != nil {
		return err
	}
	defer nl.Close()
	t0 := time.Now()
	us := func() int64 { return time.Since(t0).Microseconds() }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pollErr error
	wg.Go(func() { // the 10 ms poller; ends when stop is closed
		var buf []map[string]any
		flush := func() {
			if len(buf) > 0 {
				e.d.event("polls", map[string]any{"polls": buf})
				buf = nil
			}
		}
		defer flush()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			sent := us()
			st, err := nl.Status()
			if err != nil {
				pollErr = err
				return
			}
			buf = append(buf, map[string]any{"s": sent, "r": us(), "b": st.Backlog})
			if len(buf) == 50 {
				flush()
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	done := make(chan error, 1)
	// The bursts, with their own generator; the goroutine ends after the last.
	rng := rand.New(rand.NewPCG(e.rng.Uint64(), 2))
	go func() {
		for i := range bursts {
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
			if err := exec.Command("/bin/audit-burst", "-n", strconv.Itoa(200+rng.IntN(5800)), "-tag", fmt.Sprintf("p%d", i)).Run(); err != nil {
				done <- err
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
		done <- nil
	}()
	if _, _, err := e.resetPair(); err != nil {
		return err
	}
	var burstErr error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case burstErr = <-done:
			running = false
		case <-tick.C:
		}
		at := us()
		s, old, err := e.resetPair()
		if err != nil {
			return err
		}
		f := snapFields(s)
		f["t"], f["kernel"] = at, old
		e.d.event("iv", f)
	}
	close(stop)
	wg.Wait()
	if err := errors.Join(burstErr, pollErr); err != nil {
		return err
	}
	e.d.event("scenario-done", nil)
	return nil
}

// kptr: with kptr_restrict=2 the probe learns audit_queue's address from
// kauditd; once it has, a burst with auditd running is counted.
func (e *ebpfRun) kptr() error {
	// kauditd passes audit_queue on every pass: one record wakes it.
	for deadline := time.Now().Add(10 * time.Second); !e.p.Watching(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("probe did not learn audit_queue's address within 10 s")
		}
		if err := e.d.burst(1, "wake"); err != nil {
			return err
		}
	}
	if err := e.d.signalAuditd(syscall.SIGSTOP); err != nil {
		return err
	}
	if _, _, err := e.resetPair(); err != nil {
		return err
	}
	n := 2000
	after, err := e.rtBurst(n, "kptr")
	if err != nil {
		return err
	}
	s, old, err := e.resetPair()
	if err != nil {
		return err
	}
	f := snapFields(s)
	f["n"], f["reads"], f["kernel"], f["patched"] = n, []uint32{after}, old, e.patched
	e.d.event("held", f)
	if err := e.d.signalAuditd(syscall.SIGCONT); err != nil {
		return err
	}
	if _, err := e.d.drain(); err != nil {
		return err
	}
	e.d.event("scenario-done", nil)
	return nil
}

// ebpfBench runs audit-probe's overhead measurement with auditd running;
// the tool prints its own events. e2e.bench= on the kernel command line
// passes its flags, comma-separated (e.g. e2e.bench=-rounds=8,-dur=1s).
func (d *driver) ebpfBench() error {
	args := []string{"-rounds=8", "-dur=1s"}
	if v := cmdline()["e2e.bench"]; v != "" {
		args = strings.Split(v, ",")
	}
	cmd := exec.Command("/bin/audit-probe", args...)
	cmd.Stdout, cmd.Stderr = d.out, os.Stderr
	d.mu.Lock() // the tool owns the console until it exits
	err := cmd.Run()
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("audit-probe: %w", err)
	}
	d.event("scenario-done", nil)
	return nil
}

// stuck prints the driver's goroutines and every process's state and
// kernel wait channel, for a scenario that did not finish.
func (d *driver) stuck(name string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	d.event("error", map[string]any{"err": "scenario " + name + " stuck", "goroutines": string(buf)})
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		wchan, _ := os.ReadFile("/proc/" + e.Name() + "/wchan")
		stack, _ := os.ReadFile("/proc/" + e.Name() + "/stack")
		d.event("stuck-proc", map[string]any{"stat": string(st), "wchan": string(wchan), "stack": string(stack)})
	}
}
