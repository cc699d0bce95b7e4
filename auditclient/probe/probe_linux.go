//go:build (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm) && linux

package probe

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// The build constraint above is the one bpf2go gives queue_bpfel.go:
// little-endian architectures, on Linux.

// An Info says how an open Probe watches the queue.
type Info struct {
	Kernel string // kernel release
	// Address is where audit_queue's address came from: AddressKallsyms,
	// or AddressSendQueue, in which case the probe sees nothing until
	// kauditd's first pass after Open (Probe.Watching).
	Address     string
	RetryHold   bool // Snapshot.RetryMaxDepth and HoldMaxDepth are measured
	LostByCause bool // Snapshot.Lost is measured
}

// A Probe is the eBPF program attached to the running kernel. Its methods
// are safe for one goroutine at a time.
type Probe struct {
	info  Info
	objs  objects
	links []link.Link
	mem   []byte      // the shared map element, mapped into this process
	st    *queueState // mem, as queue.bpf.c's struct state
	once  sync.Once
	err   error
}

// objects are the BPF objects Open loads: the map and the programs the
// kernel supports (cilium/ebpf loads only what such a struct names).
type objects struct {
	Shared      *ebpf.Map     `ebpf:"shared"`
	OnQueueTail *ebpf.Program `ebpf:"on_queue_tail"`
}

// Open checks the kernel and the process (see Check), loads the probe,
// attaches it and returns it. It needs CAP_BPF and CAP_PERFMON (or
// CAP_SYS_ADMIN), and CAP_SYSLOG for the kallsyms address; none of them
// afterwards. Every error wraps one of the Err sentinels. The logger gets
// one debug line saying how the probe watches the queue; nil logs nothing.
func Open(logger *slog.Logger) (*Probe, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// One parse of the kernel's BTF (megabytes) serves the check and every
	// program loaded.
	cache := btf.NewCache()
	report, addrs, err := inspect(system{fsys: os.DirFS("/"), functions: cachedFunctions(cache)})
	if err != nil {
		return nil, err
	}
	p := &Probe{info: Info{Kernel: report.Kernel, Address: report.Address, RetryHold: report.RetryHold, LostByCause: report.LostByCause}}
	if err := p.load(addrs, cache); err != nil {
		p.Close()
		return nil, err
	}
	logger.Debug("eBPF probe attached", "kernel", p.info.Kernel, "address", p.info.Address,
		"queue", fmt.Sprintf("%#x", addrs.queue), "retry_hold", p.info.RetryHold, "lost_by_cause", p.info.LostByCause)
	return p, nil
}

func (p *Probe) load(addrs kernelAddresses, cache *btf.Cache) error {
	spec, err := loadQueue()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if err := spec.LoadAndAssign(&p.objs, &ebpf.CollectionOptions{Cache: cache}); err != nil {
		return classifyLoad("load "+fnQueueTail+" program", err)
	}
	size := int(p.objs.Shared.ValueSize())
	if size != int(unsafe.Sizeof(queueState{})) {
		return fmt.Errorf("%w: shared map value is %d bytes, want %d", ErrLoad, size, unsafe.Sizeof(queueState{}))
	}
	mem, err := unix.Mmap(p.objs.Shared.FD(), 0, pageAlign(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return classifyLoad("map the shared state", err)
	}
	p.mem = mem
	p.st = (*queueState)(unsafe.Pointer(&mem[0]))
	atomic.StoreUint64(&p.st.RetryQueue, addrs.retry)
	atomic.StoreUint64(&p.st.HoldQueue, addrs.hold)
	atomic.StoreUint64(&p.st.Queue, addrs.queue)

	if addrs.queue == 0 {
		prog, err := loadProgram(spec, "on_send_queue", p.objs.Shared, cache)
		if err != nil {
			return classifyLoad("load "+fnSendQueue+" program", err)
		}
		err = p.attach(prog, fnSendQueue)
		prog.Close()
		if err != nil {
			return err
		}
	}
	if p.info.LostByCause {
		prog, err := loadProgram(spec, "on_log_lost", p.objs.Shared, cache)
		if err == nil {
			err = p.attach(prog, fnLogLost)
			prog.Close()
		}
		if err != nil {
			// The peak does not depend on it: go on without.
			p.info.LostByCause = false
		}
	}
	return p.attach(p.objs.OnQueueTail, fnQueueTail)
}

// loadProgram loads one more program of spec that shares the map m.
func loadProgram(spec *ebpf.CollectionSpec, name string, m *ebpf.Map, cache *btf.Cache) (*ebpf.Program, error) {
	var objs struct {
		Prog *ebpf.Program `ebpf:"prog"`
	}
	s := spec.Copy()
	s.Programs = map[string]*ebpf.ProgramSpec{"prog": s.Programs[name]}
	if s.Programs["prog"] == nil {
		return nil, fmt.Errorf("no program %s in queue_bpfel.o", name)
	}
	if err := s.LoadAndAssign(&objs, &ebpf.CollectionOptions{Cache: cache, MapReplacements: map[string]*ebpf.Map{"shared": m}}); err != nil {
		return nil, err
	}
	return objs.Prog, nil
}

// attach attaches prog where its section says (fentry or fexit on fn);
// the link holds the program, so the caller may close prog.
func (p *Probe) attach(prog *ebpf.Program, fn string) error {
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return classifyLoad("attach to "+fn, err)
	}
	p.links = append(p.links, l)
	return nil
}

