package records

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseResetRecord(t *testing.T) {
	stamp := time.Unix(1700000000, 123*int64(time.Millisecond))
	tests := []struct {
		name string
		line string
		want Reset
		ok   bool
	}{
		{
			name: "patched kernel",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1\n",
			want: Reset{Old: 4762, Time: stamp, Serial: 456, AUID: UnsetID, Ses: UnsetID},
			ok:   true,
		},
		{
			name: "enriched tail from auditd",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1\x1dAUID=\"unset\"\n",
			want: Reset{Old: 4762, Time: stamp, Serial: 456, AUID: UnsetID, Ses: UnsetID},
			ok:   true,
		},
		{
			name: "node prefix and a logged-in user",
			line: "node=web-1 type=CONFIG_CHANGE msg=audit(1700000000.123:9): op=set backlog_max_depth=0 old=17 auid=1000 ses=3 subj=unconfined res=1\x1dAUID=\"alice\"\n",
			want: Reset{Old: 17, Time: stamp, Serial: 9, Node: "web-1", AUID: 1000, Ses: 3},
			ok:   true,
		},
		{
			name: "older kernel without op=set",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): backlog_max_depth=0 old=5 auid=0 ses=1 res=1",
			want: Reset{Old: 5, Time: stamp, Serial: 456, AUID: 0, Ses: 1},
			ok:   true,
		},
		{
			name: "no auid or ses",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=0 res=1",
			want: Reset{Old: 0, Time: stamp, Serial: 456, AUID: UnsetID, Ses: UnsetID},
			ok:   true,
		},
		{
			name: "crlf",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=8 auid=1 ses=2 res=1\r\n",
			want: Reset{Old: 8, Time: stamp, Serial: 456, AUID: 1, Ses: 2},
			ok:   true,
		},
		{
			// auditd 4.2.1, log_format = RAW: the record's last 16 bytes
			// cut ("4294967295 res=1" of ses=4294967295 res=1).
			name: "cut by auditd 4.2.1",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=1000 ses=\n",
			want: Reset{Old: 4762, Time: stamp, Serial: 456, AUID: 1000, Ses: UnsetID},
			ok:   true,
		},
		{
			name: "cut inside the session",
			line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=1000 ses=42\n",
			want: Reset{Old: 4762, Time: stamp, Serial: 456, AUID: 1000, Ses: UnsetID},
			ok:   true,
		},
		{name: "cut inside old", line: "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=47"},
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
			got, ok := parseReset(rest)
			if ok != tt.ok {
				t.Fatalf("parseReset ok = %v, want %v", ok, tt.ok)
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
