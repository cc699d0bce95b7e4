package emit

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// t0 is the plugin's start in the test intervals.
var t0 = time.Date(2026, 11, 24, 16, 59, 0, 0, time.UTC)

// firstInterval, secondInterval and thirdInterval are consecutive
// intervals: the first measured by the kernel, with auditd's state report;
// the second by the eBPF probe, without a state report (so a stale
// method=kernel point, or a stale auditd figure, would show); the third
// sampled, without the probe's figures, and with the kernel's lost counter
// reset by an administrator.
func firstInterval() Interval {
	return Interval{
		Start: t0, End: t0.Add(time.Minute), CounterStart: t0,
		Method: MethodKernel, Peak: 4762, OwnResets: 1, ExternalResets: 1,
		Size: 3, Mean: 12.25, Samples: 600, Limit: 8192, Utilization: 4762.0 / 8192, RecommendedLimit: 10240,
		Lost: 7, WaitTime: 1500 * time.Millisecond,
		Plugin: Counters{
			Records: 123, Types: []TypeCount{{"SYSCALL", 100}, {"CONFIG_CHANGE", 3}, {"other", 20}},
			Malformed: 1, ResetsFailed: 2, EmitsFailed: 3, EmitsDropped: 4,
			SamplesSkipped: 5, ResetRecordsDropped: 6,
			Events: Events{All: 40, Failed: 3, AVC: 1, FANotify: 1, Anomalies: 1, Responses: 1, LoginsSucceeded: 2, LoginsFailed: 1},
		},
		Auditd: &AuditdState{
			QueueDepth: Figure{3, true}, QueueMaxDepth: Figure{1834, true}, QueueSize: Figure{2000, true},
			QueueOverflow: Figure{0, true}, LogFreeSpace: Figure{81437720576, true},
			MemoryTotal: Figure{135168, true}, MemoryInUse: Figure{95232, true}, MemoryFree: Figure{39936, true},
		},
	}
}

func secondInterval() Interval {
	depths := make([]uint64, 32)
	depths[0], depths[1], depths[4] = 9, 5, 3 // depths 1, 2 and 17
	return Interval{
		Start: t0.Add(time.Minute), End: t0.Add(2 * time.Minute), CounterStart: t0,
		Method: MethodEBPF, Peak: 17, OwnResets: 1, ExternalResets: 1,
		Size: 0, Mean: 0.5, Samples: 600, Limit: 0, Utilization: 0, RecommendedLimit: 10240,
		Lost: 9, WaitTime: 2 * time.Second,
		Plugin: Counters{
			Records: 200, Types: []TypeCount{{"SYSCALL", 170}, {"CONFIG_CHANGE", 4}, {"other", 26}},
			Malformed: 1, ResetsFailed: 2, EmitsFailed: 5, EmitsDropped: 4,
			SamplesSkipped: 8, ResetRecordsDropped: 6,
			Events: Events{All: 70, Failed: 4, AVC: 1, FANotify: 1, Anomalies: 1, Responses: 1, LoginsSucceeded: 5, LoginsFailed: 1},
		},
		// No state report from auditd, or none recent: no auditd figure.
		Probe: &ProbeFigures{
			Depths:        DepthHistogram{Counts: depths, Count: 17, Sum: 9*1 + 5*2 + 3*17},
			MeanDepth:     70.0 / 17,
			RetryMaxDepth: Figure{2, true},
			HoldMaxDepth:  Figure{}, // not measured: no point
			Lost: []CauseCount{{"rate_limit", 0}, {"backlog_limit", 2}, {"no_memory", 0},
				{"retry_overflow", 0}, {"hold_overflow", 0}, {"other", 0}},
		},
	}
}

func thirdInterval() Interval {
	iv := secondInterval()
	iv.Start, iv.End = iv.End, iv.End.Add(time.Minute)
	iv.Method, iv.Probe = MethodSampled, nil
	iv.Lost = 1
	return iv
}

// parseConf builds a Config the way the plugin does, so OTLP.Given is true for
// exactly the keys given.
func parseConf(t *testing.T, lines ...string) conf.Config {
	t.Helper()
	c, err := conf.Parse(strings.NewReader(strings.Join(lines, "\n")+"\n"), "test.conf")
	if err != nil {
		t.Fatalf("conf.Parse: %v", err)
	}
	return *c
}

func TestStdoutGolden(t *testing.T) {
	var buf bytes.Buffer
	s := NewStdout(&buf)
	ctx := t.Context()
	for _, iv := range []Interval{firstInterval(), secondInterval(), thirdInterval()} {
		if err := s.Emit(ctx, iv); err != nil {
			t.Fatalf("Emit: %v", err)
		}
	}
	golden := filepath.Join("testdata", "stdout.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := buf.String(); got != string(want) {
		t.Errorf("stdout lines:\ngot:\n%s\nwant:\n%s", got, want)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Emit(ctx, firstInterval()); !errors.Is(err, ErrClosed) {
		t.Errorf("Emit after Close: got %v, want ErrClosed", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
