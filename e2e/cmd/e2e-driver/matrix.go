//go:build linux

// The auditd matrix's scenarios (issue 13): the same plugin under Debian's
// auditd 3.0.9, 4.0.2 and 4.2.1, which differ in what a reload does to a
// plugin, in how they frame records with log_format = RAW, in the modes they
// accept for plugin files, and in where they write their state report.

package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
	"golang.org/x/sys/unix"
)

const (
	auditdConf  = "/etc/audit/auditd.conf"
	pluginEntry = pluginsDir + "/audisp-backlog.conf"
	// catPlugin is the baseline plugin of the stall and flood scenarios:
	// it reads its stdin to the end and exits at EOF, as fast as a plugin
	// can.
	catPlugin = "/usr/sbin/e2e-cat"
	// teePlugin copies what auditd writes to its plugins into teeStream,
	// so the host can compare it with the audit log.
	teePlugin = "/usr/sbin/e2e-tee"
	teeStream = "/tmp/plugin.stream"
	// stuckPlugin reads nothing: auditd's dispatcher blocks on it (one
	// blocking write per record to each plugin in turn) and its queue to
	// the plugins fills.
	stuckPlugin = "/usr/sbin/e2e-stuck"
	// overflowDepth is the overflow scenario's q_depth: auditd accepts any
	// size from 1 (it warns below 512).
	overflowDepth = 100
)

// matrixScenarios are the scenarios of this file, by the name the kernel
// command line gives (e2e.scenario=NAME); each gets the command line.
var matrixScenarios = map[string]func(*driver, map[string]string) error{
	"reload":   (*driver).reloadScenario,
	"stall":    (*driver).stallScenario,
	"state":    (*driver).stateScenario,
	"overflow": (*driver).overflowScenario,
	"perms":    (*driver).permsScenario,
}

// guestConfig applies the command line's auditd settings before any
// scenario starts auditd: e2e.log_format=RAW rewrites auditd.conf, and
// e2e.tee=1 adds a second plugin that records auditd's plugin stream.
func guestConfig(d *driver, args map[string]string) error {
	if out, err := exec.Command("/sbin/auditctl", "-v").CombinedOutput(); err == nil {
		d.event("auditd-version", map[string]any{"line": strings.TrimSpace(string(out))})
	}
	if f := args["e2e.log_format"]; f != "" {
		if err := setConfKey(auditdConf, "log_format", f); err != nil {
			return err
		}
	}
	if args["e2e.tee"] == "1" {
		if err := addScriptPlugin(teePlugin, "e2e-tee", "exec cat >"+teeStream); err != nil {
			return err
		}
	}
	return nil
}

// setConfKey rewrites the line "key = ..." of an auditd-style file to
// "key = value", keeping every other line and the file's mode.
func setConfKey(path, key, value string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	found := false
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == key {
			lines[i], found = key+" = "+value, true
		}
	}
	if !found {
		lines = append(lines[:len(lines)-1], key+" = "+value, "")
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")), st.Mode().Perm())
}

// addScriptPlugin installs a shell-script plugin and its active plugins.d
// entry, with the modes every auditd version accepts.
func addScriptPlugin(path, name, body string) error {
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		return err
	}
	entry := strings.Join([]string{"active = yes", "direction = out", "path = " + path,
		"type = always", "format = string", ""}, "\n")
	return os.WriteFile("/etc/audit/plugins.d/"+name+".conf", []byte(entry), 0o640)
}

