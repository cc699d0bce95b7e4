package peak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/auditdstate"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/plugin/peak/peaktest"
	"github.com/audisp-backlog/audisp-backlog/plugin/records"
)

// recorder is an emitter that keeps what it is given.
type recorder struct {
	got    []emit.Interval
	closed bool
	stats  emit.Stats
}

func (r *recorder) Emit(_ context.Context, iv emit.Interval) error {
	if r.closed {
		return errors.New("emit after close")
	}
	r.got = append(r.got, iv)
	return nil
}
func (r *recorder) Close(context.Context) error { r.closed = true; return nil }
func (r *recorder) Stats() emit.Stats           { return r.stats }

// clock is a fake wall clock: every reading advances it by step. The
// kernel worker reads it too, hence the lock.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fixture is a loop with a scripted kernel. The test plays the kernel
// worker: tick and sample make the loop's request, then the call inline,
// then hand the loop the reply, as Run would.
type fixture struct {
	t      *testing.T
	k      *peaktest.Kernel
	out    *recorder
	clock  *clock
	loop   *Loop
	stream *records.Counts
}

func newFixture(t *testing.T, set Settings, st auditclient.Status) *fixture {
	t.Helper()
	f := &fixture{
		t:      t,
		k:      peaktest.New(t, st),
		out:    &recorder{},
		clock:  &clock{t: t0, step: time.Millisecond},
		stream: new(records.Counts),
	}
	c := Config{
		Kernel: f.k, Out: f.out, Stream: f.stream,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    f.clock.now, HZ: 250, Settings: set, Status: st,
	}
	if st.HasMaxDepth {
		c.Mark = Mark{Resetter: f.k}
	}
	l, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.loop = l
	// The test plays the worker (see answer); finish, which waits for
	// the real one, needs a fixture from newWorkerFixture.
	l.working = true
	return f
}

// newWorkerFixture is newFixture with the loop's own kernel worker.
func newWorkerFixture(t *testing.T, set Settings, st auditclient.Status) *fixture {
	t.Helper()
	f := newFixture(t, set, st)
	f.loop.working = false
	return f
}

// tick ends the interval as run does when the interval ticker fires.
func (f *fixture) tick(hold bool) {
	f.t.Helper()
	f.loop.requestTick(context.Background(), hold)
	f.answer()
}

// sample takes a sample as run does when the sample ticker fires.
func (f *fixture) sample() {
	f.t.Helper()
	f.loop.requestSample()
	f.answer()
}

// answer makes the call the loop requested, if any, inline, and hands the
// loop the reply.
func (f *fixture) answer() {
	f.t.Helper()
	select {
	case c := <-f.loop.calls:
		f.loop.reply(context.Background(), callKernel(f.k, c, f.clock.now))
	default:
	}
}

var (
	patched   = auditclient.Status{Enabled: 1, BacklogLimit: 8192, HasMaxDepth: true}
	unpatched = auditclient.Status{Enabled: 1, BacklogLimit: 8192}
	kernelSet = Settings{Interval: time.Minute, SampleInterval: 100 * time.Millisecond, RecordWait: time.Second, Method: conf.MethodAuto}
)

// record is a reset record stamped at the fixture clock's current time
// plus offset.
func (f *fixture) record(old uint32, offset time.Duration) records.Reset {
	return records.Reset{Old: old, Time: f.clock.peek().Add(offset).Truncate(time.Millisecond), AUID: records.UnsetID, Ses: records.UnsetID}
}

// peaks returns the emitted intervals as "method:peak/resets/external",
// where resets counts the interval's own and external resets of the mark
// and external the latter (the reports carry running totals).
func (f *fixture) peaks() string {
	var s []string
	var own, ext uint64
	for _, iv := range f.out.got {
		dOwn, dExt := iv.OwnResets-own, iv.ExternalResets-ext
		own, ext = iv.OwnResets, iv.ExternalResets
		s = append(s, fmt.Sprintf("%s:%d/%d/%d", iv.Method, iv.Peak, dOwn+dExt, dExt))
	}
	return strings.Join(s, " ")
}

