package records

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestHostileInput runs the reader over the hostile corpus in
// testdata/hostile: each file puts a good SYSCALL record after every bad
// item and ends with a good reset record (old=777). Every line is accounted
// for: a line without the shape of a record is counted as malformed, once
// however long it is (a line past the read buffer is discarded to its
// newline), a record-shaped line is counted by type, and a CONFIG_CHANGE
// whose fields are bad (old= past 32 bits, negative, duplicated,
// truncated) is a record but never a reset. The good records after each
// bad item are all read. The same files seed FuzzRead
// (testdata/fuzz/FuzzRead/hostile-*), the 1 MiB lines there cut to just
// over the read buffer.
func TestHostileInput(t *testing.T) {
	tests := []struct {
		file               string
		syscalls           uint64 // the good records between the bad items
		records, malformed uint64
		resets             []uint32
		maxAlloc           uint64 // bytes the reader may allocate, if bounded here
	}{
		{file: "nul-bytes.txt", syscalls: 5, records: 9, malformed: 2, resets: []uint32{777}},
		{file: "invalid-utf8.txt", syscalls: 6, records: 10, malformed: 1, resets: []uint32{777}},
		{file: "old-overflow.txt", syscalls: 3, records: 8, resets: []uint32{4294967295, 777}},
		{file: "negative.txt", syscalls: 5, records: 11, resets: []uint32{777}},
		{file: "duplicate-keys.txt", syscalls: 5, records: 9, malformed: 2, resets: []uint32{5, 777}},
		{file: "crlf.txt", syscalls: 5, records: 7, malformed: 3, resets: []uint32{8, 777}},
		{file: "truncated.txt", syscalls: 6, records: 10, malformed: 3, resets: []uint32{777}},
		// Four 1 MiB lines (the last one cut by EOF) and 1000 empty ones.
		{file: "long-lines.txt.gz", syscalls: 4, records: 5, malformed: 1004, resets: []uint32{777},
			maxAlloc: 512 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readHostile(t, tt.file)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			stats, got := readAll(t, bytes.NewReader(data))
			runtime.ReadMemStats(&after)

			if n := stats.Records(); n != tt.records {
				t.Errorf("records = %d, want %d", n, tt.records)
			}
			if n := stats.Type("SYSCALL"); n != tt.syscalls {
				t.Errorf("good SYSCALL records read = %d, want %d", n, tt.syscalls)
			}
			if n := stats.Malformed(); n != tt.malformed {
				t.Errorf("malformed = %d, want %d", n, tt.malformed)
			}
			var olds []uint32
			for _, rec := range got {
				olds = append(olds, rec.Old)
			}
			if !slices.Equal(olds, tt.resets) {
				t.Errorf("reset records old=%v, want %v", olds, tt.resets)
			}
			if tt.maxAlloc > 0 {
				if n := after.TotalAlloc - before.TotalAlloc; n > tt.maxAlloc {
					t.Errorf("reader allocated %d bytes over %d bytes of input, bound %d", n, len(data), tt.maxAlloc)
				}
			}
		})
	}
}

// TestHostileSeeds checks that every hostile file seeds FuzzRead.
func TestHostileSeeds(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "hostile", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no hostile corpus: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".gz"), ".txt")
		seed := filepath.Join("testdata", "fuzz", "FuzzRead", "hostile-"+name)
		if _, err := os.Stat(seed); err != nil {
			t.Errorf("%s has no fuzz seed: %v", f, err)
		}
	}
}

// readHostile reads a file of the hostile corpus, gunzipping *.gz.
func readHostile(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "hostile", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
