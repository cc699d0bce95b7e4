package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// value returns the value of the data point of metric name whose
// attributes are exactly attrs (key, value pairs).
func value(t *testing.T, req emittest.Request, name string, attrs ...string) int64 {
	t.Helper()
	for _, p := range req.Points() {
		if p.Metric != name || len(p.Attrs) != len(attrs)/2 {
			continue
		}
		match := true
		for i := 0; i < len(attrs); i += 2 {
			match = match && p.Attrs[attrs[i]] == attrs[i+1]
		}
		if match {
			return p.GetAsInt()
		}
	}
	t.Fatalf("no data point of %s with attributes %q in %v", name, attrs, req.Metrics)
	return 0
}

// total adds up the data points of metric name, whatever their attributes;
// ok is false when the request has none.
func total(req emittest.Request, name string) (n int64, ok bool) {
	for _, p := range req.Points() {
		if p.Metric == name {
			n, ok = n+p.GetAsInt(), true
		}
	}
	return n, ok
}

// listenCollectors starts an OTLP/gRPC receiver and a UDP statsd listener
// on loopback, closed when the test ends.
func listenCollectors(t *testing.T) (*emittest.OTLP, *emittest.StatsD) {
	t.Helper()
	otlp, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { otlp.Close() })
	statsd, err := emittest.ListenStatsD("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { statsd.Close() })
	return otlp, statsd
}

// TestBothEmitters runs the built plugin with OTLP/gRPC and DogStatsD at
// once, against real receivers on loopback, with a scripted stdin, and
// checks that both receive the same interval and the exact record counts.
func TestBothEmitters(t *testing.T) {
	needAudit(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	otlp, statsd := listenCollectors(t)

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
	var (
		req emittest.Request
		err error
	)
	for {
		req, err = otlp.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for an OTLP export: %v\nstderr:\n%s", err, p.stderr.text())
		}
		if n, ok := total(req, "linux.audit.plugin.records"); ok && n == wantRecords {
			break
		}
	}
	otlpPeak := value(t, req, "linux.audit.backlog.max_depth", "method", "sampled")
	if got := value(t, req, "linux.audit.plugin.malformed"); got != rounds {
		t.Errorf("OTLP plugin.malformed = %d, want %d", got, rounds)
	}
	if got := value(t, req, "linux.audit.plugin.records", "type", "SYSCALL"); got != rounds {
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
