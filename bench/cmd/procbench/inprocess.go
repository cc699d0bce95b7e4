package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// benchRuns are the metrics of `go test -bench` result lines, by benchmark
// name (without the -GOMAXPROCS suffix) and unit, one value per run.
type benchRuns map[string]map[string][]float64

// parseBench reads `go test -bench` output.
func parseBench(r io.Reader) (benchRuns, error) {
	out := make(benchRuns)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if out[name] == nil {
			out[name] = make(map[string][]float64)
		}
		// f[1] is the iteration count; then value unit pairs.
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: bad value %q", f[0], f[i])
			}
			out[name][f[i+1]] = append(out[name][f[i+1]], v)
		}
	}
	return out, sc.Err()
}

// get is the median of a benchmark's metric, and whether it was there.
func (b benchRuns) get(name, unit string) (float64, bool) {
	vs := b[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	return median(vs), true
}

// worst is the largest value of a metric over the runs.
func (b benchRuns) worst(name, unit string) float64 {
	m := 0.0
	for _, v := range b[name][unit] {
		m = max(m, v)
	}
	return m
}
