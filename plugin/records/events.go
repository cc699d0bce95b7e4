package records

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Event counters, the indices of Counts' event slots: what audisp-statsd,
// audit-userspace's metrics plugin, counts, counted right. An event is the
// records that share a serial number: a system call's SYSCALL, PATH, CWD,
// PROCTITLE and EOE records, or a single user space record.
const (
	evTotal        = iota // events
	evFailed              // failed events: success=no on a system call, res=failed (or no, 0) on a user space record
	evAVC                 // events whose first record is an AVC
	evFANotify            // events whose first record is a FANOTIFY
	evLoginsOK            // USER_LOGIN records with res=success
	evLoginsFailed        // USER_LOGIN records with res=failed
	evAnomaly             // events whose first record is a user space anomaly (ANOM_, 2100-2199)
	evResponse            // events whose first record is a response to one (RESP_, 2200-2299)
	numEvents
)

// Events are the event counters.
type Events struct {
	Total, Failed, AVC, FANotify  uint64
	LoginsSucceeded, LoginsFailed uint64
	Anomalies, Responses          uint64
}

// What the reader does with a record of a type beyond counting it: the
// values of slotWork.
const (
	// workFollow: a record that only ever follows the SYSCALL record of
	// its event (PATH, CWD, EXECVE, PROCTITLE, EOE and the other records
	// the kernel writes at a system call's exit): it never starts an
	// event, so its stamp is not even read. Most records are of these
	// types.
	workFollow  = iota
	workNone    // may start an event; nothing more
	workReset   // CONFIG_CHANGE: maybe a backlog reset; it has res= too
	workSyscall // SYSCALL: success=
	workResult  // a user space record with res=
	workLogin   // USER_LOGIN: res= is also the login's outcome
	workOther   // a type not listed: an anomaly or a response, by its name
)

// slotWork says, by slot in Types, what the reader does beyond counting a
// record, and slotClass which event counter a new event whose first
// record has that type counts in (numEvents, a slot that is never
// published, for none).
var slotWork, slotClass = newSlotTables()

func newSlotTables() (work, class [len(Types)]uint8) {
	results := map[string]bool{}
	for _, t := range []string{
		"USER", "USER_AUTH", "USER_ACCT", "USER_MGMT", "USER_CMD", "USER_CHAUTHTOK", "USER_ERR",
		"USER_LOGOUT", "USER_START", "USER_END", "USER_ROLE_CHANGE", "USER_LABELED_EXPORT",
		"USER_UNLABELED_EXPORT", "LOGIN", "CRED_ACQ", "CRED_DISP", "CRED_REFR", "ADD_USER",
		"DEL_USER", "ADD_GROUP", "DEL_GROUP", "GRP_MGMT", "GRP_AUTH", "ROLE_ASSIGN", "ROLE_REMOVE",
		"CRYPTO_KEY_USER", "CRYPTO_SESSION", "SERVICE_START", "SERVICE_STOP", "SYSTEM_BOOT",
		"SYSTEM_SHUTDOWN", "SYSTEM_RUNLEVEL", "DAEMON_START", "DAEMON_END", "DAEMON_ABORT",
		"DAEMON_CONFIG", "DAEMON_ROTATE", "DAEMON_RESUME", "SOFTWARE_UPDATE", "VIRT_CONTROL",
		"VIRT_RESOURCE", "VIRT_MACHINE_ID", "MAC_STATUS", "MAC_POLICY_LOAD", "MAC_CONFIG_CHANGE",
	} {
		results[t] = true
	}
	follows := map[string]bool{
		"PATH": true, "CWD": true, "EXECVE": true, "PROCTITLE": true, "EOE": true,
		"SOCKADDR": true, "FD_PAIR": true, "MMAP": true, "OBJ_PID": true,
	}
	for i, t := range Types {
		class[i] = numEvents
		work[i] = workNone
		switch {
		case follows[t]:
			work[i] = workFollow
		case i == 0:
			work[i] = workOther
		case t == "CONFIG_CHANGE":
			work[i] = workReset
		case t == "SYSCALL":
			work[i] = workSyscall
		case t == "USER_LOGIN":
			work[i] = workLogin
		case results[t], len(t) > 5 && (t[:5] == "ANOM_" || t[:5] == "RESP_") && userSpaceAnomaly(t):
			work[i] = workResult
		}
		switch {
		case t == "AVC":
			class[i] = evAVC
		case t == "FANOTIFY":
			class[i] = evFANotify
		case len(t) > 5 && t[:5] == "ANOM_" && userSpaceAnomaly(t):
			class[i] = evAnomaly
		case len(t) > 5 && t[:5] == "RESP_":
			class[i] = evResponse
		}
	}
	return work, class
}

