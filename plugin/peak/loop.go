// Package peak measures the peak depth of the kernel's audit queue in each
// reporting interval. An [Accountant] counts every peak exactly once, from
// the readings of an exact [Source] (the kernel's high-water mark), the
// samples of the backlog and the reset records other tools leave in the
// audit trail; the [Loop] feeds it: it owns the interval and sample
// tickers, makes the kernel calls on a worker goroutine of its own, and
// hands each finished interval to the emitters.
package peak

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
	"github.com/audisp-backlog/audisp-backlog/auditdstate"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/plugin/records"
	"github.com/audisp-backlog/audisp-backlog/plugin/sizing"
)

// Settings are the parts of the configuration the loop runs on.
type Settings struct {
	Interval, RecordWait time.Duration
	// SampleInterval is how often the backlog is sampled; 0 is auto
	// (SampleForPeak or SampleForMean).
	SampleInterval time.Duration
	Method         string // conf.MethodAuto, MethodKernel, MethodEBPF or MethodSampled
}

// The sample intervals of sample_interval = auto. Sampling costs a netlink
// round trip, which the kernel answers from a thread it spawns
// (BENCHMARKS.md): where an exact source gives the peak, the samples only
// feed the interval's mean, and one a second keeps it meaningful at a
// tenth of the cost.
const (
	SampleForPeak = 100 * time.Millisecond // sampling measures the peak
	SampleForMean = time.Second            // an exact source does
)

// sampleEvery is the sample interval in force.
func (l *Loop) sampleEvery() time.Duration {
	switch {
	case l.set.SampleInterval > 0:
		return l.set.SampleInterval
	case l.source == nil:
		return SampleForPeak
	}
	return min(SampleForMean, l.set.Interval/2)
}

// Emitter is where finished intervals go. emit.Set is the real one: Emit
// only queues, so a dead collector never holds up the loop.
type Emitter interface {
	Emit(ctx context.Context, iv emit.Interval) error
	Close(ctx context.Context) error
	Stats() emit.Stats
}

// Config is what a Loop is made of.
type Config struct {
	// Kernel is read for samples and for the figures of each report. The
	// loop takes it over: its kernel worker closes it.
	Kernel Kernel
	// Mark is the kernel's high-water mark, nil when the kernel has none
	// (its status lacks backlog_max_depth).
	Mark Source
	// Probe is the eBPF probe of the queue, nil when it is not attached.
	// The loop takes it over: its kernel worker closes it.
	Probe *Probe
	// Out takes the finished intervals.
	Out Emitter
	// Stream is the stdin reader's counters, reported with each interval.
	Stream *records.Counts
	Logger *slog.Logger
	// Now is the wall clock (time.Now; tests give their own).
	Now func() time.Time
	// HZ is the kernel's tick rate, to convert backlog_wait_time_actual.
	HZ       uint32
	Settings Settings
	// Status is a status just read from the kernel: the first sample, and
	// the kernel figures until the next status.
	Status auditclient.Status
	// State reads auditd's state report at each interval's end; nil for
	// none.
	State *auditdstate.Reader
}

