// Package sizing turns what the plugin measures into advice on the
// kernel's audit_backlog_limit: the limit to set, and where. The rules are
// simple on purpose, so that the log, -check, the exported
// linux.audit.backlog.recommended_limit metric and the shipped alert rules
// all say the same:
//
//   - The demand is the highest queue depth seen (since the plugin started;
//     in -check, the kernel's mark or the backlog now). When the queue
//     reached its limit, or the kernel lost records meanwhile, the real
//     demand is unknown and at least the limit.
//   - The recommended limit is Headroom times the demand, rounded up to a
//     multiple of Granule, and never below Granule.
//   - The limit is too small when the recommendation is above it; a
//     recommendation far below it says the limit is generous, and every
//     queued record is kernel memory.
//   - Records lost before the plugin started (lost above zero at its start)
//     were most likely lost at boot, before auditd ran, while the kernel
//     queues at most the audit_backlog_limit of its command line (64 by
//     default): that value is set there, not with auditctl.
package sizing

import (
	"fmt"
	"strings"
)

const (
	// Headroom is how many times the demand a limit should hold.
	Headroom = 2
	// Granule is what recommendations are rounded up to.
	Granule = 1024
	// BootLimit is the least audit_backlog_limit recommended on the kernel
	// command line: at boot, before auditd runs, every record waits in the
	// queue.
	BootLimit = 8192
	// MaxRecordBytes is the longest record auditd writes to its plugins
	// (MAX_AUDIT_MESSAGE_LENGTH, its header and auditd's ENRICHED tail):
	// the most one queued record can hold, kernel buffers aside.
	MaxRecordBytes = 8970
	// NearFull is the utilization (peak / limit) at which the queue is
	// called nearly full.
	NearFull = 0.8
)

// Recommend returns the audit_backlog_limit to set for a demand: the
// highest queue depth seen, and whether the queue was capped (it reached
// limit, or records were lost) so that the real demand is unknown.
func Recommend(peak, limit uint32, capped bool) uint32 {
	demand := uint64(peak)
	if capped && uint64(limit) > demand {
		demand = uint64(limit)
	}
	r := (Headroom*demand + Granule - 1) / Granule * Granule
	r = max(r, Granule)
	return uint32(min(r, 1<<31-1))
}

// Figures are what advice is made from.
type Figures struct {
	Peak  uint32 // highest queue depth seen
	Limit uint32 // audit_backlog_limit now; 0 is unlimited
	// LostSince is how many records the kernel lost while the plugin
	// watched; LostBefore how many it had lost when the plugin started.
	LostSince, LostBefore uint64
	// RecordBytes is the mean size of the records read, 0 if unknown.
	RecordBytes float64
}

// Capped reports whether the queue's real demand is unknown: it reached
// its limit, or records were lost.
func (f Figures) Capped() bool {
	return f.LostSince > 0 || f.Limit > 0 && f.Peak >= f.Limit
}

// Recommended is Recommend of the figures.
func (f Figures) Recommended() uint32 { return Recommend(f.Peak, f.Limit, f.Capped()) }

// State says how the queue is doing.
type State int

const (
	// Fine: the peak stays under NearFull of the limit, nothing lost.
	Fine State = iota
	// NearlyFull: the peak reached NearFull of the limit.
	NearlyFull
	// Losing: the kernel lost records while the plugin watched.
	Losing
)

// State returns how the queue is doing.
func (f Figures) State() State {
	switch {
	case f.LostSince > 0:
		return Losing
	case f.Limit > 0 && float64(f.Peak) >= NearFull*float64(f.Limit):
		return NearlyFull
	}
	return Fine
}

// Advice is the whole of what the figures say, for a person.
func (f Figures) Advice() string {
	r := f.Recommended()
	var b strings.Builder
	limit := fmt.Sprint(f.Limit)
	if f.Limit == 0 {
		limit = "unlimited"
	}
	fmt.Fprintf(&b, "peak %d of backlog limit %s", f.Peak, limit)
	if f.RecordBytes > 0 {
		fmt.Fprintf(&b, " (at the peak about %s of records, at %.0f bytes a record)", bytes(float64(f.Peak)*f.RecordBytes), f.RecordBytes)
	}
	b.WriteString("; ")
	switch {
	case f.State() == Losing:
		fmt.Fprintf(&b, "the kernel lost %d records: set the limit to at least %d", f.LostSince, r)
	case f.Limit == 0:
		fmt.Fprintf(&b, "no limit lets the queue take any amount of kernel memory: %d would hold twice the peak", r)
	case f.State() == NearlyFull:
		fmt.Fprintf(&b, "the queue came near its limit: set it to %d", r)
	case r > f.Limit:
		fmt.Fprintf(&b, "a limit of %d leaves the queue little room: set it to %d", f.Limit, r)
	case r*4 <= f.Limit:
		fmt.Fprintf(&b, "the limit is generous: %d would hold twice the peak", r)
	default:
		fmt.Fprintf(&b, "the limit holds twice the peak (recommended %d)", r)
	}
	fmt.Fprintf(&b, "; %d records of up to %d bytes can hold up to %s", r, MaxRecordBytes, bytes(float64(r)*MaxRecordBytes))
	if r != f.Limit {
		fmt.Fprintf(&b, "; set it with -b %d in /etc/audit/rules.d/audit.rules (auditctl -b %d for the running system)", r, r)
	}
	if f.LostBefore > 0 {
		fmt.Fprintf(&b, "; %s", f.BootAdvice())
	}
	return b.String()
}

// BootAdvice says where records lost before the plugin started went, and
// what to set.
func (f Figures) BootAdvice() string {
	n := max(f.Recommended(), BootLimit)
	return fmt.Sprintf("the kernel had lost %d records before the plugin started, most likely at boot, before auditd ran, when the queue holds at most the audit_backlog_limit of the kernel command line (64 by default): add audit_backlog_limit=%d to it (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub or grub2-mkconfig)",
		f.LostBefore, n)
}

// bytes writes n bytes for a person.
func bytes(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f bytes", n)
}

// Logger is what an Advisor logs to (a *slog.Logger).
type Logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

// Advisor logs the advice when it changes: once at the first figures if
// records were lost before the plugin started, and whenever the queue's
// state worsens (nearly full, records lost) or more records are lost. It
// is not safe for concurrent use; the interval loop owns it.
type Advisor struct {
	logger   Logger
	started  bool
	state    State
	lostSeen uint64
}

// NewAdvisor returns an advisor logging to logger.
func NewAdvisor(logger Logger) *Advisor { return &Advisor{logger: logger} }

// Observe takes the figures of an interval.
func (a *Advisor) Observe(f Figures) {
	if !a.started {
		a.started = true
		if f.LostBefore > 0 {
			a.logger.Warn("records lost before the plugin started: " + f.BootAdvice())
		}
	}
	st := f.State()
	switch {
	case st == Losing && f.LostSince > a.lostSeen:
		a.logger.Warn("the kernel lost audit records: "+f.Advice(), "recommended_limit", f.Recommended())
	case st == NearlyFull && a.state != NearlyFull:
		a.logger.Warn("the audit queue was nearly full: "+f.Advice(), "recommended_limit", f.Recommended())
	}
	a.state, a.lostSeen = st, f.LostSince
}