// userSpaceAnomaly tells the user space anomalies (2100-2199) and
// responses from the kernel's (ANOM_PROMISCUOUS, ANOM_ABEND, ANOM_LINK,
// ANOM_CREAT, 1700-1799), which audisp-statsd does not count as anomalies.
func userSpaceAnomaly(t string) bool {
	switch t {
	case "ANOM_PROMISCUOUS", "ANOM_ABEND", "ANOM_LINK", "ANOM_CREAT":
		return false
	}
	return true
}

// stampKey is a record's time stamp, "SEC.MSEC:SERIAL", as the key of its
// event: the stamp's bytes in three machine words. Records of one event
// share their stamp; the kernel numbers events, so two events never do.
type stampKey struct{ a, b, c uint64 }

// keyAt returns the key of the time stamp that starts b and the index of
// the ')' that ends it, or ok false when b has none. A stamp of 10 digits
// of seconds and a serial of up to 9 digits takes three loads, a bit trick
// to find the ')' and a mask, and no loop; anything else takes keyFolded.
func keyAt(b []byte) (k stampKey, end int, ok bool) {
	// A short record (EOE: the stamp and "): ") is read past its end,
	// within the read buffer; a ')' found there is not the stamp's, and
	// takes keyFolded.
	if cap(b) < 24 {
		return keyFolded(b)
	}
	w := b[:24]
	k.a = binary.LittleEndian.Uint64(w)
	k.b = binary.LittleEndian.Uint64(w[8:])
	c := binary.LittleEndian.Uint64(w[16:])
	// b[14] is the ':' after "1700000000.123", b[15] the serial's first
	// digit, and its ')' is among b[16:24].
	n := byteIn(c, ')')
	if byte(k.b>>48) != ':' || n == 8 || 16+n >= len(b) {
		return keyFolded(b)
	}
	k.c = c & (1<<(8*n) - 1)
	return k, 16 + n, true
}

// keyFolded is keyAt for any stamp "SEC.MSEC:SERIAL)": its bytes up to
// the ')' zero-padded to three words, the same key keyAt makes of them, and
// past the third word folded onto the first three.
func keyFolded(b []byte) (stampKey, int, bool) {
	end := bytes.IndexByte(b[:min(len(b), 48)], ')')
	if end <= 0 || bytes.IndexByte(b[:end], ':') < 0 {
		return stampKey{}, 0, false
	}
	var w [24]byte
	for i, c := range b[:end] {
		w[i%len(w)] ^= c + byte(i/len(w)) // a byte that wraps changes with its round
	}
	k := stampKey{binary.LittleEndian.Uint64(w[:]), binary.LittleEndian.Uint64(w[8:]), binary.LittleEndian.Uint64(w[16:])}
	if end > len(w) {
		k.c ^= uint64(end) << 56 // the length tells apart long stamps that fold alike
	}
	return k, end, true
}

// byteIn returns the index of the first byte c among the 8 bytes of w,
// read little-endian, or 8 when there is none (as spaceIn).
func byteIn(w uint64, c byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	v := w ^ (ones * uint64(c))
	return bits.TrailingZeros64((v-ones)&^v&highs) >> 3
}

// eventRing remembers the keys of the last two events seen, so that a
// record starts a new event only if its stamp is neither. Records of one
// event come together, except when the kernel queues two events' records
// interleaved from two CPUs.
type eventRing struct {
	last, prev stampKey
}

// isNew reports whether k starts an event, and remembers it.
func (r *eventRing) isNew(k stampKey) bool {
	switch {
	case k.same(r.last):
		return false
	case k.same(r.prev):
		r.prev, r.last = r.last, k
		return false
	}
	r.prev, r.last = r.last, k
	return true
}

// same is k == o, written out: the compiler compares a struct of three
// words with a call to memequal.
func (k stampKey) same(o stampKey) bool {
	return k.a == o.a && k.b == o.b && k.c == o.c
}

