package main

import (
	"testing"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

func TestPoints(t *testing.T) {
	attr := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	req := emittest.Request{Protocol: emittest.ProtocolGRPC, Metrics: &colmetricpb.ExportMetricsServiceRequest{
		ResourceMetrics: []*metricpb.ResourceMetrics{{ScopeMetrics: []*metricpb.ScopeMetrics{{Metrics: []*metricpb.Metric{
			{Name: "linux.audit.backlog.max_depth", Data: &metricpb.Metric_Gauge{Gauge: &metricpb.Gauge{DataPoints: []*metricpb.NumberDataPoint{
				{TimeUnixNano: 1_500_000_000, Value: &metricpb.NumberDataPoint_AsInt{AsInt: 4762}, Attributes: []*commonpb.KeyValue{attr("method", "kernel")}},
			}}}},
			{Name: "linux.audit.backlog.mean", Data: &metricpb.Metric_Sum{Sum: &metricpb.Sum{DataPoints: []*metricpb.NumberDataPoint{
				{TimeUnixNano: 2_000_000_000, Value: &metricpb.NumberDataPoint_AsDouble{AsDouble: 12.5}},
			}}}},
			{Name: "ignored.histogram", Data: &metricpb.Metric_Histogram{Histogram: &metricpb.Histogram{}}},
		}}}}},
	}}
	got := points(req)
	if len(got) != 2 {
		t.Fatalf("got %d points, want 2: %+v", len(got), got)
	}
	if e := got[0]; e.Name != "linux.audit.backlog.max_depth" || e.Value != 4762 || e.Attrs["method"] != "kernel" || e.MS != 1500 || e.Proto != "grpc" {
		t.Errorf("gauge point: got %+v", e)
	}
	if e := got[1]; e.Name != "linux.audit.backlog.mean" || e.Value != 12.5 || e.MS != 2000 || len(e.Attrs) != 0 {
		t.Errorf("sum point: got %+v", e)
	}
}
