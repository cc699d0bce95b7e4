package emit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/resolver"
)

// defaultOTLPTimeout bounds one export when the configuration gives no
// positive otlp_timeout.
const defaultOTLPTimeout = 10 * time.Second

// scopeName is the instrumentation scope of every metric.
const scopeName = "github.com/audisp-backlog/audisp-backlog/emit"

// OTLP exports each interval once, as OpenTelemetry metrics, over OTLP/gRPC
// or OTLP/HTTP. It collects from an SDK MeterProvider through a
// ManualReader when Emit is called, and at no other time: there is no
// PeriodicReader and no timer.
//
// Every metric of [Metrics] is an observable instrument that reports only
// the interval being emitted, so nothing stale is re-exported: gauges as
// gauges, with StartTime = Interval.Start; counters as monotonic sums with
// cumulative temporality, with StartTime = Interval.CounterStart. Every
// point has Time = Interval.End.
type OTLP struct {
	protocol string
	target   string   // endpoint as configured, or where it comes from
	url      *url.URL // the endpoint, nil when the environment gives it
	res      *resource.Resource
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
	exporter sdkmetric.Exporter
	inst     []metric.Observable // one per entry of metrics

	mu     sync.Mutex
	closed bool
	// cur is the interval being emitted, read by the observe callback,
	// which runs inside reader.Collect called from Emit with mu held.
	cur    Interval
	points []Point // scratch for observe
}

var _ Emitter = (*OTLP)(nil)

// NewOTLP builds an OTLP emitter from the otlp_* keys and
// resource_attributes. version becomes service.version. Keys given in the
// file (c.Given) become explicit exporter options, which beat
// OTEL_EXPORTER_OTLP_* variables; the environment fills in only what the
// file leaves unset (see the package documentation). No connection is
// made until the first Emit or Check.
func NewOTLP(ctx context.Context, c conf.OTLP, version string) (*OTLP, error) {
	return newOTLP(ctx, c, os.Getenv, version)
}

func newOTLP(ctx context.Context, c conf.OTLP, getenv func(string) string, version string) (*OTLP, error) {
	protocol := otlpProtocol(c, getenv)
	tlsCfg, err := otlpTLS(c)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	res, err := otlpResource(ctx, c, version)
	if err != nil {
		return nil, fmt.Errorf("otlp: resource: %w", err)
	}
	ep, err := resolveEndpoint(c, protocol, getenv)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	var exp sdkmetric.Exporter
	switch protocol {
	case conf.ProtocolGRPC:
		exp, err = otlpmetricgrpc.New(ctx, grpcOptions(c, ep, tlsCfg)...)
	case conf.ProtocolHTTP:
		exp, err = otlpmetrichttp.New(ctx, httpOptions(c, ep, tlsCfg)...)
	default:
		return nil, fmt.Errorf("otlp: protocol %q: want %s or %s", protocol, conf.ProtocolGRPC, conf.ProtocolHTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp: %s exporter: %w", protocol, err)
	}
	target := ep.url
	var u *url.URL
	if target == "" {
		target = "(" + ep.env + ")"
	} else if u, err = url.Parse(ep.url); err != nil {
		return nil, fmt.Errorf("otlp: endpoint %s: %w", ep.url, err)
	}
	o := &OTLP{
		protocol: protocol,
		target:   target,
		url:      u,
		res:      res,
		reader:   sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(exp.Temporality)),
		exporter: exp,
	}
	o.provider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.reader), sdkmetric.WithResource(res))
	if err := o.instruments(version); err != nil {
		return nil, errors.Join(fmt.Errorf("otlp: instruments: %w", err), o.shutdown(ctx))
	}
	return o, nil
}