// Loop runs the reporting intervals. Run, and Finish after it, run on one
// goroutine, which owns the interval state, the kernel client and the
// emitters; the kernel calls run on a worker goroutine, and talk to the
// loop only through calls and replies, so the loop never waits on the
// kernel. Apply reaches the loop from another goroutine, on a channel.
type Loop struct {
	kernel Kernel
	mark   Source // the kernel's mark, nil when it has none
	probe  *Probe // the eBPF probe, nil when not attached
	source Source // the exact source in force, nil when sampling
	out    Emitter
	stream *records.Counts
	state  *auditdstate.Reader
	logger *slog.Logger
	now    func() time.Time
	hz     uint32

	set    Settings
	method emit.Method
	acct   *Accountant

	counterStart         time.Time
	last                 auditclient.Status
	ownResets, extResets uint64 // the reports' running totals
	resetsFailed         uint64

	// The eBPF probe's cumulative figures, and the check that it sees
	// the records auditd delivers (blindIntervals).
	probeTotals    probeTotals
	kernelRecords  uint64 // records from the kernel read by the end of the last interval reported
	queuedBefore   uint64 // records that may wait in the kernel's queues as the interval starts (queuedAtStart)
	blindIntervals int    // consecutive probe intervals that saw no record queued while the kernel's records came

	// Sizing advice: from the highest peak reported and the records
	// lost since the start.
	advisor    *sizing.Advisor
	peakMax    uint32
	lostBefore uint32 // the kernel's lost counter at the start, or at its last reset

	// The kernel worker (kernelWorker) makes the kernel calls, one at a
	// time, so that the loop never blocks on the kernel.
	calls          chan kernelCall  // to the worker, buffered 1; closed by stopKernel
	replies        chan kernelReply // from the worker, buffered 1
	working        bool             // the worker has started
	inFlight       *kernelCall      // the call the worker is making, or nil
	tickDue        bool             // an interval ended while a call was in flight
	tickHold       bool             // and whether its report is to be held
	samplesSkipped uint64           // samples skipped while a call was held past a sample interval
	slowSkips      uint64           // samples due since the call in flight started
	slowLogged     bool             // the call in flight was logged as slow
	kernelFault    string           // last kernel error, logged once per change
	emitFault      string
	stateFault     string // why auditd's state report is not used, logged once per change

	changes chan change   // from Apply
	done    chan struct{} // closed when Run returns
}

// New makes a loop whose first interval starts now. c.Status decides the
// method under `method = auto`.
func New(c Config) (*Loop, error) {
	m, err := Resolve(c.Settings.Method, c.Status, c.Probe != nil)
	if err != nil {
		return nil, err
	}
	t := c.Now()
	l := &Loop{
		kernel: c.Kernel, mark: c.Mark, probe: c.Probe, out: c.Out, stream: c.Stream, state: c.State, logger: c.Logger, now: c.Now, hz: c.HZ,
		set: c.Settings, method: m,
		acct:         NewAccountant(c.Logger, t, m, c.Settings.RecordWait),
		counterStart: t,
		last:         c.Status,
		calls:        make(chan kernelCall, 1),
		replies:      make(chan kernelReply, 1),
		changes:      make(chan change),
		done:         make(chan struct{}),
		advisor:      sizing.NewAdvisor(c.Logger),
		lostBefore:   c.Status.Lost,
	}
	l.source = l.sourceFor(m)
	l.queuedBefore = l.queuedAtStart(nil)
	l.acct.Sample(c.Status.Backlog)
	l.logMethod(c.Status)
	if c.Status.Enabled == 0 {
		l.logger.Warn(Disabled)
	}
	return l, nil
}

// Disabled says what a kernel with auditing disabled means for the
// figures.
const Disabled = "auditing is disabled (enabled=0): the kernel queues no records, so every peak is 0 until it is enabled (auditctl -e 1, or -e 1 in /etc/audit/rules.d)"

// newStatus keeps a status just read, and logs when auditing is turned
// off or on.
func (l *Loop) newStatus(st auditclient.Status) {
	switch {
	case st.Enabled == 0 && l.last.Enabled != 0:
		l.logger.Warn(Disabled)
	case st.Enabled != 0 && l.last.Enabled == 0:
		l.logger.Info("auditing is enabled again", "enabled", st.Enabled)
	}
	l.last = st
}

// sourceFor returns the exact source of method m, nil for sampling.
func (l *Loop) sourceFor(m emit.Method) Source {
	switch {
	case m == emit.MethodKernel:
		return l.mark
	case m == emit.MethodEBPF && l.probe != nil:
		return *l.probe
	}
	return nil
}

