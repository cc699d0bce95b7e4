package peak

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/internal/logtest"
	"github.com/audisp-backlog/audisp-backlog/plugin/peak/peaktest"
	"github.com/audisp-backlog/audisp-backlog/plugin/records"
)

// kernelWait is how long Finish waits for the kernel in these tests, as
// the plugin does (half its shutdown budget).
const kernelWait = 750 * time.Millisecond

// hangLimit bounds every wait for the loop or its worker; a test that
// reaches it has hung.
const hangLimit = 20 * time.Second

// waitFor waits for a value from ch, failing the test after hangLimit.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangLimit):
		t.Fatalf("hung waiting for %s", what)
		var zero T
		return zero
	}
}

// newGatedFixture is a fixture whose loop runs its own kernel worker, on a
// kernel whose calls the test can hold (f.k.GateResets, f.k.GateStatus),
// and logs to the returned buffer.
func newGatedFixture(t *testing.T, set Settings, st auditclient.Status) (*fixture, *peaktest.Kernel, *logtest.Buffer) {
	t.Helper()
	f := newWorkerFixture(t, set, st)
	logger, logs := logtest.New()
	f.loop.logger = logger
	f.loop.acct.logger = logger
	// New took the initial status as a sample; start clean.
	f.loop.acct.cur = openInterval{start: f.loop.acct.cur.start}
	t.Cleanup(f.k.Open) // let a stuck worker end
	return f, f.k, logs
}

