package emit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/DataDog/datadog-go/v5/statsd"
	"github.com/audisp-backlog/audisp-backlog/conf"
)

const (
	// statsdWriteTimeout bounds one datagram write to a unix socket whose
	// reader is not keeping up.
	statsdWriteTimeout = time.Second
	// statsdFlushEvery is the datadog-go client's own flush period, set
	// far beyond any interval so that only Emit's Flush sends: the loop is
	// the only clock.
	statsdFlushEvery = 24 * time.Hour
	// Packet size bounds, as datadog-go's defaults.
	udpPayload  = 1432
	unixPayload = 8192
	// statsdBuffers is the datadog-go client's buffer pool and sender
	// queue length.
	statsdBuffers = 8
)

// StatsD sends each interval as statsd lines, then flushes. With
// statsd_tag_format = dogstatsd it formats them with the datadog-go client,
// with client telemetry, client-side aggregation and origin detection off,
// so every gauge line of an interval is sent as is; with none it writes
// plain statsd lines itself (see the package documentation for the line
// formats). Either way the datagrams go through the emitter's own socket.
//
// Gauges are sent as gauges (|g). Cumulative counters are sent as counts
// (|c) of their increase since the previous interval this emitter built;
// a decrease means the counter was reset, and the new value is sent. For
// the first interval an emitter sees, kernel counters (Metric.SinceBoot:
// lost, wait_time) send 0 (their value then is only a baseline), and the
// plugin's counters send their value if the interval starts at
// CounterStart (the plugin's first interval), else 0 (an emitter opened
// later, after a reload).
//
// Over UDP nothing says whether a server listens, except the ICMP
// "port unreachable" a refused datagram may bring back, which the kernel
// reports on a later write. Emit therefore first collects that pending
// error and fails if the previous interval was refused, then sends the
// interval anyway: while nobody listens every Emit fails, consistently,
// and the first interval after the server returns succeeds.
type StatsD struct {
	target    string
	namespace string
	sock      *datagram

	client *statsd.Client // dogstatsd format; nil for plain statsd
	plain  []byte         // plain statsd: scratch packet

	mu     sync.Mutex
	closed bool
	built  bool              // an interval was built: prev holds its counters
	prev   map[string]uint64 // counter values last built, by series key
	lines  []sample          // scratch, reused
	points []Point           // scratch, reused

	errMu sync.Mutex
	errs  []error // from datadog-go's error handler, drained by Emit
}

var _ Emitter = (*StatsD)(nil)

// maxSendErrors bounds the errors an Emit keeps from the client.
const maxSendErrors = 4

// NewStatsD builds a statsd emitter from cfg's statsd_* keys. The address
// is "host:port" (UDP) or "unix:///path" (a unix datagram socket). Nothing
// is resolved or connected until the first Emit, so a name that does not
// resolve yet, or a socket not there yet, fails deliveries, not the
// emitter: they succeed once the network or the server is up. Global tags
// (statsd_tags) need statsd_tag_format = dogstatsd.
func NewStatsD(cfg conf.StatsD) (*StatsD, error) {
	sock := newDatagram(cfg.Address)
	s := &StatsD{target: cfg.Address, namespace: cfg.Namespace, sock: sock, prev: map[string]uint64{}}
	switch cfg.TagFormat {
	case conf.TagFormatDogStatsD, "":
		c, err := statsd.NewWithWriter(sock,
			statsd.WithNamespace(cfg.Namespace),
			statsd.WithTags(cfg.Tags),
			statsd.WithoutTelemetry(),
			statsd.WithoutClientSideAggregation(),
			statsd.WithoutOriginDetection(),
			statsd.WithWorkersCount(1),
			statsd.WithMaxBytesPerPayload(sock.payload),
			// An interval is a few packets; the defaults preallocate
			// megabytes of buffers.
			statsd.WithBufferPoolSize(statsdBuffers),
			statsd.WithSenderQueueSize(statsdBuffers),
			statsd.WithBufferFlushInterval(statsdFlushEvery),
			statsd.WithErrorHandler(s.recordError))
		if err != nil {
			sock.Close()
			return nil, fmt.Errorf("statsd: client for %s: %w", cfg.Address, err)
		}
		s.client = c
	case conf.TagFormatNone:
		if len(cfg.Tags) > 0 {
			sock.Close()
			return nil, errors.New("statsd: statsd_tags need statsd_tag_format = dogstatsd")
		}
	default:
		sock.Close()
		return nil, fmt.Errorf("statsd: statsd_tag_format %q: want %s or %s", cfg.TagFormat, conf.TagFormatDogStatsD, conf.TagFormatNone)
	}
	return s, nil
}

