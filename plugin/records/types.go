package records

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Types are the record types counted by name. Any other type is counted as
// "other", which keeps the set (and the metric's cardinality) bounded
// whatever arrives on stdin.
var Types = [...]string{
	"other",
	"SYSCALL", "PATH", "CWD", "EXECVE", "PROCTITLE", "EOE", "SOCKADDR",
	"CONFIG_CHANGE", "AVC", "SELINUX_ERR", "USER_AVC", "SECCOMP", "ANOM_ABEND",
	"ANOM_PROMISCUOUS", "ANOM_LINK", "INTEGRITY_RULE", "KERN_MODULE", "NETFILTER_CFG",
	"NETFILTER_PKT", "BPF", "MMAP", "FD_PAIR", "IPC", "MQ_OPEN", "MQ_SENDRECV",
	"OBJ_PID", "TTY", "USER_TTY", "TIME_ADJNTPVAL", "TIME_INJOFFSET", "URINGOP",
	"KERNEL", "DAEMON_START", "DAEMON_END", "DAEMON_ABORT", "DAEMON_CONFIG",
	"DAEMON_ROTATE", "DAEMON_RESUME", "SERVICE_START", "SERVICE_STOP",
	"SYSTEM_BOOT", "SYSTEM_SHUTDOWN", "SYSTEM_RUNLEVEL",
	"USER", "USER_AUTH", "USER_ACCT", "USER_MGMT", "USER_CMD", "USER_CHAUTHTOK",
	"USER_ERR", "USER_LOGIN", "USER_LOGOUT", "USER_START", "USER_END",
	"USER_ROLE_CHANGE", "USER_LABELED_EXPORT", "USER_UNLABELED_EXPORT",
	"LOGIN", "CRED_ACQ", "CRED_DISP", "CRED_REFR", "ADD_USER", "DEL_USER",
	"ADD_GROUP", "DEL_GROUP", "GRP_MGMT", "GRP_AUTH", "ROLE_ASSIGN", "ROLE_REMOVE",
	"CRYPTO_KEY_USER", "CRYPTO_SESSION", "MAC_STATUS", "MAC_POLICY_LOAD",
	"MAC_CONFIG_CHANGE", "VIRT_CONTROL", "VIRT_RESOURCE", "VIRT_MACHINE_ID",
	"ANOM_LOGIN_FAILURES", "ANOM_LOGIN_TIME", "ANOM_LOGIN_SESSIONS",
	"ANOM_LOGIN_LOCATION", "ANOM_MAX_DAC", "ANOM_MAX_MAC", "ANOM_EXEC",
	"ANOM_ACCESS_FS", "RESP_ANOMALY", "EVENT_LISTENER", "FANOTIFY", "OPENAT2",
	"LSM_ACCESS", "SOFTWARE_UPDATE",
	// The rest of the user space anomalies (2100-2199) and responses
	// (2200-2299) of audit-userspace's lib/audit-records.h, which the
	// event counters count by type. RESP_ACCT_LOCK_TIMED and
	// RESP_ORIGIN_BLOCK_TIMED share their first 14 bytes, the table's key,
	// with RESP_ACCT_LOCK and RESP_ORIGIN_BLOCK: they stay "other", and
	// the event counters tell them by name.
	"ANOM_LOGIN_ACCT", "ANOM_AMTU_FAIL", "ANOM_RBAC_FAIL", "ANOM_RBAC_INTEGRITY_FAIL",
	"ANOM_CRYPTO_FAIL", "ANOM_MK_EXEC", "ANOM_ADD_ACCT", "ANOM_DEL_ACCT", "ANOM_MOD_ACCT",
	"ANOM_ROOT_TRANS", "ANOM_LOGIN_SERVICE", "ANOM_LOGIN_ROOT", "ANOM_ORIGIN_FAILURES",
	"ANOM_SESSION", "RESP_ALERT", "RESP_KILL_PROC", "RESP_TERM_ACCESS", "RESP_ACCT_REMOTE",
	"RESP_ACCT_UNLOCK_TIMED", "RESP_ACCT_LOCK", "RESP_TERM_LOCK",
	"RESP_SEBOOL", "RESP_EXEC", "RESP_SINGLE", "RESP_HALT", "RESP_ORIGIN_BLOCK",
	"RESP_ORIGIN_UNBLOCK_TIMED",
}

// slotConfigChange is the slot of CONFIG_CHANGE in Types: a constant, which
// the reader compares with every record's slot without a load (TestTypeSlot
// checks it).
const slotConfigChange = 8

