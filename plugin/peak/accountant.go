package peak

import (
	"log/slog"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/plugin/records"
)

// stampSlack bounds how far the kernel's time stamp of our own reset record
// may lie outside the wall-clock interval around our AUDIT_SET call. The
// kernel stamps records with a coarse clock (up to one tick behind) and
// prints milliseconds; a second also covers small clock steps.
const stampSlack = time.Second

// maxParked bounds the reset records kept while our own reset is in flight.
// Resets are rare: this many in one kernel wait means a tool resetting in a
// loop, and the rest are counted as dropped.
const maxParked = 256

// maxOutstanding bounds the own resets remembered while their records have
// not come back (CONFIG_CHANGE may be excluded by a rule, or lost).
const maxOutstanding = 16

// startSlack is how much earlier than the accountant's start a reset
// record may be stamped and still count: the kernel's coarse clock runs up
// to one tick (at most 10 ms) behind. A previous instance of the plugin
// made its last reset before auditd stopped it, at least 50 ms before this
// one started (auditd 4.2 waits that long before its SIGTERM).
const startSlack = 20 * time.Millisecond

// Report is an interval as the Accountant closes it: the peak and what
// else the interval's own events tell. The loop completes it with the
// kernel's figures and the counters when it hands it to the emitters.
type Report struct {
	Start, End time.Time
	Method     emit.Method
	Peak       uint32
	// OwnResets and ExternalResets count the resets of the kernel's mark
	// in the interval: ours (0 or 1) and other tools'.
	OwnResets, ExternalResets int
	// Size is the backlog when the interval ended.
	Size uint32
	// Samples is the number of backlog samples taken in the interval, Mean
	// their mean.
	Samples int
	Mean    float64
	// Probe is the eBPF probe's snapshot of the interval, nil unless the
	// probe measured it.
	Probe *probe.Snapshot
}

// Ending is how an interval ended: the reading of the exact peak source,
// if the loop has one, and the status read after it.
type Ending struct {
	// Before and After are the wall clock around the source's reading;
	// without a source, both are when the interval ended.
	Before, After time.Time
	// Reading is what the source read, nil when the loop has no exact
	// source (method sampled) or the reading failed (Err).
	Reading *Reading
	// Err is the source's failure. The peak then stays in the source for
	// the next reading, and this interval reports what sampling saw.
	Err error
	// Hold asks to hold the report until the reset's own record arrives
	// (at most record_wait), so that other tools' resets made before ours
	// land in this interval.
	Hold bool
	// Size is the backlog when the interval ended.
	Size uint32
}

// ownReset is one of our own resets of the kernel's mark, remembered until
// its CONFIG_CHANGE record comes back through auditd.
type ownReset struct {
	old           uint32
	before, after time.Time // wall clock around the AUDIT_SET call
}

