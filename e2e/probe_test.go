package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The eBPF probe's scenarios (issue 12). The guest runs without the plugin:
// the driver opens auditclient/probe itself and prints the probe's
// figures beside the kernel's own backlog_max_depth (patched kernel) and
// AUDIT_GET polls; every assertion is here.

// debianKernels are Debian's own kernel images, as shipped (unsigned),
// fetched by e2e/scripts/debian-kernels.sh (make e2e-debian-kernels).
var debianKernels = []struct{ suite, file string }{
	{"bookworm", "debian-bookworm.vmlinuz"},
	{"trixie", "debian-trixie.vmlinuz"},
	{"sid", "debian-sid.vmlinuz"},
}

// probeSeed is the scenarios' random seed (AUDISP_E2E_SEED, default 1).
func probeSeed() string {
	if s := os.Getenv("AUDISP_E2E_SEED"); s != "" {
		return s
	}
	return "1"
}

// snap is one probe snapshot as the driver printed it.
type snap struct {
	max, retryMax, holdMax uint32
	enqueued, depthSum     uint64
	hist                   map[int]uint64
	lost                   map[string]uint64
	kernel                 uint32 // the kernel's mark for the same interval (patched kernel)
}

func snapOf(e event) snap {
	s := snap{max: e.u32("max"), retryMax: e.u32("retry_max"), holdMax: e.u32("hold_max"),
		enqueued: uint64(e.num("enqueued")), depthSum: uint64(e.num("depth_sum")), kernel: e.u32("kernel"),
		hist: map[int]uint64{}, lost: map[string]uint64{}}
	h, _ := e["hist"].(map[string]any)
	for k, v := range h {
		b, _ := strconv.Atoi(k)
		f, _ := v.(float64)
		s.hist[b] = uint64(f)
	}
	l, _ := e["lost"].(map[string]any)
	for k, v := range l {
		f, _ := v.(float64)
		s.lost[k] = uint64(f)
	}
	return s
}

// checkSnapConsistent checks what must hold inside any one snapshot: the
// histogram counts every record queued, the maximum falls in the highest
// non-empty bucket, and the mean depth is at most the maximum.
func checkSnapConsistent(t *testing.T, what string, s snap) {
	t.Helper()
	var n uint64
	top := -1
	for k, v := range s.hist {
		n += v
		if v > 0 && k > top {
			top = k
		}
	}
	// Exact in the one-CPU guest: the reader and the BPF program cannot
	// interleave there. (With several CPUs an enqueue racing the reset
	// may count in this interval's histogram and the next one's Enqueued.)
	if n != s.enqueued {
		t.Errorf("%s: histogram counts %d records, enqueued %d", what, n, s.enqueued)
	}
	if s.enqueued == 0 {
		return
	}
	if got := bucketOf(s.max); got != top && s.max != 0 {
		t.Errorf("%s: max %d is in bucket %d, the highest non-empty bucket is %d (%v)", what, s.max, got, top, s.hist)
	}
	if s.depthSum > s.enqueued*uint64(s.max) && s.max != 0 {
		t.Errorf("%s: mean depth %d/%d above the max %d", what, s.depthSum, s.enqueued, s.max)
	}
}

// bucketOf is queue.bpf.c's histogram bucket: floor(log2(d)), 0 for 0.
func bucketOf(d uint32) int {
	k := 0
	for d > 1 {
		d >>= 1
		k++
	}
	return k
}

// probeOpened checks the probe opened and how it finds audit_queue.
func probeOpened(t *testing.T, b *boot, address string) event {
	t.Helper()
	c := b.last(t, "probe-check")
	if c.str("err") != "" {
		t.Errorf("probe.Check: %s", c.str("err"))
	}
	o := b.last(t, "probe-open")
	t.Logf("probe: %s; opened in %v ms", c.str("report"), o.num("ms_taken"))
	if o.str("address") != address {
		t.Errorf("audit_queue's address from %q, want %q", o.str("address"), address)
	}
	if o.str("kernel") == "" || o.str("kernel") != c.str("kernel") {
		t.Errorf("kernel release: Open %q, Check %q", o.str("kernel"), c.str("kernel"))
	}
	return o
}

