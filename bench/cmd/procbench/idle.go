package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// auditgetC is the C poller: AUDIT_GET over a blocking netlink socket
// every N ms, clock_nanosleep in between.
//
//go:embed cpoller/auditget.c
var auditgetC []byte

// buildPoller compiles the C poller with cc into dir.
func buildPoller(cc, dir string) (string, error) {
	src := filepath.Join(dir, "auditget.c")
	if err := os.WriteFile(src, auditgetC, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "auditget")
	out, err := exec.Command(cc, "-O2", "-o", bin, src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the C poller with %s (install gcc, or pass -cc): %w: %s", cc, err, out)
	}
	return bin, nil
}

// idler is a process measured while it has nothing to do but its timer.
type idler struct {
	name   string
	argv   []string
	period time.Duration // how often it makes its kernel call; 0 for never
	cRef   int           // the index of the C poller at the same rate, or -1
	// signal ends it when it does not read its input to the end (the C
	// poller); 0 closes its input instead, which ends a reader.
	signal syscall.Signal
}

// idleRun is what one idler cost in one round.
type idleRun struct {
	cpu      time.Duration
	switches uint64
	window   time.Duration
}

// idleResult is one idler over every round.
type idleResult struct {
	name   string
	period time.Duration
	cRef   int
	runs   []idleRun
}

// cpuPerSec is the idler's CPU time per second of round i.
func (r idleResult) cpuPerSec(i int) time.Duration {
	return time.Duration(float64(r.runs[i].cpu) / r.runs[i].window.Seconds())
}

// switchesPerSec is its context switches per second in round i.
func (r idleResult) switchesPerSec(i int) float64 {
	return float64(r.runs[i].switches) / r.runs[i].window.Seconds()
}

// perSample is its context switches per kernel call (per period) in round i.
func (r idleResult) perSample(i int) float64 {
	return r.switchesPerSec(i) * r.period.Seconds()
}

// median of f over the rounds.
func (r idleResult) median(f func(int) float64) float64 {
	_, m, _ := spread(r, f)
	return m
}

// spread is the lowest, median and highest of f over r's rounds.
func spread(r idleResult, f func(int) float64) (lo, mid, hi float64) {
	xs := make([]float64, len(r.runs))
	for i := range r.runs {
		xs[i] = f(i)
	}
	return slices.Min(xs), median(xs), slices.Max(xs)
}

// idleBench runs rounds rounds; in each, every idler starts at once on a
// silent socketpair, gets settle to start, and its CPU time and context
// switches are counted over window. Each round starts fresh processes, so
// that the ratios of a round compare processes that ran side by side.
func idleBench(rounds int, window, settle time.Duration, idlers []idler) ([]idleResult, error) {
	out := make([]idleResult, len(idlers))
	for i, d := range idlers {
		out[i] = idleResult{name: d.name, period: d.period, cRef: d.cRef}
	}
	for range rounds {
		runs, err := idleRound(window, settle, idlers)
		if err != nil {
			return nil, err
		}
		for i, r := range runs {
			out[i].runs = append(out[i].runs, r)
		}
	}
	return out, nil
}

func idleRound(window, settle time.Duration, idlers []idler) ([]idleRun, error) {
	var fs []*fed
	stopAll := func() error {
		var errs []error
		for i, f := range fs {
			if sig := idlers[i].signal; sig != 0 {
				f.cmd.Process.Signal(sig)
				err := f.cmd.Wait()
				var exit *exec.ExitError
				if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == sig {
					err = nil
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w: %s", idlers[i].name, err, lastLines(f.stderr.Bytes())))
				}
				syscall.Close(f.near)
				f.far.Close()
				continue
			}
			if err := f.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, d := range idlers {
		f, err := startOnSocket(d.argv)
		if err != nil {
			return nil, errors.Join(err, stopAll())
		}
		fs = append(fs, f)
	}
	time.Sleep(settle)
	before := make([]sched, len(fs))
	for i, f := range fs {
		s, err := schedOf(f.cmd.Process.Pid)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", idlers[i].name, err), stopAll())
		}
		before[i] = s
	}
	start := time.Now()
	time.Sleep(window)
	out := make([]idleRun, len(fs))
	for i, f := range fs {
		s, err := schedOf(f.cmd.Process.Pid)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", idlers[i].name, err), stopAll())
		}
		d := s.sub(before[i])
		out[i] = idleRun{cpu: d.cpu, switches: d.switches, window: time.Since(start)}
	}
	return out, stopAll()
}
