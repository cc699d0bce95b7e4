package emittest

import (
	"context"
	"sync"
)

// inboxCap bounds what a peer keeps unread; further items are counted in
// dropped and discarded, so a peer nobody reads cannot grow without bound.
const inboxCap = 4096

// inbox is a bounded FIFO of received items with a blocking, cancellable
// read.
type inbox[T any] struct {
	mu      sync.Mutex
	items   []T
	dropped int
	notify  chan struct{} // closed and replaced on every put
}

func newInbox[T any]() *inbox[T] {
	return &inbox[T]{notify: make(chan struct{})}
}

func (b *inbox[T]) put(x T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.items) >= inboxCap {
		b.dropped++
		return
	}
	b.items = append(b.items, x)
	close(b.notify)
	b.notify = make(chan struct{})
}

// next returns the oldest unread item, waiting for one until ctx is done.
func (b *inbox[T]) next(ctx context.Context) (T, error) {
	for {
		b.mu.Lock()
		if len(b.items) > 0 {
			x := b.items[0]
			var zero T
			b.items[0] = zero
			b.items = b.items[1:]
			b.mu.Unlock()
			return x, nil
		}
		wait := b.notify
		b.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// pending reports how many items are unread.
func (b *inbox[T]) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}