func (l *Loop) logMethod(st auditclient.Status) {
	switch {
	case l.method == emit.MethodKernel:
		l.logger.Info("measuring with the kernel's backlog high-water mark", "method", l.method, "interval", l.set.Interval, "sample_interval", l.sampleEvery())
	case l.method == emit.MethodEBPF && st.HasMaxDepth:
		l.logger.Info("measuring with the eBPF probe of the kernel's audit queue, as configured (the kernel's backlog_max_depth is not used)", "method", l.method, "interval", l.set.Interval, "sample_interval", l.sampleEvery())
	case l.method == emit.MethodEBPF:
		l.logger.Info("measuring with the eBPF probe of the kernel's audit queue (this kernel has no backlog_max_depth)", "method", l.method, "interval", l.set.Interval, "sample_interval", l.sampleEvery())
	case st.HasMaxDepth:
		l.logger.Info("sampling the backlog, as configured (the kernel has backlog_max_depth, but method = sampled)", "method", l.method, "sample_interval", l.sampleEvery())
	default:
		l.logger.Warn("this kernel has no backlog_max_depth high-water mark; sampling the backlog instead, so bursts shorter than sample_interval can be missed",
			"method", l.method, "sample_interval", l.sampleEvery())
	}
}

// callKind says what a kernel call is for.
type callKind int

const (
	callSample callKind = iota // read the status for a sample
	callTick                   // close the interval: read the source, then the status
)

// kernelCall is one round trip to the kernel, made by the kernel worker.
type kernelCall struct {
	kind   callKind
	source Source // read before the status; nil for none
	hold   bool   // hold the interval's report until the reset's own record arrives
}

// kernelReply is what a kernelCall brought back.
type kernelReply struct {
	call          kernelCall
	reading       Reading
	readErr       error
	before, after time.Time // wall clock around the reading; without one, both when the call started
	status        auditclient.Status
	statusErr     error
}

// callKernel makes c. It runs on the kernel worker, never on the loop
// goroutine: while the audit backlog is over its limit the kernel makes
// every netlink sender sleep inside the send, up to backlog_wait_time (60 s
// by default) and uninterruptibly, and that is when the loop has most to do.
func callKernel(k Kernel, c kernelCall, now func() time.Time) kernelReply {
	r := kernelReply{call: c, before: now()}
	r.after = r.before
	if c.source != nil {
		r.reading, r.readErr = c.source.Take()
		r.after = now()
	}
	r.status, r.statusErr = k.Status()
	return r
}

// kernelWorker makes the loop's kernel calls, one at a time, until calls is
// closed (by stopKernel) and the call in flight, if any, has returned. It
// owns the kernel client from its first call and closes it when it ends.
// On shutdown nobody waits for it past the shutdown budget; a call stuck
// in the kernel ends with the process.
func (l *Loop) kernelWorker(calls <-chan kernelCall) {
	for c := range calls {
		l.replies <- callKernel(l.kernel, c, l.now)
	}
	l.closeKernel()
}

// closeKernel closes the peak sources before the kernel client, so that
// once the client is closed everything the worker owned is.
func (l *Loop) closeKernel() {
	sources := l.closeSources()
	if err := errors.Join(sources, l.kernel.Close()); err != nil {
		l.logger.Warn("closing the kernel client", "err", err)
	}
}

func (l *Loop) closeSources() error {
	var errs []error
	if l.mark != nil {
		errs = append(errs, l.mark.Close())
	}
	if l.probe != nil {
		errs = append(errs, l.probe.Close())
	}
	return errors.Join(errs...)
}

// startCall hands c to the kernel worker, starting the worker on first use.
// There is no call in flight, so the worker has taken the previous one and
// the send does not block.
func (l *Loop) startCall(c kernelCall) {
	if !l.working {
		l.working = true
		go l.kernelWorker(l.calls)
	}
	if c.source != nil && l.method == emit.MethodKernel {
		l.acct.ResetStarted()
	}
	l.inFlight = &c
	l.calls <- c
}

// stopKernel ends the kernel worker once its call in flight returns, or
// closes the kernel client at once if the worker never started.
func (l *Loop) stopKernel() {
	if l.calls == nil {
		return
	}
	if l.working {
		close(l.calls)
	} else {
		l.closeKernel()
	}
	l.calls = nil
}