// typeSlot finds a record type's slot in Types, 0 ("other") for a type not
// in the list. It is built once and only read.
var typeSlot = newTypeTable()

// typeIndexBits sizes a typeTable's index: 2^11 one-byte entries for under
// a hundred types, sparse enough that newTypeTable finds a multiplier that
// gives every type an entry of its own in a few tries.
const typeIndexBits = 11

// keyBytes is how much of a record a typeKey holds from the start of its
// type: 14 bytes, as much as a type of 3 bytes, the shortest listed, and
// the " msg=audit(" that follows every type. A type of 14 bytes or less
// and the text after it are then the same in every record of that type.
const keyBytes = 14

// typeTable maps a record type to its slot in Types with a perfect hash.
// The reader keys a record by the 14 bytes that follow "type=", type and
// " msg=audit(" together, so it need not find where the type ends first:
// two loads, a mask, one multiply, one byte of index and one key compared,
// then the fixed text checked at the end the key gives. No loop and no
// branch on the type's length, which differs from one record to the next
// and which a branch predictor cannot learn.
type typeTable struct {
	mul   uint64                    // the hash multiplier, chosen so that no two types share an entry
	index [1 << typeIndexBits]uint8 // hash to slot in Types; 0 is "other"
	keys  [len(Types)]typeKey       // the key of each slot; keys[0] matches no type
}

// A slot must fit in a typeTable's index entry.
var _ [255 - len(Types)]struct{}

// typeKey is a record type as a typeTable keys it: the first keyBytes of
// the type followed by " msg=audit(", read little-endian into two machine
// words, and the type's length. It holds all of a type of up to keyBytes
// bytes; a longer type is compared whole as well.
type typeKey struct {
	lo, hi uint64
	n      int
}

// keyHiMask keeps the bytes of a typeKey's hi word that fall within
// keyBytes.
const keyHiMask = 1<<(8*(keyBytes-8)) - 1

