package emit

import (
	"context"
	"errors"
)

// ErrClosed is returned by Emit and Close once an emitter is closed.
var ErrClosed = errors.New("emitter closed")

// Multi returns an Emitter that sends every interval to each of emitters in
// turn, synchronously, and joins their errors. Close closes all of them.
// Unlike a Set it has no queues: a slow emitter delays the next.
func Multi(emitters ...Emitter) Emitter {
	return multi(append([]Emitter(nil), emitters...))
}

type multi []Emitter

func (m multi) Emit(ctx context.Context, iv Interval) error {
	var errs []error
	for _, e := range m {
		if err := e.Emit(ctx, iv); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) Close(ctx context.Context) error {
	var errs []error
	for _, e := range m {
		if err := e.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
