package peak

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/internal/logtest"
	"github.com/audisp-backlog/audisp-backlog/plugin/peak/peaktest"
	"github.com/audisp-backlog/audisp-backlog/plugin/records"
)

// newProbeFixture is a fixture on a kernel without backlog_max_depth,
// with the eBPF probe attached, logging to the returned buffer.
func newProbeFixture(t *testing.T, set Settings, worker bool) (*fixture, *peaktest.Probe, *logtest.Buffer) {
	t.Helper()
	logger, logs := logtest.New()
	p := &peaktest.Probe{}
	f := &fixture{
		t:      t,
		k:      peaktest.New(t, unpatched),
		out:    &recorder{},
		clock:  &clock{t: t0, step: time.Millisecond},
		stream: new(records.Counts),
	}
	f.k.NoReset = true // nobody resets the mark: there is none
	l, err := New(Config{
		Kernel: f.k, Probe: &Probe{Probe: p, LostByCause: true}, Out: f.out, Stream: f.stream,
		Logger: logger, Now: f.clock.now, HZ: 250, Settings: set, Status: unpatched,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.loop = l
	l.working = !worker
	l.acct.cur = openInterval{start: l.acct.cur.start} // New took the status as a sample
	return f, p, logs
}

// snapshot is a probe snapshot of records that found the depths given.
func snapshot(depths ...uint32) probe.Snapshot {
	var s probe.Snapshot
	for _, d := range depths {
		s.MaxDepth = max(s.MaxDepth, d)
		s.Enqueued++
		s.DepthSum += uint64(d)
		k := 0
		for d > 1 {
			d >>= 1
			k++
		}
		s.Histogram[k]++
	}
	return s
}

// feed has the stdin reader count n records of type typ, each its own
// event.
func (f *fixture) feed(typ string, n int) {
	f.t.Helper()
	stream := strings.Repeat("type="+typ+" msg=audit(1.000:1): x\n", n)
	if err := records.Read(strings.NewReader(stream), f.stream, make(chan records.Reset)); err != nil {
		f.t.Fatal(err)
	}
}

// TestLoopProbe: under method = auto on a kernel without the mark, the
// probe is the source: each interval's peak is the probe's maximum (or a
// sample's, when higher), its histogram and lost causes add up across
// intervals, the retry and hold queues are absent when not measured, and
// the kernel's mark is never reset.
func TestLoopProbe(t *testing.T) {
	f, p, logs := newProbeFixture(t, kernelSet, false)
	if f.loop.method != emit.MethodEBPF {
		t.Fatalf("method %s, want ebpf", f.loop.method)
	}
	if got := f.loop.sampleEvery(); got != kernelSet.SampleInterval {
		t.Errorf("sample interval %v, want the configured %v", got, kernelSet.SampleInterval)
	}
	first := snapshot(1, 2, 3, 40, 2)
	first.Lost[probe.LostBacklogLimit] = 2
	second := snapshot(5)
	second.Lost[probe.LostBacklogLimit] = 1
	second.Lost[probe.LostRateLimit] = 4
	p.Queue(first, second)
	f.k.Backlogs = []uint32{3, 9}
	f.sample()
	f.tick(true)                // nothing to hold for: no reset record comes back
	f.k.Backlogs = []uint32{12} // a sample above the probe's 5: taken while the probe did not watch yet
	f.sample()
	f.tick(true)
	if got := f.peaks(); got != "ebpf:40/0/0 ebpf:12/0/0" {
		t.Fatalf("intervals %s, want ebpf:40/0/0 ebpf:12/0/0", got)
	}
	if n := f.k.Resets(); n != 0 {
		t.Errorf("%d resets of the kernel's mark, want 0", n)
	}
	iv := f.out.got[1]
	if iv.Probe == nil {
		t.Fatal("second interval without the probe's figures")
	}
	h := iv.Probe.Depths
	if h.Count != 6 || h.Sum != 1+2+3+40+2+5 || h.Counts[0] != 1 || h.Counts[1] != 3 || h.Counts[2] != 1 || h.Counts[5] != 1 {
		t.Errorf("cumulative histogram %+v, want 6 depths: 1 | 2 3 2 | 5 | 40", h)
	}
	if iv.Probe.MeanDepth != 5 {
		t.Errorf("mean depth of the second interval %v, want 5 (its one record)", iv.Probe.MeanDepth)
	}
	if iv.Probe.RetryMaxDepth.OK || iv.Probe.HoldMaxDepth.OK {
		t.Errorf("retry/hold queues reported although not measured: %+v %+v", iv.Probe.RetryMaxDepth, iv.Probe.HoldMaxDepth)
	}
	lost := map[string]uint64{}
	for _, c := range iv.Probe.Lost {
		lost[c.Cause] = c.Count
	}
	if len(iv.Probe.Lost) != int(probe.LostCauses) || lost["backlog_limit"] != 3 || lost["rate_limit"] != 4 {
		t.Errorf("lost by cause %v, want backlog_limit 3, rate_limit 4 of %d causes", iv.Probe.Lost, probe.LostCauses)
	}
	if !strings.Contains(logs.String(), "eBPF probe") {
		t.Errorf("the log does not say the probe measures:\n%s", logs)
	}
}

// TestLoopProbeBlind: a probe that sees no record queued while auditd
// delivers the kernel's records is not watching this kernel's queue;
// after blindLimit such intervals the loop samples instead and says so.
// auditd's own records, which never pass through the kernel, do not count.
func TestLoopProbeBlind(t *testing.T) {
	f, _, logs := newProbeFixture(t, kernelSet, false)
	f.loop.probe.RetryHold = true // kauditd's retry and hold queues watched: both empty
	f.loop.queuedBefore = 0       // an empty backlog, read at the start
	for range blindLimit {
		f.feed("DAEMON_START", 2)
		f.tick(false)
	}
	if f.loop.method != emit.MethodEBPF {
		t.Fatalf("auditd's own records made the loop give up the probe")
	}
	for i := range blindLimit {
		f.feed("SYSCALL", 3)
		f.tick(false)
		if want := i < blindLimit-1; (f.loop.method == emit.MethodEBPF) != want {
			t.Fatalf("after %d blind intervals: method %s", i+1, f.loop.method)
		}
	}
	if f.loop.sampleEvery() != kernelSet.SampleInterval || f.loop.source != nil {
		t.Errorf("fell back, but source %v", f.loop.source)
	}
	if !strings.Contains(logs.String(), "not watching this kernel's audit queue") {
		t.Errorf("the fall back is not logged:\n%s", logs)
	}
	f.k.Backlogs = []uint32{6}
	f.sample()
	f.tick(false)
	got := f.peaks()
	if !strings.HasSuffix(got, "sampled:6/0/0") {
		t.Errorf("intervals %s, want the last one sampled", got)
	}
}

// TestLoopProbeDrain: after a flood auditd drains a full backlog for
// several intervals while nothing new is queued. Those records were queued
// before the intervals, so the probe, which saw none queued in them, is
// not blind; once auditd delivers more than the queues held, it is.
func TestLoopProbeDrain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retryHold bool // the probe watches kauditd's retry and hold queues
		snap      probe.Snapshot
		backlog   uint32 // as each interval starts
		delivered uint64 // per interval
		blind     bool
	}{
		{"full backlog drained", true, probe.Snapshot{}, 8192, 1412, false},
		{"retry queue drained", true, probe.Snapshot{RetryMaxDepth: 3000}, 0, 1412, false},
		{"unwatched retry and hold queues, up to the limit each", false, probe.Snapshot{}, 0, 2 * 8192, false},
		{"more than the backlog held", true, probe.Snapshot{}, 100, 101, true},
		{"more than the limit allows", false, probe.Snapshot{}, 0, 2*8192 + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, p, _ := newProbeFixture(t, kernelSet, false)
			f.loop.probe.RetryHold = tc.retryHold
			f.k.Backlogs = []uint32{tc.backlog}
			f.loop.last.Backlog = tc.backlog
			f.loop.queuedBefore = f.loop.queuedAtStart(&tc.snap)
			for range blindLimit {
				p.Queue(tc.snap)
				f.feed("USER", int(tc.delivered))
				f.tick(false)
			}
			if blind := f.loop.method != emit.MethodEBPF; blind != tc.blind {
				t.Errorf("backlog %d, %d delivered per interval, %+v: fell back to sampling %v, want %v",
					tc.backlog, tc.delivered, tc.snap, blind, tc.blind)
			}
		})
	}
}