func (o *OTLP) instruments(version string) error {
	m := o.provider.Meter(scopeName, metric.WithInstrumentationVersion(version))
	o.inst = make([]metric.Observable, len(metrics))
	var errs []error
	for i, mt := range metrics {
		unit, desc := metric.WithUnit(mt.Unit), metric.WithDescription(mt.Description)
		var err error
		switch {
		case mt.Kind == Histogram:
			// The SDK has no observable histogram: Emit adds these to
			// what the reader collected (addHistograms).
			continue
		case mt.Kind == Gauge && mt.Float:
			o.inst[i], err = m.Float64ObservableGauge(mt.Name, unit, desc)
		case mt.Kind == Gauge:
			o.inst[i], err = m.Int64ObservableGauge(mt.Name, unit, desc)
		case mt.Float:
			o.inst[i], err = m.Float64ObservableCounter(mt.Name, unit, desc)
		default:
			o.inst[i], err = m.Int64ObservableCounter(mt.Name, unit, desc)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var observed []metric.Observable
	for _, inst := range o.inst {
		if inst != nil {
			observed = append(observed, inst)
		}
	}
	_, err := m.RegisterCallback(o.observe, observed...)
	return err
}

// observe reports o.cur. It runs inside reader.Collect, called by Emit with
// o.mu held.
func (o *OTLP) observe(_ context.Context, ob metric.Observer) error {
	for i := range metrics {
		mt := &metrics[i]
		o.points = mt.Points(&o.cur, o.points[:0])
		for _, p := range o.points {
			var opts []metric.ObserveOption
			if mt.Attr != "" && p.Attr != "" {
				opts = append(opts, metric.WithAttributes(attribute.String(mt.Attr, p.Attr)))
			}
			switch inst := o.inst[i].(type) {
			case nil:
			case metric.Int64Observable:
				ob.ObserveInt64(inst, p.Int, opts...)
			case metric.Float64Observable:
				ob.ObserveFloat64(inst, p.Float, opts...)
			}
		}
	}
	return nil
}

// Emit collects iv's metrics and exports them once, within ctx.
func (o *OTLP) Emit(ctx context.Context, iv Interval) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	o.cur = iv
	var rm metricdata.ResourceMetrics
	if err := o.reader.Collect(ctx, &rm); err != nil {
		return fmt.Errorf("otlp: collect: %w", err)
	}
	addHistograms(&rm, &iv)
	stamp(&rm, iv)
	if err := o.exporter.Export(ctx, &rm); err != nil {
		return fmt.Errorf("otlp: export to %s: %w", o.target, err)
	}
	return nil
}

// addHistograms adds iv's Histogram metrics to rm's scope, as
// cumulative explicit-bucket histograms with one point each.
func addHistograms(rm *metricdata.ResourceMetrics, iv *Interval) {
	for i := range metrics {
		mt := &metrics[i]
		h := mt.Histogram(iv)
		if h == nil {
			continue
		}
		if len(rm.ScopeMetrics) == 0 {
			rm.ScopeMetrics = append(rm.ScopeMetrics, metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: scopeName}})
		}
		dp := metricdata.HistogramDataPoint[int64]{
			StartTime: iv.CounterStart, Time: iv.End,
			Count:        h.Count,
			Sum:          clampInt64(h.Sum),
			Bounds:       make([]float64, max(len(h.Counts)-1, 0)),
			BucketCounts: slices.Clone(h.Counts),
		}
		for k := range dp.Bounds {
			dp.Bounds[k] = float64(DepthBound(k))
		}
		sm := &rm.ScopeMetrics[0]
		sm.Metrics = append(sm.Metrics, metricdata.Metrics{
			Name: mt.Name, Description: mt.Description, Unit: mt.Unit,
			Data: metricdata.Histogram[int64]{
				Temporality: metricdata.CumulativeTemporality,
				DataPoints:  []metricdata.HistogramDataPoint[int64]{dp},
			},
		})
	}
}

// stamp sets every data point's times from the interval, replacing the
// SDK's collection time: gauges cover [Start, End]; sums count from
// CounterStart.
func stamp(rm *metricdata.ResourceMetrics, iv Interval) {
	for i := range rm.ScopeMetrics {
		for _, m := range rm.ScopeMetrics[i].Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				setTimes(d.DataPoints, iv.Start, iv.End)
			case metricdata.Gauge[float64]:
				setTimes(d.DataPoints, iv.Start, iv.End)
			case metricdata.Sum[int64]:
				setTimes(d.DataPoints, iv.CounterStart, iv.End)
			case metricdata.Sum[float64]:
				setTimes(d.DataPoints, iv.CounterStart, iv.End)
			}
		}
	}
}

