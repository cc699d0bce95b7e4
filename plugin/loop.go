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
// methods run on one goroutine; the stdin reader only sends it reset
// records and bumps atomic counters.
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
	kernelFault  string // last kernel error, logged once per change
	emitFault    string
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

// sample reads the kernel's status: the backlog now, for the mean and the
// sampled peak, and the limit and counters for the report.
func (l *loop) sample() {
	st, err := l.kernel.Status()
	if err != nil {
		l.resetsFailed++
		l.kernelFailed(err)
		return
	}
	l.kernelOK()
	l.last = st
	l.cur.addSample(st.Backlog)
}

// tick closes the interval in progress. With the kernel method it resets
// the high-water mark, whose old value is the interval's peak. It returns
// the deadline of a held report, or the zero time when nothing is held.
func (l *loop) tick(ctx context.Context, hold bool) time.Time {
	if l.held != nil {
		// Its record did not come within the interval: report it now.
		l.release(ctx)
	}
	iv := emit.Interval{Start: l.cur.start, Method: l.method}
	peak := l.cur.sampleMax
	var own *ownReset
	if l.method == emit.MethodKernel {
		before := l.now()
		old, err := l.kernel.ResetMaxDepth()
		after := l.now()
		iv.End = after
		if err != nil {
			// The peak stays in the kernel and is read by the next
			// successful reset; this interval reports what sampling saw.
			l.resetsFailed++
			l.kernelFailed(err)
			iv.Method = emit.MethodSampled
		} else {
			l.kernelOK()
			own = &ownReset{old: old, before: before, after: after}
			// Sampling can only see less than the mark; an external reset
			// whose record was excluded is the case where it sees more.
			peak = max(peak, old, l.cur.extMax)
			iv.Resets = 1 + l.cur.extCount
			iv.ExternalResets = l.cur.extCount
		}
	} else {
		iv.End = l.now()
		iv.ExternalResets = l.cur.extCount
		iv.Resets = l.cur.extCount
	}
	if st, err := l.kernel.Status(); err == nil {
		l.last = st
	} else {
		l.resetsFailed++
		l.kernelFailed(err)
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
		return time.Time{}
	}
	l.outstanding = append(l.outstanding, *own)
	if n := len(l.outstanding); n > maxOutstanding {
		l.outstanding = l.outstanding[n-maxOutstanding:]
	}
	if !hold || l.set.RecordWait <= 0 || !l.expectRecords {
		l.emit(ctx, iv)
		return time.Time{}
	}
	l.held = &heldInterval{iv: iv, own: *own, deadline: own.after.Add(l.set.RecordWait)}
	return l.held.deadline
}

// resetRecord takes a backlog_max_depth CONFIG_CHANGE record from stdin.
func (l *loop) resetRecord(ctx context.Context, rec resetRecord) {
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
			if l.held == nil {
				hold.Stop()
			}
		case <-sample.C:
			l.sample()
		case <-interval.C:
			if deadline := l.tick(ctx, true); !deadline.IsZero() {
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

// finish reports the partial interval on shutdown: a held report first,
// then a last reset, reported at once.
func (l *loop) finish(ctx context.Context) {
	if l.held != nil {
		l.release(ctx)
	}
	l.tick(ctx, false)
}
