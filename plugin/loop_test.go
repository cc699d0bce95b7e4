package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
)

// scriptedKernel plays back acks and statuses. A reset with no ack left,
// or any reset when noReset is set, fails the test. It may run on the
// loop's kernel worker, so it reports with Errorf, not Fatalf.
type scriptedKernel struct {
	t         *testing.T
	acks      []ack
	backlogs  []uint32 // Status().Backlog, one per call; the last one repeats
	status    auditclient.Status
	statusErr error
	noReset   bool
	resets    int
}

type ack struct {
	old uint32
	err error
}

func (k *scriptedKernel) Status() (auditclient.Status, error) {
	if k.statusErr != nil {
		return auditclient.Status{}, k.statusErr
	}
	st := k.status
	if len(k.backlogs) > 0 {
		st.Backlog = k.backlogs[0]
		if len(k.backlogs) > 1 {
			k.backlogs = k.backlogs[1:]
		}
	}
	return st, nil
}

func (k *scriptedKernel) ResetMaxDepth() (uint32, error) {
	k.t.Helper()
	k.resets++
	if k.noReset {
		k.t.Errorf("ResetMaxDepth called in sampled mode")
		return 0, errors.New("unexpected reset")
	}
	if len(k.acks) == 0 {
		k.t.Errorf("ResetMaxDepth called more often than scripted")
		return 0, errors.New("unexpected reset")
	}
	a := k.acks[0]
	k.acks = k.acks[1:]
	return a.old, a.err
}

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
// then hand the loop the reply, as run would.
type fixture struct {
	t     *testing.T
	k     *scriptedKernel
	out   *recorder
	clock *clock
	loop  *loop
	stats *streamStats
}

