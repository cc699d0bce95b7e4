package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
)

// kernel is the loop's view of the audit subsystem.
type kernel interface {
	Status() (auditclient.Status, error)
	ResetMaxDepth() (uint32, error)
}

// emitter is where finished intervals go. emit.Set is the real one: Emit
// only queues, so a dead collector never holds up the loop.
type emitter interface {
	Emit(ctx context.Context, iv emit.Interval) error
	Close(ctx context.Context) error
	Stats() emit.Stats
}

// stampSlack bounds how far the kernel's time stamp of our own reset record
// may lie outside the wall-clock interval around our AUDIT_SET call. The
// kernel stamps records with a coarse clock (up to one tick behind) and
// prints milliseconds; a second also covers small clock steps.
const stampSlack = time.Second

// maxParked bounds the reset records kept while our own reset is in flight.
// Resets are rare: this many in one kernel wait means a tool resetting in a
// loop, and the rest are counted as dropped.
const maxParked = 256

// kernelShutdownWait is the part of the shutdown budget that finish waits
// for the kernel; the rest is for the emitters' flush.
const kernelShutdownWait = shutdownBudget / 2

// maxOutstanding bounds the own resets remembered while their records have
// not come back (CONFIG_CHANGE may be excluded by a rule, or lost).
const maxOutstanding = 16

// settings are the parts of the configuration the loop runs on.
type settings struct {
	Interval, SampleInterval, RecordWait time.Duration
	Method                               string // conf.MethodAuto, MethodKernel or MethodSampled
}

func settingsOf(c *conf.Config) settings {
	return settings{
		Interval:       c.Interval,
		SampleInterval: c.SampleInterval,
		RecordWait:     c.RecordWait,
		Method:         c.Method,
	}
}

// ownReset is one of our own resets, remembered until its CONFIG_CHANGE
// record comes back through auditd.
type ownReset struct {
	old           uint32
	before, after time.Time // wall clock around the AUDIT_SET call
}

// matches reports whether rec is the record of this reset: same value, and
// a kernel time stamp within the call (with slack). Two resets with the same
// value in the same instant cannot be told apart; for the peak, which is a
// maximum, that is harmless.
func (o ownReset) matches(rec resetRecord) bool {
	return rec.Old == o.old &&
		!rec.Time.Before(o.before.Add(-stampSlack)) &&
		!rec.Time.After(o.after.Add(stampSlack))
}

// openInterval accumulates the interval in progress.
type openInterval struct {
	start     time.Time
	samples   int
	sum       uint64
	sampleMax uint32
	extMax    uint32 // highest old= of other tools' resets
	extCount  int
}

func (o *openInterval) addSample(backlog uint32) {
	o.samples++
	o.sum += uint64(backlog)
	o.sampleMax = max(o.sampleMax, backlog)
}

func (o *openInterval) addExternal(old uint32) {
	o.extCount++
	o.extMax = max(o.extMax, old)
}

// heldInterval is an interval closed by our reset, held until the reset's
// own record arrives on stdin (or RecordWait passes). The record stream is
// in kernel order, so every record that arrives before ours describes a
// reset made before ours: holding the report lets other tools' resets land
// in the interval they belong to.
type heldInterval struct {
	iv       emit.Interval
	own      ownReset
	deadline time.Time
}

// loop owns the interval state, the kernel client and the emitters. All its
// methods run on one goroutine, except kernelWorker, which makes the kernel
// calls on its own goroutine and talks to the loop only through calls and
// replies, so the loop never waits on the kernel; the stdin reader only
// sends it reset records and bumps atomic counters.
type loop struct {
	kernel kernel
	out    emitter
	stats  *streamStats
	logger *slog.Logger
	now    func() time.Time
	hz     uint32 // kernel ticks per second, for backlog_wait_time_actual

	set    settings
	method emit.Method

	counterStart time.Time
	cur          openInterval
	held         *heldInterval
	outstanding  []ownReset // oldest first
	// expectRecords is true while our own reset records come back through
	// auditd; when one does not (a rule excludes CONFIG_CHANGE), intervals
	// are reported at once instead of being held.
	expectRecords bool
	localNode     string

	last         auditclient.Status
	resetsFailed uint64

	// The kernel worker (kernelWorker) makes the kernel calls, one at a
	// time, so that the loop never blocks on the kernel.
	calls          chan kernelCall  // to the worker, buffered 1; closed by stopKernel
	replies        chan kernelReply // from the worker, buffered 1
	working        bool             // the worker has started
	inFlight       *kernelCall      // the call the worker is making, or nil
	tickDue        bool             // an interval ended while a call was in flight
	tickHold       bool             // and whether its report is to be held
	parked         []resetRecord    // reset records that came while our reset was in flight
	samplesSkipped uint64           // samples skipped because a call was in flight
	slowSkips      uint64           // of those, since the call in flight started
	slowLogged     bool             // the call in flight was logged as slow
	kernelFault    string           // last kernel error, logged once per change
	emitFault      string
}

