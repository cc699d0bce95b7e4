package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
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

// typeIndex maps a record type to its slot in recordTypes. Looking it up
// with m[string(b)] does not allocate.
var typeIndex = func() map[string]int {
	m := make(map[string]int, len(recordTypes))
	for i, t := range recordTypes {
		m[t] = i
	}
	return m
}()

// streamStats are the reader's counters. The reader goroutine adds to
// them; the interval loop reads them.
type streamStats struct {
	types     [len(recordTypes)]atomic.Uint64 // records by type; index 0 is "other"
	malformed atomic.Uint64                   // lines that are not records, oversized ones included
	oversized atomic.Uint64                   // lines longer than the read buffer
	dropped   atomic.Uint64                   // reset records dropped because the loop was not keeping up
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
	br := bufio.NewReaderSize(r, readBufferSize)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			readRecord(line, stats, resets)
		case errors.Is(err, bufio.ErrBufferFull):
			stats.oversized.Add(1)
			stats.malformed.Add(1)
			if err := discardLine(br); err != nil {
				return endOfStream(err)
			}
		default:
			// A last line without its newline is still a record.
			if len(line) > 0 {
				readRecord(line, stats, resets)
			}
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

// readRecord handles one line. line aliases the reader's buffer and is valid
// only until the next read.
func readRecord(line []byte, stats *streamStats, resets chan<- resetRecord) {
	node, typ, rest, ok := splitRecord(line)
	if !ok {
		stats.malformed.Add(1)
		return
	}
	i := typeIndex[string(typ)]
	stats.types[i].Add(1)
	if i != typeConfigChange {
		return
	}
	rec, ok := parseResetRecord(rest)
	if !ok {
		return // another kind of configuration change
	}
	if len(node) > 0 {
		rec.Node = string(node)
	}
	select {
	case resets <- rec:
	default:
		stats.dropped.Add(1)
	}
}

// typeConfigChange is the index of CONFIG_CHANGE in recordTypes.
var typeConfigChange = typeIndex["CONFIG_CHANGE"]

var (
	prefixNode  = []byte("node=")
	prefixType  = []byte("type=")
	prefixAudit = []byte("msg=audit(")
)

// splitRecord splits a record line into its optional node name, its type
// and the rest, which starts with "msg=audit(". The line's trailing newline
// (and a carriage return) are dropped. ok is false when the line does not
// have the shape of an audit record.
func splitRecord(line []byte) (node, typ, rest []byte, ok bool) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if bytes.HasPrefix(line, prefixNode) {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return nil, nil, nil, false
		}
		node, line = line[len(prefixNode):sp], line[sp+1:]
		if len(node) == 0 {
			return nil, nil, nil, false
		}
	}
	if !bytes.HasPrefix(line, prefixType) {
		return nil, nil, nil, false
	}
	line = line[len(prefixType):]
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return nil, nil, nil, false
	}
	typ, rest = line[:sp], line[sp+1:]
	if !bytes.HasPrefix(rest, prefixAudit) {
		return nil, nil, nil, false
	}
	return node, typ, rest, true
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
