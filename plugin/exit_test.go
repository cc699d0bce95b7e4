package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// exitLimit is the exit time the README promises after SIGTERM or the end
// of stdin: within auditd 4.2's 50 ms between closing a plugin's stdin and
// its SIGTERM.
const exitLimit = 50 * time.Millisecond

// TestExitBlackholed: SIGTERM and the end of stdin both end the plugin,
// with the final interval written, while an OTLP export hangs on a
// collector that accepts and never answers, because everything after the
// stop is bounded (exitBudget). In the test gate it only detects hangs;
// the exit time is a measurement, logged as a figure (go test -v) and
// checked against exitLimit in a soak (`make soak`) only, where a busy
// machine is not mistaken for a slow exit.
func TestExitBlackholed(t *testing.T) {
	needAudit(t)
	soak := soakTime(t)
	tests := []struct {
		name string
		stop func(p *plugin)
		why  string
	}{
		{"SIGTERM", func(p *plugin) { p.cmd.Process.Signal(syscall.SIGTERM) }, "terminated"},
		{"stdin EOF", func(p *plugin) { p.stdin.Close() }, "end of stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hole, err := emittest.ListenBlackhole("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer hole.Close()
			// otlp_timeout as long as the interval: an export hangs for
			// the whole interval, the worst a config allows.
			p := start(t, writeConfig(t, fmt.Sprintf(`interval = 2s
sample_interval = 100ms
method = sampled
emitters = stdout, otlp
otlp_endpoint = %s
otlp_insecure = yes
otlp_timeout = 2s
`, hole.Addr())))
			p.stderr.wait(t, "starting")
			for _, rec := range realShaped {
				p.stdin.Write([]byte(rec))
			}
			// An interval went out: its OTLP export now hangs.
			p.stdout.wait(t, "method=sampled")

			begin := time.Now()
			tt.stop(p)
			if err := p.exit(); err != nil {
				t.Fatalf("exit: %v\n%s", err, p.stderr.text())
			}
			took := time.Since(begin)
			p.stderr.wait(t, tt.why)
			if hole.Accepted() == 0 {
				t.Errorf("the plugin never connected to the blackhole")
			}
			if n := p.stdout.count("method=sampled"); n < 2 {
				t.Errorf("%d intervals on stdout, want the final one too; stderr:\n%s", n, p.stderr.text())
			}
			if soak > 0 && took > exitLimit {
				t.Errorf("exit took %v, the README promises %v", took.Round(time.Millisecond), exitLimit)
			}
			t.Logf("figures: exit=%q blackholed_connections=%d exit_time=%v", tt.name, hole.Accepted(), took.Round(time.Millisecond))
		})
	}
}