// newLoop makes a loop that starts its first interval now. st is a status
// just read from the kernel; it decides the method under `method = auto`.
func newLoop(k kernel, out emitter, stats *streamStats, logger *slog.Logger, set settings, st auditclient.Status, hz uint32, now func() time.Time) (*loop, error) {
	m, err := resolveMethod(set.Method, st)
	if err != nil {
		return nil, err
	}
	t := now()
	l := &loop{
		kernel: k, out: out, stats: stats, logger: logger, now: now, hz: hz,
		set: set, method: m,
		counterStart:  t,
		cur:           openInterval{start: t},
		expectRecords: true,
		last:          st,
		calls:         make(chan kernelCall, 1),
		replies:       make(chan kernelReply, 1),
	}
	l.cur.addSample(st.Backlog)
	l.logMethod(st)
	return l, nil
}

// resolveMethod turns the configured method into the one to use with this
// kernel.
func resolveMethod(configured string, st auditclient.Status) (emit.Method, error) {
	switch configured {
	case conf.MethodSampled:
		return emit.MethodSampled, nil
	case conf.MethodKernel:
		if !st.HasMaxDepth {
			return "", errors.New("method = kernel, but this kernel has no backlog_max_depth (its AUDIT_GET status lacks the field); use method = auto or sampled")
		}
		return emit.MethodKernel, nil
	default:
		if st.HasMaxDepth {
			return emit.MethodKernel, nil
		}
		return emit.MethodSampled, nil
	}
}

func (l *loop) logMethod(st auditclient.Status) {
	switch {
	case l.method == emit.MethodKernel:
		l.logger.Info("measuring with the kernel's backlog high-water mark", "method", l.method, "interval", l.set.Interval)
	case st.HasMaxDepth:
		l.logger.Info("sampling the backlog, as configured (the kernel has backlog_max_depth, but method = sampled)", "method", l.method, "sample_interval", l.set.SampleInterval)
	default:
		l.logger.Warn("this kernel has no backlog_max_depth high-water mark; sampling the backlog instead, so bursts shorter than sample_interval can be missed",
			"method", l.method, "sample_interval", l.set.SampleInterval)
	}
}

// callKind says what a kernel call is for.
type callKind int

const (
	callSample callKind = iota // read the status: a sample for the mean and the sampled peak
	callTick                   // close the interval: reset the mark (kernel method), then read the status
)

// kernelCall is one round trip to the kernel, made by the kernel worker.
type kernelCall struct {
	kind  callKind
	reset bool // reset backlog_max_depth before reading the status
	hold  bool // hold the interval's report until the reset's own record arrives
}

// kernelReply is what a kernelCall brought back.
type kernelReply struct {
	call          kernelCall
	old           uint32 // the reset's ack: the interval's peak
	resetErr      error
	before, after time.Time // wall clock around the reset; without one, both when the call started
	status        auditclient.Status
	statusErr     error
}

// callKernel makes c on k. It runs on the kernel worker, never on the loop
// goroutine: while the audit backlog is over its limit the kernel makes
// every netlink sender sleep inside the send, up to backlog_wait_time (60 s
// by default) and uninterruptibly, and that is when the loop has most to do.
func callKernel(k kernel, c kernelCall, now func() time.Time) kernelReply {
	r := kernelReply{call: c, before: now()}
	r.after = r.before
	if c.reset {
		r.old, r.resetErr = k.ResetMaxDepth()
		r.after = now()
	}
	r.status, r.statusErr = k.Status()
	return r
}

// kernelWorker makes the loop's kernel calls, one at a time, until calls is
// closed (by stopKernel) and the call in flight, if any, has returned. It owns
// the kernel client from its first call: it closes it, if it is an
// io.Closer, when it ends. On shutdown nobody waits for it past the
// shutdown budget; a call stuck in the kernel ends with the process.
func (l *loop) kernelWorker(calls <-chan kernelCall) {
	for c := range calls {
		l.replies <- callKernel(l.kernel, c, l.now)
	}
	closeKernel(l.kernel, l.logger)
}

