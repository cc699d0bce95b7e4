package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/audisp-backlog/audisp-backlog/emit"
)

// readBufferSize is the stdin buffer. auditd's largest record is 8970 bytes
// (MAX_AUDIT_MESSAGE_LENGTH plus its header and ENRICHED tail); anything
// longer than the buffer is not a record and is skipped without growing
// memory.
const readBufferSize = 64 << 10

// resetRecord is a CONFIG_CHANGE record that reports a reset of the kernel's
// backlog high-water mark:
//
//	type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1
//
// Older kernels print the same without op=set.
type resetRecord struct {
	Old    uint32    // the high-water mark before the reset: the peak
	Time   time.Time // kernel time stamp of the reset (millisecond precision)
	Serial uint64    // kernel event serial
	Node   string    // node= prefix, "" when auditd's name_format is none
	AUID   uint32    // login uid of the resetting task (4294967295 = unset)
	Ses    uint32    // session of the resetting task (4294967295 = unset)
}

// recordTypes are the record types counted by name. Any other type is
// counted as "other", which keeps the set (and the metric's cardinality)
// bounded whatever arrives on stdin.
var recordTypes = [...]string{
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
}

// typeSlot finds a record type's slot in recordTypes, 0 ("other") for a
// type not in the list. It is built once and only read.
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

// typeTable maps a record type to its slot in recordTypes with a perfect
// hash. The reader keys a record by the 14 bytes that follow "type=",
// type and " msg=audit(" together, so it need not find where the type
// ends first: two loads, a mask, one multiply, one byte of index and one
// key compared, then the fixed text checked at the end the key gives. No
// loop and no branch on the type's length, which differs from one record
// to the next. (A map[string]int lookup costs about a third of reading a
// line, and finding the type's end first another quarter.)
type typeTable struct {
	mul   uint64                    // the hash multiplier, chosen so that no two types share an entry
	index [1 << typeIndexBits]uint8 // hash to slot in recordTypes; 0 is "other"
	keys  [len(recordTypes)]typeKey // the key of each slot; keys[0] matches no type
}

// A slot must fit in a typeTable's index entry.
var _ [255 - len(recordTypes)]struct{}

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
	for i, typ := range recordTypes[1:] {
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
	for i := 1; i < len(recordTypes); i++ {
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
	return typeKey{lo: le64(b[:]), hi: le64(b[8:]) & keyHiMask, n: len(typ)}
}

// hash picks a key's entry in the index.
func (t *typeTable) hash(lo, hi uint64) uint64 {
	return (lo ^ hi) * t.mul >> (64 - typeIndexBits)
}

// lookup returns typ's slot in recordTypes, or 0 when typ is not listed.
func (t *typeTable) lookup(typ []byte) int {
	k := keyOf(typ)
	i := t.index[t.hash(k.lo, k.hi)]
	if t.keys[i] != k || k.n > keyBytes && string(typ) != recordTypes[i] {
		return 0
	}
	return int(i)
}

// le64 reads 8 bytes little-endian; the compiler makes it one load. (It
// is encoding/binary's LittleEndian.Uint64, which the package's tests
// shadow with a variable named binary.)
func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// streamStats are the reader's counters. The reader goroutine adds to
// them; the interval loop reads them.
type streamStats struct {
	types     [len(recordTypes)]atomic.Uint64 // records by type; index 0 is "other"
	malformed atomic.Uint64                   // lines that are not records, oversized ones included
	oversized atomic.Uint64                   // lines longer than the read buffer
	dropped   atomic.Uint64                   // reset records dropped because the loop was not keeping up

	// unpublished counts the records by type that the reader has not yet
	// added to types, and at slotMalformed the malformed lines not yet
	// added to malformed. Only the reader goroutine touches it: a plain
	// increment per record instead of an atomic add (a locked
	// instruction, about a tenth of the cost of reading a record), and
	// publish before every read of the input, so before the reader can
	// block, and when it ends. types is therefore exact whenever the
	// reader waits for input, and at most one read buffer (some 300
	// records) behind while it streams flat out.
	unpublished [slotMalformed + 1]uint64
}

// slotMalformed is the reader's slot for a line that is not a record, one
// past the record types' slots in streamStats.unpublished.
const slotMalformed = len(recordTypes)

// publish adds the unpublished counts to types and malformed. Only the
// reader calls it.
func (s *streamStats) publish() {
	for i, n := range s.unpublished[:slotMalformed] {
		if n > 0 {
			s.types[i].Add(n)
			s.unpublished[i] = 0
		}
	}
	if n := s.unpublished[slotMalformed]; n > 0 {
		s.malformed.Add(n)
		s.unpublished[slotMalformed] = 0
	}
}

// publishingReader publishes the reader's counts before each read of its
// input, the one place where the reader can block.
type publishingReader struct {
	r     io.Reader
	stats *streamStats
}

func (p publishingReader) Read(b []byte) (int, error) {
	p.stats.publish()
	return p.r.Read(b)
}

// records returns the number of well-formed records read.
func (s *streamStats) records() uint64 {
	var n uint64
	for i := range s.types {
		n += s.types[i].Load()
	}
	return n
}

// readRecords reads auditd's `format = string` stream from r until EOF or a
// read error, counting every record by type and sending each backlog reset
// record to resets. It never blocks on resets: if the loop does not keep up
// (it drains the channel continuously, so this would take hundreds of
// resets at once), the record is counted as dropped.
//
// It allocates nothing per record except for the rare reset records.
// A blocking read of stdin cannot be interrupted, so this function ends
// at EOF (auditd closing the socket) or when the process exits; callers
// must not wait for it on shutdown.
func readRecords(r io.Reader, stats *streamStats, resets chan<- resetRecord) error {
	defer stats.publish()
	br := bufio.NewReaderSize(publishingReader{r, stats}, readBufferSize)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				stats.oversized.Add(1)
				stats.malformed.Add(1)
				if err := discardLine(br); err != nil {
					return endOfStream(err)
				}
				continue
			}
			if len(line) == 0 {
				return endOfStream(err)
			}
			// A last line without its newline is still a record: count
			// it below, then end.
		}
		// The work per line, written here rather than in a function of
		// its own, which the compiler would not inline (the call cost
		// about 4% of reading a record): a malformed line is counted
		// like a type, and the rare CONFIG_CHANGE is handled out of line.
		// line aliases the read buffer and is valid until the next read.
		i, ok := recordSlot(line)
		if !ok {
			i = slotMalformed
		}
		stats.unpublished[i]++
		if i == typeConfigChange {
			readConfigChange(line, stats, resets)
		}
		if err != nil {
			return endOfStream(err)
		}
	}
}

