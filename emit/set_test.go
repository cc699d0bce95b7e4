package emit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
	"github.com/audisp-backlog/audisp-backlog/internal/logtest"
	"go.opentelemetry.io/otel"
)

// gated is an Emitter whose Emit blocks until gate is closed (or its
// context ends), recording what it delivered.
type gated struct {
	started chan struct{}
	gate    chan struct{}
	mu      sync.Mutex
	got     []Interval
}

func newGated() *gated {
	return &gated{started: make(chan struct{}, 100), gate: make(chan struct{})}
}

func (g *gated) Emit(ctx context.Context, iv Interval) error {
	g.started <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got = append(g.got, iv)
	return nil
}

func (g *gated) Close(context.Context) error { return nil }

func numbered(i int) Interval {
	iv := firstInterval()
	iv.Peak = uint32(i)
	iv.OwnResets, iv.ExternalResets = uint64(i), 0 // cumulative: one per interval
	return iv
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestSetDropsOldest blocks an emitter on its first interval and queues
// nine more behind it in a queue of three: Emit never waits, the six
// oldest queued are dropped and counted, the last one delivered still
// counts every reset (the counters are cumulative), and the queue never
// holds more than three.
func TestSetDropsOldest(t *testing.T) {
	g := newGated()
	m := &member{name: "gated", target: "test", em: g, timeout: time.Minute}
	s := newSet(discardLogger(), 3, []*member{m})
	ctx := t.Context()

	if err := s.Emit(ctx, numbered(1)); err != nil {
		t.Fatal(err)
	}
	<-g.started // the goroutine holds interval 1 and waits at the gate
	completed := 0
	for i := 2; i <= 10; i++ {
		if err := s.Emit(ctx, numbered(i)); err != nil {
			t.Fatalf("Emit %d: %v", i, err)
		}
		completed++
		if n := m.q.len(); n > 3 {
			t.Fatalf("queue holds %d intervals, want at most 3", n)
		}
	}
	if completed != 9 {
		t.Fatalf("%d of 9 Emits completed while the emitter was blocked", completed)
	}
	if st := s.Stats(); st.Dropped != 6 || st.Sent != 0 {
		t.Errorf("while blocked: %+v, want Dropped 6, Sent 0", st)
	}
	close(g.gate)
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var peaks []uint32
	var resets uint64
	for _, iv := range g.got {
		peaks = append(peaks, iv.Peak)
		resets = iv.OwnResets
	}
	if want := []uint32{1, 8, 9, 10}; !slices.Equal(peaks, want) {
		t.Errorf("delivered intervals %v, want %v (the oldest queued dropped)", peaks, want)
	}
	if resets != 10 {
		t.Errorf("the last interval delivered counts %d resets, want all 10", resets)
	}
	if st := s.Stats(); st != (Stats{Sent: 4, Dropped: 6}) {
		t.Errorf("Stats %+v, want Sent 4, Dropped 6", st)
	}
	if m.q.peak != 3 {
		t.Errorf("queue peak %d, want 3", m.q.peak)
	}
	if err := s.Emit(ctx, numbered(11)); !errors.Is(err, ErrClosed) {
		t.Errorf("Emit after Close: got %v, want ErrClosed", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

// waitFor polls cond every 10ms, at most 1000 times.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// TestSetLogsStateChanges rejects three intervals, then accepts two: the
// failure is logged once and the recovery once.
func TestSetLogsStateChanges(t *testing.T) {
	rcv, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	logger, logs := logtest.New()
	cfg := parseConf(t, "emitters = otlp", "otlp_endpoint = "+rcv.Addr(), "otlp_insecure = yes")
	ctx := t.Context()
	s, err := Open(ctx, cfg, "test", logger)
	if err != nil {
		t.Fatal(err)
	}
	rcv.SetReject(true)
	for i := range 3 {
		if err := s.Emit(ctx, numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 failed deliveries", func() bool { return s.Stats().Failed == 3 })
	rcv.SetReject(false)
	for i := range 2 {
		if err := s.Emit(ctx, numbered(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "2 deliveries", func() bool { return s.Stats().Sent == 2 })
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "emitter failing"); n != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "emitter recovered"); n != 1 || !strings.Contains(out, "failed_intervals=3") {
		t.Errorf("logged the recovery %d times, want once with failed_intervals=3:\n%s", n, out)
	}
	if st := s.Stats(); st != (Stats{Sent: 2, Failed: 3}) {
		t.Errorf("Stats %+v, want Sent 2, Failed 3", st)
	}
}

// TestRouteOTelLogs points OpenTelemetry's process-wide error handler at a
// logger, as the plugin does once at start.
func TestRouteOTelLogs(t *testing.T) {
	logger, logs := logtest.New()
	RouteOTelLogs(logger)
	t.Cleanup(func() { RouteOTelLogs(discardLogger()) })
	otel.Handle(errors.New("sdk error probe"))
	if out := logs.String(); !strings.Contains(out, "sdk error probe") || !strings.Contains(out, "emitter=otlp") {
		t.Errorf("an OpenTelemetry error did not reach the logger:\n%s", out)
	}
}

// peakOf returns the max_depth value of an OTLP request.
func peakOf(req emittest.Request) int64 {
	for _, p := range req.Points() {
		if p.Metric == "linux.audit.backlog.max_depth" {
			return p.GetAsInt()
		}
	}
	return -1
}

// TestSetCollectorDownThenUp emits while the OTLP collector is down: every
// Emit returns at once, the queue stays within emit_queue and drops its
// oldest, and intervals emitted after the collector is back arrive.
func TestSetCollectorDownThenUp(t *testing.T) {
	rcv, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := rcv.Addr()
	rcv.Close() // down: the port refuses connections
	cfg := parseConf(t, "emitters = otlp", "otlp_endpoint = "+addr, "otlp_insecure = yes",
		"otlp_timeout = 1s", "emit_queue = 4")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s, err := Open(ctx, cfg, "test", discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	m := s.members[0]

	// Two bursts while down, with a failed delivery between them, so the
	// collector is down for a while and not just for a moment.
	const down = 50
	completed := 0
	for i := range down {
		if i == down/2 {
			waitFor(t, "a failed delivery", func() bool { return s.Stats().Failed > 0 })
		}
		if err := s.Emit(ctx, numbered(i)); err != nil {
			t.Fatalf("Emit %d while down: %v", i, err)
		}
		completed++
		if n := m.q.len(); n > 4 {
			t.Fatalf("queue holds %d intervals, want at most emit_queue = 4", n)
		}
	}
	if completed != down {
		t.Fatalf("%d of %d Emits completed while the collector was down", completed, down)
	}
	if st := s.Stats(); st.Dropped == 0 || st.Sent != 0 {
		t.Errorf("while down: %+v, want drops and nothing sent", st)
	}

	rcv, err = emittest.ListenOTLPGRPC(addr) // up again, same address
	if err != nil {
		t.Fatalf("collector back on %s: %v", addr, err)
	}
	defer rcv.Close()
	emitted := down
	arrived := false
	for i := 0; i < 30 && !arrived; i++ {
		if err := s.Emit(ctx, numbered(1000+i)); err != nil {
			t.Fatal(err)
		}
		emitted++
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		for !arrived {
			req, err := rcv.Next(wctx)
			if err != nil {
				break
			}
			arrived = peakOf(req) >= 1000
		}
		wcancel()
	}
	if !arrived {
		t.Fatal("no interval emitted after the collector came back arrived")
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := s.Stats()
	if st.Sent+st.Failed+st.Dropped != uint64(emitted) {
		t.Errorf("Stats %+v account for %d intervals, want all %d emitted", st, st.Sent+st.Failed+st.Dropped, emitted)
	}
	if m.q.peak > 4 {
		t.Errorf("queue peak %d, want at most 4", m.q.peak)
	}
	t.Logf("emitted %d: %+v, queue peak %d", emitted, st, m.q.peak)
}

// TestSetCloseBlackhole closes a Set whose collector accepts connections
// and never answers: Close gives up at its context's deadline, cancels the
// export in flight and reports what it could not deliver.
func TestSetCloseBlackhole(t *testing.T) {
	for _, protocol := range []string{conf.ProtocolGRPC, conf.ProtocolHTTP} {
		t.Run(protocol, func(t *testing.T) {
			bh, err := emittest.ListenBlackhole("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer bh.Close()
			cfg := parseConf(t, "emitters = otlp", "otlp_protocol = "+protocol,
				"otlp_endpoint = "+bh.Addr(), "otlp_insecure = yes", "otlp_timeout = 30s")
			s, err := Open(t.Context(), cfg, "test", discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := s.Emit(t.Context(), numbered(i)); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "a connection to the blackhole", func() bool { return bh.Accepted() > 0 })

			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Close(ctx) }()
			select {
			case err = <-done:
			case <-time.After(time.Minute): // a hang detector, not a timing assertion
				t.Fatal("Close did not return")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close: got %v, want an error wrapping context.DeadlineExceeded", err)
			}
			if ctx.Err() == nil {
				t.Error("Close returned before its context ended, yet nothing could be delivered")
			}
			if st := s.Stats(); st.Sent != 0 || st.Failed+st.Dropped != 3 {
				t.Errorf("Stats %+v, want nothing sent and all 3 failed or dropped", st)
			}
		})
	}
}

// closeCounter is an Emitter that delivers at once and counts its Closes.
type closeCounter struct {
	mu     sync.Mutex
	got    int
	closes int
}

func (c *closeCounter) Emit(context.Context, Interval) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got++
	return nil
}

func (c *closeCounter) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closes++
	return nil
}

// TestSetFlush: Flush delivers what is queued and stops taking intervals,
// but leaves the emitters open; Close then closes them, once. A Flush that
// runs out of time cancels the delivery in flight and counts what is left
// as dropped.
func TestSetFlush(t *testing.T) {
	t.Run("delivers, leaves open", func(t *testing.T) {
		c := &closeCounter{}
		s := newSet(discardLogger(), 10, []*member{{name: "counter", em: c, timeout: time.Minute}})
		for i := range 5 {
			if err := s.Emit(t.Context(), numbered(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(t.Context()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		c.mu.Lock()
		got, closes := c.got, c.closes
		c.mu.Unlock()
		if got != 5 || closes != 0 {
			t.Errorf("after Flush: %d delivered, %d closes; want 5 and 0", got, closes)
		}
		if err := s.Emit(t.Context(), numbered(6)); !errors.Is(err, ErrClosed) {
			t.Errorf("Emit after Flush: %v, want ErrClosed", err)
		}
		for range 2 {
			if err := s.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		if c.closes != 1 {
			t.Errorf("emitter closed %d times, want 1", c.closes)
		}
	})
	t.Run("out of time", func(t *testing.T) {
		g := newGated()
		s := newSet(discardLogger(), 10, []*member{{name: "gated", em: g, timeout: time.Minute}})
		for i := range 3 {
			if err := s.Emit(t.Context(), numbered(i)); err != nil {
				t.Fatal(err)
			}
		}
		<-g.started // the first delivery is in flight, and never ends by itself
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Flush(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Flush: %v, want an error wrapping context.Canceled", err)
		}
		if st := s.Stats(); st.Sent != 0 || st.Failed+st.Dropped != 3 {
			t.Errorf("Stats %+v, want nothing sent and all 3 failed or dropped", st)
		}
	})
}

func TestSetCheck(t *testing.T) {
	rcv, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	closed, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr()
	closed.Close()
	sock := listenStatsD(t, "unixgram")
	dir := t.TempDir()
	plainFile := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(plainFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		lines   []string
		wantErr []string // per emitter in order: "" passes, else a substring of the error
	}{
		{"all good", []string{"emitters = stdout, otlp, statsd", "otlp_endpoint = " + rcv.Addr(),
			"otlp_insecure = yes", "statsd_address = " + sock.Addr()}, []string{"", "", ""}},
		{"udp statsd resolves", []string{"emitters = statsd", "statsd_address = 127.0.0.1:8125"}, []string{""}},
		{"collector down", []string{"emitters = otlp", "otlp_endpoint = " + closedAddr,
			"otlp_insecure = yes", "otlp_timeout = 1s"}, []string{"nothing listens on " + closedAddr + " (connection refused)"}},
		{"no socket", []string{"emitters = statsd", "statsd_address = unix://" + filepath.Join(dir, "missing.sock")},
			[]string{"no such file"}},
		{"not a socket", []string{"emitters = statsd", "statsd_address = unix://" + plainFile},
			[]string{"is not a socket"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s, err := Open(ctx, parseConf(t, tc.lines...), "test", discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(ctx)
			res := s.Check(ctx)
			if len(res) != len(tc.wantErr) {
				t.Fatalf("got %d results, want %d", len(res), len(tc.wantErr))
			}
			for i, r := range res {
				switch want := tc.wantErr[i]; {
				case want == "" && r.Err != nil:
					t.Errorf("%s (%s): %v, want success", r.Emitter, r.Target, r.Err)
				case want != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), want)):
					t.Errorf("%s (%s): got %v, want an error containing %q", r.Emitter, r.Target, r.Err, want)
				}
			}
		})
	}
	// The passing OTLP check sent one empty request.
	req, err := rcv.Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(req.Metrics.GetResourceMetrics()[0].GetScopeMetrics()); n != 0 {
		t.Errorf("check request has %d scopes, want none", n)
	}
}

// BenchmarkSetEmit measures what the interval loop pays per Emit: a copy
// into each queue, no allocation.
func BenchmarkSetEmit(b *testing.B) {
	s := newSet(discardLogger(), 16, []*member{{name: "stdout", em: NewStdout(io.Discard), timeout: time.Second}})
	defer s.Close(context.Background())
	iv := firstInterval()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Emit(ctx, iv); err != nil {
			b.Fatal(err)
		}
	}
}