// work is the out of line part of counting a record: a system call's
// success=, a user space record's res=, a reset of the backlog mark, the
// name of a type not listed. fields is where the record's fields start,
// after "): "; newEvent says the record starts an event.
func (c *Counts) work(line []byte, w uint8, fields int, newEvent bool, resets chan<- Reset) {
	switch w {
	case workOther:
		if !newEvent {
			return
		}
		if _, typ, _, ok := splitRecord(line); ok && len(typ) > 5 {
			switch string(typ[:5]) {
			case "ANOM_":
				c.unpublishedEvents[evAnomaly]++ // the kernel's ANOM_ types are listed
			case "RESP_":
				c.unpublishedEvents[evResponse]++
			}
		}
	case workReset:
		if result(line) == resultFailed {
			c.unpublishedEvents[evFailed]++
		}
		readConfigChange(line, c, resets)
	case workResult, workLogin:
		r := result(line)
		if r == resultFailed {
			c.unpublishedEvents[evFailed]++
		}
		if w == workLogin {
			switch r {
			case resultOK:
				c.unpublishedEvents[evLoginsOK]++
			case resultFailed:
				c.unpublishedEvents[evLoginsFailed]++
			}
		}
	}
}

// syscallShape is how a SYSCALL record's fields start, up to the
// system call's number: the architecture is 8 hex digits.
const syscallShape = "arch=c000003e syscall="

// Words of syscallShape and of what follows the number, as the reader
// compares them, little-endian: "arch=" (5 bytes), " syscall" (from byte
// 13), " success".
const (
	archWord    = 'a' | 'r'<<8 | 'c'<<16 | 'h'<<24 | '='<<32
	syscallWord = ' ' | 's'<<8 | 'y'<<16 | 's'<<24 | 'c'<<32 | 'a'<<40 | 'l'<<48 | 'l'<<56
	successWord = ' ' | 's'<<8 | 'u'<<16 | 'c'<<24 | 'c'<<32 | 'e'<<40 | 's'<<48 | 's'<<56
)

// syscallFailed reports whether a SYSCALL record's fields say success=no.
// The kernel writes "arch=c000003e syscall=59 success=no ...", which the
// reader checks in a few words (Read); this is the way for any other
// shape.
func syscallFailed(f []byte) bool {
	i := bytes.Index(f[:min(len(f), 96)], []byte(" success="))
	return i >= 0 && hasPrefix(f[i+len(" success="):], "no")
}

// Outcomes of a record's res= field.
const (
	resultNone = iota
	resultOK
	resultFailed
)

// result finds a record's res= outcome: the last res= of the record's own
// fields, before auditd's ENRICHED interpretations (after a \x1d). In a
// user space record it closes msg='...', so only the fields' last bytes
// are searched.
func result(line []byte) int {
	if i := bytes.IndexByte(line, 0x1d); i >= 0 {
		line = line[:i]
	}
	// A user space record's fields end with "res=success'" or
	// "res=failed'": two words each, compared from the end, before any
	// search.
	t := line
	if n := len(t); n > 0 && t[n-1] == '\n' {
		t = t[:n-1]
	}
	if n := len(t); n >= 13 && t[n-1] == '\'' {
		switch {
		case string(t[n-12:n-4]) == "res=succ" && string(t[n-9:n-1]) == "=success" && (t[n-13] == ' ' || t[n-13] == '\''):
			return resultOK
		case string(t[n-11:n-3]) == "res=fail" && string(t[n-9:n-1]) == "s=failed" && (t[n-12] == ' ' || t[n-12] == '\''):
			return resultFailed
		}
	}
	return searchResult(line)
}

// searchResult is result's search for the last res= near the end of
// line, cut before any \x1d.
func searchResult(line []byte) int {
	tail := line[max(len(line)-resultTail, 0):]
	i := lastRes(tail)
	if i < 0 || i > 0 && tail[i-1] != ' ' && tail[i-1] != '\'' {
		return resultNone
	}
	v := tail[i+len("res="):]
	for j, c := range v {
		if c == ' ' || c == '\'' || c == '\n' || c == '\r' {
			v = v[:j]
			break
		}
	}
	switch string(v) {
	case "success", "yes", "1":
		return resultOK
	case "failed", "no", "0":
		return resultFailed
	}
	return resultNone
}

// lastRes is bytes.LastIndex(b, "res="), as a plain backward scan: res=
// is near the end of the records searched, where LastIndex's Rabin-Karp
// hashes the whole slice first.
func lastRes(b []byte) int {
	for i := len(b) - len("res="); i >= 0; i-- {
		if b[i] == 'r' && string(b[i:i+4]) == "res=" {
			return i
		}
	}
	return -1
}

// resultTail is how far from its end a record's res= is looked for:
// "res=success'" and a few more fields, such as CONFIG_CHANGE's
// "auid=4294967295 ses=4294967295 subj=... res=1".
const resultTail = 160