// endOfStream turns io.EOF into nil and wraps other read errors.
func endOfStream(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("read records: %w", err)
}

// discardLine skips the rest of an oversized line, up to and including its
// newline.
func discardLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// readConfigChange sends a CONFIG_CHANGE record to resets if it is a reset
// of backlog_max_depth. line aliases the reader's buffer; the reader's
// counts up to and including this record are published first, so that the
// loop sees them with the reset.
func readConfigChange(line []byte, stats *streamStats, resets chan<- resetRecord) {
	node, _, rest, _ := splitRecord(line) // record-shaped, as recordSlot found
	rec, ok := parseResetRecord(rest)
	if !ok {
		return // another kind of configuration change
	}
	if len(node) > 0 {
		rec.Node = string(node)
	}
	stats.publish() // the loop sees counts up to this record with it
	select {
	case resets <- rec:
	default:
		stats.dropped.Add(1)
	}
}

// typeConfigChange is the index of CONFIG_CHANGE in recordTypes (a
// constant, which the reader compares with every record's slot without a
// load; TestTypeSlot checks it).
const typeConfigChange = 8

// recordType finds the type of a record line, line[start:end], after an
// optional "node=NAME " and "type=", and followed by " msg=audit(". ok is
// false when the line does not have the shape of an audit record.
//
// It is the reference that recordSlot, the reader's hot path, is fuzzed
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

// recordSlot finds the slot in recordTypes of a record line's type, as
// typeSlot.lookup on what recordType finds, for the reader's hot path:
// it looks up the 14 bytes after "type=" (see typeTable) and checks that
// " msg=audit(" follows where the key it found says the type ends. A line
// that does not match a listed type that way, a type not listed, a line
// that is not a record, takes recordType's way. ok is false when the line
// does not have the shape of an audit record.
func recordSlot(line []byte) (slot int, ok bool) {
	start := 0
	if hasPrefix(line, "node=") {
		sp := nodeEnd(line)
		if sp <= len("node=") {
			return 0, false // no space, or an empty name
		}
		start = sp + 1
	}
	t := line[start:]
	if len(t) < len("type=")+16 || !hasPrefix(t, "type=") {
		return slowSlot(line)
	}
	t = t[len("type="):]
	lo, hi := le64(t), le64(t[8:])&keyHiMask
	i := typeSlot.index[typeSlot.hash(lo, hi)]
	k := &typeSlot.keys[i]
	if k.lo != lo || k.hi != hi {
		return slowSlot(line)
	}
	// The key holds the first keyBytes of the type and what follows it;
	// check what it does not hold: the rest of " msg=audit(" and, for a
	// long type, the rest of the type. The space is in the same two
	// overlapping loads as "msg=audit(" here; hasMsgAudit after a byte
	// test of the space measured 5% slower per record.
	n := k.n
	if len(t) < n+len(" msg=audit(") || string(t[n:n+8]) != " msg=aud" || string(t[n+3:n+11]) != "g=audit(" {
		return slowSlot(line)
	}
	if n > keyBytes && string(t[:n]) != recordTypes[i] {
		return slowSlot(line)
	}
	return int(i), true
}

