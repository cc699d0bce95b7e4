package records

import (
	"bytes"
	"time"
)

// Reset is a CONFIG_CHANGE record that reports a reset of the kernel's
// backlog high-water mark:
//
//	type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1
//
// Older kernels print the same without op=set.
type Reset struct {
	Old    uint32    // the high-water mark before the reset: the peak
	Time   time.Time // kernel time stamp of the reset (millisecond precision)
	Serial uint64    // kernel event serial
	Node   string    // node= prefix, "" when auditd's name_format is none
	AUID   uint32    // login uid of the resetting task (UnsetID = unset)
	Ses    uint32    // session of the resetting task (UnsetID = unset)
}

// UnsetID is the kernel's value for an unset auid or session.
const UnsetID = 4294967295

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

// parseReset parses the part of a CONFIG_CHANGE record that starts with
// "msg=audit(". It reports ok only for a backlog_max_depth reset that
// succeeded (res=1, or no res field, whose last field is then ignored);
// every other configuration change is not ok. Fields after a \x1d (auditd's ENRICHED interpretations) are
// ignored.
func parseReset(rest []byte) (rec Reset, ok bool) {
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
	rec.AUID, rec.Ses = UnsetID, UnsetID
	if !bytes.Contains(fields, []byte(" res=")) {
		// Without its closing res= the record may have been cut:
		// auditd 4.2.0 and 4.2.1 drop the last 16 bytes of every local
		// record they hand to plugins with log_format = RAW. Its last
		// field may then be a truncated value, so it is not used.
		if i := bytes.LastIndexByte(fields, ' '); i >= 0 {
			fields = fields[:i]
		} else {
			fields = nil
		}
	}
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