func (s *StatsD) recordError(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if len(s.errs) < maxSendErrors {
		s.errs = append(s.errs, err)
	}
}

func (s *StatsD) takeErrors() []error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	errs := s.errs
	s.errs = nil
	return errs
}

// sample is one statsd line before formatting: a gauge or a count, with at
// most one tag.
type sample struct {
	name     string // without namespace
	gauge    bool
	f        float64 // gauge value
	n        int64   // count value
	tag, val string  // tag key and value, or ""
}

// Emit sends iv's lines and flushes them. Each write is bounded by a
// write timeout (and ctx's deadline, for plain statsd).
func (s *StatsD) Emit(ctx context.Context, iv Interval) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("statsd: %w", err)
	}
	var errs []error
	if err := s.sock.pendingError(); err != nil {
		errs = append(errs, fmt.Errorf("previous interval refused: %w", err))
	}
	s.lines = s.build(s.lines[:0], iv)
	if s.client != nil {
		errs = append(errs, s.sendDogStatsD(s.lines))
	} else {
		errs = append(errs, s.sendPlain(ctx, s.lines))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("statsd: send to %s: %w", s.target, err)
	}
	return nil
}

func (s *StatsD) sendDogStatsD(lines []sample) error {
	s.takeErrors() // errors from before this interval are not this interval's
	var errs []error
	for _, l := range lines {
		var tags []string
		if l.tag != "" {
			tags = []string{l.tag + ":" + l.val}
		}
		var err error
		if l.gauge {
			err = s.client.Gauge(l.name, l.f, tags, 1)
		} else {
			err = s.client.Count(l.name, l.n, tags, 1)
		}
		if err != nil {
			errs = append(errs, err)
			break
		}
	}
	// Flush returns once the client's sender has written every buffer; its
	// write errors reach recordError before that.
	if err := s.client.Flush(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(append(errs, s.takeErrors()...)...)
}

// build appends iv's samples to b, one per point of every metric,
// updating s.prev.
func (s *StatsD) build(b []sample, iv Interval) []sample {
	first := !s.built
	s.built = true
	kernelBase := first
	pluginBase := first && iv.Start.After(iv.CounterStart)
	for i := range metrics {
		m := &metrics[i]
		name := m.ShortName()
		s.points = m.Points(&iv, s.points[:0])
		for _, p := range s.points {
			var tag, val string
			if m.Attr != "" && p.Attr != "" {
				tag, val = m.Attr, sanitize(p.Attr)
			}
			if m.Kind == Gauge {
				f := p.Float
				if !m.Float {
					f = float64(p.Int)
				}
				b = append(b, sample{name: name, gauge: true, f: f, tag: tag, val: val})
				continue
			}
			baseline := pluginBase
			if m.SinceBoot {
				baseline = kernelBase
			}
			c := s.count(name, tag, val, uint64(max(p.Int, 0)), baseline)
			if m.Kind == Histogram && c.n == 0 {
				continue // a bucket nothing fell in: most of them, every interval
			}
			b = append(b, c)
		}
	}
	return b
}

// count is the sample of a counter's increase since the interval this
// emitter built before. A series not seen before (the plugin's first
// interval, or a record type counted for the first time) counts from 0;
// with baseline its value is taken as the start and 0 is sent. A decrease
// means the counter was reset, and the new value is sent.
func (s *StatsD) count(name, tag, val string, v uint64, baseline bool) sample {
	key := name + "\x00" + val
	prev := s.prev[key]
	if baseline {
		prev = v
	}
	d := v
	if v >= prev {
		d = v - prev
	}
	s.prev[key] = v
	return sample{name: name, n: clampInt64(d), tag: tag, val: val}
}

// sanitize replaces the characters that would break a statsd line or a
// tag (":|@#,", whitespace) with "_".
func sanitize(s string) string {
	if !strings.ContainsAny(s, ":|@#, \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(":|@#, \t\r\n", r) {
			return '_'
		}
		return r
	}, s)
}