// nodeEnd is the index of the space that ends line's "node=NAME", or -1.
// Host names are short: it tests 8 bytes at a time for a space, in the
// registers, where bytes.IndexByte is a call that prepares for long input.
func nodeEnd(line []byte) int {
	i := len("node=")
	for ; i+8 <= len(line); i += 8 {
		if n := spaceIn(le64(line[i:])); n < 8 {
			return i + n
		}
	}
	if j := bytes.IndexByte(line[i:], ' '); j >= 0 {
		return i + j
	}
	return -1
}

// slowSlot is recordSlot by way of recordType.
func slowSlot(line []byte) (slot int, ok bool) {
	start, end, ok := recordType(line)
	if !ok {
		return 0, false
	}
	return typeSlot.lookup(line[start:end]), true
}

// spaceIn returns the index of the first space among the 8 bytes of w,
// read little-endian, or 8 when there is none: the "has a zero byte" test
// on w XOR spaces, whose lowest flagged byte is exact.
func spaceIn(w uint64) int {
	const ones, highs, spaces = 0x0101010101010101, 0x8080808080808080, 0x2020202020202020
	v := w ^ spaces
	return bits.TrailingZeros64((v-ones)&^v&highs) >> 3
}

// splitRecord splits a record line into its optional node name, its type
// and the rest, which starts with "msg=audit(". The line's trailing newline
// (and a carriage return) are dropped. ok is false when the line does not
// have the shape of an audit record.
func splitRecord(line []byte) (node, typ, rest []byte, ok bool) {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	start, end, ok := recordType(line)
	if !ok {
		return nil, nil, nil, false
	}
	if typeAt := start - len("type="); typeAt > 0 {
		node = line[len("node=") : typeAt-1]
	}
	return node, line[start:end], line[end+1:], true
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

// parseResetRecord parses the part of a CONFIG_CHANGE record that starts
// with "msg=audit(". It reports ok only for a backlog_max_depth reset that
// succeeded (res=1, or no res field); every other configuration change is
// not ok. Fields after a \x1d (auditd's ENRICHED interpretations) are
// ignored.
func parseResetRecord(rest []byte) (rec resetRecord, ok bool) {
	stamp, fields, ok := bytes.Cut(rest[len(prefixAudit):], []byte("): "))
	if !ok {
		return rec, false
	}
	if raw, _, found := bytes.Cut(fields, []byte{0x1d}); found {
		fields = raw
	}
	rec.Time, rec.Serial, ok = parseStamp(stamp)
	if !ok {
		return rec, false
	}
	rec.AUID, rec.Ses = unsetID, unsetID
	var seenDepth, seenOld bool
	for len(fields) > 0 {
		var field []byte
		field, fields, _ = bytes.Cut(fields, []byte{' '})
		key, val, _ := bytes.Cut(field, []byte{'='})
		if seenDepth && !seenOld {
			// The kernel prints "backlog_max_depth=0 old=N": old must
			// come right after.
			n, ok := parseUint(val, 32)
			if string(key) != "old" || !ok {
				return rec, false
			}
			rec.Old, seenOld = uint32(n), true
			continue
		}
		switch string(key) {
		case "backlog_max_depth":
			if _, ok := parseUint(val, 32); !ok || seenDepth {
				return rec, false
			}
			seenDepth = true
		case "auid":
			if n, ok := parseUint(val, 32); ok {
				rec.AUID = uint32(n)
			}
		case "ses":
			if n, ok := parseUint(val, 32); ok {
				rec.Ses = uint32(n)
			}
		case "res":
			if string(val) != "1" {
				return rec, false
			}
		}
	}
	return rec, seenOld
}

// unsetID is the kernel's value for an unset auid or session.
const unsetID = 4294967295

// parseStamp parses "SEC.MSEC:SERIAL".
func parseStamp(b []byte) (t time.Time, serial uint64, ok bool) {
	secs, rest, ok := bytes.Cut(b, []byte{'.'})
	if !ok {
		return t, 0, false
	}
	msecs, ser, ok := bytes.Cut(rest, []byte{':'})
	if !ok || len(msecs) != 3 {
		return t, 0, false
	}
	sec, ok1 := parseUint(secs, 63)
	msec, ok2 := parseUint(msecs, 10)
	serial, ok3 := parseUint(ser, 64)
	if !ok1 || !ok2 || !ok3 {
		return t, 0, false
	}
	return time.Unix(int64(sec), int64(msec)*int64(time.Millisecond)), serial, true
}

// parseUint parses a non-empty string of decimal digits that fits in bits
// bits. Unlike strconv.ParseUint it takes bytes, so it does not allocate.
func parseUint(b []byte, bits uint) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	max := uint64(1)<<bits - 1
	if bits >= 64 {
		max = ^uint64(0)
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// typeCounts returns the records read so far by type, for the types seen.
func (s *streamStats) typeCounts() []emit.TypeCount {
	var out []emit.TypeCount
	for i := range s.types {
		if n := s.types[i].Load(); n > 0 {
			out = append(out, emit.TypeCount{Type: recordTypes[i], Count: n})
		}
	}
	return out
}