func pageAlign(n int) int {
	pg := os.Getpagesize()
	return (n + pg - 1) / pg * pg
}

// Info says how the probe watches the queue.
func (p *Probe) Info() Info { return p.info }

// Watching reports whether the probe knows audit_queue's address, so that
// a Snapshot's figures cover its whole interval. It is false only with
// Info.Address == AddressSendQueue, until kauditd's first pass after Open.
func (p *Probe) Watching() bool {
	return p.st != nil && atomic.LoadUint64(&p.st.Queue) != 0
}

// ReadAndReset returns the figures of the interval since the last call
// (or Open) and starts the next one at zero, like the backlog_max_depth
// patch's AUDIT_SET reset. It flips the probe to its other slot of
// figures with one atomic add on memory shared with the kernel, waits for
// programs still updating the old slot (they run for nanoseconds), then
// reads and zeroes it. So every enqueue counts in exactly one interval,
// and all figures of a Snapshot cover the same enqueues. It makes no
// system call unless it has to wait, and needs no privilege; it fails only
// after Close.
func (p *Probe) ReadAndReset() (Snapshot, error) {
	if p.st == nil {
		return Snapshot{}, errors.New("read eBPF probe: closed")
	}
	return takeSnapshot(p.st), nil
}

// flipWait bounds how long takeSnapshot waits for a program still in the
// old slot (one preempted mid-update on a preemptible kernel). Past it, the
// slot is read anyway: the late update then lands in the zeroed slot and
// counts in the interval after next, late but not lost.
const flipWait = 10 * time.Millisecond

// takeSnapshot flips st's slots and swaps every figure of the old one
// with zero (swaps, not stores, for the case flipWait ran out).
func takeSnapshot(st *queueState) Snapshot {
	old := (atomic.AddUint32(&st.Epoch, 1) - 1) & 1
	var deadline time.Time
	for i := 0; atomic.LoadUint64(&st.Inflight[old]) != 0; i++ {
		if i < 100 {
			runtime.Gosched()
			continue
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(flipWait)
		} else if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Microsecond)
	}
	f := &st.Slot[old]
	var s Snapshot
	s.MaxDepth = atomic.SwapUint32(&f.MaxDepth, 0)
	s.RetryMaxDepth = atomic.SwapUint32(&f.RetryMax, 0)
	s.HoldMaxDepth = atomic.SwapUint32(&f.HoldMax, 0)
	s.Enqueued = atomic.SwapUint64(&f.Enqueued, 0)
	s.DepthSum = atomic.SwapUint64(&f.DepthSum, 0)
	for k := range f.Hist {
		s.Histogram[k] = atomic.SwapUint64(&f.Hist[k], 0)
	}
	for c := range f.Lost {
		s.Lost[c] = atomic.SwapUint64(&f.Lost[c], 0)
	}
	return s
}

// Close detaches the programs and unmaps the shared memory. It is
// idempotent: later calls return the first call's result.
func (p *Probe) Close() error {
	p.once.Do(func() {
		var errs []error
		for _, l := range p.links {
			errs = append(errs, l.Close())
		}
		p.st = nil
		if p.mem != nil {
			errs = append(errs, unix.Munmap(p.mem))
			p.mem = nil
		}
		if p.objs.OnQueueTail != nil {
			errs = append(errs, p.objs.OnQueueTail.Close())
		}
		if p.objs.Shared != nil {
			errs = append(errs, p.objs.Shared.Close())
		}
		if err := errors.Join(errs...); err != nil {
			p.err = fmt.Errorf("close eBPF probe: %w", err)
		}
	})
	return p.err
}

// kernelFunctions reports which of names are functions in the running
// kernel's BTF (a read of /sys/kernel/btf/vmlinux; nothing is loaded).
func kernelFunctions(names ...string) (map[string]bool, error) {
	return cachedFunctions(btf.NewCache())(names...)
}

// cachedFunctions is kernelFunctions reading the kernel's BTF through cache.
func cachedFunctions(cache *btf.Cache) func(names ...string) (map[string]bool, error) {
	return func(names ...string) (map[string]bool, error) {
		spec, err := cache.Kernel()
		if err != nil {
			return nil, fmt.Errorf("read kernel BTF: %w", err)
		}
		found := make(map[string]bool, len(names))
		for _, n := range names {
			var fn *btf.Func
			found[n] = spec.TypeByName(n, &fn) == nil
		}
		return found, nil
	}
}

// classifyLoad maps an error from loading or attaching the BPF objects to
// the sentinel that says what to fix, keeping the original error wrapped.
func classifyLoad(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w: %s: %w", ErrPrivileges, what, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, errors.ErrUnsupported):
		return fmt.Errorf("%w: %s: %w", ErrKernelTooOld, what, err)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ESRCH), errors.Is(err, btf.ErrNotFound):
		// cilium/ebpf reports a function missing from the kernel's BTF,
		// or BTF missing altogether, as not found.
		return fmt.Errorf("%w: %s: %w", ErrNoBTF, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrLoad, what, err)
}
