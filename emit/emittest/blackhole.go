package emittest

import (
	"fmt"
	"net"
	"sync"
)

// Blackhole is a TCP listener that accepts every connection and then
// neither reads nor writes: a collector that hangs. Clients block until
// their own deadline.
type Blackhole struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	served chan struct{}
}

// ListenBlackhole starts a blackhole on addr, such as "127.0.0.1:0". It
// holds connections until Close.
func ListenBlackhole(addr string) (*Blackhole, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("blackhole: %w", err)
	}
	b := &Blackhole{ln: ln, served: make(chan struct{})}
	go b.serve()
	return b, nil
}

func (b *Blackhole) serve() {
	defer close(b.served)
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return // Close closed the listener
		}
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
	}
}

// Addr is the blackhole's host:port.
func (b *Blackhole) Addr() string { return b.ln.Addr().String() }

// Accepted reports how many connections the blackhole has taken.
func (b *Blackhole) Accepted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

// Close stops accepting and closes every held connection.
func (b *Blackhole) Close() error {
	err := b.ln.Close()
	<-b.served
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close() // already dead to the client; nothing to report
	}
	b.conns = nil
	return err
}