// requestSample starts a status read for a sample. A sample due while a
// call is in flight is not taken. The first such sample of a call is an
// ordinary coincidence (the interval's end and a sample fall on the same
// beat) and costs nothing: the call's own status is as fresh. From the
// second on, the call has outlived a whole sample interval: those samples
// are counted as skipped, and the call is logged as slow, once.
func (l *Loop) requestSample() {
	if l.inFlight == nil {
		l.startCall(kernelCall{kind: callSample})
		return
	}
	l.slowSkips++
	if l.slowSkips < 2 {
		return
	}
	l.samplesSkipped++
	if !l.slowLogged {
		l.slowLogged = true
		l.logger.Warn("an audit netlink call has taken longer than sample_interval: samples are skipped and the interval's end waits until it returns (the kernel holds audit senders while its backlog is over its limit; a busy machine delays the reply too)",
			"sample_interval", l.sampleEvery())
	}
}

// requestTick starts closing the interval in progress: with an exact
// source it reads the source, whose peak is the interval's. The interval
// is reported when the reply arrives. An interval that ends while a call
// is in flight ends when that call returns; several such ends make one.
func (l *Loop) requestTick(ctx context.Context, hold bool) {
	if l.inFlight != nil {
		l.tickDue, l.tickHold = true, hold
		return
	}
	// A report still held: its record did not come within the interval.
	l.acct.Release()
	l.emitReady(ctx)
	l.startCall(kernelCall{kind: callTick, source: l.source, hold: hold})
}

// reply takes the kernel worker's answer to the call in flight.
func (l *Loop) reply(ctx context.Context, r kernelReply) {
	l.inFlight = nil
	if l.slowLogged {
		args := []any{"samples_skipped", l.slowSkips - 1, "samples_skipped_total", l.samplesSkipped}
		if r.statusErr == nil {
			args = append(args, "backlog", r.status.Backlog, "backlog_limit", r.status.BacklogLimit)
		}
		l.logger.Info("the slow audit netlink call returned", args...)
	}
	l.slowSkips, l.slowLogged = 0, false
	switch r.call.kind {
	case callSample:
		l.sampled(r)
	case callTick:
		l.ticked(r)
	}
	l.emitReady(ctx)
	if l.tickDue {
		l.tickDue = false
		l.requestTick(ctx, l.tickHold)
	}
}

// sampled takes a sample's status: the backlog now, for the mean and the
// sampled peak, and the limit and counters for the report.
func (l *Loop) sampled(r kernelReply) {
	if r.statusErr != nil {
		l.resetsFailed++
		l.kernelFailed(r.statusErr)
		return
	}
	l.kernelOK()
	l.newStatus(r.status)
	l.acct.Sample(r.status.Backlog)
}

// ticked ends the interval in progress with the reply of its tick call.
func (l *Loop) ticked(r kernelReply) {
	e := Ending{Before: r.before, After: r.after, Hold: r.call.hold}
	if r.call.source != nil {
		if r.readErr != nil {
			l.resetsFailed++
			l.kernelFailed(r.readErr)
			e.Err = r.readErr
		} else {
			l.kernelOK()
			e.Reading = &r.reading
		}
	}
	if r.statusErr == nil {
		l.newStatus(r.status)
	} else {
		l.resetsFailed++
		l.kernelFailed(r.statusErr)
	}
	e.Size = l.last.Backlog
	l.acct.End(e)
}

// resetRecord takes a backlog_max_depth CONFIG_CHANGE record from stdin.
func (l *Loop) resetRecord(ctx context.Context, rec records.Reset) {
	l.acct.Record(rec)
	l.emitReady(ctx)
}

// holdExpired reports a held interval whose own record did not come back
// in time.
func (l *Loop) holdExpired(ctx context.Context) {
	l.acct.Expire()
	l.emitReady(ctx)
}

