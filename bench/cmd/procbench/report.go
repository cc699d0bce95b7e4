package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/audisp-backlog/audisp-backlog/bench/gen"
)

// pacedRun is one paced feed rate and what each consumer did.
type pacedRun struct {
	rate int
	res  []feedStats // do-nothing reader, then the plugin
}

// report collects a run's results and prints them.
type report struct {
	w            io.Writer
	load0, load1 string
	corpus       gen.Summary
	bench        benchRuns
	pipe         []pipeStats // wc -l, do-nothing reader, plugin
	empty        []pipeStats // do-nothing reader, plugin on empty input
	flat         []feedStats // do-nothing reader, plugin
	paced        []pacedRun
	idle         []idleResult // rows idlePlugin100 to idleNull
	idleWindow   time.Duration
	latency      latencyResult
}

// goal is one line of the goals table.
type goal struct {
	what, measured, target string
	pass                   bool
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

func verdict(pass bool) string {
	if pass {
		return "met"
	}
	return "**missed**"
}

func (r *report) goals() []goal {
	var g []goal
	// (a) in-process.
	if ratio, ok := r.bench.get("BenchmarkReaders/plugin", "vs-floor"); ok {
		g = append(g, goal{"(a) reader time per record ÷ newline floor", fmt.Sprintf("%.2fx", ratio), "≤ 1.5x", ratio <= 1.5})
	}
	if extra, ok := r.bench.get("BenchmarkReaders/plugin-nonmatching", "extra-allocs"); ok {
		worst := r.bench.worst("BenchmarkReaders/plugin-nonmatching", "extra-allocs")
		g = append(g, goal{"(a) allocations over a whole run of non-matching records", fmt.Sprintf("%.0f (worst run %.0f)", extra, worst), "0", worst == 0})
	}
	if a, ok := r.bench.get("BenchmarkReaders/plugin", "allocs/record"); ok {
		g = append(g, goal{"(a) allocations per record overall (resets, buffers)", fmt.Sprintf("%.6f", a), "≤ 0.001", a <= 0.001})
	}
	if _, ok := r.bench.get("BenchmarkReaders/plugin", "GCs"); ok {
		gcs := r.bench.worst("BenchmarkReaders/plugin", "GCs")
		g = append(g, goal{"(a) flat heap: GC cycles while reading", fmt.Sprintf("%.0f (worst run)", gcs), "0", gcs == 0})
	}
	if len(r.pipe) == 3 {
		g = append(g, r.streamGoals()...)
	}
	if len(r.idle) == idleRows {
		g = append(g, r.idleGoals()...)
	}
	if len(r.latency.rest) > 0 {
		worst := r.latency.rest[0]
		for _, d := range r.latency.rest {
			worst = max(worst, d)
		}
		g = append(g, goal{"interval end to data point at a loopback OTLP collector (worst)", fmt.Sprintf("%.1f ms", ms(worst)), "< 50 ms", worst < 50*time.Millisecond})
	}
	return g
}

// streamGoals are the goals of (b) and (c).
func (r *report) streamGoals() []goal {
	var g []goal
	// (b) cat corpus | consumer.
	wc, null, plug := r.pipe[0], r.pipe[1], r.pipe[2]
	speed := pairedRatio(wc.walls, plug.walls)
	g = append(g, goal{"(b) `cat \\| audisp-backlog` speed ÷ `cat \\| wc -l` (wall⁻¹)", fmt.Sprintf("%.2fx", speed), "≥ 0.7x", speed >= 0.7})
	cpu := pairedRatio(plug.cpus, null.cpus)
	g = append(g, goal{"(b) plugin CPU ÷ do-nothing reader CPU", fmt.Sprintf("%.2fx", cpu), "≤ 1.5x", cpu <= 1.5})
	// (c) socketpair feed.
	rate := r.flat[1].rate / r.flat[0].rate
	g = append(g, goal{"(c) flat-out records/s ÷ do-nothing reader's", fmt.Sprintf("%.2fx", rate), "≥ 0.9x", rate >= 0.9})
	for _, p := range r.paced {
		if p.rate != 100000 {
			continue
		}
		share := p.res[1].share / p.res[0].share
		g = append(g, goal{"(c) CPU at 100k records/s ÷ do-nothing reader's", fmt.Sprintf("%.2fx", share), "≤ 1.3x", share <= 1.3})
		nl, pl := r.lag(p.res[0], p.rate), r.lag(p.res[1], p.rate)
		g = append(g, goal{"(c) reader's longest lag at 100k/s (unread records ÷ rate), plugin vs do-nothing",
			fmt.Sprintf("%.2f ms vs %.2f ms", ms(pl), ms(nl)),
			"< 2 ms, or no more than the do-nothing reader", pl < 2*time.Millisecond || pl <= nl})
	}
	hwm := r.flat[1].hwmKB
	for _, p := range r.paced {
		hwm = max(hwm, p.res[1].hwmKB)
	}
	g = append(g, goal{"RSS while streaming (VmHWM)", fmt.Sprintf("%.1f MB", float64(hwm)/1024), "< 20 MB", hwm < 20*1024})
	return g
}

// idleGoals are issue 16's: the plugin's idle cost against the C poller's
// at the same rate, as the median over rounds of each round's ratio.
func (r *report) idleGoals() []goal {
	var g []goal
	for _, c := range []struct {
		what     string
		row, ref int
		switches bool
		target   float64
	}{
		{"idle CPU at sample_interval 100ms ÷ the C poller's at 100 ms", idlePlugin100, idleC100, false, 1.5},
		{"idle CPU at sample_interval 1s ÷ the C poller's at 1 s", idlePlugin1s, idleC1s, false, 2},
		{"idle context switches per sample at 100 ms ÷ the C poller's", idlePlugin100, idleC100, true, 2},
		{"idle context switches per sample at 1 s ÷ the C poller's", idlePlugin1s, idleC1s, true, 2},
	} {
		lo, mid, hi := spread(r.idle[c.row], r.idleRatio(c.row, c.ref, c.switches))
		g = append(g, goal{c.what, fmt.Sprintf("%.2fx (rounds %.2f-%.2f)", mid, lo, hi), fmt.Sprintf("≤ %gx", c.target), mid <= c.target})
	}
	// Switches per sample must not grow when samples get rarer: nothing
	// but the sample timer wakes the process.
	p100, p1 := r.idle[idlePlugin100], r.idle[idlePlugin1s]
	k100, k1 := p100.median(p100.perSample), p1.median(p1.perSample)
	g = append(g, goal{"idle: context switches per sample at 1 s sampling ÷ at 100 ms (no other timers)",
		fmt.Sprintf("%.1f ÷ %.1f", k1, k100), "≤ 1.5x + 1", k1 <= 1.5*k100+1})
	return g
}

// idleRatio is, for round k, idle row i's CPU time (or context switches
// per sample) over row ref's.
func (r *report) idleRatio(i, ref int, switches bool) func(k int) float64 {
	p, c := r.idle[i], r.idle[ref]
	if switches {
		return func(k int) float64 { return p.perSample(k) / c.perSample(k) }
	}
	return func(k int) float64 { return p.cpuPerSec(k).Seconds() / c.cpuPerSec(k).Seconds() }
}

// pairedRatio is the median over rounds of a[i] ÷ b[i]. The consumers run
// interleaved, so a round's two runs are seconds apart and see the same
// machine load; the ratio of the two medians would mix rounds, and on a
// shared host it moved by a third from one make bench to the next.
func pairedRatio(a, b []time.Duration) float64 {
	_, mid, _ := ratioRange(a, b)
	return mid
}

// ratioRange is the lowest, median and highest over rounds of a[i] ÷ b[i].
func ratioRange(a, b []time.Duration) (lo, mid, hi float64) {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, a[i].Seconds()/b[i].Seconds())
		}
	}
	if len(rs) == 0 {
		return 0, 0, 0
	}
	return slices.Min(rs), median(rs), slices.Max(rs)
}

