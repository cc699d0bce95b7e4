package peak

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/internal/logtest"
	"github.com/audisp-backlog/audisp-backlog/plugin/records"
)

// acctFixture drives an Accountant alone, as the loop would, with a fake
// clock and scripted readings: no goroutine, no loop, no kernel.
type acctFixture struct {
	t       *testing.T
	a       *Accountant
	clock   *clock
	method  emit.Method
	acks    []ack // the readings of the mark, in order
	noReset bool  // a reading now fails the test
	got     []Report
}

// ack is one reading of the mark: its value, or its failure.
type ack struct {
	old uint32
	err error
}

// tick ends the interval as the loop does when its ticker fires: a report
// still held goes out, then the source is read (with the kernel method)
// between two readings of the clock.
func (f *acctFixture) tick(hold bool) {
	f.t.Helper()
	f.a.Release()
	before := f.clock.now()
	e := Ending{Before: before, After: before, Hold: hold}
	if f.method == emit.MethodKernel {
		if f.noReset {
			f.t.Errorf("the mark was read in sampled mode")
		}
		if len(f.acks) == 0 {
			f.t.Fatalf("the mark was read more often than scripted")
		}
		f.a.ResetStarted()
		r := f.acks[0]
		f.acks = f.acks[1:]
		e.After = f.clock.now()
		if r.err != nil {
			e.Err = r.err
		} else {
			e.Reading = &Reading{Peak: r.old, Method: emit.MethodKernel, Mark: true}
		}
	}
	f.a.End(e)
}

// record is a reset record stamped at the clock's current time plus offset.
func (f *acctFixture) record(old uint32, offset time.Duration) records.Reset {
	return records.Reset{Old: old, Time: f.clock.peek().Add(offset).Truncate(time.Millisecond), AUID: records.UnsetID, Ses: records.UnsetID}
}

// take keeps the reports the accountant finished.
func (f *acctFixture) take() { f.got = append(f.got, f.a.Take()...) }

// peaks returns the reports as "method:peak/resets/external".
func (f *acctFixture) peaks() string {
	var s []string
	for _, r := range f.got {
		s = append(s, fmt.Sprintf("%s:%d/%d/%d", r.Method, r.Peak, r.OwnResets+r.ExternalResets, r.ExternalResets))
	}
	return strings.Join(s, " ")
}

