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
	target   string // endpoint as configured, or where it comes from
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
	var exp sdkmetric.Exporter
	switch protocol {
	case conf.ProtocolGRPC:
		exp, err = otlpmetricgrpc.New(ctx, grpcOptions(c, tlsCfg)...)
	case conf.ProtocolHTTP:
		var opts []otlpmetrichttp.Option
		opts, err = httpOptions(c, tlsCfg)
		if err == nil {
			exp, err = otlpmetrichttp.New(ctx, opts...)
		}
	default:
		return nil, fmt.Errorf("otlp: protocol %q: want %s or %s", protocol, conf.ProtocolGRPC, conf.ProtocolHTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp: %s exporter: %w", protocol, err)
	}
	target := c.Endpoint
	if !c.Given.Endpoint {
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
	o.inst = make([]metric.Observable, len(metrics))
	var errs []error
	for i, mt := range metrics {
		unit, desc := metric.WithUnit(mt.Unit), metric.WithDescription(mt.Description)
		var err error
		switch {
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
	_, err := m.RegisterCallback(o.observe, o.inst...)
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
	stamp(&rm, iv)
	if err := o.exporter.Export(ctx, &rm); err != nil {
		return fmt.Errorf("otlp: export to %s: %w", o.target, err)
	}
	return nil
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
func (o *OTLP) Check(ctx context.Context) error {
	if err := o.exporter.Export(ctx, &metricdata.ResourceMetrics{Resource: o.res}); err != nil {
		return fmt.Errorf("otlp: export to %s: %w", o.target, err)
	}
	return nil
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

func grpcOptions(c conf.OTLP, tlsCfg *tls.Config) []otlpmetricgrpc.Option {
	timeout := otlpTimeout(c)
	opts := []otlpmetricgrpc.Option{
		otlpmetricgrpc.WithTemporalitySelector(sdkmetric.DefaultTemporalitySelector),
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{
			Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: timeout,
		}),
		// Reconnect within seconds of a collector's return, not gRPC's
		// default of up to two minutes.
		otlpmetricgrpc.WithDialOption(grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: retryInitial, Multiplier: 1.6, Jitter: 0.2, MaxDelay: retryMax},
			MinConnectTimeout: timeout,
		})),
	}
	if c.Given.Endpoint {
		switch ep := c.Endpoint; {
		case strings.Contains(ep, "://"):
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(ep))
		case c.Given.Insecure && !c.Insecure:
			opts = append(opts, otlpmetricgrpc.WithEndpointURL("https://"+ep))
		default:
			opts = append(opts, otlpmetricgrpc.WithEndpoint(ep))
		}
	}
	if c.Given.Insecure && c.Insecure {
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

func httpOptions(c conf.OTLP, tlsCfg *tls.Config) ([]otlpmetrichttp.Option, error) {
	timeout := otlpTimeout(c)
	opts := []otlpmetrichttp.Option{
		otlpmetrichttp.WithTemporalitySelector(sdkmetric.DefaultTemporalitySelector),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{
			Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: timeout,
		}),
	}
	if c.Given.Endpoint {
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
		case c.Given.Insecure:
			scheme := "https://"
			if c.Insecure {
				scheme = "http://"
			}
			opts = append(opts, otlpmetrichttp.WithEndpointURL(scheme+ep+"/v1/metrics"))
		default:
			opts = append(opts, otlpmetrichttp.WithEndpoint(ep))
		}
	}
	if c.Given.Insecure && c.Insecure {
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
	return opts, nil
}