// lag is how far behind a paced consumer fell at worst: the most bytes
// it had left unread, in records of the corpus's mean size, over the rate.
func (r *report) lag(f feedStats, rate int) time.Duration {
	records := float64(f.maxQueued) / (float64(r.corpus.Bytes) / float64(r.corpus.Lines))
	return time.Duration(records / float64(rate) * float64(time.Second))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *report) print() {
	r.printf("## Goals (ratios measured in this run)\n\n")
	r.printf("| goal | measured | target | |\n|---|---|---|---|\n")
	for _, g := range r.goals() {
		r.printf("| %s | %s | %s | %s |\n", g.what, g.measured, g.target, verdict(g.pass))
	}
	r.printf("\nMachine: %s; load average %s at the start, %s at the end.\n", machine(), r.load0, r.load1)
	if r.corpus.Lines > 0 {
		c := r.corpus
		r.printf("Corpus: %d lines, %.1f bytes per line, longest %d bytes (%d of 8000+), %d real resets, %d look-alike CONFIG_CHANGE, %d mentions.\n",
			c.Lines, float64(c.Bytes)/float64(c.Lines), c.MaxLine, c.LongLines, len(c.Resets), c.LookAlikes, c.Mentions)
	}

	if len(r.bench) > 0 {
		r.printf("\n## (a) In-process, per record (medians of the runs)\n\n")
		r.printf("| reader | ns/record | ÷ floor (paired) | allocs/record | B/record | GC cycles |\n|---|---|---|---|---|---|\n")
		for _, name := range []string{"floor", "plugin", "plugin-nonmatching", "scanner-contains", "libaudit-parse", "libaudit-parse-data"} {
			full := "BenchmarkReaders/" + name
			ns, ok := r.bench.get(full, "ns/op")
			if !ok {
				continue
			}
			ratio, _ := r.bench.get(full, "vs-floor")
			allocs, _ := r.bench.get(full, "allocs/record")
			bytes, _ := r.bench.get(full, "B/record")
			r.printf("| %s | %.1f | %.2fx | %.6f | %.2f | %.0f |\n", name, ns, ratio, allocs, bytes, r.bench.worst(full, "GCs"))
		}
	}

	if len(r.pipe) == 3 {
		r.printStreams()
	}
	if len(r.idle) == idleRows {
		r.printIdle()
	}
	if r.latency.first > 0 {
		r.printf("\n## Interval end to data point (OTLP/gRPC, 127.0.0.1, interval 1s, sampled method)\n\n")
		r.printf("First export (connects): %.1f ms. Following %d:", ms(r.latency.first), len(r.latency.rest))
		for _, d := range r.latency.rest {
			r.printf(" %.1f", ms(d))
		}
		r.printf(" ms (median %.1f ms).\n", ms(median(r.latency.rest)))
	}
}