func setTimes[N int64 | float64](dps []metricdata.DataPoint[N], start, end time.Time) {
	for i := range dps {
		dps[i].StartTime, dps[i].Time = start, end
	}
}

// Check exports a request with the resource and no metrics, within ctx,
// and reports the collector's answer.
//
// It first connects to the collector's address, so that nothing
// listening there fails at once instead of after the export's retries. A
// failure it recognizes (TLS against plain text, gRPC against OTLP/HTTP,
// an unknown CA, a wrong path) comes as a *FixError naming the setting to
// change.
func (o *OTLP) Check(ctx context.Context) error {
	if o.url != nil {
		host := o.url.Host
		if o.url.Port() == "" {
			host = net.JoinHostPort(o.url.Hostname(), map[string]string{"http": "80", "https": "443"}[o.url.Scheme])
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			var dnsErr *net.DNSError
			switch {
			case errors.Is(err, syscall.ECONNREFUSED):
				return fmt.Errorf("otlp: nothing listens on %s (connection refused): is the collector running, on this port?", host)
			case errors.As(err, &dnsErr):
				return fmt.Errorf("otlp: cannot resolve %s: %w", o.url.Hostname(), err)
			}
			return fmt.Errorf("otlp: connect to %s: %w", host, err)
		}
		c.Close()
	}
	if err := o.exporter.Export(ctx, &metricdata.ResourceMetrics{Resource: o.res}); err != nil {
		err = fmt.Errorf("otlp: export to %s: %w", o.target, err)
		if fix, ok := o.fixFor(err); ok {
			return &FixError{Err: err, Fix: fix}
		}
		return err
	}
	return nil
}

// Fix is the setting that most likely mends a failed check.
type Fix struct {
	Key, Value string // the line to write: "Key = Value"
	Why        string
}

// FixError is a failed check with the setting that most likely mends it.
type FixError struct {
	Err error
	Fix Fix
}

func (e *FixError) Error() string { return e.Err.Error() }
func (e *FixError) Unwrap() error { return e.Err }

// fixFor recognizes the failures of an export that one setting mends,
// from the words the TLS, HTTP and gRPC libraries use for them.
func (o *OTLP) fixFor(err error) (Fix, bool) {
	s := err.Error()
	plain := o.url != nil && o.url.Scheme == "http"
	switch {
	case strings.Contains(s, "first record does not look like a TLS handshake"),
		strings.Contains(s, "server gave HTTP response to HTTPS client"):
		return Fix{"otlp_insecure", "yes", "the collector listens without TLS (as an OpenTelemetry Collector or a Datadog Agent does by default)"}, true
	case strings.Contains(s, "Client sent an HTTP request to an HTTPS server"),
		// A TLS server drops a plain-text client's connection at once:
		// closed (EOF), or reset when it closed with the client's
		// preface unread, whichever the race gives.
		plain && strings.Contains(s, "error reading server preface: EOF"),
		plain && strings.Contains(s, "error reading server preface: connection reset by peer"):
		return Fix{"otlp_insecure", "no", "the collector wants TLS"}, true
	case strings.Contains(s, "malformed HTTP response") && strings.Contains(s, `\x00\x00`),
		// An HTTP/2 server speaks first (its SETTINGS frame): net/http
		// then fails the request with one of two wordings.
		strings.Contains(s, "readLoopPeekFailLocked"):
		return Fix{"otlp_protocol", conf.ProtocolGRPC, "this port speaks OTLP/gRPC (OTLP/HTTP listens on port 4318 by default)"}, true
	case strings.Contains(s, "frame header looked like an HTTP/1.1 header"):
		return Fix{"otlp_protocol", conf.ProtocolHTTP, "this port speaks HTTP/1.1, as OTLP/HTTP does (OTLP/gRPC listens on port 4317 by default)"}, true
	case strings.Contains(s, "certificate signed by unknown authority"):
		return Fix{"otlp_ca_file", "/etc/ssl/certs/collector-ca.pem", "the collector's certificate is not signed by a CA this host trusts: give the CA's PEM file"}, true
	case strings.Contains(s, "404 Not Found"):
		return Fix{"otlp_endpoint", "http://HOST:PORT/PATH", "nothing at this path takes OTLP: an OpenTelemetry Collector takes /v1/metrics, Prometheus /api/v1/otlp/v1/metrics"}, true
	}
	return Fix{}, false
}

