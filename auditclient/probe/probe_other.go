//go:build !((386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm) && linux)

package probe

import (
	"fmt"
	"log/slog"
	"runtime"
)

// An Info says how an open Probe watches the queue.
type Info struct {
	Kernel      string
	Address     string
	RetryHold   bool
	LostByCause bool
}

// A Probe is the eBPF program attached to the running kernel; it exists
// only on Linux on the architectures queue_bpfel.o is built for.
type Probe struct{}

// Open fails with ErrUnsupported here.
func Open(*slog.Logger) (*Probe, error) {
	return nil, fmt.Errorf("%w (%s/%s)", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Info returns the zero Info.
func (p *Probe) Info() Info { return Info{} }

// Watching reports false.
func (p *Probe) Watching() bool { return false }

// ReadAndReset fails with ErrUnsupported.
func (p *Probe) ReadAndReset() (Snapshot, error) { return Snapshot{}, ErrUnsupported }

// Close does nothing.
func (p *Probe) Close() error { return nil }

func kernelFunctions(...string) (map[string]bool, error) { return nil, ErrUnsupported }
