package emit

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Stdout writes one line per interval, for a person running the plugin by
// hand (make run). It ranges over [Metrics]: first the interval's own
// figures (gauges), then, after "| totals:", the running totals
// (counters: the kernel's since boot, the plugin's since its start):
//
//	2026-11-24T17:00:00Z method=kernel max_depth=4762 size=3 mean=12.2 limit=8192 utilization=58.1% recommended_limit=10240 | totals: lost=7 wait_time=1500ms resets.own=1 resets.external=1 records=123 malformed=1 resets_failed=2 emits_failed=3 emits_dropped=4 samples_skipped=5 reset_records_dropped=6
//
// The time is the interval's End in UTC. Each figure is named by its
// metric's name without "linux.audit." and the "backlog." or "plugin."
// that most names start with; a fraction of 1 is printed as a percentage
// and a duration with its unit. A figure that is absent (auditd's state
// report) is left out. A metric's attribute is shown as a suffix
// (resets.own), except the method, which starts the line, and the record
// type, whose counts are summed.
type Stdout struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	points []Point
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
	s.buf = s.appendLine(s.buf[:0], &iv)
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("stdout: write: %w", err)
	}
	return nil
}

// Close marks the emitter closed. It does not close the writer. A second
// Close does nothing.
func (s *Stdout) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *Stdout) appendLine(b []byte, iv *Interval) []byte {
	b = iv.End.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, " method="...)
	b = append(b, iv.Method...)
	for _, kind := range []Kind{Gauge, Counter, Histogram} {
		if kind == Counter {
			b = append(b, " | totals:"...)
		}
		for i := range metrics {
			m := &metrics[i]
			if m.Kind != kind {
				continue
			}
			s.points = m.Points(iv, s.points[:0])
			if m.Attr == "type" {
				var sum int64
				for _, p := range s.points {
					sum += p.Int
				}
				s.points = append(s.points[:0], Point{Int: sum})
			}
			for _, p := range s.points {
				if kind == Histogram && p.Int == 0 {
					continue // only the buckets something fell in
				}
				b = append(b, ' ')
				b = append(b, stdoutName(m.Name)...)
				if p.Attr != "" && m.Attr != "method" && m.Attr != "type" {
					b = append(b, '.')
					b = append(b, p.Attr...)
				}
				b = append(b, '=')
				b = appendValue(b, m, p)
			}
		}
	}
	return append(b, '\n')
}

// stdoutName is a metric's name without "linux.audit." and without the
// "backlog." or "plugin." that most names start with.
func stdoutName(name string) string {
	name = strings.TrimPrefix(name, namePrefix)
	for _, group := range []string{"backlog.", "plugin."} {
		if s, ok := strings.CutPrefix(name, group); ok {
			return s
		}
	}
	return name
}

// appendValue writes a point's value: a fraction of 1 as a percentage, a
// duration with its unit, other fractions with one decimal.
func appendValue(b []byte, m *Metric, p Point) []byte {
	switch {
	case m.Float && m.Unit == "1":
		return append(strconv.AppendFloat(b, p.Float*100, 'f', 1, 64), '%')
	case m.Float:
		return strconv.AppendFloat(b, p.Float, 'f', 1, 64)
	case m.Unit == "ms" || m.Unit == "s":
		return append(strconv.AppendInt(b, p.Int, 10), m.Unit...)
	default:
		return strconv.AppendInt(b, p.Int, 10)
	}
}
