package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promtool returns the promtool binary that make examples-check fetched
// (AUDISP_PROMTOOL), or skips.
func promtool(t *testing.T) string {
	t.Helper()
	p := os.Getenv("AUDISP_PROMTOOL")
	if p == "" {
		t.Skip("AUDISP_PROMTOOL is not set: make examples-check fetches promtool and runs this test")
	}
	return p
}

// runPromtool runs promtool with args in dir and returns its output and
// whether it succeeded.
func runPromtool(t *testing.T, dir string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("promtool %s: %v", strings.Join(args, " "), err)
		}
	}
	return string(out), err == nil
}

// serverConfig is the shipped prometheus.yml with its rule_files entry
// pointing at rules, and the extra global settings given.
func serverConfig(t *testing.T, rules, global string) string {
	t.Helper()
	const shipped = "/etc/prometheus/rules/audisp-backlog.rules.yml"
	cfg := readExample(t, "prometheus.yml")
	if !strings.Contains(cfg, "  - "+shipped+"\n") {
		t.Fatalf("prometheus.yml: no rule_files entry %s", shipped)
	}
	return global + strings.Replace(cfg, shipped, rules, 1)
}

// TestPromtool: the rules pass promtool check rules and the unit tests in
// testdata/rules_test.yml; the shipped prometheus.yml passes promtool
// check config.
func TestPromtool(t *testing.T) {
	rules, err := filepath.Abs(filepath.Join(examplesDir, "audisp-backlog.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out, ok := runPromtool(t, ".", "--version")
	if !ok {
		t.Fatalf("promtool --version:\n%s", out)
	}
	t.Logf("%s", strings.SplitN(out, "\n", 2)[0])

	if out, ok := runPromtool(t, ".", "check", "rules", "--lint=all", "--lint-fatal", rules); !ok {
		t.Errorf("promtool check rules %s:\n%s", rules, out)
	} else {
		t.Logf("check rules: %s", strings.TrimSpace(out))
	}
	if out, ok := runPromtool(t, ".", "test", "rules", "testdata/rules_test.yml"); !ok {
		t.Errorf("promtool test rules testdata/rules_test.yml:\n%s", out)
	} else {
		t.Logf("test rules: %s", strings.TrimSpace(out))
	}
	cfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(serverConfig(t, rules, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, ok := runPromtool(t, ".", "check", "config", "--lint=all", "--lint-fatal", cfg); !ok {
		t.Errorf("promtool check config (the shipped prometheus.yml):\n%s", out)
	}
}

// TestPromtoolCatches: the unit tests fail on rules that are wrong. Each
// case breaks one rule in a copy of the shipped file; promtool test rules
// must then fail, naming that rule's alert or recording rule.
func TestPromtoolCatches(t *testing.T) {
	orig := readExample(t, "audisp-backlog.rules.yml")
	tests, err := os.ReadFile("testdata/rules_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new, blame string
	}{
		{"near full: > instead of >=", "linux_audit_backlog_utilization_ratio[15m])) >= 0.8", "linux_audit_backlog_utilization_ratio[15m])) > 0.8", "AuditBacklogNearFull"},
		{"near full: 5m window", "linux_audit_backlog_utilization_ratio[15m]", "linux_audit_backlog_utilization_ratio[5m]", "AuditBacklogNearFull"},
		{"near full: keeps method", "max without (method) (max_over_time(linux_audit_backlog_utilization_ratio[15m]))", "max_over_time(linux_audit_backlog_utilization_ratio[15m])", "AuditBacklogNearFull"},
		{"lost: 5m window", "increase(linux_audit_lost_total[15m])", "increase(linux_audit_lost_total[5m])", "AuditRecordsLost"},
		{"lost: summary without the host", `"{{ $labels.host_name }} lost {{ $value | humanize }} audit records in 15 minutes"`, `"{{ $labels.instance }} lost {{ $value | humanize }} audit records in 15 minutes"`, "AuditRecordsLost"},
		{"boot: without unless", " unless linux_audit_lost_total offset 1h", "", "AuditRecordsLostBeforeMonitoring"},
		{"boot: last instead of min", "min_over_time(linux_audit_lost_total[1h]) > 0", "max_over_time(linux_audit_lost_total[1h]) > 0", "AuditRecordsLostBeforeMonitoring"},
		{"recommended: unlimited counted", " unless linux_audit_backlog_limit == 0", "", "AuditBacklogLimitBelowRecommended"},
		{"recommended: 5m for", "        for: 15m\n", "        for: 5m\n", "AuditBacklogLimitBelowRecommended"},
		{"silent: no for", "        for: 5m\n", "", "AudispBacklogSilent"},
		{"record max1d over 1h", "max_over_time(linux_audit_backlog_max_depth[1d])", "max_over_time(linux_audit_backlog_max_depth[1h])", "host:linux_audit_backlog_max_depth:max1d"},
		{"record increase over 15m", "increase(linux_audit_lost_total[1h])", "increase(linux_audit_lost_total[15m])", "host:linux_audit_lost:increase1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(orig, tc.old) != 1 {
				t.Fatalf("the rules file holds %q %d times, want once: update this case", tc.old, strings.Count(orig, tc.old))
			}
			dir := t.TempDir()
			broken := strings.Replace(orig, tc.old, tc.new, 1)
			if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			tt := strings.Replace(string(tests), "../../../packaging/examples/audisp-backlog.rules.yml", "rules.yml", 1)
			if err := os.WriteFile(filepath.Join(dir, "rules_test.yml"), []byte(tt), 0o644); err != nil {
				t.Fatal(err)
			}
			out, ok := runPromtool(t, dir, "test", "rules", "rules_test.yml")
			if ok {
				t.Fatalf("promtool test rules passed on rules with %q replaced by %q: the unit tests miss it", tc.old, tc.new)
			}
			if !strings.Contains(out, tc.blame) {
				t.Errorf("promtool test rules failed, but not on %s:\n%s", tc.blame, out)
			}
		})
	}
}
