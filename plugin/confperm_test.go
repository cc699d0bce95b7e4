package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestConfigPermissions checks conf.Load's refusals at the binary level:
// run as root, the plugin will not start on a config file that others
// could change or, holding otlp_headers, read; and a SIGHUP with such a
// file keeps the running configuration.
func TestConfigPermissions(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the checks apply only when the plugin runs as root; this test is not root")
	}
	const headers = "otlp_headers = authorization=Bearer secret\n"
	tests := []struct {
		name  string
		body  string
		mode  os.FileMode
		owner int
		want  string
	}{
		{"group-writable", sampledConfig, 0o620, 0, "writable by group or others (mode 0620)"},
		{"world-writable", sampledConfig, 0o666, 0, "writable by group or others (mode 0666)"},
		{"not owned by root", sampledConfig, 0o600, 65534, "owned by uid 65534, not root"},
		{"secrets readable by others", sampledConfig + headers, 0o644, 0, "holds otlp_headers but others can read it (mode 0644)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, tt.body)
			if err := os.Chmod(cfg, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(cfg, tt.owner, 0); err != nil {
				t.Fatal(err)
			}
			p := start(t, cfg)
			err := p.exit()
			if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 1 {
				t.Errorf("exit: %v, want exit status 1", err)
			}
			if line := p.stderr.wait(t, tt.want); !strings.Contains(line, cfg) {
				t.Errorf("message %q does not name the file %s", line, cfg)
			}
		})
	}

	t.Run("reload", func(t *testing.T) {
		needAudit(t)
		cfg := writeConfig(t, sampledConfig)
		p := start(t, cfg)
		p.stderr.wait(t, "starting")
		if err := os.Chmod(cfg, 0o666); err != nil {
			t.Fatal(err)
		}
		p.cmd.Process.Signal(syscall.SIGHUP)
		if line := p.stderr.wait(t, "keeping the running configuration"); !strings.Contains(line, "writable by group or others") {
			t.Errorf("reload refused for another reason: %q", line)
		}
		if err := os.Chmod(cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.stderr.wait(t, "configuration reloaded")
		p.stdin.Close()
		if err := p.exit(); err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr.text())
		}
	})
}