// TestLoopProbeAutoSampleInterval: sample_interval = auto samples once a
// second when the probe gives the peak, ten times a second once the loop
// falls back to sampling.
func TestLoopProbeAutoSampleInterval(t *testing.T) {
	set := Settings{Interval: time.Minute, Method: conf.MethodAuto}
	f, _, _ := newProbeFixture(t, set, false)
	if got := f.loop.sampleEvery(); got != SampleForMean {
		t.Errorf("with the probe: %v, want %v", got, SampleForMean)
	}
	f.loop.method, f.loop.source = emit.MethodSampled, nil
	if got := f.loop.sampleEvery(); got != SampleForPeak {
		t.Errorf("sampling: %v, want %v", got, SampleForPeak)
	}
}

// TestLoopProbeFinish: the probe goes with the process, so on shutdown
// its last reading reports the partial interval; the worker then closes
// it with the kernel client.
func TestLoopProbeFinish(t *testing.T) {
	ctx := context.Background()
	f, p, _ := newProbeFixture(t, kernelSet, true)
	p.Queue(snapshot(4), snapshot(9, 11))
	f.loop.requestTick(ctx, true)
	f.loop.reply(ctx, waitFor(t, f.loop.replies, "the tick"))
	f.loop.Finish(ctx, time.Second)
	if got := f.peaks(); got != "ebpf:4/0/0 ebpf:11/0/0" {
		t.Errorf("intervals %s, want the last reading reported", got)
	}
	waitFor(t, f.k.Closed(), "the kernel client closed")
	if !p.Closed() {
		t.Error("the probe is not closed with the kernel client")
	}
}