// startCall hands c to the kernel worker, starting the worker on first use.
// There is no call in flight, so the worker has taken the previous one and
// the send does not block.
func (l *loop) startCall(c kernelCall) {
	if !l.working {
		l.working = true
		go l.kernelWorker(l.calls)
	}
	l.inFlight = &c
	l.calls <- c
}

// stopKernel ends the kernel worker once its call in flight returns, or
// closes the kernel client at once if the worker never started.
func (l *loop) stopKernel() {
	if l.calls == nil {
		return
	}
	if l.working {
		close(l.calls)
	} else {
		closeKernel(l.kernel, l.logger)
	}
	l.calls = nil
}

// callSlow notes that a sample found a call still in flight. A sample
// tick that merely coincides with a call (an interval's end, say) skips at
// most one sample; a second skip means the call has outlived a whole
// sample interval, and that is logged, once per call.
func (l *loop) callSlow() {
	if l.slowSkips >= 2 && !l.slowLogged {
		l.slowLogged = true
		l.logger.Warn("an audit netlink call has not returned yet: samples are skipped and the interval's end waits until it does (the kernel holds audit senders while its backlog is over its limit)")
	}
}

// requestSample starts a status read for a sample. A sample due while a
// call is in flight is skipped and counted.
func (l *loop) requestSample() {
	if l.inFlight != nil {
		l.slowSkips++
		l.samplesSkipped++
		l.callSlow()
		return
	}
	l.startCall(kernelCall{kind: callSample})
}

// requestTick starts closing the interval in progress: with the kernel
// method it resets the high-water mark, whose old value is the interval's
// peak. The interval is reported when the reply arrives. An interval that
// ends while a call is in flight ends when that call returns; several such
// ends make one.
func (l *loop) requestTick(ctx context.Context, hold bool) {
	if l.inFlight != nil {
		l.tickDue, l.tickHold = true, hold
		return
	}
	if l.held != nil {
		// Its record did not come within the interval: report it now.
		l.release(ctx)
	}
	l.startCall(kernelCall{kind: callTick, reset: l.method == emit.MethodKernel, hold: hold})
}

// reply takes the kernel worker's answer to the call in flight. It returns
// the deadline of a held report, or the zero time when nothing is held.
func (l *loop) reply(ctx context.Context, r kernelReply) time.Time {
	l.inFlight = nil
	if l.slowLogged {
		l.logger.Info("the slow audit netlink call returned", "samples_skipped", l.slowSkips, "samples_skipped_total", l.samplesSkipped)
	}
	l.slowSkips, l.slowLogged = 0, false
	switch r.call.kind {
	case callSample:
		l.sampled(r)
	case callTick:
		l.ticked(ctx, r)
	}
	// Reset records that came while our reset was in flight: now that its
	// ack is known, ours can be told from other tools'.
	parked := l.parked
	l.parked = nil
	for _, rec := range parked {
		l.resetRecord(ctx, rec)
	}
	if l.tickDue {
		l.tickDue = false
		l.requestTick(ctx, l.tickHold)
	}
	if l.held != nil {
		return l.held.deadline
	}
	return time.Time{}
}

// sampled takes a sample's status: the backlog now, for the mean and the
// sampled peak, and the limit and counters for the report.
func (l *loop) sampled(r kernelReply) {
	if r.statusErr != nil {
		l.resetsFailed++
		l.kernelFailed(r.statusErr)
		return
	}
	l.kernelOK()
	l.last = r.status
	l.cur.addSample(r.status.Backlog)
}

// ticked closes the interval in progress with the reply of its tick call.
// A reset's ack is the interval's peak; the interval ends when the reset
// returned. The report is emitted, or held for the reset's own record.
func (l *loop) ticked(ctx context.Context, r kernelReply) {
	iv := emit.Interval{Start: l.cur.start, End: r.after, Method: l.method}
	peak := l.cur.sampleMax
	var own *ownReset
	switch {
	case !r.call.reset:
		iv.Method = emit.MethodSampled
		iv.ExternalResets = l.cur.extCount
		iv.Resets = l.cur.extCount
	case r.resetErr != nil:
		// The peak stays in the kernel and is read by the next
		// successful reset; this interval reports what sampling saw.
		l.resetsFailed++
		l.kernelFailed(r.resetErr)
		iv.Method = emit.MethodSampled
	default:
		l.kernelOK()
		iv.Method = emit.MethodKernel
		own = &ownReset{old: r.old, before: r.before, after: r.after}
		// Sampling can only see less than the mark; an external reset
		// whose record was excluded is the case where it sees more.
		peak = max(peak, r.old, l.cur.extMax)
		iv.Resets = 1 + l.cur.extCount
		iv.ExternalResets = l.cur.extCount
	}
	if r.statusErr == nil {
		l.last = r.status
	} else {
		l.resetsFailed++
		l.kernelFailed(r.statusErr)
	}
	iv.Peak = peak
	iv.Size = l.last.Backlog
	iv.Samples = l.cur.samples
	if l.cur.samples > 0 {
		iv.Mean = float64(l.cur.sum) / float64(l.cur.samples)
	}
	l.cur = openInterval{start: iv.End}

	if own == nil {
		l.emit(ctx, iv)
		return
	}
	l.outstanding = append(l.outstanding, *own)
	if n := len(l.outstanding); n > maxOutstanding {
		l.outstanding = l.outstanding[n-maxOutstanding:]
	}
	if !r.call.hold || l.set.RecordWait <= 0 || !l.expectRecords {
		l.emit(ctx, iv)
		return
	}
	l.held = &heldInterval{iv: iv, own: *own, deadline: own.after.Add(l.set.RecordWait)}
}

