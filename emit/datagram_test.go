package emit

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
)

// TestStatsDNameResolvesLater opens a UDP statsd emitter whose host name
// does not resolve, as at boot before the network is up (its dialer is
// replaced: no resolver is asked). The emitter opens; each
// delivery fails, dialling (so resolving) again only when its backoff
// allows, at waits of 1 s doubling up to 30 s; once the name resolves, the
// next dial connects and the interval arrives, from the same emitter.
func TestStatsDNameResolvesLater(t *testing.T) {
	l := listenStatsD(t, "udp")
	const addr = "statsd.audisp-backlog.test:8125"
	s, err := NewStatsD(conf.StatsD{Address: addr, Namespace: "linux.audit.", TagFormat: conf.TagFormatNone})
	if err != nil {
		t.Fatalf("NewStatsD with a name that does not resolve: %v", err)
	}
	defer s.Close(t.Context())

	base := time.Unix(1700000000, 0)
	clock := base
	s.sock.now = func() time.Time { return clock }
	resolves := false
	dials := 0
	s.sock.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		dials++
		if address != addr {
			t.Errorf("dialled %q, want %q", address, addr)
		}
		if resolves {
			return new(net.Dialer).DialContext(ctx, network, l.Addr())
		}
		// What net.Dialer returns for a name that does not resolve; no
		// resolver is asked.
		return nil, &net.OpError{Op: "dial", Net: network,
			Err: &net.DNSError{Err: "no such host", Name: "statsd.audisp-backlog.test", IsNotFound: true}}
	}

	steps := []struct {
		at       time.Duration // since base
		resolves bool
		dial     bool // a dial (a lookup) is due
		ok       bool
	}{
		{at: 0, dial: true},
		{at: 500 * time.Millisecond},
		{at: time.Second, dial: true}, // waited 1 s
		{at: 2 * time.Second},
		{at: 3 * time.Second, dial: true},  // 2 s
		{at: 7 * time.Second, dial: true},  // 4 s
		{at: 15 * time.Second, dial: true}, // 8 s
		{at: 31 * time.Second, dial: true}, // 16 s
		{at: 61 * time.Second, dial: true}, // 30 s, the most
		{at: 90 * time.Second},
		{at: 91 * time.Second, dial: true},
		{at: 100 * time.Second, resolves: true}, // waiting until 121 s
		{at: 121 * time.Second, resolves: true, dial: true, ok: true},
		{at: 122 * time.Second, resolves: true, ok: true}, // connected: no dial
	}
	for i, st := range steps {
		clock, resolves = base.Add(st.at), st.resolves
		before := dials
		err := s.Emit(t.Context(), firstInterval())
		if dialled := dials > before; dialled != st.dial {
			t.Errorf("step %d (%v): dialled %v, want %v", i, st.at, dialled, st.dial)
		}
		if (err == nil) != st.ok {
			t.Fatalf("step %d (%v): Emit: %v, want success %v", i, st.at, err, st.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "no such host") {
			t.Errorf("step %d: error %q does not say the name did not resolve", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := l.Lines(ctx, 2*len(wantDogStatsD[0])); err != nil {
		t.Errorf("the intervals sent once the name resolved: %v", err)
	}
}
