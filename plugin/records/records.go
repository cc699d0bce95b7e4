// Package records reads auditd's record stream, the `format = string`
// lines that auditd writes to its plugins' stdin: it frames the lines in a
// fixed buffer, counts every record by type and every line that is not a
// record, and picks out the rare CONFIG_CHANGE records that report a reset
// of the kernel's backlog high-water mark.
//
// [Read] runs on its own goroutine. It allocates nothing per record (only
// per reset record) and never blocks on anything but its input: the counts
// go to [Counts] and resets to a channel it never waits on.
package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// BufferSize is the read buffer. auditd's largest record is 8970 bytes
// (MAX_AUDIT_MESSAGE_LENGTH plus its header and ENRICHED tail); anything
// longer than the buffer is not a record and is skipped without growing
// memory.
const BufferSize = 64 << 10

// Read reads auditd's stream from r until EOF or a read error, counting
// every record by type in c and sending each backlog reset record to
// resets. It never blocks on resets: when the channel is full (its reader
// drains it continuously, so this takes hundreds of resets at once) the
// record is counted as dropped.
//
// A blocking read of stdin cannot be interrupted, so Read ends at EOF
// (auditd closing the socket) or when the process exits; callers must not
// wait for it on shutdown. It returns nil at EOF.
func Read(r io.Reader, c *Counts, resets chan<- Reset) error {
	defer c.publish()
	// The lines are framed here rather than with a bufio.Reader: one
	// bytes.IndexByte per line and no call per line (BENCHMARKS.md).
	// buf[start:end] is what has been read and not yet framed.
	buf := make([]byte, BufferSize)
	var (
		start, end int
		skipping   bool  // discarding the rest of a line longer than buf
		empty      int   // reads in a row that returned nothing
		readErr    error // the input's end, once what came with it is counted
		ring       eventRing
	)
	for {
		if skipping {
			if n := bytes.IndexByte(buf[start:end], '\n'); n >= 0 {
				start += n + 1
				skipping = false
			} else {
				start, end = 0, 0
			}
		}
		if !skipping {
			start += c.lines(buf[start:end], &ring, resets)
		}
		if readErr != nil {
			if !skipping && start < end {
				// A last line without its newline is still a record.
				c.line(buf[start:end], &ring, resets)
			}
			return endOfStream(readErr)
		}
		switch {
		case skipping:
		case start == 0 && end == len(buf):
			// A line longer than any record: not a record.
			c.unpublished[slotMalformed]++
			skipping = true
			start, end = 0, 0
		case start > 0:
			end = copy(buf, buf[start:end])
			start = 0
		}
		// Publish before the one call that can block.
		c.publish()
		n, err := r.Read(buf[end:])
		if n < 0 || n > len(buf)-end {
			return fmt.Errorf("read records: %w", errInvalidRead)
		}
		end += n
		c.unpublishedBytes += uint64(n)
		readErr = err
		if n > 0 || err != nil {
			empty = 0
		} else if empty++; empty >= maxEmptyReads {
			readErr = io.ErrNoProgress
		}
	}
}

// lines counts the whole lines at the start of b, and returns how many
// bytes they take.
func (c *Counts) lines(b []byte, ring *eventRing, resets chan<- Reset) int {
	start := 0
	for {
		n := bytes.IndexByte(b[start:], '\n')
		if n < 0 {
			return start
		}
		// line's work, written out: the compiler does not inline it,
		// and the call cost a few percent of a record.
		line := b[start : start+n+1]
		start += n + 1
		i, stamp, ok := slotOf(line)
		if !ok {
			i = slotMalformed
		} else if w := slotWork[i]; w != workFollow {
			c.eventRecord(line, i, w, stamp, ring, resets)
		}
		c.unpublished[i]++
	}
}

// line counts one line.
func (c *Counts) line(line []byte, ring *eventRing, resets chan<- Reset) {
	i, stamp, ok := slotOf(line)
	if !ok {
		i = slotMalformed
	} else if w := slotWork[i]; w != workFollow {
		c.eventRecord(line, i, w, stamp, ring, resets)
	}
	c.unpublished[i]++
}

// eventRecord counts a record that may start an event: a new event
// when its stamp is new, and the little more a few types need (slotWork).
// Most such records belong to the event of the record before them, and
// cost three loads and three compares.
func (c *Counts) eventRecord(line []byte, i int, w uint8, stamp int, ring *eventRing, resets chan<- Reset) {
	// keyAt's way, written out: keyAt is not inlined.
	b := line[stamp:]
	var key stampKey
	end, ok := -1, true
	if cap(b) >= 24 {
		words := b[:24]
		key.a = binary.LittleEndian.Uint64(words)
		key.b = binary.LittleEndian.Uint64(words[8:])
		c := binary.LittleEndian.Uint64(words[16:])
		if n := byteIn(c, ')'); byte(key.b>>48) == ':' && n < 8 && 16+n < len(b) {
			key.c = c & (1<<(8*n) - 1)
			end = 16 + n
		}
	}
	if end < 0 {
		key, end, ok = keyFolded(b)
	}
	newEvent := ok && ring.isNew(key)
	if newEvent {
		c.unpublishedEvents[evTotal]++
		c.unpublishedEvents[slotClass[i]]++
	}
	switch w {
	case workNone:
	case workSyscall:
		// syscallFailed's first way, written out: one branch on the
		// record's shape, then one on its outcome.
		f := line[min(stamp+end+len("): "), len(line)):]
		if len(f) >= len(syscallShape)+4+len(" success=no") {
			n := spaceIn(binary.LittleEndian.Uint64(f[len(syscallShape):])) // the number's length
			if n <= 4 {
				r := f[len(syscallShape)+n:]
				shape := (binary.LittleEndian.Uint64(f)&(1<<40-1) ^ archWord) |
					(binary.LittleEndian.Uint64(f[13:]) ^ syscallWord) |
					(binary.LittleEndian.Uint64(r) ^ successWord) | uint64(r[8]^'=')
				if shape == 0 {
					if r[9] == 'n' && r[10] == 'o' {
						c.unpublishedEvents[evFailed]++
					}
					return
				}
			}
		}
		if syscallFailed(f) {
			c.unpublishedEvents[evFailed]++
		}
	default:
		c.work(line, w, stamp+end+len("): "), newEvent, resets)
	}
}

// maxEmptyReads is how many reads in a row may return nothing and no
// error before Read gives up, as bufio does.
const maxEmptyReads = 100

// errInvalidRead is a reader's count out of range.
var errInvalidRead = errors.New("reader returned an invalid count")

// endOfStream turns io.EOF into nil and wraps other read errors.
func endOfStream(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("read records: %w", err)
}

// readConfigChange sends a CONFIG_CHANGE record to resets if it is a reset
// of backlog_max_depth. line aliases the reader's buffer. The counts up to
// and including this record are published first, so that whoever takes
// the reset sees them with it.
func readConfigChange(line []byte, c *Counts, resets chan<- Reset) {
	if !bytes.Contains(line, []byte(" backlog_max_depth=")) {
		return // most configuration changes are rules added or removed
	}
	node, _, rest, _ := splitRecord(line) // record-shaped, as slotOf found
	rec, ok := parseReset(rest)
	if !ok {
		return // another kind of configuration change
	}
	if len(node) > 0 {
		rec.Node = string(node)
	}
	c.publish()
	select {
	case resets <- rec:
	default:
		c.dropped.Add(1)
	}
}