// Close shuts the exporter down, closing its connection, within ctx. A
// second Close does nothing.
func (o *OTLP) Close(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	return o.shutdown(ctx)
}

func (o *OTLP) shutdown(ctx context.Context) error {
	var errs []error
	if err := o.provider.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("otlp: shutdown provider: %w", err))
	}
	if err := o.exporter.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("otlp: shutdown exporter: %w", err))
	}
	return errors.Join(errs...)
}

// otlpProtocol is otlp_protocol if the file sets it, else
// OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, the
// configured default, and grpc, in that order.
func otlpProtocol(c conf.OTLP, getenv func(string) string) string {
	if !c.Given.Protocol {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
			if v := getenv(k); v != "" {
				return v
			}
		}
	}
	if c.Protocol == "" {
		return conf.ProtocolGRPC
	}
	return c.Protocol
}

// otlpTimeout is the bound of one export.
func otlpTimeout(c conf.OTLP) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return defaultOTLPTimeout
}

// otlpTLS builds the TLS configuration from otlp_ca_file, otlp_cert_file
// and otlp_key_file, or returns nil if none is given.
func otlpTLS(c conf.OTLP) (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" && c.KeyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("otlp_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("otlp_ca_file: %s: no PEM certificate found", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("otlp_cert_file and otlp_key_file must be given together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("otlp_cert_file, otlp_key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// otlpResource is service.name=audisp-backlog, service.version, host.name,
// then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, then
// resource_attributes; later sources win.
func otlpResource(ctx context.Context, c conf.OTLP, version string) (*resource.Resource, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("host.name: %w", err)
	}
	base := []attribute.KeyValue{
		attribute.String("service.name", "audisp-backlog"),
		attribute.String("service.version", version),
		attribute.String("host.name", host),
	}
	keys := make([]string, 0, len(c.ResourceAttributes))
	for k := range c.ResourceAttributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	configured := make([]attribute.KeyValue, 0, len(keys))
	for _, k := range keys {
		configured = append(configured, attribute.String(k, c.ResourceAttributes[k]))
	}
	return resource.New(ctx,
		resource.WithAttributes(base...),
		resource.WithFromEnv(),
		resource.WithAttributes(configured...))
}

// retryBackoff paces the exporter's retries of one export, which stop at
// the export's deadline.
const (
	retryInitial = 500 * time.Millisecond
	retryMax     = 5 * time.Second
)

// endpoint is where the exporter sends.
type endpoint struct {
	// url is scheme://host:port[/path]: the file's otlp_endpoint, or its
	// default, with the scheme that otlp_insecure (or auto) chose. It is
	// "" when the environment gives the endpoint instead.
	url string
	// env names the variable that gives the endpoint, and its value.
	env string
}

// resolveEndpoint says where the exporter sends: where otlp_endpoint says
// (or its default, localhost:4317 or :4318), unless the file leaves it
// unset and an OTEL_EXPORTER_OTLP_*ENDPOINT variable gives it. A
// host:port gets the scheme of otlp_insecure as resolved by conf (auto:
// plain text on this host); with OTLP/HTTP a URL without a path gets
// /v1/metrics, and any other path is used as given.
func resolveEndpoint(c conf.OTLP, protocol string, getenv func(string) string) (endpoint, error) {
	if !c.Given.Endpoint {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
			if v := getenv(k); v != "" {
				return endpoint{env: k + "=" + v}, nil
			}
		}
	}
	if strings.Contains(c.Endpoint, "://") {
		u, err := url.Parse(c.Endpoint)
		if err != nil {
			return endpoint{}, fmt.Errorf("otlp_endpoint: %w", err)
		}
		if protocol == conf.ProtocolHTTP && (u.Path == "" || u.Path == "/") {
			u.Path = "/v1/metrics"
		}
		return endpoint{url: u.String()}, nil
	}
	scheme := "https://"
	if c.Insecure {
		scheme = "http://"
	}
	u := scheme + c.Endpoint
	if protocol == conf.ProtocolHTTP {
		u += "/v1/metrics"
	}
	return endpoint{url: u}, nil
}

// resolveAtDial stands in for gRPC's "dns" resolver, the default for an
// endpoint without a scheme, with its "passthrough" one: the endpoint goes
// to the dialer as given, so Go's resolver looks the name up at each
// connection attempt, paced by the reconnect backoff (retryMax at most),
// as net/http does for OTLP/HTTP. gRPC's own DNS resolver, after a lookup
// that failed (a name that does not resolve yet, at boot, before the
// network is up), retries with a backoff of up to two minutes before the
// exporter could connect.
type resolveAtDial struct{ resolver.Builder }

// Scheme is the scheme resolveAtDial takes over.
func (resolveAtDial) Scheme() string { return "dns" }

func grpcOptions(c conf.OTLP, ep endpoint, tlsCfg *tls.Config) []otlpmetricgrpc.Option {
	timeout := otlpTimeout(c)
	opts := []otlpmetricgrpc.Option{
		otlpmetricgrpc.WithTemporalitySelector(sdkmetric.DefaultTemporalitySelector),
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{
			Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: timeout,
		}),
		// One call: each WithDialOption replaces the previous one's.
		otlpmetricgrpc.WithDialOption(
			// Reconnect within seconds of a collector's return, not
			// gRPC's default of up to two minutes.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: retryInitial, Multiplier: 1.6, Jitter: 0.2, MaxDelay: retryMax},
				MinConnectTimeout: timeout,
			}),
			grpc.WithResolvers(resolveAtDial{resolver.Get("passthrough")}),
		),
	}
	switch {
	case ep.url != "":
		// The scheme says TLS (https) or plain text (http).
		opts = append(opts, otlpmetricgrpc.WithEndpointURL(ep.url))
	case c.Given.Insecure && c.Insecure:
		opts = append(opts, otlpmetricgrpc.WithInsecure())
	}
	if tlsCfg != nil {
		opts = append(opts, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
	}
	if c.Given.Headers {
		opts = append(opts, otlpmetricgrpc.WithHeaders(c.Headers))
	}
	if c.Given.Compression && c.Compression == conf.CompressionGzip {
		// There is no option for "none" that would beat
		// OTEL_EXPORTER_OTLP_COMPRESSION=gzip without logging an error; see
		// doc.go.
		opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
	}
	if c.Given.Timeout {
		opts = append(opts, otlpmetricgrpc.WithTimeout(timeout))
	}
	return opts
}

func httpOptions(c conf.OTLP, ep endpoint, tlsCfg *tls.Config) []otlpmetrichttp.Option {
	timeout := otlpTimeout(c)
	opts := []otlpmetrichttp.Option{
		otlpmetrichttp.WithTemporalitySelector(sdkmetric.DefaultTemporalitySelector),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{
			Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: timeout,
		}),
	}
	switch {
	case ep.url != "":
		opts = append(opts, otlpmetrichttp.WithEndpointURL(ep.url))
	case c.Given.Insecure && c.Insecure:
		opts = append(opts, otlpmetrichttp.WithInsecure())
	}
	if tlsCfg != nil {
		opts = append(opts, otlpmetrichttp.WithTLSClientConfig(tlsCfg))
	}
	if c.Given.Headers {
		opts = append(opts, otlpmetrichttp.WithHeaders(c.Headers))
	}
	if c.Given.Compression {
		comp := otlpmetrichttp.NoCompression
		if c.Compression == conf.CompressionGzip {
			comp = otlpmetrichttp.GzipCompression
		}
		opts = append(opts, otlpmetrichttp.WithCompression(comp))
	}
	if c.Given.Timeout {
		opts = append(opts, otlpmetrichttp.WithTimeout(timeout))
	}
	return opts
}