// emitReady emits the intervals the accountant finished.
func (l *Loop) emitReady(ctx context.Context) {
	for _, r := range l.acct.Take() {
		l.emit(ctx, r)
	}
}

// emit completes an interval with the latest kernel figures and the
// counters, and hands it to the emitters.
func (l *Loop) emit(ctx context.Context, r Report) {
	l.ownResets += uint64(r.OwnResets)
	l.extResets += uint64(r.ExternalResets)
	iv := emit.Interval{
		Start: r.Start, End: r.End, CounterStart: l.counterStart,
		Method: r.Method, Peak: r.Peak, Size: r.Size, Mean: r.Mean, Samples: r.Samples,
		Limit:     l.last.BacklogLimit,
		Lost:      uint64(l.last.Lost),
		WaitTime:  auditclient.Ticks(l.last.BacklogWaitTimeActual, l.hz),
		OwnResets: l.ownResets, ExternalResets: l.extResets,
	}
	if iv.Limit > 0 {
		iv.Utilization = float64(iv.Peak) / float64(iv.Limit)
	}
	iv.RecommendedLimit = l.advise(iv.Peak)
	es := l.out.Stats()
	iv.Plugin = emit.Counters{
		Records:      l.stream.Records(),
		Types:        typeCounts(l.stream.ByType()),
		Malformed:    l.stream.Malformed(),
		ResetsFailed: l.resetsFailed,
		EmitsFailed:  es.Failed,
		EmitsDropped: es.Dropped,

		SamplesSkipped:      l.samplesSkipped,
		ResetRecordsDropped: l.stream.Dropped() + l.acct.Dropped(),
		Events:              events(l.stream.Events()),
	}
	iv.Auditd = l.auditdState(iv.End)
	if r.Probe != nil {
		iv.Probe = l.probeFigures(r.Probe)
	}
	l.checkProbeSees(r)
	if err := l.out.Emit(ctx, iv); err != nil {
		l.setFault(&l.emitFault, fmt.Sprintf("emit interval: %v", err))
		return
	}
	l.setFault(&l.emitFault, "")
}

// probeTotals are the eBPF probe's figures added up since the start.
type probeTotals struct {
	depths [probe.HistogramBuckets]uint64
	count  uint64
	sum    uint64
	lost   [probe.LostCauses]uint64
}

// probeFigures adds an interval's probe snapshot to the totals and
// returns the interval's figures.
func (l *Loop) probeFigures(s *probe.Snapshot) *emit.ProbeFigures {
	t := &l.probeTotals
	for k, n := range s.Histogram {
		t.depths[k] += n
	}
	t.count += s.Enqueued
	t.sum += s.DepthSum
	for c, n := range s.Lost {
		t.lost[c] += n
	}
	f := &emit.ProbeFigures{
		Depths:        emit.DepthHistogram{Counts: append([]uint64(nil), t.depths[:]...), Count: t.count, Sum: t.sum},
		MeanDepth:     s.MeanDepth(),
		RetryMaxDepth: emit.Figure{Value: uint64(s.RetryMaxDepth), OK: l.probe.RetryHold},
		HoldMaxDepth:  emit.Figure{Value: uint64(s.HoldMaxDepth), OK: l.probe.RetryHold},
	}
	if l.probe.LostByCause {
		f.Lost = make([]emit.CauseCount, probe.LostCauses)
		for c := range f.Lost {
			f.Lost[c] = emit.CauseCount{Cause: probe.LostCause(c).String(), Count: t.lost[c]}
		}
	}
	return f
}

// blindLimit is how many intervals in a row the probe may see no record
// queued while auditd delivers more of the kernel's records than its
// queues held as the interval started, before the loop concludes that it
// does not watch this kernel's queue.
const blindLimit = 3