func newFixture(t *testing.T, set settings, st auditclient.Status) *fixture {
	t.Helper()
	f := &fixture{
		t:     t,
		k:     &scriptedKernel{t: t, status: st},
		out:   &recorder{},
		clock: &clock{t: t0, step: time.Millisecond},
		stats: new(streamStats),
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := newLoop(f.k, f.out, f.stats, logger, set, st, 250, f.clock.now)
	if err != nil {
		t.Fatalf("newLoop: %v", err)
	}
	f.loop = l
	// The test plays the worker (see answer); finish, which waits for
	// the real one, needs a fixture from newWorkerFixture.
	l.working = true
	return f
}

// newWorkerFixture is newFixture with the loop's own kernel worker.
func newWorkerFixture(t *testing.T, set settings, st auditclient.Status) *fixture {
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
	kernelSet = settings{Interval: time.Minute, SampleInterval: 100 * time.Millisecond, RecordWait: time.Second, Method: conf.MethodAuto}
)

// record is a reset record stamped at the fixture clock's current time
// plus offset.
func (f *fixture) record(old uint32, offset time.Duration) resetRecord {
	return resetRecord{Old: old, Time: f.clock.peek().Add(offset).Truncate(time.Millisecond), AUID: unsetID, Ses: unsetID}
}

// peaks returns the emitted intervals as "method:peak/resets/external".
func (f *fixture) peaks() string {
	var s []string
	for _, iv := range f.out.got {
		s = append(s, fmt.Sprintf("%s:%d/%d/%d", iv.Method, iv.Peak, iv.Resets, iv.ExternalResets))
	}
	return strings.Join(s, " ")
}

func TestLoopPeaks(t *testing.T) {
	ctx := context.Background()
	type step func(f *fixture)
	tick := func(hold bool) step { return func(f *fixture) { f.tick(hold) } }
	acks := func(a ...uint32) step {
		return func(f *fixture) {
			for _, v := range a {
				f.k.acks = append(f.k.acks, ack{old: v})
			}
		}
	}
	failAck := func(err error) step { return func(f *fixture) { f.k.acks = append(f.k.acks, ack{err: err}) } }
	// own sends back the record of our latest reset, as auditd would.
	own := func(old uint32) step {
		return func(f *fixture) { f.loop.resetRecord(ctx, f.record(old, -time.Millisecond)) }
	}
	external := func(old uint32, offset time.Duration) step {
		return func(f *fixture) { f.loop.resetRecord(ctx, f.record(old, offset)) }
	}
	expire := func(f *fixture) { f.loop.holdExpired(ctx) }
	samples := func(b ...uint32) step {
		return func(f *fixture) {
			f.k.backlogs = b
			for range b {
				f.sample()
			}
		}
	}
	advance := func(d time.Duration) step { return func(f *fixture) { f.clock.advance(d) } }

	tests := []struct {
		name  string
		st    auditclient.Status
		set   settings
		steps []step
		want  string
	}{
		{
			name:  "acks are the peaks",
			st:    patched,
			steps: []step{acks(5, 7, 0), tick(false), tick(false), tick(false)},
			want:  "kernel:5/1/0 kernel:7/1/0 kernel:0/1/0",
		},
		{
			name:  "external reset mid-interval is in the interval",
			st:    patched,
			steps: []step{acks(3), external(9, -time.Second), tick(false)},
			want:  "kernel:9/2/1",
		},
		{
			name:  "held report waits for our record, then our record is not counted again",
			st:    patched,
			steps: []step{acks(10, 2), tick(true), own(10), advance(time.Minute), tick(true), own(2)},
			want:  "kernel:10/1/0 kernel:2/1/0",
		},
		{
			name: "external record arriving before ours belongs to the held interval",
			st:   patched,
			steps: []step{acks(4, 1), tick(true), external(12, -2*time.Millisecond), own(4),
				advance(time.Minute), tick(true), own(1)},
			want: "kernel:12/2/1 kernel:1/1/0",
		},
		{
			name:  "own record later than record_wait is still recognised",
			st:    patched,
			steps: []step{acks(10, 1), tick(true), expire, own(10), advance(time.Minute), tick(true), own(1)},
			want:  "kernel:10/1/0 kernel:1/1/0",
		},
		{
			name:  "after a missed record, reports are not held",
			st:    patched,
			steps: []step{acks(10, 6), tick(true), expire, advance(time.Minute), tick(true)},
			want:  "kernel:10/1/0 kernel:6/1/0",
		},
		{
			name:  "own record lost: a later external reset releases the held report and counts in the next",
			st:    patched,
			steps: []step{acks(10, 3), tick(true), external(50, 5*time.Second), advance(time.Minute), tick(false)},
			want:  "kernel:10/1/0 kernel:50/2/1",
		},
		{
			name:  "external reset with the value of a pending own reset but hours away is external",
			st:    patched,
			steps: []step{acks(10, 3), tick(false), external(10, 2*time.Hour), advance(3 * time.Hour), tick(false)},
			want:  "kernel:10/1/0 kernel:10/2/1",
		},
		{
			name:  "a late external record is counted once, one interval late",
			st:    patched,
			set:   settings{Interval: time.Minute, SampleInterval: time.Second, RecordWait: 0, Method: conf.MethodAuto},
			steps: []step{acks(5, 1, 1), tick(true), external(30, -time.Second), own(5), advance(time.Minute), tick(true), advance(time.Minute), tick(true)},
			want:  "kernel:5/1/0 kernel:30/2/1 kernel:1/1/0",
		},
		{
			name:  "sampling can raise the kernel peak only when it saw more",
			st:    patched,
			steps: []step{acks(4, 9), samples(2, 7, 3), tick(false), samples(8), tick(false)},
			want:  "kernel:7/1/0 kernel:9/1/0",
		},
		{
			name:  "failed reset reports the sampled peak, the next reset carries the rest",
			st:    patched,
			steps: []step{failAck(syscall.ENOBUFS), acks(40), samples(12, 3), tick(false), tick(false)},
			want:  "sampled:12/0/0 kernel:40/1/0",
		},
		{
			name:  "unpatched kernel samples and never resets",
			st:    unpatched,
			steps: []step{func(f *fixture) { f.k.noReset = true }, samples(3, 17, 2), tick(true), samples(5), tick(true)},
			want:  "sampled:17/0/0 sampled:5/0/0",
		},
		{
			name:  "method sampled on a patched kernel never resets; external resets are counted only",
			st:    patched,
			set:   settings{Interval: time.Minute, SampleInterval: time.Second, RecordWait: time.Second, Method: conf.MethodSampled},
			steps: []step{func(f *fixture) { f.k.noReset = true }, samples(4), external(99, 0), tick(true)},
			want:  "sampled:4/1/1",
		},
		{
			name: "resets from another node are ignored once ours show our node",
			st:   patched,
			steps: []step{acks(3, 2), tick(true),
				func(f *fixture) {
					r := f.record(3, -time.Millisecond)
					r.Node = "here"
					f.loop.resetRecord(ctx, r)
				},
				func(f *fixture) {
					r := f.record(500, 0)
					r.Node = "elsewhere"
					f.loop.resetRecord(ctx, r)
				},
				advance(time.Minute), tick(false)},
			want: "kernel:3/1/0 kernel:2/1/0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := tt.set
			if set.Interval == 0 {
				set = kernelSet
			}
			f := newFixture(t, set, tt.st)
			// newLoop took the initial status as a sample; start clean.
			f.loop.cur = openInterval{start: f.loop.cur.start}
			for _, s := range tt.steps {
				s(f)
			}
			if got := f.peaks(); got != tt.want {
				t.Errorf("intervals\n got %s\nwant %s", got, tt.want)
			}
			if f.loop.held != nil {
				t.Errorf("a report is still held: %+v", f.loop.held.iv)
			}
		})
	}
}

