package records

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/audisp-backlog/audisp-backlog/bench/gen"
)

// readAll runs Read over input and returns the counters and the reset
// records it sent.
func readAll(t *testing.T, r io.Reader) (*Counts, []Reset) {
	t.Helper()
	stats := new(Counts)
	resets := make(chan Reset, 1024)
	if err := Read(r, stats, resets); err != nil {
		t.Fatalf("Read: %v", err)
	}
	close(resets)
	var got []Reset
	for rec := range resets {
		got = append(got, rec)
	}
	return stats, got
}

func TestReadRecordsStream(t *testing.T) {
	long := "type=EXECVE msg=audit(1.000:2): argc=2 a0=\"x\" a1=\"" + strings.Repeat("A", 8900) + "\"\n"
	huge := strings.Repeat("B", 3*BufferSize) + "\n"
	input := strings.Join([]string{
		"type=SYSCALL msg=audit(1.000:2): arch=c000003e syscall=59 success=yes\n",
		long,
		"type=EOE msg=audit(1.000:2): \n",
		"garbage line\n",
		huge, // oversized: skipped, counted, memory stays fixed
		"node=a type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1\x1dAUID=\"unset\"\n",
		"type=CONFIG_CHANGE msg=audit(1700000000.123:457): op=set audit_backlog_limit=8192 old=64 auid=0 ses=1 res=1\n",
		"type=USER msg=audit(1.000:3): pid=1 msg='backlog_max_depth=0 old=99'\n",
		"\n",
		"type=FUTURE_TYPE msg=audit(1.000:4): x=1\n",
		"type=CONFIG_CHANGE msg=audit(1700000001.000:458): op=set backlog_max_depth=0 old=7 res=1", // no final newline
	}, "")
	for name, r := range map[string]io.Reader{
		"whole":      strings.NewReader(input),
		"one byte":   iotest.OneByteReader(strings.NewReader(input)),
		"data + EOF": iotest.DataErrReader(iotest.HalfReader(strings.NewReader(input))),
	} {
		t.Run(name, func(t *testing.T) { checkStream(t, input, r) })
	}
}

// TestReadOversizedThenEOF checks the lines that come with the input's
// end in the same read as the rest of an oversized line.
func TestReadOversizedThenEOF(t *testing.T) {
	input := strings.Repeat("B", BufferSize+100) + "\n" +
		"type=SYSCALL msg=audit(1.000:2): arch=c000003e syscall=59 success=no\n" +
		"type=EOE msg=audit(1.000:2): "
	stats, _ := readAll(t, iotest.DataErrReader(strings.NewReader(input)))
	if r, m, ev := stats.Records(), stats.Malformed(), stats.Events(); r != 2 || m != 1 || ev.Total != 1 || ev.Failed != 1 {
		t.Errorf("records %d, malformed %d, events %+v; want 2, 1, one failed event", r, m, ev)
	}
}

// checkStream reads TestReadRecordsStream's input from r and checks what
// the reader counted.
func checkStream(t *testing.T, input string, r io.Reader) {
	t.Helper()
	stats, got := readAll(t, r)
	if n := stats.Bytes(); n != uint64(len(input)) {
		t.Errorf("bytes = %d, want %d", n, len(input))
	}
	if n := stats.Records(); n != 8 {
		t.Errorf("records = %d, want 8", n)
	}
	if n := stats.Malformed(); n != 3 {
		t.Errorf("malformed = %d, want 3 (garbage, oversized, empty)", n)
	}
	wantTypes := map[string]uint64{"SYSCALL": 1, "EXECVE": 1, "EOE": 1, "CONFIG_CHANGE": 3, "USER": 1, "other": 1}
	for _, tc := range stats.ByType() {
		if tc.Count != wantTypes[tc.Type] {
			t.Errorf("type %s counted %d, want %d", tc.Type, tc.Count, wantTypes[tc.Type])
		}
		delete(wantTypes, tc.Type)
	}
	if len(wantTypes) > 0 {
		t.Errorf("types not counted: %v", wantTypes)
	}
	if len(got) != 2 || got[0].Old != 4762 || got[0].Node != "a" || got[1].Old != 7 || got[1].Serial != 458 {
		t.Errorf("reset records = %+v, want old=4762 (node a) and old=7", got)
	}
}