// printStreams prints (b) and (c).
func (r *report) printStreams() {
	r.printf("\n## (b) `cat corpus | consumer` (median of %d runs each, interleaved; ratios are medians of each round's ratio)\n\n", len(r.pipe[0].walls))
	r.printf("| consumer | wall | consumer CPU | CPU ÷ do-nothing (rounds) | GC cycles |\n|---|---|---|---|---|\n")
	for _, p := range r.pipe {
		gcs := "-"
		if p.name != "wc -l" {
			gcs = fmt.Sprint(p.gcs)
		}
		lo, mid, hi := ratioRange(p.cpus, r.pipe[1].cpus)
		r.printf("| %s | %.0f ms | %.0f ms | %.2fx (%.2f-%.2f) | %s |\n", p.name, ms(p.wall), ms(p.cpu), mid, lo, hi, gcs)
	}
	if len(r.empty) == 2 {
		n, p := r.empty[0], r.empty[1]
		r.printf("\nOn empty input (start, read the kernel status, emit, exit): do-nothing reader %.1f ms CPU, plugin %.1f ms CPU, %.0f ms wall. "+
			"Without it, the plugin's CPU is %.2fx the do-nothing reader's.\n", ms(n.cpu), ms(p.cpu), ms(p.wall),
			(r.pipe[2].cpu-p.cpu).Seconds()/(r.pipe[1].cpu-n.cpu).Seconds())
	}

	r.printf("\n## (c) Socketpair feed, one write(2) per record (medians; lag, stalls and VmHWM the worst of the runs)\n\n")
	r.printf("| feed | consumer | records/s | CPU (share of a core) | CPU ÷ do-nothing | longest lag | writes > 2 ms | longest write | VmHWM |\n|---|---|---|---|---|---|---|---|---|\n")
	row := func(feed string, rate int, res []feedStats) {
		for _, f := range res {
			lag := "-"
			if rate > 0 {
				lag = fmt.Sprintf("%.2f ms", ms(r.lag(f, rate)))
			}
			r.printf("| %s | %s | %.0f | %.1f%% | %.2fx | %s | %d | %v | %.1f MB |\n", feed, f.name, f.rate, 100*f.share,
				f.share/res[0].share, lag, f.stalls, f.maxStall.Round(10*time.Microsecond), float64(f.hwmKB)/1024)
		}
	}
	row("flat out", 0, r.flat)
	for _, p := range r.paced {
		row(fmt.Sprintf("%dk/s", p.rate/1000), p.rate, p.res)
	}
}

// printIdle prints the idle comparison: medians over the rounds, and each
// process's ratio to the C poller at its rate.
func (r *report) printIdle() {
	r.printf("\n## Idle (%d rounds of %v, input open and silent, all side by side; medians of the rounds)\n\n", len(r.idle[0].runs), r.idleWindow)
	r.printf("| process | CPU per second | share of a core | context switches/s | per sample | CPU ÷ C poller | per sample ÷ C poller |\n|---|---|---|---|---|---|---|\n")
	for i, d := range r.idle {
		cpu := d.median(func(k int) float64 { return d.cpuPerSec(k).Seconds() })
		row := fmt.Sprintf("| %s | %.3f ms | %.3f%% | %.1f |", d.name, 1000*cpu, 100*cpu, d.median(d.switchesPerSec))
		switch {
		case d.period == 0:
			row += " - | - | - |"
		case d.cRef < 0:
			row += fmt.Sprintf(" %.1f | 1 | 1 |", d.median(d.perSample))
		default:
			_, cr, _ := spread(d, r.idleRatio(i, d.cRef, false))
			_, sr, _ := spread(d, r.idleRatio(i, d.cRef, true))
			row += fmt.Sprintf(" %.1f | %.2fx | %.2fx |", d.median(d.perSample), cr, sr)
		}
		r.printf("%s\n", row)
	}
	r.printf("\nThe plugin ÷ the Go poller (what the plugin adds to a Go program making the same calls):")
	for _, c := range []struct {
		what     string
		row, ref int
	}{{"100 ms", idlePlugin100, idleGo100}, {"1 s", idlePlugin1s, idleGo1s}} {
		_, cr, _ := spread(r.idle[c.row], r.idleRatio(c.row, c.ref, false))
		_, sr, _ := spread(r.idle[c.row], r.idleRatio(c.row, c.ref, true))
		r.printf(" at %s, %.2fx the CPU and %.2fx the context switches per sample;", c.what, cr, sr)
	}
	r.printf(" medians of the rounds.\n")
}