// TestProbeCompare is the proof against the patch: random bursts with
// auditd running, and per interval the probe's peak beside the kernel's
// own backlog_max_depth, read and reset right after it.
func TestProbeCompare(t *testing.T) {
	b := runGuest(t, kernelPatched, initrdNoPlugin, "ebpf-compare", 10*time.Minute, "e2e.seed="+probeSeed())
	o := probeOpened(t, b, "kallsyms")
	if o["retry_hold"] != true || o["lost_by_cause"] != true {
		t.Errorf("probe-open: %v, want the retry/hold queues and lost causes watched", o)
	}
	var quiet, race []snap
	var sent []uint64 // records the quiet intervals' bursts sent
	var n uint64
	for _, e := range b.events {
		switch e.str("ev") {
		case "burst":
			n += uint64(e.num("n"))
			continue
		case "cmp":
		default:
			continue
		}
		if e.str("phase") == "quiet" {
			sent = append(sent, n)
		}
		n = 0
		s := snapOf(e)
		checkSnapConsistent(t, fmt.Sprintf("%s interval %v", e.str("phase"), e.num("i")), s)
		if e.str("phase") == "quiet" {
			quiet = append(quiet, s)
		} else {
			race = append(race, s)
		}
	}
	if len(quiet) != 20 || len(race) < 20 {
		t.Fatalf("got %d quiet and %d racing intervals, want 20 and at least 20", len(quiet), len(race))
	}
	// Quiet: the pair is reset when nothing is being queued, so both ends
	// of the probe's interval and the kernel's enclose the same records.
	equal := 0
	for i, s := range quiet {
		if s.max == s.kernel {
			equal++
		} else {
			t.Errorf("quiet interval %d: probe max %d, kernel backlog_max_depth %d", i, s.max, s.kernel)
		}
		// The bursts' records, the previous reset's CONFIG_CHANGE and
		// nothing else: auditd drains the queue but queues nothing.
		if s.enqueued < sent[i] || s.enqueued > sent[i]+quietPeak {
			t.Errorf("quiet interval %d: %d records queued, its bursts sent %d", i, s.enqueued, sent[i])
		}
	}
	// Racing: records queued between the probe's reset and the kernel's
	// count in the kernel's interval i and the probe's i+1. So, exactly:
	// probe_i <= max(kernel_i-1, kernel_i), kernel_i <= max(probe_i,
	// probe_i+1), and over the run the highest peaks are equal.
	differ, pMax, kMax := 0, uint32(0), uint32(0)
	for i, s := range race {
		pMax, kMax = max(pMax, s.max), max(kMax, s.kernel)
		if s.max != s.kernel {
			differ++
		}
		prevK := quiet[len(quiet)-1].kernel
		if i > 0 {
			prevK = race[i-1].kernel
		}
		if s.max > max(prevK, s.kernel) {
			t.Errorf("race interval %d: probe %d above the kernel's %d and %d", i, s.max, prevK, s.kernel)
		}
		if i+1 < len(race) && s.kernel > max(s.max, race[i+1].max) {
			t.Errorf("race interval %d: kernel %d above the probe's %d and %d", i, s.kernel, s.max, race[i+1].max)
		}
	}
	if pMax != kMax {
		t.Errorf("racing phase: highest probe peak %d, highest kernel peak %d", pMax, kMax)
	}
	t.Logf("quiet: %d/%d intervals equal; racing: %d/%d intervals differ (records queued between the two resets), highest peak %d both",
		equal, len(quiet), differ, len(race), pMax)
}

// TestProbeStock runs on the patched kernel and on Debian's own kernels,
// as shipped (bookworm 6.1, trixie 6.12, sid 7.2), one boot each:
//
//   - held: five bursts made while auditd is stopped, at real-time priority
//     (audit-burst -rt: nothing leaves the queue until its own AUDIT_GET
//     right after the last record, unless the tool had to wait). The
//     probe's peak equals that backlog whenever the probe's counts show no
//     record left the queue during the burst (then its histogram must be
//     exactly 1, 2, 4, ... per bucket); it is never below what AUDIT_GET
//     read every 10 ms while the burst was held; the probe counted every
//     record queued; on the patched kernel its peak equals the kernel's.
//   - poll: twenty random bursts with auditd running; a poller reads
//     AUDIT_GET every 10 ms while the probe is read every 100 ms. No poll
//     may see more than the probe's peak since the last record queued
//     before it: between two enqueues the queue only shrinks.
func TestProbeStock(t *testing.T) {
	kernels := []struct{ name, file string }{{"patched", kernelPatched}}
	for _, k := range debianKernels {
		kernels = append(kernels, struct{ name, file string }{k.suite, k.file})
	}
	for _, k := range kernels {
		t.Run(k.name, func(t *testing.T) {
			file := needKernel(t, k.file)
			b := runGuest(t, file, initrdNoPlugin, "ebpf-stock", 8*time.Minute, "e2e.seed="+probeSeed())
			probeOpened(t, b, "kallsyms")
			checkHeld(t, b, 5)
			checkPolls(t, b)
		})
	}
}

