// Package peaktest holds the fake kernel that drives the interval loop in
// the tests of package peak and of the plugin: scripted statuses and acks,
// failures, and calls held in the kernel until the test lets them through.
package peaktest

import (
	"errors"
	"sync"
	"testing"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
)

// Kernel plays back statuses and the acks of resets of the high-water
// mark. It serves as the loop's Kernel and, through Mark, as the source
// peak.Mark reads. A reset with no ack left, or any reset when NoReset is
// set, fails the test. Its calls may run on the loop's kernel worker, so it
// reports with Errorf, not Fatalf, and the test sets its fields only while
// no call is in flight.
//
// With GateResets or GateStatus, those calls announce themselves on Entered
// and wait until Open is called, as a sender waits in the kernel while the
// audit backlog is over its limit (audit_receive's schedule_timeout, up to
// 60 s).
type Kernel struct {
	T *testing.T
	// Acks are the answers to the resets, in order.
	Acks []Ack
	// Backlogs are the backlogs of Status, one per call; the last one
	// repeats.
	Backlogs []uint32
	// Answer is what Status answers (Backlog from Backlogs when given).
	Answer auditclient.Status
	// StatusErr, when set, is Status's error.
	StatusErr error
	// NoReset makes any reset fail the test.
	NoReset bool

	GateResets, GateStatus bool
	// Entered receives "reset" or "status" when a gated call waits.
	Entered chan string

	mu        sync.Mutex
	resets    int
	reads     int
	gate      chan struct{}
	gateOnce  sync.Once
	closed    chan struct{}
	closeOnce sync.Once
}

// Ack is one reset's answer: the old value of the mark, or an error.
type Ack struct {
	Old uint32
	Err error
}

// New returns a kernel answering with status st.
func New(t *testing.T, st auditclient.Status) *Kernel {
	return &Kernel{
		T: t, Answer: st,
		Entered: make(chan string, 64),
		gate:    make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

func (k *Kernel) wait(call string) {
	select {
	case k.Entered <- call:
	default:
	}
	<-k.gate
}

// Open lets every gated call through, now and from now on.
func (k *Kernel) Open() { k.gateOnce.Do(func() { close(k.gate) }) }

// Status answers AUDIT_GET.
func (k *Kernel) Status() (auditclient.Status, error) {
	if k.GateStatus {
		k.wait("status")
	}
	k.mu.Lock()
	k.reads++
	k.mu.Unlock()
	if k.StatusErr != nil {
		return auditclient.Status{}, k.StatusErr
	}
	st := k.Answer
	if len(k.Backlogs) > 0 {
		st.Backlog = k.Backlogs[0]
		if len(k.Backlogs) > 1 {
			k.Backlogs = k.Backlogs[1:]
		}
	}
	return st, nil
}

// ResetMaxDepth answers the reset of the mark with the next Ack.
func (k *Kernel) ResetMaxDepth() (uint32, error) {
	if k.GateResets {
		k.wait("reset")
	}
	k.mu.Lock()
	k.resets++
	k.mu.Unlock()
	if k.NoReset {
		k.T.Errorf("ResetMaxDepth called in sampled mode")
		return 0, errors.New("unexpected reset")
	}
	if len(k.Acks) == 0 {
		k.T.Errorf("ResetMaxDepth called more often than scripted")
		return 0, errors.New("unexpected reset")
	}
	a := k.Acks[0]
	k.Acks = k.Acks[1:]
	return a.Old, a.Err
}

// Close records that the client was closed.
func (k *Kernel) Close() error {
	k.closeOnce.Do(func() { close(k.closed) })
	return nil
}

// Closed is closed when the client is.
func (k *Kernel) Closed() <-chan struct{} { return k.closed }

// Resets returns the number of resets made.
func (k *Kernel) Resets() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.resets
}

// Reads returns the number of status reads made.
func (k *Kernel) Reads() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reads
}
