package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/plugin/peak/peaktest"
)

// waitFor waits for a value from ch, failing the test after hangLimit.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangLimit):
		t.Fatalf("hung waiting for %s", what)
		var zero T
		return zero
	}
}

// settleGoroutines waits until at most want goroutines run, and returns the
// count; after hangLimit it fails the test with every goroutine's stack.
func settleGoroutines(t *testing.T, want int, what string) int {
	t.Helper()
	deadline := time.Now().Add(hangLimit)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return n
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%s: %d goroutines, want at most %d:\n%s", what, n, want, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadLeaks runs the plugin's serve in this process, as daemon does
// after opening the kernel client, with OTLP/gRPC and DogStatsD emitters
// against receivers on loopback, and sends the process 100 SIGHUPs, one at
// a time, each waited for in the log. Every reload opens new emitters and
// closes the old ones: the goroutine count after the 100 must come back to
// what it was after the first, and to what it was before serve once it has
// returned.
func TestReloadLeaks(t *testing.T) {
	otlp, statsd := listenCollectors(t)
	// Each reload changes emit_queue, so that it reopens the emitters
	// (an unchanged emitter configuration keeps them).
	body := func(i int) string {
		return fmt.Sprintf(`interval = 1s
sample_interval = 10ms
method = sampled
emitters = otlp, statsd
emit_queue = %d
otlp_endpoint = %s
otlp_insecure = yes
otlp_timeout = 1s
statsd_address = %s
`, 16+i%2, otlp.Addr(), statsd.Addr())
	}
	path := writeConfig(t, body(0))
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}

	// As daemon does: SIGHUP is taken before serve runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	logr, logw := io.Pipe()
	logs := newLines(logr)
	stdinR, stdinW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := peaktest.New(t, auditclient.Status{Enabled: 1, BacklogLimit: 8192})
	k.NoReset = true

	before := runtime.NumGoroutine()
	s := service{
		path: path, cfg: cfg, stdin: stdinR,
		kernel: k, status: k.Answer, hz: 100,
		logger: slog.New(slog.NewTextHandler(logw, nil)), level: new(slog.LevelVar),
		hup: hup, stopSignals: func() { signal.Stop(hup) },
	}
	served := make(chan error, 1)
	go func() { served <- s.serve(ctx) }()

	reload := func(i int) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		logs.waitCount(t, "emitters_reopened=true", i)
	}
	// Counts are compared in the same state: emitters that have
	// exported once, so one live gRPC connection.
	exported := func() {
		t.Helper()
		for otlp.Pending() > 0 {
			otlp.Next(ctx)
		}
		if _, err := otlp.Next(ctx); err != nil {
			t.Fatalf("no OTLP export: %v", err)
		}
	}
	reload(1)
	exported()
	// The old emitters close in the background: take the lowest count
	// over a while as the running count.
	warm := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		warm = min(warm, runtime.NumGoroutine())
	}
	for i := 2; i <= 101; i++ {
		reload(i)
	}
	exported()
	after := settleGoroutines(t, warm, "after 100 more reloads")

	cancel()
	if err := waitFor(t, served, "serve to return"); err != nil {
		t.Errorf("serve: %v", err)
	}
	stdinW.Close() // ends the stdin reader, which nobody waits for
	end := settleGoroutines(t, before, "after serve returned")
	select {
	case <-k.Closed():
	default:
		t.Errorf("kernel client not closed")
	}
	logw.Close()
	t.Logf("figures: goroutines before=%d after_1_reload=%d after_101_reloads=%d after_exit=%d", before, warm, after, end)
}

// waitCount waits until n lines contain substr.
func (l *lines) waitCount(t *testing.T, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(hangLimit)
	for l.count(substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines with %q, want %d:\n%s", l.count(substr), substr, n, l.text())
		}
		time.Sleep(time.Millisecond)
	}
}
