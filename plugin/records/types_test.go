package records

import (
	"strings"
	"testing"
)

// typeIndex is the plain reference for the reader's typeSlot table: a
// record type's slot in Types. Tests check the fast table against it
// and use it to name counters.
var typeIndex = func() map[string]int {
	m := make(map[string]int, len(Types))
	for i, t := range Types {
		m[t] = i
	}
	return m
}()

// TestHasMsgAudit checks the word-wise prefix test against
// bytes.HasPrefix: recordType, the reference FuzzSlotOf checks the
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

// TestTypeSlot checks the reader's type table against the map it stands
// in for, on every listed type and on types that are not listed.
func TestTypeSlot(t *testing.T) {
	for i, typ := range Types {
		if got := typeSlot.lookup([]byte(typ)); got != i {
			t.Errorf("lookup(%q) = %d, want %d", typ, got, i)
		}
		if len(typ) < keyBytes-len(" msg=audit(") {
			t.Errorf("type %q: a key of %d bytes would hold time stamp digits; no record of it would take the fast path", typ, keyBytes)
		}
	}
	for _, typ := range []string{
		"", "UNKNOWN[1338]", "SYSCAL", "SYSCALLS", "syscall", "other", "EOE\x00", "EOE msg",
		"ANOM_PROMISCUOUX", "ANOM_PROMISCUOUS_", "USER_LABELED_EXPORX", strings.Repeat("A", 300),
	} {
		if got := typeSlot.lookup([]byte(typ)); got != 0 {
			t.Errorf("lookup(%q) = %d (%s), want 0", typ, got, Types[got])
		}
	}
	if Types[slotConfigChange] != "CONFIG_CHANGE" {
		t.Errorf("slotConfigChange = %d, the slot of %s", slotConfigChange, Types[slotConfigChange])
	}
}

// FuzzSlotOf checks the reader's fast path, slotOf, against
// recordType and the typeIndex map on any line.
func FuzzSlotOf(f *testing.F) {
	for _, rec := range realShaped {
		f.Add([]byte(rec))
	}
	for _, typ := range Types {
		f.Add([]byte("node=n type=" + typ + " msg=audit(1.000:1): x\n"))
		f.Add([]byte("type=" + typ + " msg=audit(1.000:1): x\n"))
		f.Add([]byte("type=" + typ + " msg=audit("))
		f.Add([]byte("type=" + typ + " msg=audiX(1.000:1): x\n"))
		f.Add([]byte("type=" + typ + "X msg=audit(1.000:1): x\n"))
	}
	for _, line := range []string{
		"type=A msg=audit(", "type=ABCDEFGHIJKLMNOP msg=audit(1.000:1): ", "type=ABCDEFGHIJKLMNO msg=audit(1.000:1): ",
		"type=ABCDEFGH msg=audit(1.000:1): ", "type=ABCDEFGHI msg=audit(1.000:1): ", "type= msg=audit(1.000:1): x",
		"type=SYSCALL msg=audi(1.000:1): x", "node= type=EOE msg=audit(1.000:1): ", "type=SYSCALL\tmsg=audit(1.000:1): x",
		"type=ANOM_PROMISCUOUX msg=audit(1.000:1): x", "type=ANOM_PROMISCUOUS\tmsg=audit(1.000:1): x",
		"type=EOE msg=audit(1.000:1)", "type=EOE msg=audit(",
	} {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		slot, stamp, ok := slotOf(line)
		start, end, want := recordType(line)
		if ok != want {
			t.Fatalf("slotOf ok = %v, recordType ok = %v", ok, want)
		}
		if ok && slot != typeIndex[string(line[start:end])] {
			t.Fatalf("slotOf = %d (%s), want %d for type %q", slot, Types[slot], typeIndex[string(line[start:end])], line[start:end])
		}
		if ok && stamp != end+len(" msg=audit(") {
			t.Fatalf("slotOf stamp = %d, want %d, just after msg=audit(", stamp, end+len(" msg=audit("))
		}
	})
}