// checkHeld checks the "held" events of a guest.
func checkHeld(t *testing.T, b *boot, want int) {
	t.Helper()
	helds := b.all("held")
	if len(helds) != want {
		t.Fatalf("got %d held bursts, want %d", len(helds), want)
	}
	firstEqual := 0
	for i, e := range helds {
		s, n := snapOf(e), e.u32("n")
		checkSnapConsistent(t, fmt.Sprintf("held burst %d", i), s)
		var reads []uint32
		for _, r := range e["reads"].([]any) {
			reads = append(reads, uint32(r.(float64)))
		}
		hi := slices.Max(reads)
		if s.max < hi {
			t.Errorf("burst %d of %d: probe max %d below an AUDIT_GET backlog %d (reads %v)", i, n, s.max, hi, reads)
		}
		// Enqueued == max: every record found the queue one deeper than
		// the one before, so none left it during the burst (audit-burst
		// -rt kept kauditd off the CPU). Then reads[0], the backlog
		// audit-burst read right after its last record, is exactly the
		// depth that record found: the peak. When the burst was
		// interrupted (kauditd ran while the tool waited for memory, say:
		// the probe's own counts show it), only the bound above holds.
		staircase := s.enqueued == uint64(s.max)
		if staircase {
			checkStaircase(t, fmt.Sprintf("burst %d of %d", i, n), s)
			if s.max != reads[0] {
				t.Errorf("burst %d of %d: probe max %d, backlog right after the burst %d", i, n, s.max, reads[0])
			}
		}
		if s.max == reads[0] {
			firstEqual++
		}
		if s.enqueued < uint64(n) || s.enqueued > uint64(n)+quietPeak {
			t.Errorf("burst %d of %d: %d records queued, want %d..%d", i, n, s.enqueued, n, n+quietPeak)
		}
		if e["patched"] == true && s.kernel != s.max {
			t.Errorf("burst %d of %d: probe max %d, kernel backlog_max_depth %d", i, n, s.max, s.kernel)
		}
		t.Logf("burst %d of %d: probe max %d (enqueued %d, uninterrupted %t), AUDIT_GET right after %d, highest %d, lowest %d over %d reads; retry queue max %d, hold %d; kernel %d",
			i, n, s.max, s.enqueued, staircase, reads[0], hi, slices.Min(reads), len(reads), s.retryMax, s.holdMax, s.kernel)
	}
	t.Logf("probe max equal to the backlog right after the burst in %d/%d bursts", firstEqual, len(helds))
}

// checkStaircase checks a snapshot whose records all found the queue one
// deeper than the record before (the queue empty at the reset, nothing
// leaving it during the burst, so depths 1, 2, ..., max): the histogram
// must then be exactly 1, 2, 4, ... records per bucket, and the depths sum
// to max(max+1)/2. This checks queue.bpf.c's bucket arithmetic and
// counters in the kernel, to the record.
func checkStaircase(t *testing.T, what string, s snap) {
	t.Helper()
	m := uint64(s.max)
	if s.depthSum != m*(m+1)/2 {
		t.Errorf("%s: depths sum to %d, want %d for depths 1..%d", what, s.depthSum, m*(m+1)/2, m)
	}
	top := bucketOf(s.max)
	for k := 0; k <= top; k++ {
		want := uint64(1) << k
		if k == top {
			want = m - 1<<k + 1
		}
		if s.hist[k] != want {
			t.Errorf("%s: bucket %d counts %d, want %d (depths 1..%d; histogram %v)", what, k, s.hist[k], want, m, s.hist)
		}
	}
}