// Check reports whether the address can be used: for a unix socket, that
// the path exists, is a socket and accepts a connection; for UDP, that
// the host resolves (UDP cannot tell whether anyone listens).
func (s *StatsD) Check(ctx context.Context) error {
	network, addr := statsdNetwork(s.target)
	if network == "udp" {
		if _, err := net.DefaultResolver.LookupNetIP(ctx, "ip", hostOf(addr)); err != nil {
			return fmt.Errorf("statsd: resolve %s: %w", addr, err)
		}
		return nil
	}
	fi, err := os.Stat(addr)
	if err != nil {
		return fmt.Errorf("statsd: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("statsd: %s is not a socket", addr)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixgram", addr)
	if err != nil {
		return fmt.Errorf("statsd: %w", err)
	}
	return c.Close()
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// Close flushes what is buffered and closes the socket. A second Close
// does nothing.
func (s *StatsD) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.client != nil {
		// Flushes, then closes the socket through its writer.
		if err := s.client.Close(); err != nil {
			return fmt.Errorf("statsd: close: %w", err)
		}
		return nil
	}
	if err := s.sock.Close(); err != nil {
		return fmt.Errorf("statsd: close: %w", err)
	}
	return nil
}

// statsdNetwork splits a statsd_address into "udp" or "unixgram" and the
// address proper.
func statsdNetwork(address string) (network, addr string) {
	for _, p := range []string{"unix://", "unixgram://"} {
		if after, ok := strings.CutPrefix(address, p); ok {
			return "unixgram", after
		}
	}
	return "udp", strings.TrimPrefix(address, "udp://")
}

// appendPlain formats one line, folding the tag value into the name
// (backlog.max_depth.kernel, backlog.resets.own, plugin.records.SYSCALL).
func appendPlain(b []byte, namespace string, l sample) []byte {
	b = append(b, namespace...)
	b = append(b, l.name...)
	if l.tag != "" {
		b = append(b, '.')
		b = append(b, l.val...)
	}
	b = append(b, ':')
	if l.gauge {
		b = strconv.AppendFloat(b, l.f, 'f', -1, 64)
		return append(b, "|g"...)
	}
	b = strconv.AppendInt(b, l.n, 10)
	return append(b, "|c"...)
}

// sendPlain writes plain statsd lines, newline-separated, in packets of
// at most the socket's payload size.
func (s *StatsD) sendPlain(ctx context.Context, lines []sample) error {
	if d, ok := ctx.Deadline(); ok {
		s.sock.setDeadline(d)
		defer s.sock.setDeadline(time.Time{})
	}
	pkt := s.plain[:0]
	var line []byte
	for _, l := range lines {
		line = appendPlain(line[:0], s.namespace, l)
		if len(pkt) > 0 && len(pkt)+1+len(line) > s.sock.payload {
			if _, err := s.sock.Write(pkt); err != nil {
				return err
			}
			pkt = pkt[:0]
		}
		if len(pkt) > 0 {
			pkt = append(pkt, '\n')
		}
		pkt = append(pkt, line...)
	}
	s.plain = pkt
	if len(pkt) > 0 {
		_, err := s.sock.Write(pkt)
		return err
	}
	return nil
}

// Pacing of a UDP statsd socket's dials after one failed: the host name
// did not resolve (at boot, before the network is up) or there was no
// route. Each failure doubles the wait, from statsdRedialMin up to
// statsdRedialMax; a write during the wait fails at once with the last
// dial's error, so a name that does not resolve costs at most one lookup
// per wait, whatever the interval.
const (
	statsdRedialMin = time.Second
	statsdRedialMax = 30 * time.Second
)

// datagram is a statsd socket, dialled on first use, never when made, so
// that an emitter opens whatever the state of the network: UDP (the host
// name is resolved at each dial) or a unix datagram socket. A UDP socket
// is dialled again after a failed dial (with backoff) and after the kernel
// reported a refused datagram (so a server that moved is found again); a
// unix socket after a failed write. It is the io.WriteCloser under the
// datadog-go client, whose sender goroutine writes to it.
type datagram struct {
	network, addr string
	payload       int // largest packet to send
	// dial is net.Dialer.DialContext, and now the clock of the backoff
	// (time.Now); tests replace them.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	now  func() time.Time

	mu       sync.Mutex
	conn     net.Conn
	deadline time.Time // an earlier bound than statsdWriteTimeout, or zero
	// After a failed UDP dial: its error, when to dial again, and how long
	// to wait after the next failure.
	dialErr  error
	redialAt time.Time
	backoff  time.Duration
}

func newDatagram(address string) *datagram {
	network, addr := statsdNetwork(address)
	d := &datagram{network: network, addr: addr, payload: unixPayload,
		dial: new(net.Dialer).DialContext, now: time.Now, backoff: statsdRedialMin}
	if network == "udp" {
		d.payload = udpPayload
	}
	return d
}

func (d *datagram) setDeadline(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deadline = t
}

// Write sends p as one datagram, dialling first if needed.
func (d *datagram) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	deadline := time.Now().Add(statsdWriteTimeout)
	if !d.deadline.IsZero() && d.deadline.Before(deadline) {
		deadline = d.deadline
	}
	if d.conn == nil {
		if err := d.connect(deadline); err != nil {
			return 0, err
		}
	}
	if err := d.conn.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := d.conn.Write(p)
	var ne net.Error
	if err != nil && d.network == "unixgram" && !(errors.As(err, &ne) && ne.Timeout()) {
		d.conn.Close() // the server went away; the next write dials again
		d.conn = nil
	}
	return n, err
}