// TestReadRecordsFullChannel checks that the reader does not block when the
// loop stops draining reset records: it counts them as dropped.
func TestReadRecordsFullChannel(t *testing.T) {
	rec := "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=1 res=1\n"
	stats := new(Counts)
	resets := make(chan Reset, 2)
	if err := Read(strings.NewReader(strings.Repeat(rec, 5)), stats, resets); err != nil {
		t.Fatal(err)
	}
	if n := stats.Dropped(); n != 3 {
		t.Errorf("dropped = %d, want 3", n)
	}
	if n := len(resets); n != 2 {
		t.Errorf("queued = %d, want 2", n)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadRecordsError(t *testing.T) {
	err := Read(errReader{io.ErrClosedPipe}, new(Counts), make(chan Reset, 1))
	if err == nil || !strings.Contains(err.Error(), "closed pipe") {
		t.Errorf("err = %v, want the read error", err)
	}
}

// realShaped are records as auditd's dispatcher sends them, none of them a
// backlog reset.
var realShaped = []string{
	"type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"ls\" exe=\"/usr/bin/ls\" subj=unconfined key=(null)\x1dARCH=x86_64 SYSCALL=execve AUID=\"alice\" UID=\"root\"\n",
	"node=web-1 type=PATH msg=audit(1700000000.123:456): item=0 name=\"/usr/bin/ls\" inode=1 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n",
	"type=PROCTITLE msg=audit(1700000000.123:456): proctitle=6C73002D6C61\n",
	"type=EOE msg=audit(1700000000.123:456): \n",
	"type=USER_LOGIN msg=audit(1700000000.123:457): pid=1 uid=0 auid=1000 ses=3 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=? addr=10.0.0.1 terminal=sshd res=success'\x1dUID=\"root\" AUID=\"alice\"\n",
	"type=CONFIG_CHANGE msg=audit(1700000000.123:458): op=set audit_backlog_limit=8192 old=64 auid=0 ses=1 res=1\n",
}

// TestReadRecordAllocs guards the hot path: counting a record allocates
// nothing. A stream of 1000 copies of a record allocates no more than an
// empty one (the read buffer).
func TestReadRecordAllocs(t *testing.T) {
	resets := make(chan Reset, 1)
	read := func(stream []byte) func() {
		return func() {
			if err := Read(bytes.NewReader(stream), new(Counts), resets); err != nil {
				t.Fatal(err)
			}
		}
	}
	empty := testing.AllocsPerRun(20, read(nil))
	for _, rec := range realShaped {
		if n := testing.AllocsPerRun(20, read(bytes.Repeat([]byte(rec), 1000))); n != empty {
			t.Errorf("%.40q: %.0f allocations for 1000 records, want %.0f as for none", rec, n, empty)
		}
	}
}

// FuzzRead feeds arbitrary streams to the reader: it must not panic,
// must account for every line as a record or a malformed line, and any reset
// record it finds must print back to a line it parses the same way.
func FuzzRead(f *testing.F) {
	for _, rec := range realShaped {
		f.Add([]byte(rec))
	}
	f.Add([]byte("type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1\x1dAUID=\"unset\"\n"))
	f.Add([]byte("node=n type=CONFIG_CHANGE msg=audit(1.001:1): backlog_max_depth=0 old=1 res=1\r\n\n\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		stats, got := readAll(t, bytes.NewReader(data))
		lines := uint64(bytes.Count(data, []byte{'\n'}))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		if n := stats.Records() + stats.Malformed(); n != lines {
			// A line longer than the buffer is one malformed line however
			// many newlines follow it; only short inputs are exact.
			if len(data) < BufferSize {
				t.Errorf("records+malformed = %d, want %d lines", n, lines)
			}
		}
		if ev := stats.Events(); ev.Total > stats.Records() || ev.Failed > stats.Records() ||
			ev.AVC+ev.FANotify+ev.Anomalies+ev.Responses > ev.Total {
			t.Errorf("events %+v do not fit in %d records", ev, stats.Records())
		}
		// The framing does not depend on how the input is cut into
		// reads: a byte at a time, and data returned with its EOF.
		for name, r := range map[string]io.Reader{
			"one byte":   iotest.OneByteReader(bytes.NewReader(data)),
			"data + EOF": iotest.DataErrReader(iotest.HalfReader(bytes.NewReader(data))),
		} {
			stats2, got2 := readAll(t, r)
			if a, b := snapshot(stats), snapshot(stats2); a != b {
				t.Errorf("read %s: %s\nwhole: %s", name, b, a)
			}
			if fmt.Sprint(got) != fmt.Sprint(got2) {
				t.Errorf("read %s: resets %v, whole: %v", name, got2, got)
			}
		}
		for _, rec := range got {
			line := []byte(formatResetRecord(rec))
			_, _, rest, ok := splitRecord(line)
			again, ok2 := parseReset(rest)
			again.Node = rec.Node
			if !ok || !ok2 || again != rec {
				t.Errorf("record %+v reprinted as %q parses to %+v (ok %v %v)", rec, line, again, ok, ok2)
			}
		}
	})
}

// snapshot prints every counter of c.
func snapshot(c *Counts) string {
	return fmt.Sprintf("types %v malformed %d bytes %d dropped %d events %+v",
		c.ByType(), c.Malformed(), c.Bytes(), c.Dropped(), c.Events())
}

// formatResetRecord prints a reset record the way the kernel and auditd do.
func formatResetRecord(r Reset) string {
	node := ""
	if r.Node != "" {
		node = "node=" + r.Node + " "
	}
	return fmt.Sprintf("%stype=CONFIG_CHANGE msg=audit(%d.%03d:%d): op=set backlog_max_depth=0 old=%d auid=%d ses=%d res=1\n",
		node, r.Time.Unix(), r.Time.Nanosecond()/int(time.Millisecond), r.Serial, r.Old, r.AUID, r.Ses)
}

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

			if n := stats.Records(); n != uint64(sum.Lines) {
				t.Errorf("records = %d, want %d", n, sum.Lines)
			}
			if n := stats.Malformed(); n != 0 {
				t.Errorf("malformed = %d, want 0", n)
			}
			want := make(map[string]uint64)
			for typ, n := range sum.Types {
				if _, ok := typeIndex[typ]; !ok {
					typ = "other"
				}
				want[typ] += uint64(n)
			}
			for _, tc := range stats.ByType() {
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
				w := Reset{
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