// needKernel returns file if it is in the build directory, or skips
// saying how to get it.
func needKernel(t *testing.T, file string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(buildDir(t), file)); err != nil {
		t.Skipf("%s missing: run `make e2e-debian-kernels`", file)
	}
	return file
}

type interval struct {
	end  int64 // µs, when the probe was read
	s    snap
	hi   uint32 // highest poll in it
	poll int
}

func checkPolls(t *testing.T, b *boot) {
	t.Helper()
	var ivs []interval
	for _, e := range b.all("iv") {
		s := snapOf(e)
		checkSnapConsistent(t, fmt.Sprintf("interval ending %v", e.num("t")), s)
		ivs = append(ivs, interval{end: int64(e.num("t")), s: s})
	}
	type poll struct {
		sent, recv int64
		backlog    uint32
	}
	var polls []poll
	for _, e := range b.all("polls") {
		for _, p := range e["polls"].([]any) {
			m := p.(map[string]any)
			polls = append(polls, poll{int64(m["s"].(float64)), int64(m["r"].(float64)), uint32(m["b"].(float64))})
		}
	}
	if len(ivs) < 50 || len(polls) < 500 {
		t.Fatalf("got %d intervals and %d polls, want at least 50 and 500", len(ivs), len(polls))
	}
	// idx returns the interval a time falls in (the first ending after it).
	idx := func(us int64) int {
		i, _ := slices.BinarySearchFunc(ivs, us, func(iv interval, t int64) int {
			if iv.end < t {
				return -1
			}
			return 1
		})
		return i
	}
	above, aboveOwn := 0, 0
	for _, p := range polls {
		first, last := idx(p.sent), idx(p.recv)
		if last >= len(ivs) {
			continue // after the last reset
		}
		// The records the queue held at the poll were queued at the latest
		// enqueue before it: in the poll's intervals or, back to the last
		// interval that queued anything, before them.
		from := first
		for from > 0 && ivs[from-1].s.enqueued == 0 {
			from--
		}
		if from > 0 {
			from--
		}
		var bound uint32
		for i := from; i <= last; i++ {
			bound = max(bound, ivs[i].s.max)
		}
		if p.backlog > bound {
			above++
			t.Errorf("poll at %d-%d µs: backlog %d above the probe's peak %d since the last enqueue", p.sent, p.recv, p.backlog, bound)
		}
		own := ivs[first].s.max
		if last != first {
			own = max(own, ivs[last].s.max)
		}
		if p.backlog > own {
			aboveOwn++ // a queue still draining what an earlier interval queued
		}
		ivs[first].hi = max(ivs[first].hi, p.backlog)
		ivs[first].poll++
	}
	busy, underHalf, missed := 0, 0, 0
	for _, iv := range ivs {
		if iv.s.max < 100 {
			continue
		}
		busy++
		if iv.hi*2 < iv.s.max {
			underHalf++
		}
		if iv.hi == 0 {
			missed++
		}
	}
	t.Logf("%d polls over %d intervals of 100 ms: none above the probe's peak since the last enqueue (%d above), %d above their own interval's peak (the queue draining an earlier interval's records); "+
		"of %d busy intervals (peak >= 100), polls saw less than half the peak in %d and nothing in %d",
		len(polls), len(ivs), above, aboveOwn, busy, underHalf, missed)
}

// TestProbeKptrRestrict: with kernel.kptr_restrict=2, /proc/kallsyms shows
// no addresses; the probe learns audit_queue's from kauditd instead, and a
// held burst is counted as with the kallsyms address. (Loading the probe
// makes the kernel log AUDIT_BPF records, so kauditd passes audit_queue
// right away: on trixie the probe was watching when Open returned.)
func TestProbeKptrRestrict(t *testing.T) {
	for _, k := range []struct{ name, file string }{{"patched", kernelPatched}, {"trixie", "debian-trixie.vmlinuz"}} {
		t.Run(k.name, func(t *testing.T) {
			b := runGuest(t, needKernel(t, k.file), initrdNoPlugin, "ebpf-kptr", 4*time.Minute)
			o := probeOpened(t, b, "kauditd_send_queue")
			if o["retry_hold"] != false {
				t.Errorf("retry/hold queues watched without their addresses: %v", o)
			}
			checkHeld(t, b, 1)
		})
	}
}
