package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// typeIndex is the plain reference for the reader's typeSlot table: a
// record type's slot in recordTypes. Tests check the fast table against it
// and use it to name counters.
var typeIndex = func() map[string]int {
	m := make(map[string]int, len(recordTypes))
	for i, t := range recordTypes {
		m[t] = i
	}
	return m
}()

func TestParseResetRecord(t *testing.T) {
	stamp := time.Unix(1700000000, 123*int64(time.Millisecond))
	tests := []struct {
		name string
		line string
		want resetRecord
		ok   bool
	}{
		{
			name: "patched kernel",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1\n",
			want: resetRecord{Old: 4762, Time: stamp, Serial: 456, AUID: unsetID, Ses: unsetID},
			ok:   true,
		},
		{
			name: "enriched tail from auditd",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1\x1dAUID=\"unset\"\n",
			want: resetRecord{Old: 4762, Time: stamp, Serial: 456, AUID: unsetID, Ses: unsetID},
			ok:   true,
		},
		{
			name: "node prefix and a logged-in user",
			line: "node=web-1 type=CONFIG_CHANGE msg=audit(1700000000.123:9): op=set backlog_max_depth=0 old=17 auid=1000 ses=3 subj=unconfined res=1\x1dAUID=\"alice\"\n",
			want: resetRecord{Old: 17, Time: stamp, Serial: 9, Node: "web-1", AUID: 1000, Ses: 3},
			ok:   true,
		},
		{
			name: "older kernel without op=set",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): backlog_max_depth=0 old=5 auid=0 ses=1 res=1",
			want: resetRecord{Old: 5, Time: stamp, Serial: 456, AUID: 0, Ses: 1},
			ok:   true,
		},
		{
			name: "no auid or ses",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=0 res=1",
			want: resetRecord{Old: 0, Time: stamp, Serial: 456, AUID: unsetID, Ses: unsetID},
			ok:   true,
		},
		{
			name: "crlf",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=8 auid=1 ses=2 res=1\r\n",
			want: resetRecord{Old: 8, Time: stamp, Serial: 456, AUID: 1, Ses: 2},
			ok:   true,
		},
		{name: "backlog limit change", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set audit_backlog_limit=8192 old=64 auid=0 ses=1 res=1"},
		{name: "old kernel backlog limit", line: "type=CONFIG_CHANGE msg=audit(1364475353.159:24270): audit_backlog_limit=64 old=8192 auid=0 ses=1 res=1"},
		{name: "wait time reset", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_wait_time_actual=0 old=5 auid=0 ses=1 res=1"},
		{name: "rule change", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): auid=0 ses=1 op=add_rule key=(null) list=4 res=1"},
		{name: "failed change", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=5 auid=0 ses=1 res=0"},
		{name: "old not next", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 auid=0 old=5 res=1"},
		{name: "old before", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set old=5 backlog_max_depth=0 res=1"},
		{name: "no old", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0"},
		{name: "old overflows 32 bits", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4294967296 res=1"},
		{name: "negative old", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=-5 res=1"},
		{name: "duplicate key", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=5 backlog_max_depth=0 old=9 res=1"},
		{name: "bad stamp", line: "type=CONFIG_CHANGE msg=audit(1700000000:456): op=set backlog_max_depth=0 old=5 res=1"},
		{name: "unterminated stamp", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456 op=set backlog_max_depth=0 old=5 res=1"},
		{name: "only in the enriched tail", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set res=1\x1dbacklog_max_depth=0 old=5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, typ, rest, ok := splitRecord([]byte(tt.line))
			if !ok {
				t.Fatalf("splitRecord(%q) not ok", tt.line)
			}
			if string(typ) != "CONFIG_CHANGE" {
				t.Fatalf("type %q, want CONFIG_CHANGE", typ)
			}
			got, ok := parseResetRecord(rest)
			if ok != tt.ok {
				t.Fatalf("parseResetRecord ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			got.Node = string(node)
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSplitRecord(t *testing.T) {
	tests := []struct {
		line      string
		node, typ string
		ok        bool
	}{
		{line: "type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes\n", typ: "SYSCALL", ok: true},
		{line: "node=host1 type=EOE msg=audit(1.000:1): \n", node: "host1", typ: "EOE", ok: true},
		{line: "type=USER_LOGIN msg=audit(1.000:1): pid=1 msg='op=login acct=\"root\" res=success'", typ: "USER_LOGIN", ok: true},
		{line: "type=UNKNOWN[1334] msg=audit(1.000:1): x=y", typ: "UNKNOWN[1334]", ok: true},
		{line: "\n"},
		{line: ""},
		{line: "hello world\n"},
		{line: "type=SYSCALL\n"},
		{line: "type= msg=audit(1.000:1): x\n"},
		{line: "type=SYSCALL msg=1\n"},
		{line: "node= type=SYSCALL msg=audit(1.000:1): x\n"},
		{line: "node=only\n"},
		{line: "\x00\x00type=SYSCALL msg=audit(1.000:1):\n"},
		{line: " type=SYSCALL msg=audit(1.000:1):\n"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.line), func(t *testing.T) {
			node, typ, rest, ok := splitRecord([]byte(tt.line))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if string(node) != tt.node || string(typ) != tt.typ {
				t.Errorf("node %q type %q, want %q %q", node, typ, tt.node, tt.typ)
			}
			if !bytes.HasPrefix(rest, []byte("msg=audit(")) {
				t.Errorf("rest %q does not start with msg=audit(", rest)
			}
		})
	}
}

// TestHasMsgAudit checks the word-wise prefix test against
// bytes.HasPrefix: recordType, the reference FuzzRecordSlot checks the
// reader's fast path against, uses it, so that fuzz test cannot see it go
// wrong.
func TestHasMsgAudit(t *testing.T) {
	for _, s := range []string{
		"", "m", "msg=audit", "msg=audit(", "msg=audit(1.000:1): x", "msg=audiT(", "msg=audi((",
		"Msg=audit(", "msg=audit)", "msg=audit(\n", "msg:audit(", "xmsg=audit(", "g=audit(xx",
	} {
		if got, want := hasMsgAudit([]byte(s)), strings.HasPrefix(s, prefixAudit); got != want {
			t.Errorf("hasMsgAudit(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestNodeEnd checks the word-wise search for the space after node=NAME
// against bytes.IndexByte, for names of every length around the word size.
func TestNodeEnd(t *testing.T) {
	for n := 0; n <= 40; n++ {
		name := strings.Repeat("h", n)
		for _, line := range []string{"node=" + name + " type=EOE", "node=" + name, "node=" + name + "\x00 "} {
			if got, want := nodeEnd([]byte(line)), strings.IndexByte(line, ' '); got != want {
				t.Errorf("nodeEnd(%q) = %d, want %d", line, got, want)
			}
		}
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		in   string
		bits uint
		want uint64
		ok   bool
	}{
		{"0", 32, 0, true},
		{"4294967295", 32, 4294967295, true},
		{"4294967296", 32, 0, false},
		{"18446744073709551615", 64, 18446744073709551615, true},
		{"18446744073709551616", 64, 0, false},
		{"99999999999999999999999", 64, 0, false},
		{"", 32, 0, false},
		{"-1", 32, 0, false},
		{"+1", 32, 0, false},
		{"12a", 32, 0, false},
		{"007", 32, 7, true},
		{"999", 10, 999, true},
		{"1024", 10, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseUint([]byte(tt.in), tt.bits)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUint(%q, %d) = %d, %v; want %d, %v", tt.in, tt.bits, got, ok, tt.want, tt.ok)
		}
	}
}

// readAll runs readRecords over input and returns the counters and the reset
// records it sent.
func readAll(t *testing.T, r io.Reader) (*streamStats, []resetRecord) {
	t.Helper()
	stats := new(streamStats)
	resets := make(chan resetRecord, 1024)
	if err := readRecords(r, stats, resets); err != nil {
		t.Fatalf("readRecords: %v", err)
	}
	close(resets)
	var got []resetRecord
	for rec := range resets {
		got = append(got, rec)
	}
	return stats, got
}

func TestReadRecordsStream(t *testing.T) {
	long := "type=EXECVE msg=audit(1.000:2): argc=2 a0=\"x\" a1=\"" + strings.Repeat("A", 8900) + "\"\n"
	huge := strings.Repeat("B", 3*readBufferSize) + "\n"
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
	stats, got := readAll(t, strings.NewReader(input))

	if n := stats.records(); n != 8 {
		t.Errorf("records = %d, want 8", n)
	}
	if n := stats.malformed.Load(); n != 3 {
		t.Errorf("malformed = %d, want 3 (garbage, oversized, empty)", n)
	}
	if n := stats.oversized.Load(); n != 1 {
		t.Errorf("oversized = %d, want 1", n)
	}
	wantTypes := map[string]uint64{"SYSCALL": 1, "EXECVE": 1, "EOE": 1, "CONFIG_CHANGE": 3, "USER": 1, "other": 1}
	for _, tc := range stats.typeCounts() {
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
	stats := new(streamStats)
	resets := make(chan resetRecord, 2)
	if err := readRecords(strings.NewReader(strings.Repeat(rec, 5)), stats, resets); err != nil {
		t.Fatal(err)
	}
	if n := stats.dropped.Load(); n != 3 {
		t.Errorf("dropped = %d, want 3", n)
	}
	if n := len(resets); n != 2 {
		t.Errorf("queued = %d, want 2", n)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadRecordsError(t *testing.T) {
	err := readRecords(errReader{io.ErrClosedPipe}, new(streamStats), make(chan resetRecord, 1))
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
	resets := make(chan resetRecord, 1)
	read := func(stream []byte) func() {
		return func() {
			if err := readRecords(bytes.NewReader(stream), new(streamStats), resets); err != nil {
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

// FuzzReadRecords feeds arbitrary streams to the reader: it must not panic,
// must account for every line as a record or a malformed line, and any reset
// record it finds must print back to a line it parses the same way.
func FuzzReadRecords(f *testing.F) {
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
		if n := stats.records() + stats.malformed.Load(); n != lines {
			// A line longer than the buffer is one malformed line however
			// many newlines follow it; only short inputs are exact.
			if len(data) < readBufferSize {
				t.Errorf("records+malformed = %d, want %d lines", n, lines)
			}
		}
		for _, rec := range got {
			line := []byte(formatResetRecord(rec))
			_, _, rest, ok := splitRecord(line)
			again, ok2 := parseResetRecord(rest)
			again.Node = rec.Node
			if !ok || !ok2 || again != rec {
				t.Errorf("record %+v reprinted as %q parses to %+v (ok %v %v)", rec, line, again, ok, ok2)
			}
		}
	})
}

// formatResetRecord prints a reset record the way the kernel and auditd do.
func formatResetRecord(r resetRecord) string {
	node := ""
	if r.Node != "" {
		node = "node=" + r.Node + " "
	}
	return fmt.Sprintf("%stype=CONFIG_CHANGE msg=audit(%d.%03d:%d): op=set backlog_max_depth=0 old=%d auid=%d ses=%d res=1\n",
		node, r.Time.Unix(), r.Time.Nanosecond()/int(time.Millisecond), r.Serial, r.Old, r.AUID, r.Ses)
}
