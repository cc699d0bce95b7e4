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
	"bufio"
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
	br := bufio.NewReaderSize(publishingReader{r, c}, BufferSize)
	var ring eventRing
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				c.unpublished[slotMalformed]++
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
		// The work per line is written here rather than in a function
		// of its own, which the compiler would not inline: the type's
		// slot, a new event when the stamp is new, and, out of line,
		// the little more a few types need (slotWork). line aliases the
		// read buffer and is valid until the next read.
		i, stamp, ok := slotOf(line)
		if !ok {
			i = slotMalformed
		} else if w := slotWork[i]; w != workFollow {
			// A record that may start an event: its event's key, keyAt's
			// way, written out here. Most such records belong to the
			// event of the record before them, and cost three loads and
			// three compares.
			b := line[stamp:]
			var key stampKey
			end := -1
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
			newEvent := ok && !key.same(ring.last) && ring.isNew(key)
			if newEvent {
				c.unpublishedEvents[evTotal]++
				c.unpublishedEvents[slotClass[i]]++
			}
			if w != workNone {
				c.work(line, w, stamp+end+len("): "), newEvent, resets)
			}
		}
		c.unpublished[i]++
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
// of backlog_max_depth. line aliases the reader's buffer. The counts up to
// and including this record are published first, so that whoever takes
// the reset sees them with it.
func readConfigChange(line []byte, c *Counts, resets chan<- Reset) {
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

// publishingReader publishes the reader's counts before each read of its
// input, the one place where the reader can block.
type publishingReader struct {
	r io.Reader
	c *Counts
}

func (p publishingReader) Read(b []byte) (int, error) {
	p.c.publish()
	n, err := p.r.Read(b)
	p.c.unpublishedBytes += uint64(max(n, 0))
	return n, err
}