// auditdChildren returns auditd's live children (its plugins), by pid.
func (d *driver) auditdChildren() map[int]string {
	out := map[int]string{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	parent := d.auditd.Process.Pid
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := strings.LastIndexByte(string(st), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == parent {
			comm := string(st[strings.IndexByte(string(st), '(')+1 : i])
			out[pid] = comm
		}
	}
	return out
}

// generation follows auditd's plugins after a reload at hup: when every
// child running before it is gone (zombie or reaped) and when a child not
// running before it appears. Either is -1 if it did not happen within wait.
type generation struct {
	OldExitMS, NewStartMS int64 // since hup
	// OldReapedMS is when auditd had reaped every old child (its /proc
	// entry gone): a thread group's leader is a zombie as soon as it
	// exits, but waitpid returns only once its last thread has.
	OldReapedMS int64
	// NewForkMS is when auditd forked the new child, from its start time
	// in /proc (clock ticks since boot, 10 ms): what ends auditd's
	// barrier, however late this poller sees the child under a busy CPU.
	NewForkMS int64
	// Busy is who ran between the reap and the new child, by command:
	// CPU ticks (USER_HZ) of every process, /proc/PID/stat.
	Busy   string
	NewPid int
	NewAt  time.Time
}

func (d *driver) followGeneration(before map[int]string, hup time.Time, wait time.Duration) generation {
	g := generation{OldExitMS: -1, NewStartMS: -1, OldReapedMS: -1}
	var atReap map[int]procCPU
	for time.Since(hup) < wait {
		now := d.auditdChildren()
		gone, reaped := true, true
		for pid := range before {
			if _, ok := now[pid]; ok {
				gone = false
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
				reaped = false
			}
		}
		if gone && g.OldExitMS < 0 {
			g.OldExitMS = time.Since(hup).Milliseconds()
		}
		if reaped && g.OldReapedMS < 0 {
			g.OldReapedMS = time.Since(hup).Milliseconds()
			atReap = allCPU()
		}
		for pid := range now {
			if _, ok := before[pid]; !ok && g.NewPid == 0 {
				g.NewPid, g.NewAt = pid, time.Now()
				g.NewStartMS = time.Since(hup).Milliseconds()
				g.NewForkMS = forkedMS(pid, hup)
				if atReap != nil {
					g.Busy = busySince(atReap)
				}
			}
		}
		if g.OldExitMS >= 0 && g.OldReapedMS >= 0 && g.NewPid != 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return g
}

// forkedMS is how long after at process pid started, from its start time
// in clock ticks since boot (USER_HZ = 100) against CLOCK_BOOTTIME now;
// -1 if unknown.
func forkedMS(pid int, at time.Time) int64 {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	i := strings.LastIndexByte(string(st), ')')
	f := strings.Fields(string(st[i+1:]))
	if i < 0 || len(f) < 20 {
		return -1
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return -1
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return -1
	}
	nowMS := ts.Nano() / 1e6
	// The start, as a wall-clock duration after at: now - (boot time now
	// - start since boot) - at.
	return time.Since(at).Milliseconds() - (nowMS - ticks*10)
}

// procCPU is a process's command and CPU time in clock ticks.
type procCPU struct {
	comm  string
	ticks int64
}

// allCPU reads every process's CPU time (utime + stime).
func allCPU() map[int]procCPU {
	out := map[int]procCPU{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(st), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = procCPU{comm: string(st[strings.IndexByte(string(st), '(')+1 : i]), ticks: u + k}
	}
	return out
}

// busySince says which processes ran since before, by command, in ticks.
func busySince(before map[int]procCPU) string {
	by := map[string]int64{}
	for pid, now := range allCPU() {
		if d := now.ticks - before[pid].ticks; d > 0 {
			by[now.comm] += d
		}
	}
	var parts []string
	for comm, d := range by {
		parts = append(parts, fmt.Sprintf("%s:%d", comm, d))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// reloadScenario: a burst's peak is still in the kernel's mark when auditd
// reloads. Up to 4.1 auditd forwards SIGHUP and the plugin reports the peak
// at its interval's end; from 4.2 auditd stops the plugin and starts a new
// one, and the peak must be reported once, by one of the two instances.
func (d *driver) reloadScenario(map[string]string) error {
	if err := d.setup("8s"); err != nil {
		return err
	}
	for attempt := range 3 {
		// Sync on a fresh report, not one queued while the last attempt ran.
		for d.pendingReports() > 0 {
			<-d.reports
		}
		r0, err := d.nextReport(20 * time.Second)
		if err != nil {
			return err
		}
		d.event("sync", map[string]any{"report_ms": r0.MS, "attempt": attempt})
		before := d.auditdChildren()
		if _, _, err := d.stoppedBurst(3000, "reload", 100*time.Millisecond); err != nil {
			return err
		}
		if d.pendingReports() > 0 {
			d.event("straddled", nil)
			continue
		}
		pidBefore := pluginPid()
		hup := time.Now()
		if err := d.signalAuditd(syscall.SIGHUP); err != nil {
			return err
		}
		g := d.followGeneration(before, hup, 15*time.Second)
		pidAfter := pluginPid()
		for i := 0; i < 100 && pidAfter == 0; i++ { // a new child may not have exec'd yet
			time.Sleep(20 * time.Millisecond)
			pidAfter = pluginPid()
		}
		d.event("reload", map[string]any{"pid_before": pidBefore, "pid_after": pidAfter, "hup_ms": hup.UnixMilli(),
			"old_exit_ms": g.OldExitMS, "new_start_ms": g.NewStartMS, "new_pid": g.NewPid, "new_at_ms": unixMS(g.NewAt)})
		// Two reports of the instance running after the reload.
		since := hup
		if g.NewPid != 0 {
			since = g.NewAt
		}
		for n := 0; n < 2; {
			r, err := d.nextReport(25 * time.Second)
			if err != nil {
				return err
			}
			if r.MS > since.UnixMilli() {
				n++
			}
		}
		d.event("scenario-done", nil)
		return nil
	}
	return errors.New("every attempt straddled an interval boundary")
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// stallScenario measures what a reload costs auditd (auditd 4.2 stops and
// restarts every plugin on reload) with one plugin: ours (e2e.plugin=ours)
// or the fastest possible one, `exec cat >/dev/null` (e2e.plugin=cat), with
// a collector that answers (e2e.collector=healthy) or one that accepts and
// never answers (e2e.collector=blackhole). A steady stream of records runs
// throughout, and a sampler reads the kernel's backlog every 2 ms, so a
// stall of auditd's reading shows as a rising backlog.
func (d *driver) stallScenario(args map[string]string) error {
	plugin, collector := args["e2e.plugin"], args["e2e.collector"]
	switch collector {
	case "healthy":
		if err := d.startCollector(); err != nil {
			return err
		}
	case "blackhole":
		if err := startDaemon("/bin/e2e-blackhole", "-addr", "127.0.0.1:4317"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("e2e.collector=%q: want healthy or blackhole", collector)
	}
	if err := pluginConfig("2s"); err != nil {
		return err
	}
	switch plugin {
	case "ours":
	case "cat":
		// Only the baseline runs. Our entry goes, not only its binary:
		// 4.2.1 refuses a whole reload when any entry fails to load
		// (audisp/audispd.c, load_plugin_conf and reconfigure). With the
		// binary aside too, startAuditd does not wait for our plugin.
		if err := os.Remove(pluginEntry); err != nil {
			return err
		}
		if err := os.Rename(pluginPath, pluginPath+".off"); err != nil {
			return err
		}
		if err := addScriptPlugin(catPlugin, "e2e-cat", "exec cat >/dev/null"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("e2e.plugin=%q: want ours or cat", plugin)
	}
	if err := d.startAuditd(); err != nil {
		return err
	}
	if plugin == "ours" && collector == "healthy" {
		if _, err := d.nextReport(15 * time.Second); err != nil {
			return err
		}
	} else {
		time.Sleep(3 * time.Second) // at least one export pending in a blackhole
	}

	const rate = 200 // records a second, one every 5 ms
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var streamErr error
	sent := 0
	wg.Go(func() { // ends when stop is closed
		c, err := auditnl.Open()
		if err != nil {
			streamErr = err
			return
		}
		defer c.Close()
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := c.SendUser("stream", 1, 1); err != nil {
					streamErr = err
					return
				}
				sent++
			}
		}
	})
	type sample struct {
		at      time.Time
		backlog uint32
	}
	var mu sync.Mutex
	var samples []sample
	var sampleErr error
	wg.Go(func() { // ends when stop is closed
		c, err := auditnl.Open()
		if err != nil {
			sampleErr = err
			return
		}
		defer c.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := c.Status()
			if err != nil {
				sampleErr = err
				return
			}
			mu.Lock()
			samples = append(samples, sample{time.Now(), st.Backlog})
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	})
	maxBacklog := func(from, to time.Time) (uint32, int) {
		mu.Lock()
		defer mu.Unlock()
		m, n := uint32(0), 0
		for _, s := range samples {
			if !s.at.Before(from) && s.at.Before(to) {
				m, n = max(m, s.backlog), n+1
			}
		}
		return m, n
	}
	time.Sleep(1500 * time.Millisecond)
	var err error
	for i := range 3 {
		before := d.auditdChildren()
		hup := time.Now()
		if err = d.signalAuditd(syscall.SIGHUP); err != nil {
			break
		}
		g := d.followGeneration(before, hup, 15*time.Second)
		settle := time.Now().Add(500 * time.Millisecond)
		time.Sleep(time.Until(settle))
		quiet, nq := maxBacklog(hup.Add(-time.Second), hup)
		during, nd := maxBacklog(hup, settle)
		d.event("stall", map[string]any{"i": i, "plugin": plugin, "collector": collector,
			"old_exit_ms": g.OldExitMS, "old_reaped_ms": g.OldReapedMS, "busy_after_reap": g.Busy, "barrier_ms": g.NewStartMS, "fork_ms": g.NewForkMS, "new_pid": g.NewPid,
			"backlog_before_max": quiet, "backlog_during_max": during, "samples_before": nq, "samples_during": nd,
			"rate": rate})
		if g.NewPid == 0 {
			err = fmt.Errorf("reload %d: no new plugin within 15s of SIGHUP", i)
			break
		}
		time.Sleep(1500 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	d.event("stream", map[string]any{"sent": sent, "rate": rate})
	if err != nil {
		return err
	}
	if streamErr != nil {
		return fmt.Errorf("record stream: %w", streamErr)
	}
	if sampleErr != nil {
		return fmt.Errorf("backlog sampler: %w", sampleErr)
	}
	d.event("scenario-done", nil)
	return nil
}

// startDaemon starts a helper that runs until power-off.
func startDaemon(path string, args ...string) error {
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", path, err)
	}
	go cmd.Wait() // ends when the helper exits (at power-off)
	// Ready when the port takes connections.
	for range 100 {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:4317", time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening after 5s", path)
}

// stateScenario captures auditd's state report (SIGCONT makes auditd write
// it) once idle and once right after a burst, for auditdstate's fixtures.
func (d *driver) stateScenario(map[string]string) error {
	if err := d.setup("60s"); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	if err := d.captureState("idle"); err != nil {
		return err
	}
	if err := d.burst(5000, "state"); err != nil {
		return err
	}
	if err := d.captureState("burst"); err != nil {
		return err
	}
	d.event("scenario-done", nil)
	return nil
}

// overflowScenario overflows auditd's queue to its plugins on purpose: a
// small q_depth, a plugin beside ours that never reads, a burst. auditd
// then states the overflow and the queue's high-water mark in its state
// report, and the plugin must report them as stated. auditd 4.0.5 and
// later write the report every report_interval themselves (e2e.report=1
// sets it to 1 s); for older ones the driver stands in for that timer and
// sends SIGCONT every 500 ms, as the plugin itself never does. The
// scenario ends with the report the plugin's last two reports read.
func (d *driver) overflowScenario(args map[string]string) error {
	if err := setConfKey(auditdConf, "q_depth", strconv.Itoa(overflowDepth)); err != nil {
		return err
	}
	periodic := args["e2e.report"] == "1"
	if periodic {
		if err := setConfKey(auditdConf, "report_interval", "1"); err != nil {
			return err
		}
	}
	if err := addScriptPlugin(stuckPlugin, "e2e-stuck", "exec sleep 3600"); err != nil {
		return err
	}
	if err := d.setup("1s"); err != nil {
		return err
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		if periodic {
			done <- nil
			return
		}
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-t.C:
				if err := d.signalAuditd(syscall.SIGCONT); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	err := d.overflow()
	close(stop)
	return errors.Join(err, <-done)
}

// overflow makes the burst, waits for the state report to say the queue
// overflowed and for two plugin reports after that, then prints the report.
func (d *driver) overflow() error {
	if err := d.burst(3*overflowDepth+500, "overflow"); err != nil {
		return err
	}
	var seen time.Time
	for deadline := time.Now().Add(30 * time.Second); seen.IsZero(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no state report in %v saying the plugin queue overflowed within 30 s", statePaths)
		}
		for _, p := range statePaths {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "plugin queue overflow detected = yes") {
				seen = time.Now()
			}
		}
	}
	if err := d.waitReports(2, seen, 20*time.Second); err != nil {
		return err
	}
	for _, p := range statePaths {
		if b, err := os.ReadFile(p); err == nil {
			d.event("state", map[string]any{"kind": "overflow", "path": p, "text": string(b)})
		}
	}
	d.event("scenario-done", nil)
	return nil
}

// statePaths are where auditd writes its state report: /var/run up to
// 4.1.1, AUDIT_RUN_DIR (/run/audit) from 4.1.2.
var statePaths = []string{"/var/run/auditd.state", "/run/audit/auditd.state"}

// captureState sends auditd SIGCONT and prints the report it writes.
func (d *driver) captureState(kind string) error {
	old := map[string]time.Time{}
	for _, p := range statePaths {
		if st, err := os.Stat(p); err == nil {
			old[p] = st.ModTime()
		}
		os.Remove(p)
	}
	if err := d.signalAuditd(syscall.SIGCONT); err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, p := range statePaths {
			b, err := os.ReadFile(p)
			// auditd writes the file with stdio: wait until it is closed
			// and complete (its last line ends with a newline).
			if err != nil || len(b) == 0 || b[len(b)-1] != '\n' {
				continue
			}
			time.Sleep(100 * time.Millisecond)
			if b2, err := os.ReadFile(p); err == nil && string(b2) == string(b) {
				d.event("state", map[string]any{"kind": kind, "path": p, "text": string(b)})
				return nil
			}
		}
	}
	return fmt.Errorf("auditd wrote no state report to %v within 5s of SIGCONT", statePaths)
}

// permsScenario checks the modes auditd demands of a plugin's files: the
// binary made group-writable (e2e.perms=binary) or the plugins.d entry
// made group-writable (e2e.perms=entry), then auditd starts. The host
// checks whether the plugin ran and what auditd logged.
func (d *driver) permsScenario(args map[string]string) error {
	path := map[string]string{"binary": pluginPath, "entry": pluginEntry}[args["e2e.perms"]]
	if path == "" {
		return fmt.Errorf("e2e.perms=%q: want binary or entry", args["e2e.perms"])
	}
	if err := d.startCollector(); err != nil {
		return err
	}
	if err := pluginConfig("2s"); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	mode := st.Mode().Perm() | 0o020
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	cmd := exec.Command("/sbin/auditd", "-n")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	d.auditd = cmd
	d.exited = make(chan struct{})
	go func() { cmd.Wait(); close(d.exited) }() // ends when auditd exits
	time.Sleep(4 * time.Second)
	d.event("perms", map[string]any{"file": path, "mode": fmt.Sprintf("%04o", mode), "plugin_pid": pluginPid(),
		"auditd_alive": alive(cmd.Process.Pid)})
	d.event("scenario-done", nil)
	return nil
}

// dumpStream prints what the tee plugin received of each reset record and
// of the first USER records, beside the same record's line in the audit
// log (matched by type and serial).
func dumpStream(d *driver) {
	f, err := os.Open(teeStream)
	if err != nil {
		return
	}
	defer f.Close()
	logged, users := map[string]string{}, map[string]string{}
	if lf, err := os.Open(auditLog); err == nil {
		sc := bufio.NewScanner(lf)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			serial, _ := auditStamp(line)
			switch {
			case strings.HasPrefix(line, "type=CONFIG_CHANGE "):
				logged[serial] = line
			case strings.HasPrefix(line, "type=USER "):
				users[serial] = line
			}
		}
		lf.Close()
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var serials []string
	seen := map[string]string{}
	userLines := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "type=USER ") && userLines < 3 {
			serial, _ := auditStamp(line)
			if l, ok := users[serial]; ok {
				userLines++
				d.event("stream-user", map[string]any{"serial": serial, "stream": line, "log": l,
					"stream_len": len(line), "log_len": len(l)})
			}
		}
		if !strings.HasPrefix(line, "type=CONFIG_CHANGE ") || !strings.Contains(line, "backlog_max_depth") {
			continue
		}
		serial, _ := auditStamp(line)
		if _, ok := seen[serial]; !ok {
			serials = append(serials, serial)
		}
		seen[serial] = line
	}
	sort.Strings(serials)
	for _, s := range serials {
		d.event("stream-reset", map[string]any{"serial": s, "stream": seen[s], "log": logged[s],
			"stream_len": len(seen[s]), "log_len": len(logged[s])})
	}
	if st, err := os.Stat(teeStream); err == nil {
		d.event("stream-size", map[string]any{"bytes": st.Size(), "file": filepath.Base(teeStream)})
	}
}