func TestLoopFigures(t *testing.T) {
	st := auditclient.Status{Enabled: 1, BacklogLimit: 200, Lost: 7, Backlog: 0, BacklogWaitTimeActual: 500, HasMaxDepth: true}
	f := newFixture(t, kernelSet, st)
	f.loop.acct.cur = openInterval{start: f.loop.acct.cur.start}
	f.k.Backlogs = []uint32{10, 20, 30, 4}
	f.sample()
	f.sample()
	f.sample()
	f.k.Acks = []peaktest.Ack{{Old: 50}}
	// What the stdin reader counted: 5 SYSCALL records, 2 malformed
	// lines, and 6 reset records it had to drop (nobody took them).
	stream := strings.Repeat("type=SYSCALL msg=audit(1.000:1): x\n", 5) + "junk\n\n" +
		strings.Repeat("type=CONFIG_CHANGE msg=audit(1.000:2): op=set backlog_max_depth=0 old=1 res=1\n", 6)
	if err := records.Read(strings.NewReader(stream), f.stream, make(chan records.Reset)); err != nil {
		t.Fatal(err)
	}
	f.out.stats = emit.Stats{Failed: 3, Dropped: 1}
	// auditd's state report, written just now by the fixture's clock.
	root := t.TempDir()
	report := filepath.Join(root, "run", "audit", "auditd.state")
	data, err := os.ReadFile("../../auditdstate/testdata/derived-4.2.1.state")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(report), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(report, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(report, f.clock.peek(), f.clock.peek()); err != nil {
		t.Fatal(err)
	}
	f.loop.state = auditdstate.NewReader(root, 2*time.Minute)
	f.tick(false)

	if len(f.out.got) != 1 {
		t.Fatalf("%d intervals, want 1", len(f.out.got))
	}
	iv := f.out.got[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"peak", iv.Peak, uint32(50)},
		{"utilization", iv.Utilization, 0.25},
		{"limit", iv.Limit, uint32(200)},
		{"size (status after the reset)", iv.Size, uint32(4)},
		{"mean", iv.Mean, 20.0},
		{"samples", iv.Samples, 3},
		{"lost", iv.Lost, uint64(7)},
		{"wait time at HZ=250", iv.WaitTime, 2 * time.Second},
		{"records", iv.Plugin.Records, uint64(11)},
		{"events (one serial each)", iv.Plugin.Events, emit.Events{All: 2}},
		{"recommended limit (2 x 50, at least 1024)", iv.RecommendedLimit, uint32(1024)},
		{"auditd's queue size", iv.Auditd.QueueSize, emit.Figure{Value: 2000, OK: true}},
		{"auditd's queue high-water mark", iv.Auditd.QueueMaxDepth, emit.Figure{Value: 7, OK: true}},
		{"types", fmt.Sprint(iv.Plugin.Types), "[{SYSCALL 5} {CONFIG_CHANGE 6}]"},
		{"malformed", iv.Plugin.Malformed, uint64(2)},
		{"emits failed", iv.Plugin.EmitsFailed, uint64(3)},
		{"emits dropped", iv.Plugin.EmitsDropped, uint64(1)},
		{"reset records dropped", iv.Plugin.ResetRecordsDropped, uint64(6)},
		{"samples skipped", iv.Plugin.SamplesSkipped, uint64(0)},
		{"start", iv.Start, t0.Add(time.Millisecond)},
		{"counter start", iv.CounterStart, t0.Add(time.Millisecond)},
		{"end after start", iv.End.After(iv.Start), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The next interval starts where this one ended.
	f.k.Acks = []peaktest.Ack{{Old: 1}}
	f.tick(false)
	if got := f.out.got[1].Start; !got.Equal(iv.End) {
		t.Errorf("second interval starts %v, want %v", got, iv.End)
	}
}

func TestResolveMethod(t *testing.T) {
	tests := []struct {
		configured string
		st         auditclient.Status
		probe      bool
		want       emit.Method
		wantErr    bool
	}{
		{conf.MethodAuto, patched, false, emit.MethodKernel, false},
		{conf.MethodAuto, patched, true, emit.MethodKernel, false},
		{conf.MethodAuto, unpatched, false, emit.MethodSampled, false},
		{conf.MethodAuto, unpatched, true, emit.MethodEBPF, false},
		{conf.MethodKernel, patched, false, emit.MethodKernel, false},
		{conf.MethodKernel, unpatched, true, "", true},
		{conf.MethodEBPF, patched, true, emit.MethodEBPF, false},
		{conf.MethodEBPF, unpatched, true, emit.MethodEBPF, false},
		{conf.MethodEBPF, unpatched, false, "", true},
		{conf.MethodSampled, patched, true, emit.MethodSampled, false},
		{conf.MethodSampled, unpatched, true, emit.MethodSampled, false},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.configured, tt.st, tt.probe)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Resolve(%s, HasMaxDepth=%v, probe %v) = %q, %v", tt.configured, tt.st.HasMaxDepth, tt.probe, got, err)
		}
		if want := tt.probe && tt.want == emit.MethodEBPF; want && !WantsProbe(tt.configured, tt.st) {
			t.Errorf("WantsProbe(%s, HasMaxDepth=%v) = false, yet Resolve picks the probe", tt.configured, tt.st.HasMaxDepth)
		}
	}
}