// connect dials the socket by deadline, resolving a UDP host name again.
// After a failed UDP dial it waits (d.backoff, doubled at each failure)
// before it dials again, and meanwhile returns the failed dial's error.
// The caller holds d.mu.
func (d *datagram) connect(deadline time.Time) error {
	if d.network == "udp" && d.dialErr != nil && d.now().Before(d.redialAt) {
		return d.dialErr
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c, err := d.dial(ctx, d.network, d.addr)
	if err != nil {
		if d.network == "udp" {
			d.dialErr = fmt.Errorf("%w (next try in %v)", err, d.backoff)
			d.redialAt = d.now().Add(d.backoff)
			d.backoff = min(2*d.backoff, statsdRedialMax)
			return d.dialErr
		}
		return err
	}
	d.conn, d.dialErr, d.backoff = c, nil, statsdRedialMin
	return nil
}

// pendingError returns and clears the error the kernel holds for a UDP
// socket (ECONNREFUSED after an ICMP port unreachable), or nil. A socket
// that has one is closed: the next write resolves the name again.
func (d *datagram) pendingError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.network != "udp" || d.conn == nil {
		return nil
	}
	err := socketError(d.conn)
	if err != nil {
		d.conn.Close()
		d.conn = nil
	}
	return err
}

func (d *datagram) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	d.conn = nil
	return err
}
