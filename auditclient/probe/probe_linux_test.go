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
	if len(queueState{}.Hist) != HistogramBuckets || len(queueState{}.Lost) != int(LostCauses) {
		t.Errorf("queue.bpf.c has %d buckets and %d causes; snapshot.go %d and %d",
			len(queueState{}.Hist), len(queueState{}.Lost), HistogramBuckets, LostCauses)
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

// TestTakeSnapshotLosesNothing races writers, doing what queue.bpf.c does
// with the same atomic operations, against readers taking snapshots: the
// snapshots must add up to exactly what was written.
func TestTakeSnapshotLosesNothing(t *testing.T) {
	st := new(queueState)
	const writers, per = 4, 20000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				d := uint32(w*per + i + 1)
				for {
					cur := atomic.LoadUint32(&st.MaxDepth)
					if d <= cur || atomic.CompareAndSwapUint32(&st.MaxDepth, cur, d) {
						break
					}
				}
				atomic.AddUint64(&st.Enqueued, 1)
				atomic.AddUint64(&st.DepthSum, uint64(d))
				atomic.AddUint64(&st.Hist[bucket(d)], 1)
				atomic.AddUint64(&st.Lost[i%int(LostCauses)], 1)
			}
		})
	}
	var total Snapshot
	var snaps int
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	collect := func() {
		s := takeSnapshot(st)
		snaps++
		total.MaxDepth = max(total.MaxDepth, s.MaxDepth)
		total.Enqueued += s.Enqueued
		total.DepthSum += s.DepthSum
		for k := range s.Histogram {
			total.Histogram[k] += s.Histogram[k]
		}
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
	if s := takeSnapshot(st); s != (Snapshot{}) {
		t.Errorf("after the last snapshot: %+v, want zero", s)
	}
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