// TestLoopFinish: on shutdown a held report goes out at once; the
// kernel's mark is not read again (its peak stays in the kernel for the
// next instance's first reading), while without an exact source the
// partial interval is reported from its samples.
func TestLoopFinish(t *testing.T) {
	ctx := context.Background()
	t.Run("kernel", func(t *testing.T) {
		f := newWorkerFixture(t, kernelSet, patched)
		f.loop.acct.cur = openInterval{start: f.loop.acct.cur.start}
		f.k.Acks = []peaktest.Ack{{Old: 8}}
		f.loop.requestTick(ctx, true)
		f.loop.reply(ctx, <-f.loop.replies)
		if len(f.out.got) != 0 {
			t.Fatalf("report not held")
		}
		f.loop.Finish(ctx, time.Second)
		if got := f.peaks(); got != "kernel:8/1/0" {
			t.Errorf("intervals %s, want the held one alone", got)
		}
		if n := f.k.Resets(); n != 1 {
			t.Errorf("%d resets, want 1: none on shutdown", n)
		}
	})
	t.Run("sampled", func(t *testing.T) {
		f := newWorkerFixture(t, kernelSet, unpatched)
		f.loop.acct.cur = openInterval{start: f.loop.acct.cur.start}
		f.k.NoReset = true
		f.k.Backlogs = []uint32{7, 30, 2}
		for range 3 {
			f.loop.requestSample()
			f.loop.reply(ctx, waitFor(t, f.loop.replies, "a sample"))
		}
		f.loop.Finish(ctx, time.Second)
		if got := f.peaks(); got != "sampled:30/0/0" {
			t.Errorf("intervals %s, want the partial interval's sampled peak", got)
		}
		if got := f.out.got[0].Samples; got != 3 {
			t.Errorf("samples = %d, want 3", got)
		}
	})
}

func TestLoopApply(t *testing.T) {
	f := newFixture(t, kernelSet, unpatched)
	next := &recorder{}
	if _, err := f.loop.apply(Settings{Interval: time.Minute, SampleInterval: time.Second, Method: conf.MethodKernel}, next); err == nil {
		t.Errorf("apply(method = kernel) on an unpatched kernel succeeded")
	}
	if f.loop.out != f.out {
		t.Errorf("a failed apply replaced the emitters")
	}
	old, err := f.loop.apply(Settings{Interval: 2 * time.Minute, SampleInterval: time.Second, Method: conf.MethodSampled}, next)
	if err != nil || old != f.out || f.loop.out != next || f.loop.set.Interval != 2*time.Minute {
		t.Errorf("apply: old %v err %v; loop out %v interval %v", old, err, f.loop.out, f.loop.set.Interval)
	}
}

// TestSampleEvery: sample_interval = auto samples for the peak ten times a
// second, and for the mean once a second (at most half the interval) when
// the kernel's mark gives the peak; a configured interval is kept.
func TestSampleEvery(t *testing.T) {
	tests := []struct {
		name string
		st   auditclient.Status
		set  Settings
		want time.Duration
	}{
		{"auto, sampling", unpatched, Settings{Interval: time.Minute, Method: conf.MethodAuto}, SampleForPeak},
		{"auto, kernel mark", patched, Settings{Interval: time.Minute, Method: conf.MethodAuto}, SampleForMean},
		{"auto, kernel mark, short interval", patched, Settings{Interval: time.Second, Method: conf.MethodAuto}, 500 * time.Millisecond},
		{"auto, sampled as configured", patched, Settings{Interval: time.Minute, Method: conf.MethodSampled}, SampleForPeak},
		{"configured", patched, Settings{Interval: time.Minute, SampleInterval: 250 * time.Millisecond, Method: conf.MethodAuto}, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.set, tt.st)
			if got := f.loop.sampleEvery(); got != tt.want {
				t.Errorf("sampleEvery = %v, want %v", got, tt.want)
			}
		})
	}
}
