package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// metricMaxDepth is the peak's metric; its data point's time is the
// interval's end, the moment the loop reset the mark (kernel method) or
// closed the interval (sampled method).
const metricMaxDepth = "linux.audit.backlog.max_depth"

// latencyResult is the time from an interval's end to its data point
// arriving at a loopback OTLP collector.
type latencyResult struct {
	first time.Duration   // the first export, which also connects
	rest  []time.Duration // the following ones
}

// latencyBench runs the plugin with a 1 s interval against an in-process
// OTLP/gRPC receiver on 127.0.0.1 and measures, for each export, the
// receive time minus the max_depth data point's time stamp (same host,
// same clock).
func latencyBench(plugin, dir string, exports int, settle time.Duration) (latencyResult, error) {
	var res latencyResult
	rcv, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer rcv.Close()
	cfg := filepath.Join(dir, "latency.conf")
	body := fmt.Sprintf("interval = 1s\nmethod = sampled\nemitters = otlp\notlp_endpoint = %s\notlp_protocol = grpc\notlp_insecure = yes\nlog_level = warn\n", rcv.Addr())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return res, err
	}
	f, err := startOnSocket([]string{plugin, "-foreground", "-config", cfg})
	if err != nil {
		return res, err
	}
	defer f.stop()

	ctx, cancel := context.WithTimeout(context.Background(), settle+time.Duration(exports+3)*time.Second)
	defer cancel()
	for len(res.rest) < exports {
		req, err := rcv.Next(ctx)
		got := time.Now()
		if err != nil {
			return res, fmt.Errorf("waiting for export %d: %w: %s", len(res.rest)+1, err, lastLines(f.stderr.Bytes()))
		}
		end, ok := pointTime(req.Metrics)
		if !ok {
			continue // a request without the peak (a final or partial one)
		}
		d := got.Sub(end)
		if res.first == 0 {
			res.first = d
			continue
		}
		res.rest = append(res.rest, d)
	}
	return res, nil
}

// pointTime finds the max_depth data point's time in an export.
func pointTime(req *colmetricpb.ExportMetricsServiceRequest) (time.Time, bool) {
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if m.GetName() != metricMaxDepth {
					continue
				}
				for _, dp := range m.GetGauge().GetDataPoints() {
					return time.Unix(0, int64(dp.GetTimeUnixNano())), true
				}
			}
		}
	}
	return time.Time{}, false
}
