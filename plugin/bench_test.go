package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/audisp-backlog/audisp-backlog/bench/gen"
)

// TestReaderFindsGeneratedResets runs the reader over the benchmark corpus
// and checks that it finds exactly the generator's real resets, no more and
// no fewer, among the look-alikes and mentions, and counts every line by
// its type.
func TestReaderFindsGeneratedResets(t *testing.T) {
	busy := gen.Default(100000)
	busy.ResetEvery = 1000
	plain := gen.Config{Seed: 7, Records: 50000, ResetEvery: 500}
	none := gen.Default(20000)
	none.ResetEvery = 0
	for name, c := range map[string]gen.Config{"busy host": busy, "no node names": plain, "no resets": none} {
		t.Run(name, func(t *testing.T) {
			data, sum := gen.Generate(c)
			if c.ResetEvery > 0 && len(sum.Resets) < 10 {
				t.Fatalf("generator wrote %d resets; the test needs more", len(sum.Resets))
			}
			stats, got := readAll(t, bytes.NewReader(data))

			if n := stats.records(); n != uint64(sum.Lines) {
				t.Errorf("records = %d, want %d", n, sum.Lines)
			}
			if n := stats.malformed.Load(); n != 0 {
				t.Errorf("malformed = %d, want 0", n)
			}
			want := make(map[string]uint64)
			for typ, n := range sum.Types {
				if _, ok := typeIndex[typ]; !ok {
					typ = "other"
				}
				want[typ] += uint64(n)
			}
			for _, tc := range stats.typeCounts() {
				if tc.Count != want[tc.Type] {
					t.Errorf("type %s counted %d, want %d", tc.Type, tc.Count, want[tc.Type])
				}
				delete(want, tc.Type)
			}
			if len(want) > 0 {
				t.Errorf("types not counted: %v", want)
			}

			if len(got) != len(sum.Resets) {
				t.Errorf("found %d resets, generator wrote %d", len(got), len(sum.Resets))
			}
			for i := range min(len(got), len(sum.Resets)) {
				r := sum.Resets[i]
				w := resetRecord{
					Old: r.Old, Time: time.Unix(r.Sec, int64(r.Msec)*int64(time.Millisecond)),
					Serial: r.Serial, Node: r.Node, AUID: r.AUID, Ses: r.Ses,
				}
				if got[i] != w {
					t.Errorf("reset %d: got %+v\nwant %+v", i, got[i], w)
				}
			}
		})
	}
}

// corpusReader serves a corpus over and over until exactly n lines have
// been read, so that one benchmark op is one record.
type corpusReader struct {
	data      []byte
	pos, left int // offset in data; bytes left to serve
}

// newCorpusReader serves n lines of data, whose line ends are ends.
func newCorpusReader(data []byte, ends []int, n int) *corpusReader {
	full, part := n/len(ends), n%len(ends)
	left := full * len(data)
	if part > 0 {
		left += ends[part-1]
	}
	return &corpusReader{data: data, left: left}
}

func (r *corpusReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(len(p), r.left, len(r.data)-r.pos)]
	n := copy(p, r.data[r.pos:])
	r.pos += n
	if r.pos == len(r.data) {
		r.pos = 0
	}
	r.left -= n
	return n, nil
}

// lineEnds returns the offset after each newline in data.
func lineEnds(data []byte) []int {
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	return ends
}

