package emit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"
)

// deliveryTimeout bounds one delivery by an emitter without a configured
// timeout (stdout, statsd).
const deliveryTimeout = 5 * time.Second

// Set delivers intervals to the configured emitters off the caller's path.
// Each emitter has its own bounded queue and its own goroutine, which runs
// from Open until Close: Emit only queues, so a dead, slow or unreachable
// collector never blocks the caller. When a queue is full, its oldest
// interval is dropped and counted (every counter is cumulative, so the
// next interval delivered carries what the dropped one counted). Each
// delivery runs under a deadline (otlp_timeout for OTLP). A failing
// emitter is logged once when it starts failing and once when it recovers,
// not per interval.
type Set struct {
	logger  *slog.Logger
	members []*member
	cancel  context.CancelFunc // stops deliveries in flight; for Close
	done    chan struct{}      // closed when every worker has returned
	closed  atomic.Bool        // the queues are closed: by Flush or Close
	shut    atomic.Bool        // the emitters are closed: by Close
}

var _ Emitter = (*Set)(nil)

// member is one emitter with its queue.
type member struct {
	name    string // conf emitter name: stdout, otlp, statsd
	target  string // where it sends, for logs and Check
	em      Emitter
	timeout time.Duration
	q       queue

	sent, failed, dropped atomic.Uint64
}

// Stats are a Set's cumulative delivery counts, over all its emitters.
type Stats struct {
	// Sent counts intervals delivered.
	Sent uint64
	// Failed counts deliveries that failed; the interval is not retried.
	Failed uint64
	// Dropped counts intervals dropped from a full queue, or left queued
	// when Close ran out of time.
	Dropped uint64
}

// CheckResult is the outcome of checking one emitter.
type CheckResult struct {
	Emitter string // stdout, otlp or statsd
	Target  string // endpoint or address
	Err     error  // nil if the check passed
}

// Open builds every emitter named in cfg.Emitters, each behind a queue of
// cfg.EmitQueue intervals, and starts their goroutines. version is the
// plugin's version (OTLP service.version). The stdout emitter writes to
// os.Stdout. OpenTelemetry's own errors go where [RouteOTelLogs] sent
// them.
func Open(ctx context.Context, cfg conf.Config, version string, logger *slog.Logger) (*Set, error) {
	var members []*member
	fail := func(err error) (*Set, error) {
		errs := []error{err}
		for _, m := range members {
			if cerr := m.em.Close(ctx); cerr != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", m.name, cerr))
			}
		}
		return nil, errors.Join(errs...)
	}
	for _, name := range cfg.Emitters {
		m := &member{name: name, timeout: deliveryTimeout}
		switch name {
		case conf.EmitterStdout:
			m.em, m.target = NewStdout(os.Stdout), "stdout"
		case conf.EmitterOTLP:
			o, err := NewOTLP(ctx, cfg.OTLP, version)
			if err != nil {
				return fail(err)
			}
			m.em, m.target, m.timeout = o, o.protocol+" "+o.target, otlpTimeout(cfg.OTLP)
		case conf.EmitterStatsD:
			s, err := NewStatsD(cfg.StatsD)
			if err != nil {
				return fail(err)
			}
			m.em, m.target = s, cfg.StatsD.Address
		default:
			return fail(fmt.Errorf("unknown emitter %q", name))
		}
		members = append(members, m)
	}
	return newSet(logger, cfg.EmitQueue, members), nil
}

// RouteOTelLogs sends OpenTelemetry's error handler and logger to logger.
// Both are process-wide: the plugin calls it once, at start.
func RouteOTelLogs(logger *slog.Logger) {
	logger = logger.With("emitter", conf.EmitterOTLP)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "err", err)
	}))
	otel.SetLogger(logr.FromSlogHandler(logger.Handler()))
}

