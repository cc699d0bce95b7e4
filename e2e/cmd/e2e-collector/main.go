// Command e2e-collector is the e2e guest's metrics sink: an OTLP receiver
// (gRPC and HTTP) and a statsd listener from emit/emittest, on loopback,
// that print every data point and statsd line they receive to stdout as
// one "@e2e {json}" line each. The guest driver reads these lines to follow
// the plugin's reports, and the host test reads them again on the serial
// console to assert on what the plugin really sent.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// Event is one line the collector prints after "@e2e ".
type Event struct {
	Ev    string            `json:"ev"` // "otlp", "otlp-done", "statsd" or "collector-ready"
	Proto string            `json:"proto,omitempty"`
	Name  string            `json:"name,omitempty"`
	Value float64           `json:"value"`
	Attrs map[string]string `json:"attrs,omitempty"`
	MS    int64             `json:"ms,omitempty"` // data point time, unix ms
	// Instance is the exporter's service.instance.id resource attribute,
	// which tells apart several plugins in one guest.
	Instance string `json:"instance,omitempty"`
	Line     string `json:"line,omitempty"`
}

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:4317", "OTLP gRPC listen address")
	httpAddr := flag.String("http", "127.0.0.1:4318", "OTLP HTTP listen address")
	statsdAddr := flag.String("statsd", "127.0.0.1:8125", "statsd UDP listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Stdout, *grpcAddr, *httpAddr, *statsdAddr); err != nil {
		fmt.Fprintf(os.Stderr, "e2e-collector: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, grpcAddr, httpAddr, statsdAddr string) error {
	g, err := emittest.ListenOTLPGRPC(grpcAddr)
	if err != nil {
		return err
	}
	defer g.Close()
	h, err := emittest.ListenOTLPHTTP(httpAddr)
	if err != nil {
		return err
	}
	defer h.Close()
	s, err := emittest.ListenStatsD("udp", statsdAddr)
	if err != nil {
		return err
	}
	defer s.Close()

	p := &printer{w: w}
	p.print(Event{Ev: "collector-ready", Line: fmt.Sprintf("grpc=%s http=%s statsd=%s", g.Addr(), h.Addr(), s.Addr())})
	var wg sync.WaitGroup
	for _, r := range []*emittest.OTLP{g, h} {
		wg.Go(func() { // ends when ctx is done
			for {
				req, err := r.Next(ctx)
				if err != nil {
					return
				}
				for _, e := range points(req) {
					p.print(e)
				}
				// The driver takes a report as whole only here, so
				// that no data point of it is still unprinted when a
				// scenario ends and the guest powers off.
				p.print(Event{Ev: "otlp-done", Proto: req.Protocol})
			}
		})
	}
	wg.Go(func() { // ends when ctx is done
		for {
			b, err := s.Next(ctx)
			if err != nil {
				return
			}
			p.print(Event{Ev: "statsd", Line: string(b)})
		}
	})
	wg.Wait()
	return nil
}

// points turns an export request into one event per number data point.
func points(req emittest.Request) []Event {
	var out []Event
	instance := ""
	for _, rm := range req.Metrics.GetResourceMetrics() {
		for _, kv := range rm.GetResource().GetAttributes() {
			if kv.GetKey() == "service.instance.id" {
				instance = kv.GetValue().GetStringValue()
			}
		}
	}
	for _, p := range req.Points() {
		e := Event{Ev: "otlp", Proto: req.Protocol, Name: p.Metric, Instance: instance,
			MS: time.Unix(0, int64(p.GetTimeUnixNano())).UnixMilli(), Attrs: p.Attrs}
		switch v := p.GetValue().(type) {
		case *metricpb.NumberDataPoint_AsInt:
			e.Value = float64(v.AsInt)
		case *metricpb.NumberDataPoint_AsDouble:
			e.Value = v.AsDouble
		}
		out = append(out, e)
	}
	return out
}

// printer writes whole lines from several goroutines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) print(e Event) {
	b, err := json.Marshal(e)
	if err != nil {
		b = fmt.Appendf(nil, `{"ev":"error","line":%q}`, err.Error())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "@e2e %s\n", b)
}