// TestLoopProbeApply: a reload cannot switch to the probe when it is not
// attached; when it is, switching back to it starts its interval afresh,
// so that what it counted while unused is not reported.
func TestLoopProbeApply(t *testing.T) {
	f := newFixture(t, kernelSet, unpatched)
	ebpf := Settings{Interval: time.Minute, Method: conf.MethodEBPF}
	if _, err := f.loop.apply(ebpf, f.out); err == nil {
		t.Error("apply(method = ebpf) without a probe succeeded")
	}

	g, p, _ := newProbeFixture(t, kernelSet, false)
	sampled := Settings{Interval: time.Minute, Method: conf.MethodSampled}
	if _, err := g.loop.apply(sampled, g.out); err != nil || g.loop.method != emit.MethodSampled {
		t.Fatalf("apply(sampled): %v, method %s", err, g.loop.method)
	}
	p.Queue(snapshot(500), snapshot(7)) // 500 while unused
	if _, err := g.loop.apply(ebpf, g.out); err != nil || g.loop.method != emit.MethodEBPF {
		t.Fatalf("apply(ebpf): %v, method %s", err, g.loop.method)
	}
	g.tick(false)
	if got := g.peaks(); got != "ebpf:7/0/0" {
		t.Errorf("intervals %s, want ebpf:7/0/0", got)
	}
}

// TestProbeSourceReading: the probe's reading is its maximum, with the
// whole snapshot, and resets no mark.
func TestProbeSourceReading(t *testing.T) {
	p := &peaktest.Probe{}
	s := snapshot(3, 8)
	p.Queue(s)
	r, err := Probe{Probe: p}.Take()
	if err != nil || r.Peak != 8 || r.Method != emit.MethodEBPF || r.Mark || r.Probe == nil || *r.Probe != s {
		t.Errorf("Take = %+v, %v", r, err)
	}
}