// newSet starts one goroutine per member, each with a queue of queueLen
// intervals (at least 1).
func newSet(logger *slog.Logger, queueLen int, members []*member) *Set {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Set{logger: logger, members: members, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, m := range members {
		m.q.init(max(queueLen, 1))
		wg.Go(func() { s.run(ctx, m) })
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
	return s
}

// Emit queues iv for every emitter and returns at once; it never waits for
// a collector. It fails only if the Set is closed or ctx is already done.
func (s *Set) Emit(ctx context.Context, iv Interval) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, m := range s.members {
		if m.q.push(iv) {
			m.dropped.Add(1)
		}
	}
	return nil
}

// run is a member's goroutine: it delivers queued intervals in order until
// the queue is closed and empty, or ctx is cancelled by Close.
func (s *Set) run(ctx context.Context, m *member) {
	log := s.logger.With("emitter", m.name, "target", m.target)
	failing := false
	var failedSince uint64
	for {
		iv, ok := m.q.pop(ctx)
		if !ok {
			return
		}
		dctx, cancel := context.WithTimeout(ctx, m.timeout)
		err := m.em.Emit(dctx, iv)
		cancel()
		switch {
		case err != nil:
			m.failed.Add(1)
			failedSince++
			if !failing {
				failing = true
				log.Warn("emitter failing; logging again when it recovers", "err", err)
			}
		default:
			m.sent.Add(1)
			if failing {
				failing = false
				log.Info("emitter recovered", "failed_intervals", failedSince)
				failedSince = 0
			}
		}
	}
}

// Close stops taking intervals, delivers what is queued within ctx's
// deadline, then closes every emitter. If ctx ends first, deliveries in
// flight are cancelled, what is still queued is counted as dropped, and
// Close returns an error wrapping ctx's. The goroutines have ended when
// Close returns. A second Close does nothing.
func (s *Set) Close(ctx context.Context) error {
	var errs []error
	if err := s.Flush(ctx); err != nil {
		errs = append(errs, err)
	}
	if !s.shut.CompareAndSwap(false, true) {
		return errors.Join(errs...)
	}
	for _, m := range s.members {
		if err := m.em.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", m.name, err))
		}
	}
	return errors.Join(errs...)
}

// Flush is Close without closing the emitters: it delivers what is queued
// and in flight within ctx, counts what is left as dropped, and stops the
// emitters' goroutines, but leaves their connections to the kernel. It is
// for a process about to exit, whose sockets close with it: closing an
// OTLP/gRPC exporter (its connection, resolver and balancer) made most of
// what the plugin's exit added to an auditd 4.2 reload (e2e/README.md).
// After Flush, Emit fails and Close only closes the emitters.
func (s *Set) Flush(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	for _, m := range s.members {
		m.q.close()
	}
	defer s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	// Emitters honour their context, so this wait is short.
	<-s.done
	var left uint64
	for _, m := range s.members {
		n := uint64(m.q.len())
		m.dropped.Add(n)
		left += n
	}
	return fmt.Errorf("close: %d queued intervals not delivered: %w", left, context.Cause(ctx))
}

// Stats returns the cumulative delivery counts over all emitters. It is
// safe to call at any time, from any goroutine.
func (s *Set) Stats() Stats {
	var st Stats
	for _, m := range s.members {
		st.Sent += m.sent.Load()
		st.Failed += m.failed.Load()
		st.Dropped += m.dropped.Load()
	}
	return st
}

// Check tries every emitter, in configuration order, within ctx: OTLP
// exports an empty request, statsd checks its socket or resolves its host.
// Emitters that cannot be checked (stdout) pass.
func (s *Set) Check(ctx context.Context) []CheckResult {
	// checker is what an emitter implements to be checked.
	type checker interface {
		Check(ctx context.Context) error
	}
	res := make([]CheckResult, 0, len(s.members))
	for _, m := range s.members {
		r := CheckResult{Emitter: m.name, Target: m.target}
		if c, ok := m.em.(checker); ok {
			r.Err = c.Check(ctx)
		}
		res = append(res, r)
	}
	return res
}

// queue is a bounded FIFO of intervals that drops its oldest when full.
type queue struct {
	mu     sync.Mutex
	items  []Interval // ring buffer of cap size
	head   int
	n      int
	closed bool
	peak   int           // highest n ever, for tests
	wake   chan struct{} // buffered 1: an item was pushed or the queue closed
}

func (q *queue) init(size int) {
	q.items = make([]Interval, size)
	q.wake = make(chan struct{}, 1)
}

// push appends iv, dropping the oldest interval if the queue is full, and
// reports whether it dropped one. A closed queue takes nothing.
func (q *queue) push(iv Interval) (dropped bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.items) {
		q.items[q.head] = Interval{}
		q.head = (q.head + 1) % len(q.items)
		q.n--
		dropped = true
	}
	q.items[(q.head+q.n)%len(q.items)] = iv
	q.n++
	q.peak = max(q.peak, q.n)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return dropped
}

// pop removes and returns the oldest interval, waiting for one. It reports
// false when the queue is closed and empty, or ctx is done.
func (q *queue) pop(ctx context.Context) (Interval, bool) {
	for {
		if ctx.Err() != nil {
			return Interval{}, false
		}
		q.mu.Lock()
		if q.n > 0 {
			iv := q.items[q.head]
			q.items[q.head] = Interval{}
			q.head = (q.head + 1) % len(q.items)
			q.n--
			q.mu.Unlock()
			return iv, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return Interval{}, false
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			return Interval{}, false
		}
	}
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
