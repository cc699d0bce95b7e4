package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrivilegesDropped starts the plugin as root and reads every one of its
// threads' /proc status: only CAP_AUDIT_CONTROL (bit 30) is left in the
// effective, permitted and bounding sets, nothing in the inheritable and
// ambient ones, no_new_privs is set, and the sandbox's two seccomp filters
// are on every thread (Seccomp 2 is filter mode). It does so with the full
// bounding set auditd runs with, and with a container's, which the plugin
// trims without dropping what is not there. (Landlock shows nowhere in
// /proc; TestSandboxInProcess tests it.)
func TestPrivilegesDropped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the plugin drops capabilities only when it runs as root; this test is not root")
	}
	needAudit(t)
	t.Run("full bounding set", func(t *testing.T) {
		checkPrivilegesDropped(t, start(t, "-config", writeConfig(t, sampledConfig)))
	})
	t.Run("container bounding set", func(t *testing.T) {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("setpriv (util-linux) is not installed")
		}
		// Docker's default set, plus what the plugin needs.
		const docker = "-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap," +
			"+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap,+audit_control"
		checkPrivilegesDropped(t, startArgv(t, []string{setpriv, "--bounding-set", docker, "--",
			binary, "-foreground", "-config", writeConfig(t, sampledConfig)}))
	})
}

// checkPrivilegesDropped checks the capabilities of every thread of p.
func checkPrivilegesDropped(t *testing.T, p *plugin) {
	t.Helper()
	p.stderr.wait(t, "dropped every capability")
	p.stderr.wait(t, "sandbox:")
	p.stdout.wait(t, "method=sampled") // running past its start

	const auditControl = "0000000040000000"
	want := map[string]string{
		"CapEff":     auditControl,
		"CapPrm":     auditControl,
		"CapBnd":     auditControl,
		"CapInh":     "0000000000000000",
		"CapAmb":     "0000000000000000",
		"NoNewPrivs": "1",
		// The filter list and the architecture guard (applySeccomp).
		"Seccomp":         "2",
		"Seccomp_filters": "2",
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", p.cmd.Process.Pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of the plugin: %v, %v (a Go program has several)", tasks, err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				got[k] = strings.TrimSpace(v)
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %s, want %s", task, k, got[k], v)
			}
		}
	}
	p.stdin.Close()
	if err := p.exit(); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderr.text())
	}
}
