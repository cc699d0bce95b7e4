package records

import (
	"bytes"
	"strings"
	"testing"
)

// TestEvents counts events, not records, and classifies them as
// audisp-statsd does, but right: a login with res=failed is a failed
// login.
func TestEvents(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  Events
	}{
		{"a failed system call, four records", []string{
			`type=SYSCALL msg=audit(1700000000.123:10): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c items=1 ppid=1 pid=2 auid=1000 uid=1000 comm="cat" exe="/usr/bin/cat" key=(null)` + "\x1dARCH=x86_64 SYSCALL=openat success=yes",
			`type=CWD msg=audit(1700000000.123:10): cwd="/home/alice"`,
			`type=PATH msg=audit(1700000000.123:10): item=0 name="/etc/shadow" inode=1 nametype=NORMAL`,
			`type=PROCTITLE msg=audit(1700000000.123:10): proctitle=636174`,
			`type=EOE msg=audit(1700000000.123:10): `,
		}, Events{Total: 1, Failed: 1}},
		{"a successful system call", []string{
			`type=SYSCALL msg=audit(1700000000.123:11): arch=c000003e syscall=59 success=yes exit=0 items=2`,
			`type=EOE msg=audit(1700000000.123:11): `,
		}, Events{Total: 1}},
		{"logins", []string{
			`type=USER_LOGIN msg=audit(1700000000.200:20): pid=1 uid=0 auid=1000 ses=3 msg='op=login id=1000 exe="/usr/sbin/sshd" hostname=? addr=10.0.0.1 terminal=sshd res=success'` + "\x1dUID=\"root\" AUID=\"alice\"",
			`type=USER_LOGIN msg=audit(1700000000.300:21): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct="bob" exe="/usr/sbin/sshd" hostname=? addr=10.0.0.2 terminal=ssh res=failed'`,
		}, Events{Total: 2, Failed: 1, LoginsSucceeded: 1, LoginsFailed: 1}},
		{"an AVC inside a system call is counted on its first record", []string{
			`type=AVC msg=audit(1700000000.400:30): avc:  denied  { read } for  pid=5 comm="httpd" name="x" scontext=a tcontext=b tclass=file permissive=0`,
			`type=SYSCALL msg=audit(1700000000.400:30): arch=c000003e syscall=2 success=no exit=-13`,
			`type=EOE msg=audit(1700000000.400:30): `,
		}, Events{Total: 1, Failed: 1, AVC: 1}},
		{"fanotify, anomalies, responses", []string{
			`type=FANOTIFY msg=audit(1700000000.500:40): resp=2`,
			`type=ANOM_LOGIN_FAILURES msg=audit(1700000000.500:41): pid=1 uid=0 auid=0 ses=1 msg='op=login acct="bob" res=success'`,
			`type=RESP_ACCT_LOCK_TIMED msg=audit(1700000000.500:42): pid=1 uid=0 msg='op=lock res=success'`,
			`type=RESP_ALERT msg=audit(1700000000.500:43): pid=1 uid=0 msg='res=success'`,
			`type=ANOM_ABEND msg=audit(1700000000.500:44): auid=1000 uid=1000 pid=7 comm="x" sig=11 res=1`,
		}, Events{Total: 5, FANotify: 1, Anomalies: 1, Responses: 2}},
		{"two events interleaved are two", []string{
			`type=SYSCALL msg=audit(1700000000.600:50): arch=c000003e syscall=59 success=yes`,
			`type=SYSCALL msg=audit(1700000000.600:51): arch=c000003e syscall=59 success=yes`,
			`type=EOE msg=audit(1700000000.600:50): `,
			`type=EOE msg=audit(1700000000.600:51): `,
		}, Events{Total: 2}},
		{"res= in the ENRICHED part, or inside a value, does not count", []string{
			`type=USER_CMD msg=audit(1700000000.700:60): pid=1 msg='cwd="/" cmd=6C73 exe="/usr/bin/sudo" res=success'` + "\x1dres=failed",
			`type=USER_CMD msg=audit(1700000000.700:61): pid=1 msg='cmd="echo xres=failed" res=success'`,
		}, Events{Total: 2}},
		{"a failed configuration change", []string{
			`type=CONFIG_CHANGE msg=audit(1700000000.800:70): op=set audit_backlog_limit=64 old=8192 auid=1000 ses=1 res=0`,
		}, Events{Total: 1, Failed: 1}},
		{"records without a serial are counted, no event", []string{
			`type=EOE msg=audit(1700000000.900): `,
		}, Events{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stats, _ := readAll(t, strings.NewReader(strings.Join(tt.lines, "\n")+"\n"))
			if got := stats.Events(); got != tt.want {
				t.Errorf("events %+v\nwant   %+v", got, tt.want)
			}
			if n := stats.Records(); n != uint64(len(tt.lines)) {
				t.Errorf("records = %d, want %d", n, len(tt.lines))
			}
		})
	}
}