// checkProbeSees watches for a probe that is attached but sees nothing:
// auditd delivers records from the kernel, yet the probe counts none
// queued. Records queued before the interval, in the backlog or in
// kauditd's retry and hold queues, are delivered without being queued
// again: after a flood auditd drains a full backlog for seconds while
// the senders have stopped. So an interval counts only when auditd
// delivered more records than those queues held as it started: the
// others went through the queue the probe watches within the interval.
// After blindLimit such intervals in a row the probe is not watching it
// (a kernel whose queueing differs from the one the probe was written
// for), and the loop falls back to sampling rather than report peaks of 0.
func (l *Loop) checkProbeSees(r Report) {
	n := l.stream.Records()
	for _, t := range daemonTypes {
		n -= min(n, l.stream.Type(t)) // auditd's own records never enter the kernel's queue
	}
	delivered := n - min(n, l.kernelRecords)
	l.kernelRecords = n
	before := l.queuedBefore
	l.queuedBefore = l.queuedAtStart(r.Probe)
	if r.Method != emit.MethodEBPF || r.Probe == nil {
		l.blindIntervals = 0
		return
	}
	if r.Probe.Enqueued > 0 || delivered <= before {
		l.blindIntervals = 0
		return
	}
	l.blindIntervals++
	if l.blindIntervals < blindLimit || l.method != emit.MethodEBPF {
		return
	}
	l.logger.Error("the eBPF probe saw no record queued while auditd delivered the kernel's records: it is not watching this kernel's audit queue; sampling the backlog instead (restart the plugin to try the probe again, or set method = sampled)",
		"intervals", l.blindIntervals, "records", delivered)
	l.method = emit.MethodSampled
	l.source = nil
	l.acct.SetMethod(l.method)
}

// queuedAtStart bounds the records waiting in the kernel as the next
// interval starts: the backlog last read, and kauditd's retry and hold
// queues, from the probe's highest lengths in the interval where it
// watches them (snap, which may be nil), else up to the backlog limit
// each (kauditd keeps neither above it).
func (l *Loop) queuedAtStart(snap *probe.Snapshot) uint64 {
	n := uint64(l.last.Backlog)
	if snap != nil && l.probe != nil && l.probe.RetryHold {
		return n + uint64(snap.RetryMaxDepth) + uint64(snap.HoldMaxDepth)
	}
	return n + 2*uint64(l.last.BacklogLimit)
}

// daemonTypes are the records auditd writes itself, which never pass
// through the kernel's queue.
var daemonTypes = []string{"DAEMON_START", "DAEMON_END", "DAEMON_ABORT", "DAEMON_CONFIG", "DAEMON_ROTATE", "DAEMON_RESUME"}

// advise takes an interval's peak into the sizing figures, logs the advice
// when it changes, and returns the recommended limit.
func (l *Loop) advise(peak uint32) uint32 {
	l.peakMax = max(l.peakMax, peak)
	if l.last.Lost < l.lostBefore {
		l.lostBefore = 0 // an administrator reset the counter
	}
	f := sizing.Figures{
		Peak:       l.peakMax,
		Limit:      l.last.BacklogLimit,
		LostSince:  uint64(l.last.Lost - l.lostBefore),
		LostBefore: uint64(l.lostBefore),
	}
	if n := l.stream.Records(); n > 0 {
		f.RecordBytes = float64(l.stream.Bytes()) / float64(n)
	}
	l.advisor.Observe(f)
	return f.Recommended()
}

