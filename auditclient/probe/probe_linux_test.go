//go:build (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm) && linux

package probe

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// TestObject reads the committed BPF object (an ELF parse: nothing is
// loaded into the kernel) and checks it is what probe_linux.go expects.
func TestObject(t *testing.T) {
	spec, err := loadQueue()
	if err != nil {
		t.Fatal(err)
	}
	m := spec.Maps["shared"]
	if m == nil {
		t.Fatal("no map shared")
	}
	if m.Type != ebpf.Array || m.MaxEntries != 1 || m.Flags&(1<<10) == 0 {
		t.Errorf("map shared: type %v, %d entries, flags %#x; want a 1-entry BPF_F_MMAPABLE array", m.Type, m.MaxEntries, m.Flags)
	}
	if m.ValueSize != uint32(unsafe.Sizeof(queueState{})) {
		t.Errorf("map value %d bytes, queueState %d", m.ValueSize, unsafe.Sizeof(queueState{}))
	}
	const buckets, causes = len(queueState{}.Slot[0].Hist), len(queueState{}.Slot[0].Lost)
	if buckets != HistogramBuckets || causes != int(LostCauses) {
		t.Errorf("queue.bpf.c has %d buckets and %d causes; snapshot.go %d and %d", buckets, causes, HistogramBuckets, LostCauses)
	}
	want := map[string]struct {
		attach ebpf.AttachType
		fn     string
	}{
		"on_queue_tail": {ebpf.AttachTraceFExit, fnQueueTail},
		"on_log_lost":   {ebpf.AttachTraceFEntry, fnLogLost},
		"on_send_queue": {ebpf.AttachTraceFEntry, fnSendQueue},
	}
	for name, w := range want {
		p := spec.Programs[name]
		if p == nil {
			t.Errorf("no program %s", name)
			continue
		}
		if p.Type != ebpf.Tracing || p.AttachType != w.attach || p.AttachTo != w.fn {
			t.Errorf("%s: %v %v %q, want tracing %v %q", name, p.Type, p.AttachType, p.AttachTo, w.attach, w.fn)
		}
		if p.License != "Dual MIT/GPL" {
			t.Errorf("%s: license %q: tracing helpers need a GPL-compatible one", name, p.License)
		}
	}
}

// TestTakeSnapshot races writers, following queue.bpf.c's protocol with
// the same atomic operations (enter, update, leave), against a reader
// taking snapshots. The snapshots must add up to exactly what was written,
// and each must be consistent: every write counts one record in
// Enqueued, in the histogram and in Lost, so the three agree in every
// snapshot, never split by a reset.
func TestTakeSnapshot(t *testing.T) {
	st := new(queueState)
	const writers, per = 4, 20000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				d := uint32(w*per + i + 1)
				e := bpfEnter(st)
				f := &st.Slot[e]
				for {
					cur := atomic.LoadUint32(&f.MaxDepth)
					if d <= cur || atomic.CompareAndSwapUint32(&f.MaxDepth, cur, d) {
						break
					}
				}
				atomic.AddUint64(&f.Enqueued, 1)
				atomic.AddUint64(&f.DepthSum, uint64(d))
				atomic.AddUint64(&f.Hist[bucket(d)], 1)
				atomic.AddUint64(&f.Lost[i%int(LostCauses)], 1)
				atomic.AddUint64(&st.Inflight[e], ^uint64(0)) // leave
			}
		})
	}
	var total Snapshot
	var snaps, torn int
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	collect := func() {
		s := takeSnapshot(st)
		snaps++
		var hist uint64
		for k := range s.Histogram {
			hist += s.Histogram[k]
			total.Histogram[k] += s.Histogram[k]
		}
		if hist != s.Enqueued || s.LostTotal() != s.Enqueued {
			torn++
		}
		total.MaxDepth = max(total.MaxDepth, s.MaxDepth)
		total.Enqueued += s.Enqueued
		total.DepthSum += s.DepthSum
		for c := range s.Lost {
			total.Lost[c] += s.Lost[c]
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		collect()
	}
	collect()
	n := uint64(writers * per)
	if total.MaxDepth != uint32(n) || total.Enqueued != n || total.DepthSum != n*(n+1)/2 {
		t.Errorf("max %d enqueued %d sum %d over %d snapshots; want %d, %d, %d", total.MaxDepth, total.Enqueued, total.DepthSum, snaps, n, n, n*(n+1)/2)
	}
	var hist uint64
	for _, v := range total.Histogram {
		hist += v
	}
	if hist != n || total.LostTotal() != n {
		t.Errorf("histogram counts %d, lost %d; want %d", hist, total.LostTotal(), n)
	}
	if torn != 0 {
		t.Errorf("%d of %d snapshots had figures from different intervals", torn, snaps)
	}
	if s := takeSnapshot(st); s != (Snapshot{}) {
		t.Errorf("after the last snapshot: %+v, want zero", s)
	}
}

// bpfEnter is queue.bpf.c's enter: announce, then check the epoch.
func bpfEnter(st *queueState) uint32 {
	var e uint32
	for i := range 4 {
		e = atomic.LoadUint32(&st.Epoch) & 1
		atomic.AddUint64(&st.Inflight[e], 1)
		if atomic.LoadUint32(&st.Epoch)&1 == e {
			break
		}
		if i < 3 {
			atomic.AddUint64(&st.Inflight[e], ^uint64(0))
		}
	}
	return e
}

func TestClassifyLoad(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{fmt.Errorf("load program: %w", syscall.EPERM), ErrPrivileges},
		{fmt.Errorf("create map: %w", fs.ErrPermission), ErrPrivileges},
		{fmt.Errorf("attach: %w", syscall.EACCES), ErrPrivileges},
		{fmt.Errorf("find target: %w", btf.ErrNotFound), ErrNoBTF},
		{fmt.Errorf("attach: %w", syscall.ESRCH), ErrNoBTF},
		{fmt.Errorf("feature: %w", ebpf.ErrNotSupported), ErrKernelTooOld},
		{fmt.Errorf("verifier: %w", syscall.EINVAL), ErrLoad},
	}
	for _, tt := range tests {
		got := classifyLoad("x", tt.err)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("classifyLoad(%v) = %v, want it to wrap %v and the original", tt.err, got, tt.want)
		}
	}
	if classifyLoad("x", nil) != nil {
		t.Error("classifyLoad(nil) != nil")
	}
}

func TestClosedProbe(t *testing.T) {
	var p Probe
	if err := p.Close(); err != nil {
		t.Fatalf("Close of a probe never opened: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.ReadAndReset(); err == nil {
		t.Fatal("ReadAndReset after Close: no error")
	}
	if p.Watching() {
		t.Fatal("Watching after Close")
	}
}
