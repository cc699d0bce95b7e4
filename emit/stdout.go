package emit

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Stdout writes one human-readable line per interval, for `make run` and
// for eyeballing. Its format is for people, not parsers:
//
//	2026-11-24T17:00:00Z method=kernel peak=4762 limit=8192 util=58.1% mean=12.3 size=0 lost=0 wait=0ms resets=1(ext 0) records=123 malformed=0 resets_failed=0 emits_failed=0 emits_dropped=0 samples_skipped=0 reset_records_dropped=0
//
// The time is the interval's End in UTC; lost, wait, records and the other
// counters are cumulative, resets counts the interval's own.
type Stdout struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	closed bool
}

var _ Emitter = (*Stdout)(nil)

// NewStdout returns an emitter writing to w. Each interval is one Write.
func NewStdout(w io.Writer) *Stdout { return &Stdout{w: w} }

// Emit writes iv's line. The write itself cannot be cancelled; ctx is only
// checked before it.
func (s *Stdout) Emit(ctx context.Context, iv Interval) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	s.buf = appendLine(s.buf[:0], iv)
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("stdout: write: %w", err)
	}
	return nil
}

// Close marks the emitter closed. It does not close the writer.
func (s *Stdout) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return nil
}

func appendLine(b []byte, iv Interval) []byte {
	p := iv.Plugin
	b = iv.End.UTC().AppendFormat(b, time.RFC3339)
	b = fmt.Appendf(b, " method=%s peak=%d limit=%d util=%.1f%% mean=%.1f size=%d lost=%d wait=%dms resets=%d(ext %d) records=%d malformed=%d resets_failed=%d emits_failed=%d emits_dropped=%d samples_skipped=%d reset_records_dropped=%d\n",
		iv.Method, iv.Peak, iv.Limit, iv.Utilization*100, iv.Mean, iv.Size, iv.Lost, iv.WaitTime.Milliseconds(),
		iv.Resets, iv.ExternalResets, p.Records, p.Malformed, p.ResetsFailed, p.EmitsFailed, p.EmitsDropped, p.SamplesSkipped, p.ResetRecordsDropped)
	return b
}