// newTypeTable builds the table, trying multipliers from a fixed sequence
// until one sends every listed type to an entry of its own. The search is
// deterministic, and TestTypeSlot checks its result.
func newTypeTable() *typeTable {
	t := new(typeTable)
	t.keys[0] = typeKey{lo: ^uint64(0), hi: ^uint64(0), n: -1} // no record's key
	for i, typ := range Types[1:] {
		t.keys[i+1] = keyOf([]byte(typ))
	}
	seed := uint64(0x9e3779b97f4a7c15)
	for range 1 << 16 {
		seed += 0x9e3779b97f4a7c15 // splitmix64
		z := (seed ^ seed>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		t.mul = (z ^ z>>31) | 1
		if t.fill() {
			return t
		}
	}
	panic("no perfect hash for the record types")
}

// fill fills the index with t.mul and reports whether every type got an
// entry of its own.
func (t *typeTable) fill() bool {
	t.index = [len(t.index)]uint8{}
	for i := 1; i < len(Types); i++ {
		h := t.hash(t.keys[i].lo, t.keys[i].hi)
		if t.index[h] != 0 {
			return false
		}
		t.index[h] = uint8(i)
	}
	return true
}

// keyOf returns the key of type typ.
func keyOf(typ []byte) typeKey {
	var b [16]byte
	copy(b[copy(b[:], typ):], " msg=audit(")
	return typeKey{lo: binary.LittleEndian.Uint64(b[:]), hi: binary.LittleEndian.Uint64(b[8:]) & keyHiMask, n: len(typ)}
}

// hash picks a key's entry in the index.
func (t *typeTable) hash(lo, hi uint64) uint64 {
	return (lo ^ hi) * t.mul >> (64 - typeIndexBits)
}

// lookup returns typ's slot in Types, or 0 when typ is not listed.
func (t *typeTable) lookup(typ []byte) int {
	k := keyOf(typ)
	i := t.index[t.hash(k.lo, k.hi)]
	if t.keys[i] != k || k.n > keyBytes && string(typ) != Types[i] {
		return 0
	}
	return int(i)
}

// recordType finds the type of a record line, line[start:end], after an
// optional "node=NAME " and "type=", and followed by " msg=audit(". ok is
// false when the line does not have the shape of an audit record.
//
// It is the reference that slotOf, the reader's hot path, is fuzzed
// against, and its way for lines that do not match a listed type. It
// leaves splitting out the node name and the rest to splitRecord, which
// only the rare CONFIG_CHANGE record needs.
func recordType(line []byte) (start, end int, ok bool) {
	if hasPrefix(line, "node=") {
		sp := bytes.IndexByte(line, ' ')
		if sp <= len("node=") {
			return 0, 0, false // no space, or an empty name
		}
		start = sp + 1
	}
	if !hasPrefix(line[start:], "type=") {
		return 0, 0, false
	}
	start += len("type=")
	sp := bytes.IndexByte(line[start:], ' ')
	if sp <= 0 {
		return 0, 0, false
	}
	end = start + sp
	if !hasMsgAudit(line[end+1:]) {
		return 0, 0, false
	}
	return start, end, true
}

// slotOf finds the slot in Types of a record line's type, as typeSlot.lookup
// on what recordType finds, for the reader's hot path: it looks up the 14
// bytes after "type=" (see typeTable) and checks that " msg=audit(" follows
// where the key it found says the type ends. A line that does not match a
// listed type that way (a type not listed, a line that is not a record)
// takes recordType's way. stamp is where the record's time stamp starts,
// just after "msg=audit(". ok is false when the line does not have the
// shape of an audit record.
func slotOf(line []byte) (slot, stamp int, ok bool) {
	start := 0
	if hasPrefix(line, "node=") {
		sp := nodeEnd(line)
		if sp <= len("node=") {
			return 0, 0, false // no space, or an empty name
		}
		start = sp + 1
	}
	t := line[start:]
	if len(t) < len("type=")+16 || !hasPrefix(t, "type=") {
		return slowSlot(line)
	}
	t = t[len("type="):]
	lo, hi := binary.LittleEndian.Uint64(t), binary.LittleEndian.Uint64(t[8:])&keyHiMask
	i := typeSlot.index[typeSlot.hash(lo, hi)]
	k := &typeSlot.keys[i]
	if k.lo != lo || k.hi != hi {
		return slowSlot(line)
	}
	// The key holds the first keyBytes of the type and what follows it;
	// check what it does not hold: the rest of " msg=audit(" and, for a
	// long type, the rest of the type. The space is in the same two
	// overlapping loads as "msg=audit(" here, which is cheaper than
	// hasMsgAudit after a byte test of the space (BENCHMARKS.md).
	n := k.n
	if len(t) < n+len(" msg=audit(") || string(t[n:n+8]) != " msg=aud" || string(t[n+3:n+11]) != "g=audit(" {
		return slowSlot(line)
	}
	if n > keyBytes && string(t[:n]) != Types[i] {
		return slowSlot(line)
	}
	return int(i), start + len("type=") + n + len(" msg=audit("), true
}

// nodeEnd is the index of the space that ends line's "node=NAME", or -1.
// Host names are short: it tests 8 bytes at a time for a space, in the
// registers, where bytes.IndexByte is a call that prepares for long input.
func nodeEnd(line []byte) int {
	i := len("node=")
	for ; i+8 <= len(line); i += 8 {
		if n := spaceIn(binary.LittleEndian.Uint64(line[i:])); n < 8 {
			return i + n
		}
	}
	if j := bytes.IndexByte(line[i:], ' '); j >= 0 {
		return i + j
	}
	return -1
}

// slowSlot is slotOf by way of recordType.
func slowSlot(line []byte) (slot, stamp int, ok bool) {
	start, end, ok := recordType(line)
	if !ok {
		return 0, 0, false
	}
	return typeSlot.lookup(line[start:end]), end + len(" msg=audit("), true
}

// spaceIn returns the index of the first space among the 8 bytes of w,
// read little-endian, or 8 when there is none: the "has a zero byte" test
// on w XOR spaces, whose lowest flagged byte is exact.
func spaceIn(w uint64) int {
	const ones, highs, spaces = 0x0101010101010101, 0x8080808080808080, 0x2020202020202020
	v := w ^ spaces
	return bits.TrailingZeros64((v-ones)&^v&highs) >> 3
}

// prefixAudit starts the part of a record after its type.
const prefixAudit = "msg=audit("

// hasMsgAudit is hasPrefix(b, prefixAudit), as two overlapping 8-byte
// comparisons, each one load: the compiler calls memequal for a 10-byte
// comparison, and for the 2-byte rest of an 8+2 split too.
func hasMsgAudit(b []byte) bool {
	return len(b) >= len(prefixAudit) && string(b[:8]) == "msg=audi" && string(b[2:10]) == "g=audit("
}

// hasPrefix is bytes.HasPrefix for a string prefix. With a constant prefix
// of up to 8 bytes the compiler makes it a length test and a load or two.
func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}