func TestLoopFigures(t *testing.T) {
	st := auditclient.Status{Enabled: 1, BacklogLimit: 200, Lost: 7, Backlog: 0, BacklogWaitTimeActual: 500, HasMaxDepth: true}
	f := newFixture(t, kernelSet, st)
	f.loop.cur = openInterval{start: f.loop.cur.start}
	f.k.backlogs = []uint32{10, 20, 30, 4}
	f.sample()
	f.sample()
	f.sample()
	f.k.acks = []ack{{old: 50}}
	f.stats.types[typeIndex["SYSCALL"]].Add(5)
	f.stats.malformed.Add(2)
	f.stats.dropped.Add(6)
	f.out.stats = emit.Stats{Failed: 3, Dropped: 1}
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
		{"records", iv.Plugin.Records, uint64(5)},
		{"types", fmt.Sprint(iv.Plugin.Types), "[{SYSCALL 5}]"},
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
	f.k.acks = []ack{{old: 1}}
	f.tick(false)
	if got := f.out.got[1].Start; !got.Equal(iv.End) {
		t.Errorf("second interval starts %v, want %v", got, iv.End)
	}
}

func TestResolveMethod(t *testing.T) {
	tests := []struct {
		configured string
		st         auditclient.Status
		want       emit.Method
		wantErr    bool
	}{
		{conf.MethodAuto, patched, emit.MethodKernel, false},
		{conf.MethodAuto, unpatched, emit.MethodSampled, false},
		{conf.MethodKernel, patched, emit.MethodKernel, false},
		{conf.MethodKernel, unpatched, "", true},
		{conf.MethodSampled, patched, emit.MethodSampled, false},
		{conf.MethodSampled, unpatched, emit.MethodSampled, false},
	}
	for _, tt := range tests {
		got, err := resolveMethod(tt.configured, tt.st)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("resolveMethod(%s, HasMaxDepth=%v) = %q, %v", tt.configured, tt.st.HasMaxDepth, got, err)
		}
	}
}

func TestLoopFinishReleasesHeldAndFlushes(t *testing.T) {
	ctx := context.Background()
	f := newWorkerFixture(t, kernelSet, patched)
	f.loop.cur = openInterval{start: f.loop.cur.start}
	f.k.acks = []ack{{old: 8}, {old: 2}}
	f.loop.requestTick(ctx, true)
	f.loop.reply(ctx, <-f.loop.replies)
	if len(f.out.got) != 0 {
		t.Fatalf("report not held")
	}
	f.loop.finish(ctx)
	if got := f.peaks(); got != "kernel:8/1/0 kernel:2/1/0" {
		t.Errorf("intervals %s, want the held one then the partial one", got)
	}
}

func TestLoopApply(t *testing.T) {
	f := newFixture(t, kernelSet, unpatched)
	next := &recorder{}
	if _, err := f.loop.apply(settings{Interval: time.Minute, SampleInterval: time.Second, Method: conf.MethodKernel}, next); err == nil {
		t.Errorf("apply(method = kernel) on an unpatched kernel succeeded")
	}
	if f.loop.out != f.out {
		t.Errorf("a failed apply replaced the emitters")
	}
	old, err := f.loop.apply(settings{Interval: 2 * time.Minute, SampleInterval: time.Second, Method: conf.MethodSampled}, next)
	if err != nil || old != f.out || f.loop.out != next || f.loop.set.Interval != 2*time.Minute {
		t.Errorf("apply: old %v err %v; loop out %v interval %v", old, err, f.loop.out, f.loop.set.Interval)
	}
}

func TestTicksToDuration(t *testing.T) {
	tests := []struct {
		ticks, hz uint32
		want      time.Duration
	}{
		{1000, 1000, time.Second},
		{250, 250, time.Second},
		{1, 300, time.Second / 300},
		{4294967295, 100, 4294967295 * 10 * time.Millisecond},
		{5, 0, 0},
	}
	for _, tt := range tests {
		if got := ticksToDuration(tt.ticks, tt.hz); got != tt.want {
			t.Errorf("ticksToDuration(%d, %d) = %v, want %v", tt.ticks, tt.hz, got, tt.want)
		}
	}
}
