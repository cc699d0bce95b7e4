package emittest

import (
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// Point is one number data point of a gauge or a sum in an export request.
type Point struct {
	// Metric is the name of the point's metric.
	Metric string
	// Attrs are the point's attributes, with their string values.
	Attrs map[string]string
	*metricpb.NumberDataPoint
}

// Points flattens the request into the number data points of its gauges
// and sums, in the order they were sent.
func (r Request) Points() []Point {
	var out []Point
	for _, rm := range r.Metrics.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				var dps []*metricpb.NumberDataPoint
				switch {
				case m.GetGauge() != nil:
					dps = m.GetGauge().GetDataPoints()
				case m.GetSum() != nil:
					dps = m.GetSum().GetDataPoints()
				}
				for _, dp := range dps {
					attrs := make(map[string]string, len(dp.GetAttributes()))
					for _, kv := range dp.GetAttributes() {
						attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
					}
					out = append(out, Point{Metric: m.GetName(), Attrs: attrs, NumberDataPoint: dp})
				}
			}
		}
	}
	return out
}