// TestSyscallFailed checks a SYSCALL record's outcome both ways: the
// reader's, which reads the kernel's layout in a few words, and
// syscallFailed's search, which the reader falls back to.
func TestSyscallFailed(t *testing.T) {
	for f, want := range map[string]bool{
		"arch=c000003e syscall=257 success=no exit=-13": true,
		"arch=c000003e syscall=59 success=yes exit=0":   false,
		"arch=40000003 syscall=5 success=no exit=-2":    true,
		"arch=c00000b7 syscall=1234 success=no":         true,
		"arch=c00000b7 syscall=12345 success=no":        true, // a longer number: searched
		"arch=c000003e syscall=2 success=nope":          true, // as audisp-statsd: "no" starts it
		"arch=c000003e syscall=2 successful=no":         false,
		"arch=c000003e syscall=2  success=no":           true,
		"syscall=2 success=no":                          true, // another layout: searched
		"arch=c000003e syscall=2 per=400000 success=no": true,
		"arch=c000003e syscall=2 key=\"success=no\"":    false,
		"arch=c000003e": false,
		"":              false,
	} {
		for _, end := range []string{"\n", " \x1dARCH=x86_64\n", ""} {
			line := "type=SYSCALL msg=audit(1700000000.123:42): " + f + end
			stats, _ := readAll(t, strings.NewReader(line))
			if got := stats.Events().Failed == 1; got != want {
				t.Errorf("the reader counts %q as failed: %v, want %v", line, got, want)
			}
		}
		if got := syscallFailed([]byte(f)); got != want {
			t.Errorf("syscallFailed(%q) = %v, want %v", f, got, want)
		}
	}
}

// FuzzSyscallFailed checks the reader's way to a SYSCALL record's outcome
// against syscallFailed's search on any fields.
func FuzzSyscallFailed(f *testing.F) {
	f.Add("arch=c000003e syscall=257 success=no exit=-13")
	f.Add("arch=c00000b7 syscall=1234 success=yes")
	f.Add("arch=c000003e syscall=2 per=400000 success=no")
	f.Fuzz(func(t *testing.T, fields string) {
		if strings.ContainsAny(fields, "\n\x1d") {
			return // one record's own fields
		}
		line := "type=SYSCALL msg=audit(1700000000.123:42): " + fields + "\n"
		stats, _ := readAll(t, strings.NewReader(line))
		if got, want := stats.Events().Failed == 1, syscallFailed([]byte(fields+"\n")); got != want {
			t.Errorf("the reader counts %q as failed: %v, syscallFailed says %v", line, got, want)
		}
	})
}

// FuzzResult checks result's words at the end of a user space record
// against its search.
func FuzzResult(f *testing.F) {
	f.Add("type=USER_CMD msg=audit(1.000:2): pid=1 msg='cmd=ls res=success'\n")
	f.Add("type=USER_LOGIN msg=audit(1.000:2): pid=1 msg='op=login res=failed'\x1dUID=\"root\"\n")
	f.Add("type=CONFIG_CHANGE msg=audit(1.000:2): op=set res=1")
	f.Add("res=success'")
	f.Fuzz(func(t *testing.T, line string) {
		cut := []byte(line)
		if i := bytes.IndexByte(cut, 0x1d); i >= 0 {
			cut = cut[:i]
		}
		if got, want := result([]byte(line)), searchResult(cut); got != want {
			t.Errorf("result(%q) = %d, the search says %d", line, got, want)
		}
	})
}

