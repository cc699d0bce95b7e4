package records

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/bench/gen"
	"github.com/elastic/go-libaudit/v2/auparse"
)

// corpus serves a generated stream over and over, in chunks of whole
// lines, each chunk going on where the last one stopped.
type corpus struct {
	data []byte
	ends []int // offset after each newline
	line int   // next line to serve
}

func newCorpus(data []byte) *corpus {
	c := &corpus{data: data}
	for i, ch := range data {
		if ch == '\n' {
			c.ends = append(c.ends, i+1)
		}
	}
	return c
}

// next returns a reader of the next n lines.
func (c *corpus) next(n int) io.Reader {
	lines := len(c.ends)
	from := 0
	if c.line > 0 {
		from = c.ends[c.line-1]
	}
	left := n / lines * len(c.data)
	last := c.line + n%lines // one past the chunk's last line, maybe wrapped
	switch {
	case last <= lines && last > 0:
		left += c.ends[last-1] - from
	case last > lines:
		left += len(c.data) - from + c.ends[last-lines-1]
	}
	c.line = last % lines
	return &corpusReader{data: c.data, pos: from, left: left}
}

// corpusReader serves left bytes of data from pos, wrapping around.
type corpusReader struct {
	data      []byte
	pos, left int
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

// chunkRecords is how many records a reader runs on between two runs of
// the floor. A chunk of the floor takes a few milliseconds, so both see
// the same machine load, which on a shared host changes from second to
// second.
const chunkRecords = 100000

// BenchmarkReaders compares the plugin's reader with a newline-finding
// floor and with the obvious alternatives, on the generated busy-host
// corpus. One op is one record, so ns/op is ns/record.
//
// Each reader runs in chunks of records, and the floor runs on a chunk of
// its own (timer stopped) before each, so that vs-floor, the ratio of the
// two, compares them under the same load. floor-ns/record is the floor's
// time in that run; for the floor's own benchmark vs-floor shows how
// steady the pairing is. allocs/record and B/record are exact (from
// runtime.MemStats, the reader's chunks only), not rounded; extra-allocs
// is the run's allocations beyond what each chunk makes over empty input
// (the read buffer, channels), and GCs the collections during the run.
func BenchmarkReaders(b *testing.B) {
	data, sum := gen.Generate(gen.Default(200000))
	noResets := gen.Default(200000)
	noResets.ResetEvery = 0
	quiet, _ := gen.Generate(noResets)
	avg := int64(sum.Bytes / sum.Lines)

	benchmarks := []struct {
		name string
		data []byte
		read func(b *testing.B, r io.Reader) int
	}{
		{"floor", data, readFloor},
		{"plugin", data, readPlugin},
		{"plugin-nonmatching", quiet, readPlugin},
		{"scanner-contains", data, readScanner},
		{"libaudit-parse", data, readLibaudit},
		{"libaudit-parse-data", data, readLibauditData},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(avg)
			b.ReportAllocs()
			// What a run over no input allocates (buffers, channels):
			// the fixed cost per chunk.
			bm.read(b, bytes.NewReader(nil))
			fixed := mallocs(func() { bm.read(b, bytes.NewReader(nil)) })

			src, floorSrc := newCorpus(bm.data), newCorpus(bm.data)
			var (
				floorTime, readTime time.Duration
				allocs, alloced     uint64
				chunks              uint64
				before, after       runtime.MemStats
			)
			runtime.GC()
			gcs := gcCount()
			b.ResetTimer()
			b.StopTimer()
			for done := 0; done < b.N; {
				n := min(chunkRecords, b.N-done)
				t0 := time.Now()
				if got := readFloor(b, floorSrc.next(n)); got != n {
					b.Fatalf("floor read %d records, want %d", got, n)
				}
				floorTime += time.Since(t0)

				r := src.next(n)
				runtime.ReadMemStats(&before)
				t0 = time.Now()
				b.StartTimer()
				got := bm.read(b, r)
				b.StopTimer()
				readTime += time.Since(t0)
				runtime.ReadMemStats(&after)
				if got != n {
					b.Fatalf("read %d records, want %d", got, n)
				}
				allocs += after.Mallocs - before.Mallocs
				alloced += after.TotalAlloc - before.TotalAlloc
				chunks++
				done += n
			}
			b.ReportMetric(float64(gcCount()-gcs), "GCs")
			b.ReportMetric(float64(allocs)/float64(b.N), "allocs/record")
			b.ReportMetric(float64(alloced)/float64(b.N), "B/record")
			b.ReportMetric(max(float64(allocs)-float64(fixed*chunks), 0), "extra-allocs")
			b.ReportMetric(float64(floorTime.Nanoseconds())/float64(b.N), "floor-ns/record")
			b.ReportMetric(float64(readTime)/float64(floorTime), "vs-floor")
		})
	}
}

// gcCount is the number of garbage collections so far.
func gcCount() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
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
	br := bufio.NewReaderSize(r, BufferSize)
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
	stats := new(Counts)
	resets := make(chan Reset, 64)
	done := make(chan int)
	go func() {
		n := 0
		for range resets {
			n++
		}
		done <- n
	}()
	err := Read(r, stats, resets)
	close(resets)
	<-done
	if err != nil {
		b.Fatal(err)
	}
	return int(stats.Records() + stats.Malformed())
}

// newScanner is the obvious line reader, sized for auditd's longest line.
func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, BufferSize), BufferSize)
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
		b.Fatalf("only %d fields in %d records", fields, n)
	}
	return n
}

// BenchmarkRecordSlot is the reader's work per record once the newline is
// found, finding the type's slot: slotOf on lines already split out of
// the corpus, without the copy into the read buffer and the newline search
// that BenchmarkReaders includes. The lines are the first 64 KiB of the
// corpus, a read buffer's worth, so that they are in the cache as a
// just-read buffer is. One op is one record.
func BenchmarkRecordSlot(b *testing.B) {
	data, _ := gen.Generate(gen.Default(200000))
	var lines [][]byte
	for line := range bytes.Lines(data[:BufferSize]) {
		if line[len(line)-1] == '\n' {
			lines = append(lines, line)
		}
	}
	var counts [slotMalformed + 1]uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		for _, line := range lines[:min(len(lines), b.N-i)] {
			slot, _, ok := slotOf(line)
			if !ok {
				slot = slotMalformed
			}
			counts[slot]++
		}
		i += len(lines)
	}
	if counts[slotMalformed] > 0 {
		b.Fatalf("%d malformed lines in the corpus", counts[slotMalformed])
	}
}