// matches reports whether rec is the record of this reset: same value, and
// a kernel time stamp within the call (with slack). Two resets with the same
// value in the same instant cannot be told apart; for the peak, which is a
// maximum, that is harmless.
func (o ownReset) matches(rec records.Reset) bool {
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

// held is an interval closed by our reset, held until the reset's own
// record arrives on stdin (or record_wait passes). The record stream is in
// kernel order, so every record that arrives before ours describes a reset
// made before ours: holding the report lets other tools' resets land in
// the interval they belong to.
type held struct {
	report   Report
	own      ownReset
	deadline time.Time
}

// An Accountant measures each interval's peak from what it is told:
// samples, the readings that end intervals, the reset records read from
// auditd and the expiry of a held report. It runs no goroutine, reads no
// clock and takes no context; the loop feeds it and takes the finished
// intervals with Take. Its one job is to count every peak once: its own
// reset (the reading's ack) and other tools' resets (their CONFIG_CHANGE
// records) each land in exactly one interval, and its own reset's record,
// when it comes back, is recognised and not counted again.
type Accountant struct {
	logger     *slog.Logger
	recordWait time.Duration
	method     emit.Method // the method in force; MethodKernel when the mark is the source
	since      time.Time   // reset records stamped before it were made before this accountant started

	cur         openInterval
	held        *held
	outstanding []ownReset // own resets whose records have not come back, oldest first
	// expectRecords is true while our own reset records come back through
	// auditd; when one does not (a rule excludes CONFIG_CHANGE), intervals
	// are reported at once instead of being held.
	expectRecords bool
	localNode     string

	resetting  bool            // our reset is in flight
	parked     []records.Reset // reset records that came while it was
	dropped    uint64          // reset records not kept: parked was full
	toldUnused bool            // an external reset's value not used was explained in the log

	ready []Report
}

// NewAccountant returns an accountant whose first interval starts at start.
//
// Reset records stamped before start are not counted: those resets were
// made before this accountant existed, and their peaks were reported by
// whoever made them. The reset that matters most here is a previous
// instance's own last one, whose record auditd 4.2 may hand to this
// instance after restarting the plugin on reload; the peak it took was in
// that instance's last report. The first interval's own reading covers the
// time since the last reset, before start included.
func NewAccountant(logger *slog.Logger, start time.Time, method emit.Method, recordWait time.Duration) *Accountant {
	return &Accountant{
		logger: logger, recordWait: recordWait, method: method,
		since:         start.Add(-startSlack),
		cur:           openInterval{start: start},
		expectRecords: true,
	}
}

// SetMethod switches the method of the interval in progress and the next,
// after a reload.
func (a *Accountant) SetMethod(m emit.Method) { a.method = m }

// SetRecordWait changes how long a report waits for its own record.
func (a *Accountant) SetRecordWait(d time.Duration) { a.recordWait = d }

// Sample adds a backlog sample to the interval in progress.
func (a *Accountant) Sample(backlog uint32) {
	a.cur.samples++
	a.cur.sum += uint64(backlog)
	a.cur.sampleMax = max(a.cur.sampleMax, backlog)
}

// ResetStarted says that our reset of the kernel's mark is in flight.
// Until its Ending, reset records are parked: the kernel logs the reset's
// record before it makes the sender sleep, so the record can come back
// before the ack, and only the ack tells it apart from another tool's.
func (a *Accountant) ResetStarted() { a.resetting = true }

// Release reports the held interval now, if there is one.
func (a *Accountant) Release() {
	if a.held == nil {
		return
	}
	a.ready = append(a.ready, a.held.report)
	a.held = nil
}

// HoldDeadline returns when a held report's wait ends, and whether one is
// held.
func (a *Accountant) HoldDeadline() (time.Time, bool) {
	if a.held == nil {
		return time.Time{}, false
	}
	return a.held.deadline, true
}

// Dropped returns the reset records not kept because too many came while
// our reset was in flight.
func (a *Accountant) Dropped() uint64 { return a.dropped }

// Take returns the intervals finished since the last Take, oldest first.
func (a *Accountant) Take() []Report {
	out := a.ready
	a.ready = nil
	return out
}

// End closes the interval in progress, which ends at e.After. A reading
// of the exact source is the interval's peak; the report goes out at once,
// or is held for the reset's own record. Reset records parked while the
// reading was made are then taken.
func (a *Accountant) End(e Ending) {
	a.resetting = false
	r := Report{Start: a.cur.start, End: e.After, Method: a.method, Size: e.Size, Samples: a.cur.samples}
	if a.cur.samples > 0 {
		r.Mean = float64(a.cur.sum) / float64(a.cur.samples)
	}
	peak := a.cur.sampleMax
	var own *ownReset
	switch {
	case e.Err != nil:
		// The peak stays in the source and is read by the next
		// successful reading; this interval reports what sampling saw,
		// and the resets other tools made in it, whose peaks left the
		// mark with them.
		r.Method = emit.MethodSampled
		peak = max(peak, a.cur.extMax)
		r.ExternalResets = a.cur.extCount
	case e.Reading == nil:
		r.Method = emit.MethodSampled
		r.ExternalResets = a.cur.extCount
	default:
		r.Method = e.Reading.Method
		r.Probe = e.Reading.Probe
		// Sampling can only see less than the exact peak; an external
		// reset whose record was excluded is the case where it sees
		// more.
		peak = max(peak, e.Reading.Peak, a.cur.extMax)
		r.ExternalResets = a.cur.extCount
		if e.Reading.Mark {
			r.OwnResets = 1
			own = &ownReset{old: e.Reading.Peak, before: e.Before, after: e.After}
		}
	}
	r.Peak = peak
	a.cur = openInterval{start: r.End}
	a.close(r, own, e.Hold)

	parked := a.parked
	a.parked = nil
	for _, rec := range parked {
		a.Record(rec)
	}
}

// close reports r, or holds it for own's record.
func (a *Accountant) close(r Report, own *ownReset, hold bool) {
	if own == nil {
		a.ready = append(a.ready, r)
		return
	}
	a.outstanding = append(a.outstanding, *own)
	if n := len(a.outstanding); n > maxOutstanding {
		a.outstanding = a.outstanding[n-maxOutstanding:]
	}
	if !hold || a.recordWait <= 0 || !a.expectRecords {
		a.ready = append(a.ready, r)
		return
	}
	a.held = &held{report: r, own: *own, deadline: own.after.Add(a.recordWait)}
}

// Record takes a backlog_max_depth reset record read from auditd.
func (a *Accountant) Record(rec records.Reset) {
	if a.resetting {
		if len(a.parked) >= maxParked {
			a.dropped++
			return
		}
		a.parked = append(a.parked, rec)
		return
	}
	if rec.Time.Before(a.since) {
		a.logger.Debug("ignoring a backlog_max_depth reset made before this plugin started", "old", rec.Old, "stamp", rec.Time, "serial", rec.Serial)
		return
	}
	if rec.Node != "" && a.localNode != "" && rec.Node != a.localNode {
		// Forwarded from another host (auditd as an aggregator).
		a.logger.Debug("ignoring a backlog_max_depth reset of another node", "node", rec.Node)
		return
	}
	for i, o := range a.outstanding {
		if !o.matches(rec) {
			continue
		}
		// Ours. The stream is in kernel order, so the records of our
		// older resets, if still missing, will not come any more.
		a.outstanding = append(a.outstanding[:0], a.outstanding[i+1:]...)
		a.expectRecords = true
		if rec.Node != "" {
			a.localNode = rec.Node
		}
		if a.held != nil && a.held.own == o {
			a.Release()
		}
		return
	}
	// Another tool's reset. Own resets made well before it can no longer
	// be matched: their records were lost (auditd drops records when its
	// queue overflows) or excluded.
	kept := a.outstanding[:0]
	for _, o := range a.outstanding {
		if !rec.Time.After(o.after.Add(stampSlack)) {
			kept = append(kept, o)
		}
	}
	a.outstanding = kept
	if a.held != nil && rec.Time.After(a.held.own.after.Add(stampSlack)) {
		// Made after our reset, yet it arrived first: ours was lost.
		a.Release()
	}
	a.logger.Debug("another tool reset backlog_max_depth", "old", rec.Old, "auid", rec.AUID, "ses", rec.Ses, "serial", rec.Serial)
	switch {
	case a.method != emit.MethodKernel:
		// The mark is not our source: another tool's reset tells nothing
		// about this interval's peak (its old= may span earlier
		// intervals), but it is counted.
		a.cur.extCount++
		msg := "another tool reset backlog_max_depth; counted, but its old= value is not this interval's peak: the peak is measured by " + string(a.method) + ", and old= covers the time since the mark's previous reset, which may be long before this interval"
		if !a.toldUnused {
			a.toldUnused = true
			a.logger.Info(msg, "old", rec.Old)
		} else {
			a.logger.Debug(msg, "old", rec.Old)
		}
	case a.held != nil:
		// It came before our own record, so it was made before our
		// reset: it belongs to the held interval.
		a.held.report.Peak = max(a.held.report.Peak, rec.Old)
		a.held.report.ExternalResets++
	default:
		// Made in this interval, or in one already reported without
		// waiting for its record (then it is counted one interval late,
		// but once).
		a.cur.extCount++
		a.cur.extMax = max(a.cur.extMax, rec.Old)
	}
}

// Expire reports a held interval whose own record did not come back in
// time. Later intervals are reported at once until our records show up
// again.
func (a *Accountant) Expire() {
	if a.held == nil {
		return
	}
	a.logger.Debug("own reset record did not arrive within record_wait; reporting without it", "record_wait", a.recordWait)
	a.expectRecords = false
	a.Release()
}