// TestLoopSlowReset: while our reset is held in the kernel, samples are
// skipped and counted, the interval's end waits, and reset records are
// kept. Our own record, which the kernel logs before it makes the sender
// sleep, comes back before the ack; once the ack arrives it is recognised
// as ours, so the reset is counted exactly once, and the report goes out
// with End = the time the call returned.
func TestLoopSlowReset(t *testing.T) {
	ctx := context.Background()
	f, gk, logs := newGatedFixture(t, kernelSet, patched)
	gk.GateResets = true
	f.k.Acks = []peaktest.Ack{{Old: 42}, {Old: 7}}

	f.loop.requestTick(ctx, true)
	waitFor(t, gk.Entered, "the reset to reach the kernel")

	for range 3 {
		f.loop.requestSample() // skipped: a call is in flight
	}
	f.loop.requestTick(ctx, true) // the next interval's end waits
	// Another tool's reset made just before ours, then our own record.
	f.loop.resetRecord(ctx, f.record(50, -time.Millisecond))
	f.loop.resetRecord(ctx, f.record(42, 0))
	if len(f.out.got) != 0 {
		t.Fatalf("reported before the ack: %s", f.peaks())
	}

	gk.Open()
	r := waitFor(t, f.loop.replies, "the reset's reply")
	f.loop.reply(ctx, r) // also starts the waiting interval end's reset
	f.loop.reply(ctx, waitFor(t, f.loop.replies, "the second reset's reply"))
	f.loop.resetRecord(ctx, f.record(7, 0))

	if got, want := f.peaks(), "kernel:50/2/1 kernel:7/1/0"; got != want {
		t.Errorf("intervals\n got %s\nwant %s", got, want)
	}
	if got := f.out.got[0].End; !got.Equal(r.after) || !r.after.After(r.before) {
		t.Errorf("End = %v, want the time the reset returned, %v (call started %v)", got, r.after, r.before)
	}
	// Three samples came due while the reset was held: the first is the
	// beat the interval ended on, the other two are skipped.
	if f.loop.samplesSkipped != 2 {
		t.Errorf("samples skipped = %d, want 2", f.loop.samplesSkipped)
	}
	if f.k.Resets() != 2 {
		t.Errorf("%d resets, want 2", f.k.Resets())
	}
	if f.loop.acct.held != nil || len(f.loop.acct.parked) != 0 || len(f.loop.acct.outstanding) != 0 {
		t.Errorf("left over: held %v, parked %v, outstanding %v", f.loop.acct.held, f.loop.acct.parked, f.loop.acct.outstanding)
	}
	for _, want := range []string{"has taken longer than sample_interval", "samples_skipped=2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestLoopFinishStuckKernel: on shutdown with a kernel call that does not
// return, Finish waits for a reset's ack (whose peak has left the mark) up
// to its bound and says what it gives up, does not wait for a sample at
// all, reports what it holds, and the kernel worker closes the client once
// the call returns. The late reply is never processed.
func TestLoopFinishStuckKernel(t *testing.T) {
	tests := []struct {
		name  string
		setup func(ctx context.Context, f *fixture, gk *peaktest.Kernel)
		want  string
		log   bool // Finish logs that it gave up on a reset
	}{
		{
			name: "reset in flight",
			setup: func(ctx context.Context, f *fixture, gk *peaktest.Kernel) {
				gk.GateResets = true
				f.k.Acks = []peaktest.Ack{{Old: 9}}
				f.loop.requestTick(ctx, true)
				waitFor(t, gk.Entered, "the reset to reach the kernel")
				f.loop.resetRecord(ctx, f.record(9, 0)) // parked
			},
			want: "",
			log:  true,
		},
		{
			name: "sample in flight, a report held",
			setup: func(ctx context.Context, f *fixture, gk *peaktest.Kernel) {
				f.k.Acks = []peaktest.Ack{{Old: 4}}
				f.loop.requestTick(ctx, true)
				f.loop.reply(ctx, waitFor(t, f.loop.replies, "the reset's reply"))
				if f.loop.acct.held == nil {
					t.Fatal("report not held")
				}
				gk.GateStatus = true
				f.loop.requestSample()
				waitFor(t, gk.Entered, "the sample to reach the kernel")
			},
			want: "kernel:4/1/0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f, gk, logs := newGatedFixture(t, kernelSet, patched)
			tt.setup(ctx, f, gk)

			done := make(chan struct{})
			go func() {
				f.loop.Finish(ctx, kernelWait)
				close(done)
			}()
			waitFor(t, done, "finish to give up on the kernel")
			if got := f.peaks(); got != tt.want {
				t.Errorf("intervals %q, want %q", got, tt.want)
			}
			if got := strings.Contains(logs.String(), "exiting before the kernel answered"); got != tt.log {
				t.Errorf("logged giving up on the reset: %v, want %v:\n%s", got, tt.log, logs)
			}
			select {
			case <-gk.Closed():
				t.Fatal("client closed while a call was still in the kernel")
			default:
			}
			gk.Open()
			waitFor(t, gk.Closed(), "the kernel worker to close the client")
			if got := f.peaks(); got != tt.want {
				t.Errorf("after the late reply, intervals %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLoopRunDrainsWhileKernelStuck runs the real loop, with its tickers,
// while every kernel call is held: it keeps taking reset records (parking
// a bounded number, counting the rest as dropped, so the reader never
// blocks), keeps skipping samples, stops at once on cancellation, and
// Finish stays within its bound.
func TestLoopRunDrainsWhileKernelStuck(t *testing.T) {
	set := Settings{Interval: 5 * time.Millisecond, SampleInterval: time.Millisecond, RecordWait: time.Second, Method: conf.MethodAuto}
	f, gk, logs := newGatedFixture(t, set, patched)
	f.loop.now = time.Now // run and its tickers use the real clock
	gk.GateResets = true
	f.k.Acks = []peaktest.Ack{{Old: 3}}

	ctx, cancel := context.WithCancel(context.Background())
	resets := make(chan records.Reset, 64)
	why := make(chan string, 1)
	go func() { why <- f.loop.Run(ctx, resets, nil) }()
	waitFor(t, gk.Entered, "the first interval's reset to reach the kernel")

	const sent = 1000
	sentAll := make(chan struct{})
	go func() {
		rec := records.Reset{Old: 3, Time: time.Now(), AUID: records.UnsetID, Ses: records.UnsetID}
		for range sent {
			resets <- rec // blocks once the buffer is full, unless the loop drains it
		}
		close(sentAll)
	}()
	waitFor(t, sentAll, "the loop to take every reset record")
	// The sample ticker keeps firing; the first skipped sample is logged.
	for deadline := time.Now().Add(hangLimit); !strings.Contains(logs.String(), "has taken longer than sample_interval"); {
		if time.Now().After(deadline) {
			t.Fatalf("no skipped sample logged:\n%s", logs)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if got := waitFor(t, why, "run to return"); got != context.Canceled.Error() {
		t.Errorf("run returned %q", got)
	}

	// run has returned: its state is ours to read.
	taken := uint64(sent - len(resets))
	if got := uint64(len(f.loop.acct.parked)) + f.loop.acct.dropped; got != taken {
		t.Errorf("parked %d + dropped %d = %d, want the %d records taken", len(f.loop.acct.parked), f.loop.acct.dropped, got, taken)
	}
	if len(f.loop.acct.parked) != maxParked {
		t.Errorf("parked %d records, want the bound, %d", len(f.loop.acct.parked), maxParked)
	}
	if f.loop.samplesSkipped == 0 {
		t.Errorf("no sample skipped")
	}
	finished := make(chan struct{})
	go func() {
		f.loop.Finish(context.Background(), kernelWait)
		close(finished)
	}()
	waitFor(t, finished, "finish")
	if !strings.Contains(logs.String(), "exiting before the kernel answered") {
		t.Errorf("log does not say that the reset in flight is given up:\n%s", logs)
	}
	gk.Open()
	waitFor(t, gk.Closed(), "the kernel worker to close the client")
	t.Logf("kernel held: %d reset records taken (%d parked, %d dropped), %d samples skipped",
		taken, len(f.loop.acct.parked), f.loop.acct.dropped, f.loop.samplesSkipped)
}

// TestLoopKernelFaults: netlink errors and bad replies from the kernel
// (as auditclient returns them) fail the interval's reset and samples; the
// interval is reported as sampled, each failure is counted, the fault is
// logged once, and the kernel figures resume when the fault ends. Decoding
// of the replies themselves is tested in auditclient: TestStatus ("reply
// too short", "52-byte reply, future kernel", "EPERM ack", "receive error",
// "silent kernel"), TestResetMaxDepth ("EPERM ack", "EINVAL ack"),
// TestDecodeStatus and FuzzDecodeStatus.
func TestLoopKernelFaults(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"EPERM", fmt.Errorf("reset backlog_max_depth: needs CAP_AUDIT_CONTROL in the initial PID namespace: %w", syscall.EPERM)},
		{"ENOBUFS", fmt.Errorf("audit status: receive: %w", syscall.ENOBUFS)},
		{"short reply", fmt.Errorf("audit status: audit status reply is 20 bytes, want at least 32: %w", io.ErrUnexpectedEOF)},
		{"no reply", fmt.Errorf("audit status: no reply within 2s: %w", os.ErrDeadlineExceeded)},
		{"EACCES", fmt.Errorf("audit status: %w", fs.ErrPermission)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, kernelSet, patched)
			logger, logs := logtest.New()
			f.loop.logger, f.loop.acct.logger = logger, logger
			f.loop.acct.cur = openInterval{start: f.loop.acct.cur.start}

			f.k.Acks = []peaktest.Ack{{Old: 5}, {Err: tt.err}, {Err: tt.err}, {Old: 30}}
			f.tick(false) // healthy
			f.k.StatusErr = tt.err
			f.sample()
			f.sample()
			f.tick(false)
			f.tick(false)
			f.k.StatusErr = nil // the fault ends
			f.k.Backlogs = []uint32{12}
			f.sample()
			f.tick(false)

			if got, want := f.peaks(), "kernel:5/1/0 sampled:0/0/0 sampled:0/0/0 kernel:30/1/0"; got != want {
				t.Errorf("intervals\n got %s\nwant %s", got, want)
			}
			// 2 failed samples, 2 failed resets, 2 failed statuses after them.
			if got := f.out.got[3].Plugin.ResetsFailed; got != 6 {
				t.Errorf("resets_failed = %d, want 6", got)
			}
			if got := f.out.got[3].Samples; got != 1 {
				t.Errorf("samples after recovery = %d, want 1", got)
			}
			log := logs.String()
			if n := strings.Count(log, "level=ERROR"); n != 1 {
				t.Errorf("fault logged %d times, want once:\n%s", n, log)
			}
			if n := strings.Count(log, "recovered"); n != 1 {
				t.Errorf("recovery logged %d times, want once:\n%s", n, log)
			}
		})
	}
}

// TestLoopCoincidingCallIsQuiet: an interval's end that finds a sample's
// call in flight, or a sample that finds the interval's reset in flight, is
// an ordinary coincidence (both timers fire on the same beat): it defers or
// skips quietly and is not counted. Only a call that outlives a whole
// sample interval (a second sample due) is logged as slow, its return too,
// and from then on the samples it holds up are counted as skipped.
func TestLoopCoincidingCallIsQuiet(t *testing.T) {
	ctx := context.Background()
	f, gk, logs := newGatedFixture(t, kernelSet, patched)
	gk.GateResets = true
	f.k.Acks = []peaktest.Ack{{Old: 5}}

	f.loop.requestTick(ctx, false)
	waitFor(t, gk.Entered, "the reset to reach the kernel")
	f.loop.requestSample() // same beat as the interval's end
	if strings.Contains(logs.String(), "has taken longer than sample_interval") {
		t.Fatalf("a single coinciding sample was logged as a slow call:\n%s", logs)
	}
	f.loop.requestSample() // a whole sample interval later, still in the kernel
	if !strings.Contains(logs.String(), "has taken longer than sample_interval") {
		t.Fatalf("a call that outlived a sample interval was not logged:\n%s", logs)
	}
	gk.Open()
	f.loop.reply(ctx, waitFor(t, f.loop.replies, "the reset's reply"))
	if got := strings.Count(logs.String(), "has taken longer than sample_interval"); got != 1 {
		t.Errorf("slow call logged %d times, want once:\n%s", got, logs)
	}
	if !strings.Contains(logs.String(), "samples_skipped=1") || !strings.Contains(logs.String(), "backlog_limit=8192") {
		t.Errorf("the slow call's return is not logged with its 1 skipped sample and the backlog:\n%s", logs)
	}
	if got := f.peaks(); got != "kernel:5/1/0" {
		t.Fatalf("intervals %s, want kernel:5/1/0", got)
	}
	if got := f.out.got[0].Plugin.SamplesSkipped; got != 1 {
		t.Errorf("reported samples_skipped = %d, want 1", got)
	}
}