// auditdState reads auditd's state report, or returns nil and says why,
// once per reason.
func (l *Loop) auditdState(now time.Time) *emit.AuditdState {
	if l.state == nil {
		return nil
	}
	rep, err := l.state.Read(now)
	if err != nil {
		// Absent, stale or caught mid-rewrite: nothing is sent for it,
		// never zeros. The error says how to have auditd write it; it is
		// logged when its kind changes, not every interval.
		kind := "unreadable"
		switch {
		case errors.Is(err, fs.ErrNotExist):
			kind = "absent"
		case errors.Is(err, auditdstate.ErrStale):
			kind = "stale"
		case errors.Is(err, auditdstate.ErrIncomplete):
			kind = "incomplete"
		}
		if kind != l.stateFault {
			l.stateFault = kind
			log := l.logger.Info
			if kind == "incomplete" {
				log = l.logger.Debug // auditd was rewriting it: the next read finds it whole
			}
			log("auditd's state report not used: its figures (queue to plugins, log space, memory) are left out", "why", err.Error())
		}
		if rep.Path == "" {
			return nil
		}
	} else if l.stateFault != "" {
		l.stateFault = ""
		l.logger.Info("auditd's state report is used", "path", rep.Path)
	}
	f := func(v auditdstate.Figure) emit.Figure { return emit.Figure{Value: v.Value, OK: v.OK} }
	return &emit.AuditdState{
		QueueDepth: f(rep.QueueDepth), QueueMaxDepth: f(rep.QueueMaxDepth), QueueSize: f(rep.QueueSize),
		QueueOverflow: f(rep.QueueOverflow), LogFreeSpace: f(rep.LogFreeSpace),
		MemoryTotal: f(rep.MemoryTotal), MemoryInUse: f(rep.MemoryInUse), MemoryFree: f(rep.MemoryFree),
	}
}

func events(e records.Events) emit.Events {
	return emit.Events{
		All: e.Total, Failed: e.Failed, AVC: e.AVC, FANotify: e.FANotify,
		Anomalies: e.Anomalies, Responses: e.Responses,
		LoginsSucceeded: e.LoginsSucceeded, LoginsFailed: e.LoginsFailed,
	}
}

func typeCounts(in []records.TypeCount) []emit.TypeCount {
	out := make([]emit.TypeCount, len(in))
	for i, t := range in {
		out[i] = emit.TypeCount{Type: t.Type, Count: t.Count}
	}
	return out
}

func (l *Loop) kernelFailed(err error) { l.setFault(&l.kernelFault, err.Error()) }
func (l *Loop) kernelOK()              { l.setFault(&l.kernelFault, "") }

// setFault logs a fault when it starts or changes and when it ends, not on
// every occurrence.
func (l *Loop) setFault(state *string, msg string) {
	if *state == msg {
		return
	}
	switch {
	case msg == "":
		l.logger.Info("recovered", "from", *state)
	default:
		l.logger.Error(msg)
	}
	*state = msg
}

// change is a reload's new settings and emitters, sent to Run by Apply.
type change struct {
	set   Settings
	out   Emitter
	reply chan<- changed
}

type changed struct {
	old Emitter
	err error
}

// errStopped is Apply's error when the loop is no longer running.
var errStopped = errors.New("the interval loop has stopped")

