package peaktest

import (
	"errors"
	"sync"

	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
)

// Probe plays back the eBPF probe's snapshots, one per ReadAndReset; with
// none left it answers an empty interval (nothing queued). Like the real
// probe it fails once closed.
type Probe struct {
	mu        sync.Mutex
	snapshots []probe.Snapshot
	reads     int
	closed    bool
}

// Queue adds snapshots for the next readings.
func (p *Probe) Queue(s ...probe.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snapshots = append(p.snapshots, s...)
}

// ReadAndReset returns the next snapshot.
func (p *Probe) ReadAndReset() (probe.Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return probe.Snapshot{}, errors.New("read eBPF probe: closed")
	}
	p.reads++
	if len(p.snapshots) == 0 {
		return probe.Snapshot{}, nil
	}
	s := p.snapshots[0]
	p.snapshots = p.snapshots[1:]
	return s, nil
}

// Close detaches the fake probe.
func (p *Probe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

// Reads returns how many times the probe was read.
func (p *Probe) Reads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads
}

// Closed reports whether Close was called.
func (p *Probe) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}