// resetRecord takes a backlog_max_depth CONFIG_CHANGE record from stdin.
// While our own reset is in flight, records are parked until its ack
// arrives: the kernel logs the reset's record before it makes the sender
// sleep, so the record can come back before the ack, and only the ack tells
// it apart from another tool's.
func (l *loop) resetRecord(ctx context.Context, rec resetRecord) {
	if l.inFlight != nil && l.inFlight.reset {
		if len(l.parked) >= maxParked {
			l.stats.dropped.Add(1)
			return
		}
		l.parked = append(l.parked, rec)
		return
	}
	if rec.Node != "" && l.localNode != "" && rec.Node != l.localNode {
		// Forwarded from another host (auditd as an aggregator).
		l.logger.Debug("ignoring a backlog_max_depth reset of another node", "node", rec.Node)
		return
	}
	for i, o := range l.outstanding {
		if !o.matches(rec) {
			continue
		}
		// Ours. The stream is in kernel order, so the records of our
		// older resets, if still missing, will not come any more.
		l.outstanding = append(l.outstanding[:0], l.outstanding[i+1:]...)
		l.expectRecords = true
		if rec.Node != "" {
			l.localNode = rec.Node
		}
		if l.held != nil && l.held.own == o {
			l.release(ctx)
		}
		return
	}
	// Another tool's reset. Own resets made well before it can no longer
	// be matched: their records were lost (auditd drops records when its
	// queue overflows) or excluded.
	kept := l.outstanding[:0]
	for _, o := range l.outstanding {
		if !rec.Time.After(o.after.Add(stampSlack)) {
			kept = append(kept, o)
		}
	}
	l.outstanding = kept
	if l.held != nil && rec.Time.After(l.held.own.after.Add(stampSlack)) {
		// Made after our reset, yet it arrived first: ours was lost.
		l.release(ctx)
	}
	l.logger.Debug("another tool reset backlog_max_depth", "old", rec.Old, "auid", rec.AUID, "ses", rec.Ses, "serial", rec.Serial)
	switch {
	case l.method != emit.MethodKernel:
		// Sampling: another tool's reset tells nothing about this
		// interval's peak (its old= may span earlier intervals), but it
		// is counted.
		l.cur.extCount++
	case l.held != nil:
		// It came before our own record, so it was made before our
		// reset: it belongs to the held interval.
		l.held.iv.Peak = max(l.held.iv.Peak, rec.Old)
		l.held.iv.Resets++
		l.held.iv.ExternalResets++
	default:
		// Made in this interval, or in one already reported without
		// waiting for its record (then it is counted one interval late,
		// but once).
		l.cur.addExternal(rec.Old)
	}
}

// holdExpired reports a held interval whose own record did not come back
// in time. Later intervals are reported at once until our records show up
// again.
func (l *loop) holdExpired(ctx context.Context) {
	if l.held == nil {
		return
	}
	l.logger.Debug("own reset record did not arrive within record_wait; reporting without it", "record_wait", l.set.RecordWait)
	l.expectRecords = false
	l.release(ctx)
}

func (l *loop) release(ctx context.Context) {
	iv := l.held.iv
	l.held = nil
	l.emit(ctx, iv)
}