// Apply switches a running loop to new settings and emitters, after a
// reload; the interval in progress goes on. It returns the old emitters,
// for the caller to close (they are out itself when unchanged). It fails,
// changing nothing, when set's method cannot run on this kernel, or when
// the loop has stopped.
func (l *Loop) Apply(ctx context.Context, set Settings, out Emitter) (old Emitter, err error) {
	reply := make(chan changed, 1)
	select {
	case l.changes <- change{set: set, out: out, reply: reply}:
	case <-l.done:
		return nil, errStopped
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	r := <-reply // Run answers as it takes the change
	return r.old, r.err
}

// apply is Apply on the loop's goroutine.
func (l *Loop) apply(set Settings, out Emitter) (old Emitter, err error) {
	m, err := Resolve(set.Method, l.last, l.probe != nil)
	if err != nil {
		return nil, err
	}
	old, l.out, l.set = l.out, out, set
	l.acct.SetRecordWait(set.RecordWait)
	if m != l.method {
		if m == emit.MethodEBPF {
			// The probe kept counting while it was not the source: start
			// its interval now. No kernel call uses it meanwhile.
			_, _ = l.probe.Probe.ReadAndReset()
		}
		l.method = m
		l.source = l.sourceFor(m)
		l.acct.SetMethod(m)
		l.logMethod(l.last)
	}
	return old, nil
}

// Run drives the loop until ctx ends or stdin does (stdinDone), and
// returns why. Resets, samples and reports happen here; resets are the
// reset records the stdin reader found.
func (l *Loop) Run(ctx context.Context, resets <-chan records.Reset, stdinDone <-chan error) string {
	defer close(l.done)
	set, every := l.set, l.sampleEvery()
	interval := time.NewTicker(set.Interval)
	defer interval.Stop()
	sample := time.NewTicker(every)
	defer sample.Stop()
	hold := time.NewTimer(0)
	hold.Stop()
	defer hold.Stop()

	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx).Error()
		case err := <-stdinDone:
			// Take what the reader had queued before it ended.
			l.drain(ctx, resets)
			if err != nil {
				return fmt.Sprintf("stdin: %v", err)
			}
			return "end of stdin (auditd stopped or is reloading)"
		case rec := <-resets:
			l.resetRecord(ctx, rec)
		case <-sample.C:
			l.requestSample()
		case <-interval.C:
			l.requestTick(ctx, true)
		case r := <-l.replies:
			l.reply(ctx, r)
		case <-hold.C:
			l.holdExpired(ctx)
		case c := <-l.changes:
			old, err := l.apply(c.set, c.out)
			c.reply <- changed{old: old, err: err}
			if err != nil {
				continue
			}
			if l.set.Interval != set.Interval {
				interval.Reset(l.set.Interval)
			}
			set = l.set
		}
		// A reload, or a fall back from the probe to sampling.
		if e := l.sampleEvery(); e != every {
			sample.Reset(e)
			every = e
		}
		if deadline, ok := l.acct.HoldDeadline(); ok {
			hold.Reset(time.Until(deadline))
		} else {
			hold.Stop()
		}
	}
}

// drain takes the reset records already queued by the reader.
func (l *Loop) drain(ctx context.Context, resets <-chan records.Reset) {
	for {
		select {
		case rec := <-resets:
			l.resetRecord(ctx, rec)
		default:
			return
		}
	}
}

// Finish reports what is left on shutdown, after Run has returned, fast:
// auditd 4.2 stops every plugin on each reload and reads nothing from the
// kernel until they are gone.
//
// It makes no final reading of the kernel's mark: the peak since the last
// reading stays in the kernel, and the next instance's first reading
// reports it. A reading of ours in flight has taken a peak out of the
// mark, so Finish waits up to wait for its reply; a held report goes out
// at once, without waiting for its record. The eBPF probe goes with the
// process, so its last reading is taken now (it makes no system call) and
// reports the partial interval; without an exact source, the partial
// interval is reported from the samples taken. Then it ends the kernel
// worker, which closes the kernel client and the probe once a call still
// held in the kernel returns (or the process ends).
func (l *Loop) Finish(ctx context.Context, wait time.Duration) {
	defer l.stopKernel()
	l.tickDue = false
	if c := l.inFlight; c != nil && c.source != nil {
		select {
		case r := <-l.replies:
			l.reply(ctx, r)
		case <-time.After(wait):
			l.logger.Warn("exiting before the kernel answered the interval's reset (it holds audit senders while its backlog is over its limit): that peak is in the audit log as the reset's old= value, not in a report",
				"waited", wait)
		}
		l.tickDue = false
	}
	l.acct.Release()
	switch {
	case l.source == nil:
		now := l.now()
		l.acct.End(Ending{Before: now, After: now, Size: l.last.Backlog})
	case l.method == emit.MethodEBPF && l.inFlight == nil:
		// No call in flight, so the worker is not reading the probe.
		before := l.now()
		reading, err := l.source.Take()
		e := Ending{Before: before, After: l.now(), Size: l.last.Backlog, Err: err}
		if err == nil {
			e.Reading = &reading
		}
		l.acct.End(e)
	case l.method == emit.MethodEBPF:
		l.logger.Warn("exiting while an audit netlink call is held in the kernel: the eBPF probe's peak since the last report is not reported", "waited", wait)
	}
	l.emitReady(ctx)
}
