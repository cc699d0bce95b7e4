package emittest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
)

// StatsD is a running statsd datagram listener. It records every datagram
// as received and never answers.
type StatsD struct {
	conn   net.PacketConn
	path   string // unix socket path, "" for UDP
	inbox  *inbox[[]byte]
	served chan struct{}
}

// ListenStatsD listens for statsd datagrams. network is "udp" (address
// such as "127.0.0.1:0") or "unixgram" (address is a socket path, removed
// again by Close). It serves until Close.
func ListenStatsD(network, address string) (*StatsD, error) {
	switch network {
	case "udp", "udp4", "udp6", "unixgram":
	default:
		return nil, fmt.Errorf("statsd listener: network %q: want udp or unixgram", network)
	}
	conn, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, fmt.Errorf("statsd listener: %w", err)
	}
	s := &StatsD{conn: conn, inbox: newInbox[[]byte](), served: make(chan struct{})}
	if network == "unixgram" {
		s.path = address
	}
	go s.serve()
	return s, nil
}

func (s *StatsD) serve() {
	defer close(s.served)
	buf := make([]byte, 64<<10)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			return // Close closed the socket
		}
		s.inbox.put(append([]byte(nil), buf[:n]...))
	}
}

// Addr is the listener's address in statsd_address form: "host:port" for
// UDP, "unix:///path" for a unix datagram socket.
func (s *StatsD) Addr() string {
	if s.path != "" {
		return "unix://" + s.path
	}
	return s.conn.LocalAddr().String()
}

// Next returns the oldest datagram not yet returned, waiting until one
// arrives or ctx is done.
func (s *StatsD) Next(ctx context.Context) ([]byte, error) { return s.inbox.next(ctx) }

// Lines reads datagrams until it has n lines (a datagram may carry several,
// newline-separated) and returns them in arrival order. It fails if ctx
// ends first, or if a datagram would take it past n lines.
func (s *StatsD) Lines(ctx context.Context, n int) ([]string, error) {
	var lines []string
	for len(lines) < n {
		d, err := s.Next(ctx)
		if err != nil {
			return lines, fmt.Errorf("statsd listener: %d of %d lines: %w", len(lines), n, err)
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(d), "\n"), "\n")...)
	}
	if len(lines) > n {
		return lines, fmt.Errorf("statsd listener: got %d lines, want %d", len(lines), n)
	}
	return lines, nil
}

// Pending reports how many received datagrams Next has not returned yet.
func (s *StatsD) Pending() int { return s.inbox.pending() }

// Close stops the listener and removes its unix socket file.
func (s *StatsD) Close() error {
	err := s.conn.Close()
	<-s.served
	if s.path != "" {
		if rerr := os.Remove(s.path); rerr != nil && !os.IsNotExist(rerr) && err == nil {
			err = rerr
		}
	}
	return err
}