// BenchmarkReaders compares the plugin's reader with a newline-finding
// floor and with the obvious alternatives, on the generated busy-host
// corpus. One op is one record, so ns/op is ns/record; allocs/record and
// B/record are exact (from runtime.MemStats) rather than rounded;
// extra-allocs is the whole run's allocations beyond what a run over empty
// input makes (the read buffer, channels), and GCs the collections it
// caused.
// `make bench` turns these into ratios against the floor.
func BenchmarkReaders(b *testing.B) {
	data, sum := gen.Generate(gen.Default(100000))
	ends := lineEnds(data)
	noResets := gen.Default(100000)
	noResets.ResetEvery = 0
	quiet, _ := gen.Generate(noResets)
	quietEnds := lineEnds(quiet)
	avg := int64(sum.Bytes / sum.Lines)

	benchmarks := []struct {
		name string
		data []byte
		ends []int
		read func(b *testing.B, r io.Reader) int
	}{
		{"floor", data, ends, readFloor},
		{"plugin", data, ends, readPlugin},
		{"plugin-nonmatching", quiet, quietEnds, readPlugin},
		{"scanner-contains", data, ends, readScanner},
		{"libaudit-parse", data, ends, readLibaudit},
		{"libaudit-parse-data", data, ends, readLibauditData},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(avg)
			b.ReportAllocs()
			// What a run over no input allocates (buffers, channels):
			// the fixed cost, not counted in extra-allocs.
			bm.read(b, bytes.NewReader(nil))
			fixed := mallocs(func() { bm.read(b, bytes.NewReader(nil)) })

			r := newCorpusReader(bm.data, bm.ends, b.N)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			n := bm.read(b, r)
			b.StopTimer()
			runtime.ReadMemStats(&after)
			if n != b.N {
				b.Fatalf("read %d records, want %d", n, b.N)
			}
			allocs := after.Mallocs - before.Mallocs
			b.ReportMetric(float64(allocs)/float64(b.N), "allocs/record")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "B/record")
			b.ReportMetric(max(float64(allocs)-float64(fixed), 0), "extra-allocs")
			b.ReportMetric(float64(after.NumGC-before.NumGC), "GCs")
		})
	}
}

// mallocs counts the heap allocations f makes.
func mallocs(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

// readFloor only finds each newline, as any line reader must: the floor.
func readFloor(b *testing.B, r io.Reader) int {
	br := bufio.NewReaderSize(r, readBufferSize)
	n := 0
	for {
		_, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			n++
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return n
		default:
			b.Fatal(err)
		}
	}
}

// readPlugin is the plugin's reader, with the loop's side draining resets.
func readPlugin(b *testing.B, r io.Reader) int {
	stats := new(streamStats)
	resets := make(chan resetRecord, 64)
	done := make(chan int)
	go func() {
		n := 0
		for range resets {
			n++
		}
		done <- n
	}()
	err := readRecords(r, stats, resets)
	close(resets)
	<-done
	if err != nil {
		b.Fatal(err)
	}
	return int(stats.records() + stats.malformed.Load())
}

// newScanner is the obvious line reader, sized for auditd's longest line.
func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, readBufferSize), readBufferSize)
	return sc
}

// readScanner is the naive filter: each line as a string, then a search.
func readScanner(b *testing.B, r io.Reader) int {
	sc := newScanner(r)
	n, hits := 0, 0
	for sc.Scan() {
		n++
		if strings.Contains(sc.Text(), "backlog_max_depth") {
			hits++
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	if hits == 0 && n > 100000 {
		b.Fatal("no line mentions backlog_max_depth")
	}
	return n
}

// libauditLine drops the node= prefix, which ParseLogLine does not take.
func libauditLine(line string) string {
	if strings.HasPrefix(line, "node=") {
		if _, rest, ok := strings.Cut(line, " "); ok {
			return rest
		}
	}
	return line
}

// readLibaudit parses the header of every line with go-libaudit.
func readLibaudit(b *testing.B, r io.Reader) int {
	sc := newScanner(r)
	n, bad := 0, 0
	for sc.Scan() {
		n++
		if _, err := auparse.ParseLogLine(libauditLine(sc.Text())); err != nil {
			bad++
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	if bad > n/100 {
		b.Fatalf("ParseLogLine failed on %d of %d lines", bad, n)
	}
	return n
}

// readLibauditData parses every line and its fields with go-libaudit, as a
// plugin built on auparse would.
func readLibauditData(b *testing.B, r io.Reader) int {
	sc := newScanner(r)
	n, fields := 0, 0
	for sc.Scan() {
		n++
		msg, err := auparse.ParseLogLine(libauditLine(sc.Text()))
		if err != nil {
			continue
		}
		if d, err := msg.Data(); err == nil {
			fields += len(d)
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	if n > 1000 && fields < n {
		b.Fatal(fmt.Sprintf("only %d fields in %d records", fields, n))
	}
	return n
}
