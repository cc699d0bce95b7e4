package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProbeBench measures the eBPF probe's overhead in the guest (make
// e2e-probe-bench; BENCHMARKS.md): audit-probe times each workload with
// and without the probe in interleaved rounds, and this reduces the rounds
// to medians and spreads. It asserts nothing about speed, only that every
// round measured every workload; it runs only with AUDISP_E2E_BENCH=1.
func TestProbeBench(t *testing.T) {
	if os.Getenv("AUDISP_E2E_BENCH") != "1" {
		t.Skip("overhead measurement: run `make e2e-probe-bench`")
	}
	kernels := []struct{ name, file string }{{"patched", kernelPatched}, {"trixie", "debian-trixie.vmlinuz"}}
	for _, k := range kernels {
		t.Run(k.name, func(t *testing.T) {
			file := needKernel(t, k.file)
			extra := []string{}
			if v := os.Getenv("AUDISP_E2E_BENCH_FLAGS"); v != "" {
				extra = append(extra, "e2e.bench="+v)
			}
			b := runGuestAlone(t, file, initrdNoPlugin, "ebpf-bench", 20*time.Minute, extra...)
			t.Logf("kernel %s (%s): probe opened in %v ms (median of rounds)\n%s", k.name, b.accel,
				median(floats(b.all("bench-open"), "ms")), benchTable(t, b))
		})
	}
}

func floats(es []event, k string) []float64 {
	var out []float64
	for _, e := range es {
		out = append(out, e.num(k))
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchTable reduces the bench events to one markdown row per workload:
// median ns/op without and with the probe (min-max over rounds), and the
// per-round ratio with/without as median (min-max).
func benchTable(t *testing.T, b *boot) string {
	t.Helper()
	type key struct {
		work  string
		round int
	}
	off, on := map[key]float64{}, map[key]float64{}
	var works []string
	for _, e := range b.all("bench") {
		k := key{e.str("work"), int(e.num("round"))}
		if !slices.Contains(works, k.work) {
			works = append(works, k.work)
		}
		if e["probe"] == true {
			on[k] = e.num("ns_op")
		} else {
			off[k] = e.num("ns_op")
		}
	}
	var sb strings.Builder
	sb.WriteString("| workload | ns/op without probe | ns/op with probe | with/without per round |\n| --- | --- | --- | --- |\n")
	for _, w := range works {
		var a, c, ratio []float64
		for k, v := range off {
			if k.work != w {
				continue
			}
			u, ok := on[k]
			if !ok {
				t.Errorf("%s round %d: measured without the probe only", w, k.round)
				continue
			}
			a, c, ratio = append(a, v), append(c, u), append(ratio, u/v)
		}
		if len(a) == 0 {
			t.Errorf("%s: no round measured", w)
			continue
		}
		fmt.Fprintf(&sb, "| %s | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.3f (%.3f-%.3f), %d rounds |\n", w,
			median(a), slices.Min(a), slices.Max(a), median(c), slices.Min(c), slices.Max(c),
			median(ratio), slices.Min(ratio), slices.Max(ratio), len(ratio))
	}
	sb.WriteString("\n| workload | fexit calls per op | program ns per call (BPF stats) | program share of ns/op without probe |\n| --- | --- | --- | --- |\n")
	for _, w := range works {
		var calls, ns []float64
		for _, e := range b.all("bench-prog") {
			if e.str("work") == w {
				calls, ns = append(calls, e.num("calls_per_op")), append(ns, e.num("ns_per_call"))
			}
		}
		var base []float64
		for k, v := range off {
			if k.work == w {
				base = append(base, v)
			}
		}
		if len(calls) == 0 || len(base) == 0 {
			continue
		}
		fmt.Fprintf(&sb, "| %s | %.2f | %.0f (%.0f-%.0f) | %.2f %% |\n", w, median(calls), median(ns), slices.Min(ns), slices.Max(ns),
			100*median(calls)*median(ns)/median(base))
	}
	return sb.String()
}
