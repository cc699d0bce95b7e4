package auditdstate

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// queue is the plugin queue block every version writes, which a report
// must have to be whole.
const queue = "current plugin queue depth = 3\n" +
	"max plugin queue depth used = 412\n" +
	"plugin queue size = 2000\n" +
	"plugin queue overflow detected = no\n" +
	"plugin queueing suspended = no\n"

// queueFigures are queue's figures.
func queueFigures(r Report) Report {
	r.QueueDepth = Figure{3, true}
	r.QueueMaxDepth = Figure{412, true}
	r.QueueSize = Figure{2000, true}
	r.QueueOverflow = Figure{0, true}
	r.QueueSuspended = Figure{0, true}
	return r
}

func TestParse(t *testing.T) {
	const mib, kib = 1 << 20, 1 << 10
	tests := []struct {
		name string
		in   string
		want Report
	}{
		{
			name: "queue only",
			in:   "audit version = 3.0.9\n" + queue,
			want: queueFigures(Report{Version: "3.0.9"}),
		},
		{
			name: "3.x free space without =",
			in:   "audit version = 3.0.9\nLogging partition free space 77681 MB\n" + queue,
			want: queueFigures(Report{Version: "3.0.9", LogFreeSpace: Figure{77681 * mib, true}}),
		},
		{
			name: "4.0.x free space with = and MB",
			in:   "audit version = 4.0.2\nLogging partition free space = 77680 MB\n" + queue,
			want: queueFigures(Report{Version: "4.0.2", LogFreeSpace: Figure{77680 * mib, true}}),
		},
		{
			name: "4.1 free space in MiB",
			in:   "audit version = 4.2.1\nLogging partition free space = 1 MiB\n" + queue,
			want: queueFigures(Report{Version: "4.2.1", LogFreeSpace: Figure{mib, true}}),
		},
		{
			name: "free space 0 is a figure",
			in:   "audit version = 4.2.1\nLogging partition free space = 0 MiB\n" + queue,
			want: queueFigures(Report{Version: "4.2.1", LogFreeSpace: Figure{0, true}}),
		},
		{
			name: "glibc lines in KB (4.0.4, 4.0.5)",
			in: "audit version = 4.0.5\n" + queue +
				"glibc arena (total memory) is: 132 KB, was: 100 KB\n" +
				"glibc uordblks (in use memory) is: 93 KB, was: 5 KB\n" +
				"glibc fordblks (total free space) is: 38 KB, was: 126 KB\n",
			want: queueFigures(Report{Version: "4.0.5",
				MemoryTotal: Figure{132 * kib, true}, MemoryInUse: Figure{93 * kib, true}, MemoryFree: Figure{38 * kib, true}}),
		},
		{
			name: "glibc lines in KiB (4.1 on)",
			in: "audit version = 4.2.1\n" + queue +
				"glibc arena (total memory) is: 132 KiB, was: 132 KiB\n" +
				"glibc uordblks (in use memory) is: 0 KiB, was: 5 KiB\n" +
				"glibc fordblks (total free space) is: 38 KiB, was: 126 KiB\n",
			want: queueFigures(Report{Version: "4.2.1",
				MemoryTotal: Figure{132 * kib, true}, MemoryInUse: Figure{0, true}, MemoryFree: Figure{38 * kib, true}}),
		},
		{
			name: "glibc line without the previous figure",
			in:   "audit version = 9.0\n" + queue + "glibc arena (total memory) is: 4 KiB\n",
			want: queueFigures(Report{Version: "9.0", MemoryTotal: Figure{4 * kib, true}}),
		},
		{
			name: "unknown unit leaves the figure absent",
			in: "audit version = 9.0\nLogging partition free space = 7 GiB\n" + queue +
				"glibc arena (total memory) is: 4 kB, was: 4 kB\n",
			want: queueFigures(Report{Version: "9.0"}),
		},
		{
			name: "overflow and suspension",
			in: "audit version = 4.0.2\nlogging suspended = yes\n" +
				"current plugin queue depth = 2000\nmax plugin queue depth used = 2000\nplugin queue size = 2000\n" +
				"plugin queue overflow detected = yes\nplugin queueing suspended = yes\n",
			want: Report{Version: "4.0.2", LoggingSuspended: Figure{1, true},
				QueueDepth: Figure{2000, true}, QueueMaxDepth: Figure{2000, true}, QueueSize: Figure{2000, true},
				QueueOverflow: Figure{1, true}, QueueSuspended: Figure{1, true}},
		},
		{
			name: "largest counts",
			in: "audit version = 4.2.1\ncurrent plugin queue depth = 4294967295\n" +
				"max plugin queue depth used = 18446744073709551615\nplugin queue size = 0\n" +
				"plugin queue overflow detected = no\nplugin queueing suspended = no\n" +
				"Logging partition free space = 17592186044415 MiB\n",
			want: Report{Version: "4.2.1", QueueDepth: Figure{4294967295, true},
				QueueMaxDepth: Figure{18446744073709551615, true}, QueueSize: Figure{0, true},
				QueueOverflow: Figure{0, true}, QueueSuspended: Figure{0, true},
				LogFreeSpace: Figure{17592186044415 * mib, true}},
		},
		{
			name: "unknown lines, an unknown label sharing a prefix, a blank line",
			in: "audit version = 4.3.0\nsomething new = 5\nplugin queue size limit = 9\n\n" +
				"current plugin queue depth is fine\n" + queue + "a line without a separator\n",
			want: queueFigures(Report{Version: "4.3.0"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("Parse:\ngot  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseIncomplete: every text that is not a whole report yields
// ErrIncomplete and no figures.
func TestParseIncomplete(t *testing.T) {
	whole := "audit version = 4.2.1\nLogging partition free space = 77665 MiB\n" + queue +
		"glibc arena (total memory) is: 132 KiB, was: 132 KiB\n"
	tests := []struct {
		name, in, why string
	}{
		{"empty", "", "empty file"},
		{"cut mid-line", whole[:len(whole)-10], "no newline"},
		{"cut in the version line", "audit vers", "no newline"},
		{"cut before the queue lines", "audit version = 4.2.1\nLogging partition free space = 77665 MiB\n", `no "current plugin queue depth" line`},
		{"cut inside the queue lines", "audit version = 4.2.1\n" + queue[:strings.Index(queue, "plugin queue overflow")], `no "plugin queue overflow detected" line`},
		{"new tail after an old head", whole + "plugin queue size = 2000\n", `"plugin queue size" a second time`},
		{"version twice", whole + "audit version = 4.2.1\n", `"audit version" a second time`},
		{"tail of a report", queue, `first line is not "audit version`},
		{"garbled count", strings.Replace(whole, "depth = 3", "depth = 3x", 1), "not a number"},
		{"negative count", strings.Replace(whole, "depth = 3", "depth = -3", 1), "not a number"},
		{"count past 64 bits", strings.Replace(whole, "depth = 3", "depth = 18446744073709551616", 1), "not a number"},
		{"empty count", strings.Replace(whole, "depth = 3", "depth = ", 1), "not a number"},
		{"garbled flag", strings.Replace(whole, "detected = no", "detected = n", 1), "neither yes nor no"},
		{"CR in a flag", strings.Replace(whole, "detected = no\n", "detected = no\r\n", 1), "neither yes nor no"},
		{"size without unit", strings.Replace(whole, "77665 MiB", "77665", 1), "no unit"},
		{"size too large in bytes", strings.Replace(whole, "77665 MiB", "17592186044416 MiB", 1), "too large"},
		{"garbled memory", strings.Replace(whole, "132 KiB, was", "13x KiB, was", 1), "not a number"},
		{"empty version", "audit version = \n" + queue, "not a version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("Parse = %+v, %v; want ErrIncomplete", got, err)
			}
			if got != (Report{}) {
				t.Errorf("Parse returned figures with its error: %+v", got)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not say %q", err, tt.why)
			}
		})
	}
}

func TestParseTooLong(t *testing.T) {
	in := "audit version = 4.2.1\n" + queue + strings.Repeat("x", maxSize) + "\n"
	_, err := Parse(strings.NewReader(in))
	if err == nil || errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "not auditd's state report") {
		t.Errorf("Parse of %d bytes: %v; want a not-a-state-report error", len(in), err)
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Errorf("Parse: %v; want it to wrap %v", err, boom)
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"007", 7, true},
		{"18446744073709551615", 18446744073709551615, true},
		{"18446744073709551616", 0, false},
		{"99999999999999999999", 0, false},
		{"000000000000000000001", 0, false},
		{"", 0, false},
		{"+1", 0, false},
		{"1 ", 0, false},
		{"1.5", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseUint(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUint(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestGolden parses each testdata/*.state (derived-*: written by auditd's
// own writer code, see testdata/README.md; auditd-*: captured from a real
// auditd) and compares the figures with its .golden twin.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.state")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.state: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			rep, err := Parse(bytes.NewReader(data))
			if err != nil {
				got = "error: " + err.Error() + "\n"
			} else {
				got = describe(rep)
			}
			compareFile(t, strings.TrimSuffix(file, ".state")+".golden", got)
		})
	}
}

// describe prints every field of rep that Parse sets, "absent" for a
// figure it lacks.
func describe(rep Report) string {
	var b strings.Builder
	v := reflect.ValueOf(rep)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if name == "Path" || name == "ModTime" {
			continue
		}
		switch f := v.Field(i).Interface().(type) {
		case Figure:
			if f.OK {
				fmt.Fprintf(&b, "%s = %d\n", name, f.Value)
			} else {
				fmt.Fprintf(&b, "%s absent\n", name)
			}
		default:
			fmt.Fprintf(&b, "%s = %v\n", name, f)
		}
	}
	return b.String()
}

// compareFile fails unless file holds got; with -update it writes got.
func compareFile(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./auditdstate -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s is stale (run go test ./auditdstate -update after checking the diff)\ngot:\n%s\nwant:\n%s", file, got, want)
	}
}