// emit completes an interval with the latest kernel figures and the
// counters, and hands it to the emitters.
func (l *loop) emit(ctx context.Context, iv emit.Interval) {
	iv.CounterStart = l.counterStart
	iv.Limit = l.last.BacklogLimit
	if iv.Limit > 0 {
		iv.Utilization = float64(iv.Peak) / float64(iv.Limit)
	}
	iv.Lost = uint64(l.last.Lost)
	iv.WaitTime = ticksToDuration(l.last.BacklogWaitTimeActual, l.hz)
	es := l.out.Stats()
	iv.Plugin = emit.Counters{
		Records:      l.stats.records(),
		Types:        l.stats.typeCounts(),
		Malformed:    l.stats.malformed.Load(),
		ResetsFailed: l.resetsFailed,
		EmitsFailed:  es.Failed,
		EmitsDropped: es.Dropped,

		SamplesSkipped:      l.samplesSkipped,
		ResetRecordsDropped: l.stats.dropped.Load(),
	}
	if err := l.out.Emit(ctx, iv); err != nil {
		l.setFault(&l.emitFault, fmt.Sprintf("emit interval: %v", err))
		return
	}
	l.setFault(&l.emitFault, "")
}

// ticksToDuration converts kernel ticks (jiffies) to a duration.
func ticksToDuration(ticks, hz uint32) time.Duration {
	if hz == 0 {
		return 0
	}
	return time.Duration(ticks) * time.Second / time.Duration(hz)
}

func (l *loop) kernelFailed(err error) { l.setFault(&l.kernelFault, err.Error()) }
func (l *loop) kernelOK()              { l.setFault(&l.kernelFault, "") }

// setFault logs a fault when it starts or changes and when it ends, not on
// every occurrence.
func (l *loop) setFault(state *string, msg string) {
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

// apply switches to new settings and emitters after a reload. The interval
// in progress goes on. The old emitters are returned for the caller to
// close.
func (l *loop) apply(set settings, out emitter) (old emitter, err error) {
	m, err := resolveMethod(set.Method, l.last)
	if err != nil {
		return nil, err
	}
	old, l.out, l.set = l.out, out, set
	if m != l.method {
		l.method = m
		l.logMethod(l.last)
	}
	return old, nil
}

// run drives the loop until ctx ends or stdin does, and returns why.
// Resets, samples and reports happen here; reload is called on SIGHUP.
func (l *loop) run(ctx context.Context, resets <-chan resetRecord, stdinDone <-chan error, hup <-chan os.Signal, reload func()) string {
	set := l.set
	interval := time.NewTicker(set.Interval)
	defer interval.Stop()
	sample := time.NewTicker(set.SampleInterval)
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
			if deadline := l.reply(ctx, r); !deadline.IsZero() {
				hold.Reset(time.Until(deadline))
			}
		case <-hold.C:
			l.holdExpired(ctx)
		case <-hup:
			reload()
			if l.set.Interval != set.Interval {
				interval.Reset(l.set.Interval)
			}
			if l.set.SampleInterval != set.SampleInterval {
				sample.Reset(l.set.SampleInterval)
			}
			set = l.set
		}
		if l.held == nil {
			hold.Stop()
		}
	}
}

// drain takes the reset records already queued by the reader.
func (l *loop) drain(ctx context.Context, resets <-chan resetRecord) {
	for {
		select {
		case rec := <-resets:
			l.resetRecord(ctx, rec)
		default:
			return
		}
	}
}

// finish reports what is left on shutdown, within ctx: it waits for a
// kernel call in flight, reports a held interval, then makes a last reset
// and reports the partial interval at once. It waits for the kernel at most
// kernelShutdownWait; past that it gives up on the kernel, says why, and
// exits without the final reset (the peak since the last reset stays in
// the kernel, where the next reset reads it). It ends the kernel worker.
func (l *loop) finish(ctx context.Context) {
	defer l.stopKernel()
	l.tickDue = false
	wait, cancel := context.WithTimeout(ctx, kernelShutdownWait)
	defer cancel()
	if l.inFlight != nil && !l.await(ctx, wait) {
		return
	}
	if l.held != nil {
		l.release(ctx)
	}
	l.startCall(kernelCall{kind: callTick, reset: l.method == emit.MethodKernel})
	l.await(ctx, wait)
}

// await waits for the reply to the call in flight until wait ends, and
// reports whether it came. If not, it reports a held interval and logs why
// the final reset is not made.
func (l *loop) await(ctx, wait context.Context) bool {
	select {
	case r := <-l.replies:
		l.reply(ctx, r)
		return true
	case <-wait.Done():
		if l.held != nil {
			l.release(ctx)
		}
		l.logger.Warn("exiting without the final reset: an audit netlink call has not returned (the kernel holds audit senders while its backlog is over its limit); the peak since the last reset stays in the kernel for the next reset",
			"waited", kernelShutdownWait, "err", context.Cause(wait))
		return false
	}
}
