//go:build linux

// The install scenario (issue 13): a Debian root booted with systemd as
// PID 1, where the driver does what README.md tells an administrator, step
// by step, and prints what each step did. The host test asserts.

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// debDir holds the packages the harness put into the image: the build
// under test and a newer build of it (same version, next release).
const debDir = "/root/debs"

func init() { matrixScenarios["install"] = (*driver).installScenario }

// sh runs a command as an administrator would type it, and prints it with
// its exit status and output.
func (d *driver) sh(step string, name string, args ...string) (string, int) {
	cmd := exec.Command(name, args...)
	cmd.Dir = debDir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	d.event("cmd", map[string]any{"step": step, "cmd": strings.Join(append([]string{name}, args...), " "), "code": code,
		"out": string(out), "took_ms": time.Since(start).Milliseconds()})
	return string(out), code
}

// mainPID returns the main pid systemd knows for a unit, 0 if none.
func mainPID(unit string) int {
	out, err := exec.Command("systemctl", "show", "-p", "MainPID", "--value", unit).Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// fileState is what the host checks of a packaged file.
func fileState(path string) map[string]any {
	st, err := os.Stat(path)
	if err != nil {
		return map[string]any{"path": path, "exists": false}
	}
	b, _ := os.ReadFile(path)
	sum := sha256.Sum256(b)
	sys := st.Sys().(*syscall.Stat_t)
	return map[string]any{"path": path, "exists": true, "mode": fmt.Sprintf("%04o", st.Mode().Perm()),
		"uid": sys.Uid, "gid": sys.Gid, "sha256": hex.EncodeToString(sum[:])}
}

// files prints the state of every file the package ships or leaves.
func (d *driver) files(step string) {
	var fs []map[string]any
	for _, p := range []string{pluginPath, pluginConf, pluginEntry, "/usr/share/man/man8/audisp-backlog.8.gz"} {
		fs = append(fs, fileState(p))
	}
	left, _ := filepath.Glob("/etc/audit/plugins.d/audisp-backlog.conf.*")
	left2, _ := filepath.Glob("/etc/audit/audisp-backlog.conf.*")
	d.event("files", map[string]any{"step": step, "files": fs, "leftovers": append(left, left2...)})
}

// pids prints auditd's and the plugin's pids at a step.
func (d *driver) pids(step string) (auditd, plugin int) {
	auditd, plugin = mainPID("auditd.service"), pluginPid()
	st, _ := d.nl.Status()
	d.event("pids", map[string]any{"step": step, "auditd": auditd, "plugin": plugin, "audit_pid": st.Pid})
	return auditd, plugin
}

// waitReports waits for n reports whose interval ended after since.
func (d *driver) waitReports(n int, since time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for got := 0; got < n; {
		r, err := d.nextReport(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("%d of %d reports after %s: %w", got, n, since.Format(time.TimeOnly), err)
		}
		if r.MS > since.UnixMilli() {
			got++
		}
	}
	return nil
}

// stopCollector ends the running e2e-collector (found by name: the driver
// started it), as if the collector went down.
func stopCollector() {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "e2e-collector" {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 100 && alive(pid); i++ {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

func (d *driver) installScenario(map[string]string) error {
	// systemd started auditd at boot, before this unit.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st, err := d.nl.Status()
		if err != nil {
			return err
		}
		if pid := mainPID("auditd.service"); pid != 0 && int(st.Pid) == pid {
			break
		}
		if time.Now().After(deadline) {
			d.sh("boot", "systemctl", "status", "--no-pager", "auditd")
			return fmt.Errorf("auditd.service not running and registered 60s after boot (audit pid %d)", st.Pid)
		}
	}
	pid1, _ := os.Readlink("/proc/1/exe")
	d.event("boot", map[string]any{"pid1": pid1})
	d.sh("boot", "systemctl", "show", "-p", "DefaultDependencies,After,MemoryDenyWriteExecute,RefuseManualStop", "auditd.service")
	debs, _ := filepath.Glob(filepath.Join(debDir, "audisp-backlog_*.deb"))
	sort.Strings(debs)
	if len(debs) != 2 {
		return fmt.Errorf("want two builds of the package in %s, got %v", debDir, debs)
	}

	// Install: apt install ./file.deb (README, Install).
	auditd0, _ := d.pids("before-install")
	if _, code := d.sh("install", "apt", "install", "-y", "./"+filepath.Base(debs[0])); code != 0 {
		return fmt.Errorf("apt install %s: exit %d", debs[0], code)
	}
	d.pids("after-install")
	d.files("after-install")

	// Enable, 1: say where the figures go, then -check.
	for k, v := range map[string]string{"interval": "5s", "otlp_timeout": "4s", "emitters": "otlp, statsd",
		"otlp_endpoint": "127.0.0.1:4317", "otlp_insecure": "yes", "statsd_address": "127.0.0.1:8125"} {
		if err := setConfKey(pluginConf, k, v); err != nil {
			return err
		}
	}
	d.sh("check-no-collector", pluginPath, "-check", "-config", pluginConf)
	if err := d.startCollector(); err != nil {
		return err
	}
	d.sh("check", pluginPath, "-check", "-config", pluginConf) // the host asserts exit 0
	// The collector goes down: the plugin must start without it, as under
	// systemd, where auditd starts before the network.
	stopCollector()

	// Enable, 2 and 3: active = yes, then service auditd restart.
	if err := setConfKey(pluginEntry, "active", "yes"); err != nil {
		return err
	}
	d.files("enabled")
	if _, code := d.sh("restart", "service", "auditd", "restart"); code != 0 {
		return fmt.Errorf("service auditd restart: exit %d", code)
	}
	restarted := time.Now()
	for i := 0; i < 100 && pluginPid() == 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	d.pids("after-restart")
	time.Sleep(7 * time.Second) // an interval with no collector
	collectorUp := time.Now()
	if err := d.startCollector(); err != nil {
		return err
	}
	d.event("collector-started", map[string]any{"after_restart_ms": collectorUp.Sub(restarted).Milliseconds()})
	if err := d.waitReports(2, restarted, 40*time.Second); err != nil {
		return err
	}
	d.event("reports-after-restart", nil)

	// Enable, 4: the plugin's log in the journal.
	d.sh("journal", "journalctl", "-t", "audisp-backlog", "--no-pager", "-o", "cat")

	// service auditd reload keeps figures coming.
	_, pluginBefore := d.pids("before-reload")
	reload := time.Now()
	if _, code := d.sh("reload", "service", "auditd", "reload"); code != 0 {
		return fmt.Errorf("service auditd reload: exit %d", code)
	}
	time.Sleep(2 * time.Second)
	d.pids("after-reload")
	d.event("reloaded", map[string]any{"reload_ms": reload.UnixMilli(), "plugin_before": pluginBefore})
	if err := d.waitReports(2, reload.Add(time.Second), 40*time.Second); err != nil {
		return err
	}
	d.sh("reload-journal", "journalctl", "--no-pager", "-o", "cat", "--since", "@"+strconv.FormatInt(reload.Unix(), 10),
		"-t", "auditd", "-t", "audisp-backlog")
	// auditd's own way to reload, whatever the init system's unit says:
	// auditctl sends SIGHUP to the pid the kernel has registered.
	_, pluginBefore = d.pids("before-signal")
	hup := time.Now()
	if _, code := d.sh("signal", "auditctl", "--signal", "HUP"); code != 0 {
		return fmt.Errorf("auditctl --signal HUP: exit %d", code)
	}
	for i := 0; i < 100 && (pluginPid() == 0 || pluginPid() == pluginBefore); i++ {
		time.Sleep(100 * time.Millisecond) // up to 10 s for a restart, if this auditd restarts plugins
	}
	d.pids("after-signal")
	if err := d.waitReports(2, time.Now(), 40*time.Second); err != nil {
		return err
	}
	d.sh("signal-journal", "journalctl", "--no-pager", "-o", "cat", "--since", "@"+strconv.FormatInt(hup.Unix(), 10),
		"-t", "auditd", "-t", "audisp-backlog")

	// Upgrade: the newer build keeps both edited files and restarts nothing.
	d.files("before-upgrade")
	auditd1, plugin1 := d.pids("before-upgrade")
	if _, code := d.sh("upgrade", "apt", "install", "-y", "./"+filepath.Base(debs[1])); code != 0 {
		return fmt.Errorf("apt install %s: exit %d", debs[1], code)
	}
	time.Sleep(time.Second)
	d.pids("after-upgrade")
	d.files("after-upgrade")
	d.sh("upgrade", "dpkg-query", "-W", "-f", "${Version} ${Status}", "audisp-backlog")
	d.event("upgrade-pids", map[string]any{"auditd_first": auditd0, "auditd_before": auditd1, "plugin_before": plugin1})
	upgraded := time.Now()
	if err := d.waitReports(1, upgraded, 20*time.Second); err != nil {
		return err
	}

	// Remove with the entry left at active = yes (README, Upgrade and
	// remove): the conffiles stay, auditd logs the missing binary and runs
	// on; purge deletes them.
	if _, code := d.sh("remove", "apt", "remove", "-y", "audisp-backlog"); code != 0 {
		return fmt.Errorf("apt remove: exit %d", code)
	}
	d.files("after-remove")
	d.pids("after-remove")
	removed := time.Now()
	d.sh("remove-restart", "service", "auditd", "restart")
	time.Sleep(3 * time.Second)
	d.pids("after-remove-restart")
	d.sh("remove-restart", "systemctl", "is-active", "auditd")
	d.sh("remove-journal", "journalctl", "-u", "auditd", "--no-pager", "-o", "cat",
		"--since", "@"+strconv.FormatInt(removed.Unix(), 10))
	// A reload with the removed package's entry still there: auditd 4.2
	// refuses the whole plugin reload when an entry fails to load
	// (audisp/audispd.c, load_plugin_conf), earlier versions skip it.
	reloadAfterRemove := time.Now()
	d.sh("remove-reload", "auditctl", "--signal", "HUP")
	time.Sleep(3 * time.Second)
	d.sh("remove-reload-journal", "journalctl", "-u", "auditd", "--no-pager", "-o", "cat",
		"--since", "@"+strconv.FormatInt(reloadAfterRemove.Unix(), 10))
	if _, code := d.sh("purge", "apt", "purge", "-y", "audisp-backlog"); code != 0 {
		return fmt.Errorf("apt purge: exit %d", code)
	}
	d.files("after-purge")
	d.sh("purge", "dpkg-query", "-W", "-f", "${Status}", "audisp-backlog")
	d.event("scenario-done", nil)
	return nil
}
