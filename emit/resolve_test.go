package emit

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
)

// TestResolveAtDial: with resolveAtDial, a gRPC client hands the endpoint's
// host name to its dialer at each connection attempt, so a name that did
// not resolve at first (the dialer fails as for a name that does not
// resolve) connects at a later attempt, from the same client. The name is
// a .onion one: were gRPC's own DNS resolver used instead, Go's resolver
// would fail it without a DNS query, the dialer would never be called, and
// the export would not arrive.
func TestResolveAtDial(t *testing.T) {
	rcv, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	_, port, _ := net.SplitHostPort(rcv.Addr())
	endpoint := net.JoinHostPort("collector.audisp-backlog.onion", port)

	var mu sync.Mutex
	var dialled []string
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		n := len(dialled)
		mu.Unlock()
		if n <= 2 { // the network is not up yet
			return nil, &net.DNSError{Err: "no such host", Name: "collector.audisp-backlog.onion", IsNotFound: true}
		}
		return new(net.Dialer).DialContext(ctx, "tcp", rcv.Addr())
	}
	cc, err := grpc.NewClient(endpoint,
		grpc.WithResolvers(resolveAtDial{resolver.Get("passthrough")}),
		grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1, MaxDelay: 10 * time.Millisecond}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	// A deadline that detects a hang; the export waits for the connection.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	client := colmetricpb.NewMetricsServiceClient(cc)
	if _, err := client.Export(ctx, &colmetricpb.ExportMetricsServiceRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("export once the name resolves: %v", err)
	}
	if _, err := rcv.Next(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialled) < 3 {
		t.Errorf("dialled %d times, want the two failures and a success", len(dialled))
	}
	for _, a := range dialled {
		if a != endpoint {
			t.Errorf("the dialer got %q, want the endpoint as configured, %q", a, endpoint)
		}
	}
}
