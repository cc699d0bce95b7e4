package emit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/resolver"
)

// OTLP protocols, the values of otlp_protocol.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// defaultOTLPTimeout bounds one export when the configuration gives no
// positive otlp_timeout.
const defaultOTLPTimeout = 10 * time.Second

// scopeName is the instrumentation scope of every metric.
const scopeName = "github.com/audisp-backlog/audisp-backlog/emit"

// Metric names, units and descriptions (the metric reference).
const (
	nameMaxDepth     = "linux.audit.backlog.max_depth"
	nameSize         = "linux.audit.backlog.size"
	nameMean         = "linux.audit.backlog.mean"
	nameLimit        = "linux.audit.backlog.limit"
	nameUtilization  = "linux.audit.backlog.utilization"
	nameLost         = "linux.audit.lost"
	nameWaitTime     = "linux.audit.backlog.wait_time"
	nameResets       = "linux.audit.backlog.resets"
	nameRecords      = "linux.audit.plugin.records"
	nameMalformed    = "linux.audit.plugin.malformed"
	nameResetsFailed = "linux.audit.plugin.resets_failed"
	nameEmitsFailed  = "linux.audit.plugin.emits_failed"
	nameEmitsDropped = "linux.audit.plugin.emits_dropped"

	nameSamplesSkipped      = "linux.audit.plugin.samples_skipped"
	nameResetRecordsDropped = "linux.audit.plugin.reset_records_dropped"
)

// OTLP exports each interval once, as OpenTelemetry metrics, over OTLP/gRPC
// or OTLP/HTTP. It collects from an SDK MeterProvider through a
// ManualReader when Emit is called, and at no other time: there is no
// PeriodicReader and no timer.
//
// Gauges (max_depth, size, mean, limit, utilization) are observable gauges
// that report only the interval being emitted, so nothing stale is
// re-exported. Their data points carry StartTime = Interval.Start and
// Time = Interval.End. Cumulative sums (lost, wait_time, plugin counters)
// carry StartTime = Interval.CounterStart. backlog.resets is a cumulative
// sum of a running total this emitter keeps from the first interval it
// sees (its StartTime), split by source=own|external.
type OTLP struct {
	protocol string
	target   string // endpoint as configured, or where it comes from
	res      *resource.Resource
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
	exporter sdkmetric.Exporter
	inst     otlpInstruments

	mu     sync.Mutex
	closed bool
	// cur is the interval being emitted, read by the observe callback,
	// which runs inside reader.Collect called from Emit with mu held.
	cur         Interval
	resetsStart time.Time
	resetsOwn   int64
	resetsExt   int64
}

var _ Emitter = (*OTLP)(nil)

type otlpInstruments struct {
	maxDepth, size, limit                         metric.Int64ObservableGauge
	mean, utilization                             metric.Float64ObservableGauge
	lost, waitTime, resets                        metric.Int64ObservableCounter
	records, malformed, resetsFailed, emitsFailed metric.Int64ObservableCounter
	emitsDropped                                  metric.Int64ObservableCounter
	samplesSkipped, resetRecordsDropped           metric.Int64ObservableCounter
}

// NewOTLP builds an OTLP emitter from cfg's otlp_* keys and
// resource_attributes. version becomes service.version. Keys given in the
// file (cfg.IsSet) become explicit exporter options, which beat
// OTEL_EXPORTER_OTLP_* variables; the environment fills in only what the
// file leaves unset (see the package documentation). No connection is
// made until the first Emit or Check.
func NewOTLP(ctx context.Context, cfg conf.Config, version string) (*OTLP, error) {
	return newOTLP(ctx, cfg.OTLP, cfg.IsSet, os.Getenv, version)
}