// TestAccountant plays the events of intervals to an accountant and checks
// the peak, own and external resets of every report.
func TestAccountant(t *testing.T) {
	type step func(f *acctFixture)
	tick := func(hold bool) step { return func(f *acctFixture) { f.tick(hold) } }
	acks := func(a ...uint32) step {
		return func(f *acctFixture) {
			for _, v := range a {
				f.acks = append(f.acks, ack{old: v})
			}
		}
	}
	failAck := func(err error) step { return func(f *acctFixture) { f.acks = append(f.acks, ack{err: err}) } }
	// own sends back the record of our latest reset, as auditd would.
	own := func(old uint32) step {
		return func(f *acctFixture) { f.a.Record(f.record(old, -time.Millisecond)) }
	}
	external := func(old uint32, offset time.Duration) step {
		return func(f *acctFixture) { f.a.Record(f.record(old, offset)) }
	}
	expire := func(f *acctFixture) { f.a.Expire() }
	samples := func(b ...uint32) step {
		return func(f *acctFixture) {
			for _, v := range b {
				f.clock.now()
				f.a.Sample(v)
			}
		}
	}
	noReset := func(f *acctFixture) { f.noReset = true }
	advance := func(d time.Duration) step { return func(f *acctFixture) { f.clock.advance(d) } }

	tests := []struct {
		name  string
		st    auditclient.Status
		set   Settings
		steps []step
		want  string
	}{
		{
			name:  "acks are the peaks",
			st:    patched,
			steps: []step{acks(5, 7, 0), tick(false), tick(false), tick(false)},
			want:  "kernel:5/1/0 kernel:7/1/0 kernel:0/1/0",
		},
		{
			name:  "external reset mid-interval is in the interval",
			st:    patched,
			steps: []step{acks(3), external(9, -time.Second), tick(false)},
			want:  "kernel:9/2/1",
		},
		{
			name:  "held report waits for our record, then our record is not counted again",
			st:    patched,
			steps: []step{acks(10, 2), tick(true), own(10), advance(time.Minute), tick(true), own(2)},
			want:  "kernel:10/1/0 kernel:2/1/0",
		},
		{
			name: "external record arriving before ours belongs to the held interval",
			st:   patched,
			steps: []step{acks(4, 1), tick(true), external(12, -2*time.Millisecond), own(4),
				advance(time.Minute), tick(true), own(1)},
			want: "kernel:12/2/1 kernel:1/1/0",
		},
		{
			name:  "own record later than record_wait is still recognised",
			st:    patched,
			steps: []step{acks(10, 1), tick(true), expire, own(10), advance(time.Minute), tick(true), own(1)},
			want:  "kernel:10/1/0 kernel:1/1/0",
		},
		{
			name:  "after a missed record, reports are not held",
			st:    patched,
			steps: []step{acks(10, 6), tick(true), expire, advance(time.Minute), tick(true)},
			want:  "kernel:10/1/0 kernel:6/1/0",
		},
		{
			name:  "own record lost: a later external reset releases the held report and counts in the next",
			st:    patched,
			steps: []step{acks(10, 3), tick(true), external(50, 5*time.Second), advance(time.Minute), tick(false)},
			want:  "kernel:10/1/0 kernel:50/2/1",
		},
		{
			name:  "external reset with the value of a pending own reset but hours away is external",
			st:    patched,
			steps: []step{acks(10, 3), tick(false), external(10, 2*time.Hour), advance(3 * time.Hour), tick(false)},
			want:  "kernel:10/1/0 kernel:10/2/1",
		},
		{
			name:  "a late external record is counted once, one interval late",
			st:    patched,
			set:   Settings{Interval: time.Minute, SampleInterval: time.Second, RecordWait: 0, Method: conf.MethodAuto},
			steps: []step{acks(5, 1, 1), tick(true), external(30, -time.Second), own(5), advance(time.Minute), tick(true), advance(time.Minute), tick(true)},
			want:  "kernel:5/1/0 kernel:30/2/1 kernel:1/1/0",
		},
		{
			name:  "sampling can raise the kernel peak only when it saw more",
			st:    patched,
			steps: []step{acks(4, 9), samples(2, 7, 3), tick(false), samples(8), tick(false)},
			want:  "kernel:7/1/0 kernel:9/1/0",
		},
		{
			name:  "failed reset reports the sampled peak, the next reset carries the rest",
			st:    patched,
			steps: []step{failAck(syscall.ENOBUFS), acks(40), samples(12, 3), tick(false), tick(false)},
			want:  "sampled:12/0/0 kernel:40/1/0",
		},
		{
			name: "resets made before the plugin started are not counted",
			st:   patched,
			// A previous instance's last reset, whose record auditd
			// hands to this one after restarting it, and the kernel's
			// coarse clock at this one's start.
			steps: []step{acks(3, 2), external(500, -time.Minute-time.Second), external(40, -time.Minute-10*time.Millisecond),
				tick(false), tick(false)},
			want: "kernel:40/2/1 kernel:2/1/0",
		},
		{
			name:  "a failed reset keeps the external resets made in its interval",
			st:    patched,
			steps: []step{failAck(syscall.ENOBUFS), acks(40), samples(3), external(25, -time.Second), tick(false), tick(false)},
			want:  "sampled:25/1/1 kernel:40/1/0",
		},
		{
			name:  "unpatched kernel samples and never resets",
			st:    unpatched,
			steps: []step{noReset, samples(3, 17, 2), tick(true), samples(5), tick(true)},
			want:  "sampled:17/0/0 sampled:5/0/0",
		},
		{
			name:  "method sampled on a patched kernel never resets; external resets are counted only",
			st:    patched,
			set:   Settings{Interval: time.Minute, SampleInterval: time.Second, RecordWait: time.Second, Method: conf.MethodSampled},
			steps: []step{noReset, samples(4), external(99, 0), tick(true)},
			want:  "sampled:4/1/1",
		},
		{
			name: "resets from another node are ignored once ours show our node",
			st:   patched,
			steps: []step{acks(3, 2), tick(true),
				func(f *acctFixture) {
					r := f.record(3, -time.Millisecond)
					r.Node = "here"
					f.a.Record(r)
				},
				func(f *acctFixture) {
					r := f.record(500, 0)
					r.Node = "elsewhere"
					f.a.Record(r)
				},
				advance(time.Minute), tick(false)},
			want: "kernel:3/1/0 kernel:2/1/0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := tt.set
			if set.Interval == 0 {
				set = kernelSet
			}
			method, err := Resolve(set.Method, tt.st, false)
			if err != nil {
				t.Fatal(err)
			}
			c := &clock{t: t0, step: time.Millisecond}
			f := &acctFixture{t: t, clock: c, method: method,
				a: NewAccountant(slog.New(slog.NewTextHandler(io.Discard, nil)), c.now(), method, set.RecordWait)}
			c.advance(time.Minute) // the first interval has run for a while
			for _, s := range tt.steps {
				s(f)
				f.take()
			}
			if got := f.peaks(); got != tt.want {
				t.Errorf("intervals\n got %s\nwant %s", got, tt.want)
			}
			if f.a.held != nil {
				t.Errorf("a report is still held: %+v", f.a.held.report)
			}
		})
	}
}

// TestAccountantSaysWhyExternalValueUnused: without the mark as its source,
// another tool's reset is counted but its old= is not a peak of this
// interval; the log says so once, at info.
func TestAccountantSaysWhyExternalValueUnused(t *testing.T) {
	logger, logs := logtest.New()
	c := &clock{t: t0, step: time.Millisecond}
	a := NewAccountant(logger, c.now(), emit.MethodSampled, time.Second)
	a.Sample(4)
	for _, old := range []uint32{900, 800} {
		a.Record(records.Reset{Old: old, Time: c.now(), AUID: records.UnsetID, Ses: records.UnsetID})
	}
	now := c.now()
	a.End(Ending{Before: now, After: now})
	r := a.Take()
	if len(r) != 1 || r[0].Peak != 4 || r[0].ExternalResets != 2 {
		t.Fatalf("reports %+v, want one with peak 4 and 2 external resets", r)
	}
	if n := strings.Count(logs.String(), "not this interval's peak"); n != 1 {
		t.Errorf("explained %d times at info, want once:\n%s", n, logs)
	}
}
