package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// findMetric returns the named metric of an export request.
func findMetric(req *colmetricpb.ExportMetricsServiceRequest, name string) *metricpb.Metric {
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if m.GetName() == name {
					return m
				}
			}
		}
	}
	return nil
}

// intValue returns the value of a metric's only data point (gauge or sum)
// with no attributes, or with attribute key=value.
func intValue(t *testing.T, m *metricpb.Metric, key, value string) int64 {
	t.Helper()
	var dps []*metricpb.NumberDataPoint
	switch {
	case m.GetGauge() != nil:
		dps = m.GetGauge().GetDataPoints()
	case m.GetSum() != nil:
		dps = m.GetSum().GetDataPoints()
	}
	for _, dp := range dps {
		attrs := dp.GetAttributes()
		if (key == "" && len(attrs) == 0) ||
			(len(attrs) == 1 && attrs[0].GetKey() == key && attrs[0].GetValue().GetStringValue() == value) {
			return dp.GetAsInt()
		}
	}
	t.Fatalf("metric %s has no data point with %s=%q: %v", m.GetName(), key, value, dps)
	return 0
}

// sumValues adds up a sum's data points (all attribute sets).
func sumValues(m *metricpb.Metric) int64 {
	var n int64
	for _, dp := range m.GetSum().GetDataPoints() {
		n += dp.GetAsInt()
	}
	return n
}

// TestBothEmitters runs the built plugin with OTLP/gRPC and DogStatsD at
// once, against real receivers on loopback, with a scripted stdin, and
// checks that both receive the same interval and the exact record counts.
func TestBothEmitters(t *testing.T) {
	needAudit(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	otlp, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer otlp.Close()
	statsd, err := emittest.ListenStatsD("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer statsd.Close()

	cfg := writeConfig(t, fmt.Sprintf(`interval = 1s
sample_interval = 10ms
method = auto
emitters = otlp, statsd
otlp_endpoint = %s
otlp_insecure = yes
statsd_address = %s
statsd_tags = env:test
`, otlp.Addr(), statsd.Addr()))
	p := start(t, cfg)
	p.stderr.wait(t, "starting")

	// 3 rounds of the real-shaped records and a malformed line.
	const rounds = 3
	for range rounds {
		for _, rec := range realShaped {
			io.WriteString(p.stdin, rec)
		}
		io.WriteString(p.stdin, "not a record\n")
	}
	wantRecords := int64(rounds * len(realShaped))

	// Intervals report what was read by their end; wait for the one that
	// has all the records.
	var req emittest.Request
	for {
		req, err = otlp.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for an OTLP export: %v\nstderr:\n%s", err, p.stderr.text())
		}
		if m := findMetric(req.Metrics, "linux.audit.plugin.records"); m != nil && sumValues(m) == wantRecords {
			break
		}
	}
	peak := findMetric(req.Metrics, "linux.audit.backlog.max_depth")
	if peak == nil {
		t.Fatalf("no linux.audit.backlog.max_depth in %v", req.Metrics)
	}
	otlpPeak := intValue(t, peak, "method", "sampled")
	if got := intValue(t, findMetric(req.Metrics, "linux.audit.plugin.malformed"), "", ""); got != rounds {
		t.Errorf("OTLP plugin.malformed = %d, want %d", got, rounds)
	}
	if got := intValue(t, findMetric(req.Metrics, "linux.audit.plugin.records"), "type", "SYSCALL"); got != rounds {
		t.Errorf("OTLP plugin.records{type=SYSCALL} = %d, want %d", got, rounds)
	}

	// The same interval over DogStatsD: find its peak line, tagged.
	wantPeak := fmt.Sprintf("linux.audit.backlog.max_depth:%d|g|#env:test,method:sampled", otlpPeak)
	var records int64
	for seen := []string{}; ; {
		d, err := statsd.Next(ctx)
		if err != nil {
			t.Fatalf("no statsd line %q; got:\n%s", wantPeak, strings.Join(seen, "\n"))
		}
		for _, line := range strings.Split(strings.TrimSpace(string(d)), "\n") {
			seen = append(seen, line)
			// Counts by type, as deltas: linux.audit.plugin.records:3|c|#env:test,type:SYSCALL
			if v, ok := strings.CutPrefix(line, "linux.audit.plugin.records:"); ok {
				n, tags, _ := strings.Cut(v, "|c|#env:test,type:")
				if tags == "" {
					t.Fatalf("bad statsd line %q", line)
				}
				c, _ := strconv.ParseInt(n, 10, 64)
				records += c
			}
		}
		if records == wantRecords && strings.Contains(strings.Join(seen, "\n"), wantPeak) {
			break
		}
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.exit(); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderr.text())
	}
}
