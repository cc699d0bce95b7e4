package emit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// point is one data point as the collector received it, flattened.
type point struct {
	attrs       string // "k=v,k=v", sorted
	value       string // integer or float, formatted
	start, time string // RFC 3339, UTC
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// wantMetric is what one metric must look like on the wire.
type wantMetric struct {
	unit     string
	gauge    bool // else a monotonic cumulative sum
	points   []point
	isDouble bool
	hist     *wantHistogram // a cumulative histogram, not points
}

// wantHistogram is a histogram's one data point, formatted.
type wantHistogram struct {
	start, time     string
	count, sum      uint64
	bounds, buckets string
}

// wantOTLP returns every metric of iv as it must arrive.
func wantOTLP(iv Interval) map[string]wantMetric {
	g := func(v string, attrs string) []point {
		return []point{{attrs: attrs, value: v, start: ts(iv.Start), time: ts(iv.End)}}
	}
	s := func(v string, attrs string) point {
		return point{attrs: attrs, value: v, start: ts(iv.CounterStart), time: ts(iv.End)}
	}
	method := "method=" + string(iv.Method)
	var records []point
	for _, tc := range iv.Plugin.Types {
		records = append(records, s(fmt.Sprint(tc.Count), "type="+tc.Type))
	}
	p := iv.Plugin
	want := map[string]wantMetric{
		"linux.audit.backlog.max_depth":         {unit: "{record}", gauge: true, points: g(fmt.Sprint(iv.Peak), method)},
		"linux.audit.backlog.size":              {unit: "{record}", gauge: true, points: g(fmt.Sprint(iv.Size), "")},
		"linux.audit.backlog.mean":              {unit: "{record}", gauge: true, isDouble: true, points: g(fmt.Sprint(iv.Mean), "")},
		"linux.audit.backlog.limit":             {unit: "{record}", gauge: true, points: g(fmt.Sprint(iv.Limit), "")},
		"linux.audit.backlog.utilization":       {unit: "1", gauge: true, isDouble: true, points: g(fmt.Sprint(iv.Utilization), method)},
		"linux.audit.backlog.recommended_limit": {unit: "{record}", gauge: true, points: g(fmt.Sprint(iv.RecommendedLimit), "")},
		"linux.audit.lost":                      {unit: "{record}", points: []point{s(fmt.Sprint(iv.Lost), "")}},
		"linux.audit.backlog.wait_time":         {unit: "ms", points: []point{s(fmt.Sprint(iv.WaitTime.Milliseconds()), "")}},
		"linux.audit.backlog.resets": {unit: "{reset}", points: []point{
			s(fmt.Sprint(iv.ExternalResets), "source=external"),
			s(fmt.Sprint(iv.OwnResets), "source=own"),
		}},
		"linux.audit.plugin.records":       {unit: "{record}", points: records},
		"linux.audit.plugin.malformed":     {unit: "{record}", points: []point{s(fmt.Sprint(p.Malformed), "")}},
		"linux.audit.plugin.resets_failed": {unit: "{reset}", points: []point{s(fmt.Sprint(p.ResetsFailed), "")}},
		"linux.audit.plugin.emits_failed":  {unit: "{interval}", points: []point{s(fmt.Sprint(p.EmitsFailed), "")}},
		"linux.audit.plugin.emits_dropped": {unit: "{interval}", points: []point{s(fmt.Sprint(p.EmitsDropped), "")}},

		"linux.audit.plugin.samples_skipped":       {unit: "{sample}", points: []point{s(fmt.Sprint(p.SamplesSkipped), "")}},
		"linux.audit.plugin.reset_records_dropped": {unit: "{record}", points: []point{s(fmt.Sprint(p.ResetRecordsDropped), "")}},
		"linux.audit.event.count":                  {unit: "{event}", points: []point{s(fmt.Sprint(p.Events.All), "")}},
		"linux.audit.event.failed":                 {unit: "{event}", points: []point{s(fmt.Sprint(p.Events.Failed), "")}},
		"linux.audit.event.avc":                    {unit: "{event}", points: []point{s(fmt.Sprint(p.Events.AVC), "")}},
		"linux.audit.event.fanotify":               {unit: "{event}", points: []point{s(fmt.Sprint(p.Events.FANotify), "")}},
		"linux.audit.event.anomaly":                {unit: "{event}", points: []point{s(fmt.Sprint(p.Events.Anomalies), "")}},
		"linux.audit.event.response":               {unit: "{event}", points: []point{s(fmt.Sprint(p.Events.Responses), "")}},
		"linux.audit.login": {unit: "{login}", points: []point{
			s(fmt.Sprint(p.Events.LoginsFailed), "result=failed"),
			s(fmt.Sprint(p.Events.LoginsSucceeded), "result=success"),
		}},
	}
	if pr := iv.Probe; pr != nil {
		bounds := make([]string, len(pr.Depths.Counts)-1)
		for k := range bounds {
			bounds[k] = fmt.Sprint(uint64(1)<<(k+1) - 1) // 1, 3, 7, ...
		}
		want["linux.audit.backlog.enqueue_depth"] = wantMetric{unit: "{record}", hist: &wantHistogram{
			start: ts(iv.CounterStart), time: ts(iv.End),
			count: pr.Depths.Count, sum: pr.Depths.Sum,
			bounds: strings.Join(bounds, " "), buckets: fmt.Sprint(pr.Depths.Counts),
		}}
		want["linux.audit.backlog.enqueue_depth_mean"] = wantMetric{unit: "{record}", gauge: true, isDouble: true, points: g(fmt.Sprint(pr.MeanDepth), "")}
		if pr.RetryMaxDepth.OK {
			want["linux.audit.kauditd.retry_queue.max_depth"] = wantMetric{unit: "{record}", gauge: true, points: g(fmt.Sprint(pr.RetryMaxDepth.Value), "")}
		}
		if pr.HoldMaxDepth.OK {
			want["linux.audit.kauditd.hold_queue.max_depth"] = wantMetric{unit: "{record}", gauge: true, points: g(fmt.Sprint(pr.HoldMaxDepth.Value), "")}
		}
		var lost []point
		for _, c := range pr.Lost {
			lost = append(lost, s(fmt.Sprint(c.Count), "cause="+c.Cause))
		}
		want["linux.audit.probe.lost"] = wantMetric{unit: "{record}", points: lost}
	}
	if a := iv.Auditd; a != nil {
		for name, f := range map[string]struct {
			unit string
			v    Figure
		}{
			"linux.audit.auditd.queue.depth":     {"{record}", a.QueueDepth},
			"linux.audit.auditd.queue.max_depth": {"{record}", a.QueueMaxDepth},
			"linux.audit.auditd.queue.size":      {"{record}", a.QueueSize},
			"linux.audit.auditd.queue.overflow":  {"1", a.QueueOverflow},
			"linux.audit.auditd.log.free_space":  {"By", a.LogFreeSpace},
			"linux.audit.auditd.memory.total":    {"By", a.MemoryTotal},
			"linux.audit.auditd.memory.in_use":   {"By", a.MemoryInUse},
			"linux.audit.auditd.memory.free":     {"By", a.MemoryFree},
		} {
			want[name] = wantMetric{unit: f.unit, gauge: true, points: g(fmt.Sprint(f.v.Value), "")}
		}
	}
	return want
}

func attrString(kvs []*commonpb.KeyValue) string {
	parts := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		parts = append(parts, kv.GetKey()+"="+kv.GetValue().GetStringValue())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func flatten(dps []*metricpb.NumberDataPoint) (pts []point, isDouble bool) {
	for _, dp := range dps {
		var v string
		switch x := dp.GetValue().(type) {
		case *metricpb.NumberDataPoint_AsInt:
			v = fmt.Sprint(x.AsInt)
		case *metricpb.NumberDataPoint_AsDouble:
			v, isDouble = fmt.Sprint(x.AsDouble), true
		}
		pts = append(pts, point{
			attrs: attrString(dp.GetAttributes()), value: v,
			start: ts(time.Unix(0, int64(dp.GetStartTimeUnixNano()))),
			time:  ts(time.Unix(0, int64(dp.GetTimeUnixNano()))),
		})
	}
	slices.SortFunc(pts, func(a, b point) int { return strings.Compare(a.attrs, b.attrs) })
	return pts, isDouble
}

// checkMetrics compares every metric of a request with want, and that the
// request holds nothing else.
func checkMetrics(t *testing.T, req emittest.Request, want map[string]wantMetric) {
	t.Helper()
	rms := req.Metrics.GetResourceMetrics()
	if len(rms) != 1 || len(rms[0].GetScopeMetrics()) != 1 {
		t.Fatalf("want 1 resource with 1 scope, got %v", req.Metrics)
	}
	sm := rms[0].GetScopeMetrics()[0]
	if got := sm.GetScope().GetName(); got != scopeName {
		t.Errorf("scope name: got %q, want %q", got, scopeName)
	}
	seen := map[string]bool{}
	for _, m := range sm.GetMetrics() {
		name := m.GetName()
		if seen[name] {
			t.Errorf("%s: sent twice", name)
		}
		seen[name] = true
		w, ok := want[name]
		if !ok {
			t.Errorf("unexpected metric %s", name)
			continue
		}
		if m.GetUnit() != w.unit {
			t.Errorf("%s: unit %q, want %q", name, m.GetUnit(), w.unit)
		}
		var dps []*metricpb.NumberDataPoint
		switch d := m.GetData().(type) {
		case *metricpb.Metric_Histogram:
			checkHistogram(t, name, d.Histogram, w.hist)
			continue
		case *metricpb.Metric_Gauge:
			if !w.gauge {
				t.Errorf("%s: got a gauge, want a sum", name)
			}
			dps = d.Gauge.GetDataPoints()
		case *metricpb.Metric_Sum:
			if w.gauge {
				t.Errorf("%s: got a sum, want a gauge", name)
			}
			if !d.Sum.GetIsMonotonic() {
				t.Errorf("%s: sum is not monotonic", name)
			}
			if got := d.Sum.GetAggregationTemporality(); got != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
				t.Errorf("%s: temporality %v, want cumulative", name, got)
			}
			dps = d.Sum.GetDataPoints()
		default:
			t.Errorf("%s: data %T, want gauge or sum", name, d)
			continue
		}
		got, isDouble := flatten(dps)
		if isDouble != w.isDouble {
			t.Errorf("%s: double values %v, want %v", name, isDouble, w.isDouble)
		}
		wantPts := slices.Clone(w.points)
		slices.SortFunc(wantPts, func(a, b point) int { return strings.Compare(a.attrs, b.attrs) })
		if !slices.Equal(got, wantPts) {
			t.Errorf("%s: points\ngot  %+v\nwant %+v", name, got, wantPts)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if !seen[name] {
			t.Errorf("metric %s missing", name)
		}
	}
}

// checkHistogram compares a histogram's one cumulative data point with
// want.
func checkHistogram(t *testing.T, name string, h *metricpb.Histogram, want *wantHistogram) {
	t.Helper()
	if want == nil {
		t.Errorf("%s: got a histogram", name)
		return
	}
	if got := h.GetAggregationTemporality(); got != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Errorf("%s: temporality %v, want cumulative", name, got)
	}
	dps := h.GetDataPoints()
	if len(dps) != 1 {
		t.Fatalf("%s: %d data points, want 1", name, len(dps))
	}
	dp := dps[0]
	bounds := make([]string, len(dp.GetExplicitBounds()))
	for i, b := range dp.GetExplicitBounds() {
		bounds[i] = strconv.FormatFloat(b, 'f', -1, 64)
	}
	got := wantHistogram{
		start: ts(time.Unix(0, int64(dp.GetStartTimeUnixNano()))), time: ts(time.Unix(0, int64(dp.GetTimeUnixNano()))),
		count: dp.GetCount(), sum: uint64(dp.GetSum()),
		bounds: strings.Join(bounds, " "), buckets: fmt.Sprint(dp.GetBucketCounts()),
	}
	if got != *want {
		t.Errorf("%s:\ngot  %+v\nwant %+v", name, got, *want)
	}
}

func checkResource(t *testing.T, req emittest.Request, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, kv := range req.Metrics.GetResourceMetrics()[0].GetResource().GetAttributes() {
		got[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	if !maps.Equal(got, want) {
		t.Errorf("resource attributes:\ngot  %v\nwant %v", got, want)
	}
}

// TestOTLPTwoIntervals exports two consecutive intervals to a real OTLP
// receiver, over gRPC and over HTTP, and checks every metric, the resource,
// the headers and the compression of each request, and that each Emit sends
// exactly one request with only its own interval's points.
func TestOTLPTwoIntervals(t *testing.T) {
	for _, protocol := range []string{conf.ProtocolGRPC, conf.ProtocolHTTP} {
		t.Run(protocol, func(t *testing.T) {
			listen := emittest.ListenOTLPGRPC
			if protocol == conf.ProtocolHTTP {
				listen = emittest.ListenOTLPHTTP
			}
			rcv, err := listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer rcv.Close()
			endpoint := rcv.Addr() // host:port, made plain text by otlp_insecure
			cfg := parseConf(t,
				"emitters = otlp",
				"otlp_protocol = "+protocol,
				"otlp_endpoint = "+endpoint,
				"otlp_insecure = yes",
				"otlp_headers = x-api-key=secret123,x-tenant=ops",
				"otlp_compression = gzip",
				"otlp_timeout = 5s",
				"resource_attributes = deployment.environment=test,service.namespace=audit",
			)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			o, err := NewOTLP(ctx, cfg.OTLP, "1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			host := hostname(t)
			wantRes := map[string]string{
				"service.name": "audisp-backlog", "service.version": "1.2.3", "host.name": host,
				"deployment.environment": "test", "service.namespace": "audit",
			}
			iv1 := firstInterval()
			for i, iv := range []Interval{iv1, secondInterval(), thirdInterval()} {
				if err := o.Emit(ctx, iv); err != nil {
					t.Fatalf("Emit %d: %v", i+1, err)
				}
				req, err := rcv.Next(ctx)
				if err != nil {
					t.Fatalf("interval %d: %v", i+1, err)
				}
				checkMetrics(t, req, wantOTLP(iv))
				checkResource(t, req, wantRes)
				if got := req.Header["x-api-key"]; !slices.Equal(got, []string{"secret123"}) {
					t.Errorf("header x-api-key: got %q", got)
				}
				if got := req.Header["x-tenant"]; !slices.Equal(got, []string{"ops"}) {
					t.Errorf("header x-tenant: got %q", got)
				}
				if req.Compression != "gzip" {
					t.Errorf("compression: got %q, want gzip", req.Compression)
				}
				if protocol == conf.ProtocolHTTP && req.Path != "/v1/metrics" {
					t.Errorf("path: got %q, want /v1/metrics", req.Path)
				}
				if n := rcv.Pending(); n != 0 {
					t.Errorf("after Emit %d: %d more requests, want exactly one per Emit", i+1, n)
				}
			}
			if err := o.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
			if n := rcv.Pending(); n != 0 {
				t.Errorf("Close sent %d requests, want none (nothing is re-exported)", n)
			}
			if err := o.Emit(ctx, iv1); err == nil {
				t.Error("Emit after Close: got nil error")
			}
		})
	}
}

// TestOTLPEnvironment checks the order of settings: OTEL_* variables fill
// in what the file leaves unset, and keys in the file beat them.
func TestOTLPEnvironment(t *testing.T) {
	rcv, err := emittest.ListenOTLPHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	// Everything from the environment except the header the file sets.
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+rcv.Addr()+"/base")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=from-env,x-env-only=yes")
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=from-env,team=ops")
	t.Setenv("OTEL_SERVICE_NAME", "")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name        string
		lines       []string
		wantHeaders map[string]string
		wantComp    string
		wantEnv     string
	}{
		{
			name:        "env fills unset keys",
			lines:       []string{"emitters = otlp"},
			wantHeaders: map[string]string{"x-api-key": "from-env", "x-env-only": "yes"},
			wantComp:    "gzip",
			wantEnv:     "from-env",
		},
		{
			name: "file beats env",
			lines: []string{"emitters = otlp", "otlp_headers = x-api-key=from-file",
				"otlp_compression = none", "resource_attributes = deployment.environment=from-file"},
			wantHeaders: map[string]string{"x-api-key": "from-file", "x-env-only": ""},
			wantComp:    "",
			wantEnv:     "from-file",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewOTLP(ctx, parseConf(t, tc.lines...).OTLP, "1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close(ctx)
			if err := o.Emit(ctx, firstInterval()); err != nil {
				t.Fatalf("Emit: %v", err)
			}
			req, err := rcv.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if req.Path != "/base/v1/metrics" {
				t.Errorf("path: got %q, want /base/v1/metrics from OTEL_EXPORTER_OTLP_ENDPOINT", req.Path)
			}
			for k, v := range tc.wantHeaders {
				got := strings.Join(req.Header[k], ",")
				if got != v {
					t.Errorf("header %s: got %q, want %q", k, got, v)
				}
			}
			if req.Compression != tc.wantComp {
				t.Errorf("compression: got %q, want %q", req.Compression, tc.wantComp)
			}
			res := map[string]string{}
			for _, kv := range req.Metrics.GetResourceMetrics()[0].GetResource().GetAttributes() {
				res[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			if res["deployment.environment"] != tc.wantEnv || res["team"] != "ops" || res["service.name"] != "audisp-backlog" {
				t.Errorf("resource: got %v, want deployment.environment=%s, team=ops, service.name=audisp-backlog", res, tc.wantEnv)
			}
		})
	}
}