func newOTLP(ctx context.Context, c conf.OTLP, isSet func(string) bool, getenv func(string) string, version string) (*OTLP, error) {
	protocol := otlpProtocol(c, isSet, getenv)
	tlsCfg, err := otlpTLS(c)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	res, err := otlpResource(ctx, c, version)
	if err != nil {
		return nil, fmt.Errorf("otlp: resource: %w", err)
	}
	var exp sdkmetric.Exporter
	switch protocol {
	case ProtocolGRPC:
		exp, err = otlpmetricgrpc.New(ctx, grpcOptions(c, isSet, tlsCfg)...)
	case ProtocolHTTP:
		var opts []otlpmetrichttp.Option
		opts, err = httpOptions(c, isSet, tlsCfg)
		if err == nil {
			exp, err = otlpmetrichttp.New(ctx, opts...)
		}
	default:
		return nil, fmt.Errorf("otlp: protocol %q: want %s or %s", protocol, ProtocolGRPC, ProtocolHTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp: %s exporter: %w", protocol, err)
	}
	target := c.Endpoint
	if !isSet("otlp_endpoint") {
		target = "(OTEL_EXPORTER_OTLP_ENDPOINT or the exporter's default)"
	}
	o := &OTLP{
		protocol: protocol,
		target:   target,
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
	var errs []error
	i64g := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	f64g := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	ctr := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	in := &o.inst
	in.maxDepth = i64g(nameMaxDepth, "{record}", "Highest depth of the kernel's audit backlog in the interval.")
	in.size = i64g(nameSize, "{record}", "Depth of the kernel's audit backlog at the end of the interval.")
	in.mean = f64g(nameMean, "{record}", "Mean of the backlog depths sampled in the interval.")
	in.limit = i64g(nameLimit, "{record}", "The kernel's backlog_limit; 0 means unlimited.")
	in.utilization = f64g(nameUtilization, "1", "Interval peak divided by backlog_limit.")
	in.lost = ctr(nameLost, "{record}", "Audit records the kernel dropped.")
	in.waitTime = ctr(nameWaitTime, "ms", "Time audited tasks waited for room in a full backlog (backlog_wait_time_actual).")
	in.resets = ctr(nameResets, "{reset}", "Resets of the backlog high-water mark, by source.")
	in.records = ctr(nameRecords, "{record}", "Records the plugin read from auditd, by type.")
	in.malformed = ctr(nameMalformed, "{record}", "Lines the plugin skipped as malformed or oversized.")
	in.resetsFailed = ctr(nameResetsFailed, "{reset}", "Resets or status reads of the kernel that failed.")
	in.emitsFailed = ctr(nameEmitsFailed, "{interval}", "Interval deliveries that an emitter failed.")
	in.emitsDropped = ctr(nameEmitsDropped, "{interval}", "Intervals dropped because an emitter's queue was full.")
	in.samplesSkipped = ctr(nameSamplesSkipped, "{sample}", "Backlog samples skipped because the kernel held a call (its backlog was over its limit).")
	in.resetRecordsDropped = ctr(nameResetRecordsDropped, "{record}", "backlog_max_depth reset records the plugin could not keep.")
	if err := errors.Join(errs...); err != nil {
		return err
	}
	_, err := m.RegisterCallback(o.observe,
		in.maxDepth, in.size, in.mean, in.limit, in.utilization, in.lost, in.waitTime, in.resets,
		in.records, in.malformed, in.resetsFailed, in.emitsFailed, in.emitsDropped,
		in.samplesSkipped, in.resetRecordsDropped)
	return err
}

// observe reports o.cur. It runs inside reader.Collect, called by Emit with
// o.mu held.
func (o *OTLP) observe(_ context.Context, ob metric.Observer) error {
	iv, in := &o.cur, &o.inst
	method := metric.WithAttributes(attribute.String("method", string(iv.Method)))
	ob.ObserveInt64(in.maxDepth, int64(iv.Peak), method)
	ob.ObserveInt64(in.size, int64(iv.Size))
	ob.ObserveFloat64(in.mean, iv.Mean)
	ob.ObserveInt64(in.limit, int64(iv.Limit))
	ob.ObserveFloat64(in.utilization, iv.Utilization, method)
	ob.ObserveInt64(in.lost, clampInt64(iv.Lost))
	ob.ObserveInt64(in.waitTime, iv.WaitTime.Milliseconds())
	ob.ObserveInt64(in.resets, o.resetsOwn, metric.WithAttributes(attribute.String("source", "own")))
	ob.ObserveInt64(in.resets, o.resetsExt, metric.WithAttributes(attribute.String("source", "external")))
	p := &iv.Plugin
	if len(p.Types) == 0 {
		ob.ObserveInt64(in.records, clampInt64(p.Records))
	}
	for _, t := range p.Types {
		ob.ObserveInt64(in.records, clampInt64(t.Count), metric.WithAttributes(attribute.String("type", t.Type)))
	}
	ob.ObserveInt64(in.malformed, clampInt64(p.Malformed))
	ob.ObserveInt64(in.resetsFailed, clampInt64(p.ResetsFailed))
	ob.ObserveInt64(in.emitsFailed, clampInt64(p.EmitsFailed))
	ob.ObserveInt64(in.emitsDropped, clampInt64(p.EmitsDropped))
	ob.ObserveInt64(in.samplesSkipped, clampInt64(p.SamplesSkipped))
	ob.ObserveInt64(in.resetRecordsDropped, clampInt64(p.ResetRecordsDropped))
	return nil
}

// Emit collects iv's metrics and exports them once, within ctx.
func (o *OTLP) Emit(ctx context.Context, iv Interval) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	if o.resetsStart.IsZero() {
		o.resetsStart = iv.Start
	}
	o.resetsOwn += int64(iv.Resets - iv.ExternalResets)
	o.resetsExt += int64(iv.ExternalResets)
	o.cur = iv
	var rm metricdata.ResourceMetrics
	if err := o.reader.Collect(ctx, &rm); err != nil {
		return fmt.Errorf("otlp: collect: %w", err)
	}
	stamp(&rm, iv, o.resetsStart)
	if err := o.exporter.Export(ctx, &rm); err != nil {
		return fmt.Errorf("otlp: export to %s: %w", o.target, err)
	}
	return nil
}

// stamp sets every data point's times from the interval, replacing the
// SDK's collection time: gauges cover [Start, End]; sums count from
// CounterStart, except resets, from resetsStart.
func stamp(rm *metricdata.ResourceMetrics, iv Interval, resetsStart time.Time) {
	for i := range rm.ScopeMetrics {
		for _, m := range rm.ScopeMetrics[i].Metrics {
			start := iv.CounterStart
			if m.Name == nameResets {
				start = resetsStart
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				setTimes(d.DataPoints, iv.Start, iv.End)
			case metricdata.Gauge[float64]:
				setTimes(d.DataPoints, iv.Start, iv.End)
			case metricdata.Sum[int64]:
				setTimes(d.DataPoints, start, iv.End)
			case metricdata.Sum[float64]:
				setTimes(d.DataPoints, start, iv.End)
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
func (o *OTLP) Check(ctx context.Context) error {
	if err := o.exporter.Export(ctx, &metricdata.ResourceMetrics{Resource: o.res}); err != nil {
		return fmt.Errorf("otlp: export to %s: %w", o.target, err)
	}
	return nil
}

// Close shuts the exporter down, closing its connection, within ctx.
func (o *OTLP) Close(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
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

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// otlpProtocol is otlp_protocol if the file sets it, else
// OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, the
// configured default, and grpc, in that order.
func otlpProtocol(c conf.OTLP, isSet func(string) bool, getenv func(string) string) string {
	if !isSet("otlp_protocol") {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
			if v := getenv(k); v != "" {
				return v
			}
		}
	}
	if c.Protocol == "" {
		return ProtocolGRPC
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

func grpcOptions(c conf.OTLP, isSet func(string) bool, tlsCfg *tls.Config) []otlpmetricgrpc.Option {
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
	if isSet("otlp_endpoint") {
		switch ep := c.Endpoint; {
		case strings.Contains(ep, "://"):
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(ep))
		case isSet("otlp_insecure") && !c.Insecure:
			opts = append(opts, otlpmetricgrpc.WithEndpointURL("https://"+ep))
		default:
			opts = append(opts, otlpmetricgrpc.WithEndpoint(ep))
		}
	}
	if isSet("otlp_insecure") && c.Insecure {
		opts = append(opts, otlpmetricgrpc.WithInsecure())
	}
	if tlsCfg != nil {
		opts = append(opts, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
	}
	if isSet("otlp_headers") {
		opts = append(opts, otlpmetricgrpc.WithHeaders(c.Headers))
	}
	if isSet("otlp_compression") && c.Compression == "gzip" {
		// There is no option for "none" that would beat
		// OTEL_EXPORTER_OTLP_COMPRESSION=gzip without logging an error; see
		// doc.go.
		opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
	}
	if isSet("otlp_timeout") {
		opts = append(opts, otlpmetricgrpc.WithTimeout(timeout))
	}
	return opts
}

func httpOptions(c conf.OTLP, isSet func(string) bool, tlsCfg *tls.Config) ([]otlpmetrichttp.Option, error) {
	timeout := otlpTimeout(c)
	opts := []otlpmetrichttp.Option{
		otlpmetrichttp.WithTemporalitySelector(sdkmetric.DefaultTemporalitySelector),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{
			Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: timeout,
		}),
	}
	if isSet("otlp_endpoint") {
		ep := c.Endpoint
		switch {
		case strings.Contains(ep, "://"):
			u, err := url.Parse(ep)
			if err != nil {
				return nil, fmt.Errorf("otlp_endpoint: %w", err)
			}
			if u.Path == "" || u.Path == "/" {
				u.Path = "/v1/metrics"
			}
			opts = append(opts, otlpmetrichttp.WithEndpointURL(u.String()))
		case isSet("otlp_insecure"):
			scheme := "https://"
			if c.Insecure {
				scheme = "http://"
			}
			opts = append(opts, otlpmetrichttp.WithEndpointURL(scheme+ep+"/v1/metrics"))
		default:
			opts = append(opts, otlpmetrichttp.WithEndpoint(ep))
		}
	}
	if isSet("otlp_insecure") && c.Insecure {
		opts = append(opts, otlpmetrichttp.WithInsecure())
	}
	if tlsCfg != nil {
		opts = append(opts, otlpmetrichttp.WithTLSClientConfig(tlsCfg))
	}
	if isSet("otlp_headers") {
		opts = append(opts, otlpmetrichttp.WithHeaders(c.Headers))
	}
	if isSet("otlp_compression") {
		comp := otlpmetrichttp.NoCompression
		if c.Compression == "gzip" {
			comp = otlpmetrichttp.GzipCompression
		}
		opts = append(opts, otlpmetrichttp.WithCompression(comp))
	}
	if isSet("otlp_timeout") {
		opts = append(opts, otlpmetrichttp.WithTimeout(timeout))
	}
	return opts, nil
}