// TestKeyAt: the stamp's key is its bytes up to the ')', whether read in
// three words or folded; records of one event share it, two events never.
func TestKeyAt(t *testing.T) {
	tests := []struct {
		in  string
		end int
		ok  bool
	}{
		{"1700000000.123:456): arch=c000003e", 18, true},
		{"1700000000.123:4): x", 16, true},
		{"1700000000.123:123456789): x", 24, true},  // the longest serial in three words
		{"1700000000.123:1234567890): x", 25, true}, // folded
		{"1.000:1): x", 7, true},                    // folded
		{"99999999999.123:18446744073709551615): x", 36, true},
		{"1700000000.123:456", 0, false},
		{"1700000000.123): x", 0, false},
		{"): x", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		_, end, ok := keyAt([]byte(tt.in))
		if end != tt.end || ok != tt.ok {
			t.Errorf("keyAt(%q) = %d, %v; want %d, %v", tt.in, end, ok, tt.end, tt.ok)
		}
	}
	same := func(a, b string) bool {
		ka, _, _ := keyAt([]byte(a))
		kb, _, _ := keyAt([]byte(b))
		return ka == kb
	}
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"1700000000.123:456): arch=c000003e", "1700000000.123:456): item=0 name", true},
		{"1700000000.123:456): x", "1700000000.123:457): x", false},
		{"1700000000.123:456): x", "1700000000.124:456): x", false},
		{"1700000000.123:45): xyz", "1700000000.123:456): xy", false},
		{"1.000:1): x", "1.000:1): y", true},
		{"1700000000.123:10): arch=c000003e", "1700000000.123:10): ", true}, // read in words, and folded
		{"1700000000.123:123456789): arch", "1700000000.123:123456789)", true},
		{"1.000:1): x", "1.000:2): x", false},
		{"1700000000.123:1234567890): a", "1700000000.123:1234567890): b", true},
		{"1700000000.123:1234567890): a", "1700000000.123:1234567891): a", false},
	} {
		if got := same(tt.a, tt.b); got != tt.same {
			t.Errorf("key of %q == key of %q: %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

func TestLastRes(t *testing.T) {
	for _, s := range []string{"", "res=", "xres=1 res=success'", "res=0 and more", "re", "rrres=", "res=res="} {
		if got, want := lastRes([]byte(s)), strings.LastIndex(s, "res="); got != want {
			t.Errorf("lastRes(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestSlotTables: every type the event counters name exists, so that a
// rename cannot silently stop a counter.
func TestSlotTables(t *testing.T) {
	for _, typ := range []string{"SYSCALL", "CONFIG_CHANGE", "USER_LOGIN", "AVC", "FANOTIFY", "ANOM_LOGIN_FAILURES", "RESP_ALERT", "USER_CMD"} {
		if _, ok := typeIndex[typ]; !ok {
			t.Errorf("%s is not in Types", typ)
		}
	}
	for _, typ := range []string{"PATH", "EOE", "PROCTITLE"} {
		if slotWork[typeIndex[typ]] != workFollow {
			t.Errorf("%s is not a record that only follows its SYSCALL", typ)
		}
	}
	if slotWork[typeIndex["ANOM_ABEND"]] != workNone || slotClass[typeIndex["ANOM_ABEND"]] != numEvents {
		t.Errorf("ANOM_ABEND, a kernel anomaly, is counted as a user space one")
	}
}

// TestKeyAtShortRecord: a record shorter than three words is read past its
// end, within the buffer, and gets the key it would get alone, whatever
// follows it there.
func TestKeyAtShortRecord(t *testing.T) {
	for _, after := range []string{"", "x)yyyyyy", "))))))))", "type=SYSCALL msg=audit(1700000000.123:11): "} {
		buf := []byte("1700000000.123:10): \n" + after)
		b := buf[:len("1700000000.123:10): \n")]
		k1, e1, ok1 := keyAt(b)
		k2, e2, ok2 := keyFolded(b)
		if k1 != k2 || e1 != e2 || !ok1 || !ok2 {
			t.Errorf("followed by %q: keyAt %+v %d %v, keyFolded %+v %d %v", after, k1, e1, ok1, k2, e2, ok2)
		}
	}
}

// FuzzKeyAt checks keyAt's three-word path against keyFolded: the same
// stamp gets the same key whichever way it is read.
func FuzzKeyAt(f *testing.F) {
	for _, s := range []string{"1700000000.123:456): arch=c000003e syscall=59", "1700000000.123:10): ", "1.000:1): x", "1700000000.123:123456789): x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k1, e1, ok1 := keyAt(b)
		k2, e2, ok2 := keyFolded(b)
		if ok1 && ok2 && e1 == e2 && k1 != k2 {
			t.Errorf("keyAt %+v, keyFolded %+v for %q", k1, k2, b[:e1])
		}
		if ok1 && (e1 <= 0 || e1 >= len(b) || b[e1] != ')') {
			t.Errorf("keyAt end %d, not a ')' of %q", e1, b)
		}
	})
}
