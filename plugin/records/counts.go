package records

import "sync/atomic"

// Counts are the reader's counters. Read adds to them on its goroutine;
// any goroutine may read them at any time. The zero value is ready.
type Counts struct {
	types     [len(Types)]atomic.Uint64 // records by slot in Types; 0 is "other"
	malformed atomic.Uint64             // lines that are not records, oversized ones included
	dropped   atomic.Uint64             // reset records dropped: the channel was full
	bytes     atomic.Uint64             // bytes read from the stream
	events    [numEvents]atomic.Uint64  // event counters, by ev* index

	// unpublished counts the records by type that the reader has not yet
	// added to types, and at slotMalformed the malformed lines not yet
	// added to malformed. Only the reader goroutine touches it: a plain
	// increment per record instead of an atomic add (a locked
	// instruction, which costs much next to the rest of the work per
	// record; BENCHMARKS.md), and publish
	// before every read of the input, so before the reader can block, and
	// when it ends. The counts are therefore exact whenever the reader
	// waits for input, and at most one read buffer behind while it
	// streams flat out.
	unpublished [slotMalformed + 1]uint64
	// unpublishedBytes counts the bytes read and not yet added to bytes.
	unpublishedBytes uint64
	// unpublishedEvents counts the events not yet added to events; its
	// last slot takes what no event counter counts, so that the reader
	// adds without a branch.
	unpublishedEvents [numEvents + 1]uint64
}

// slotMalformed is the reader's slot for a line that is not a record, one
// past the record types' slots in Counts.unpublished.
const slotMalformed = len(Types)

// publish adds the unpublished counts to the shared ones. Only the reader
// calls it.
func (c *Counts) publish() {
	for i, n := range c.unpublished[:slotMalformed] {
		if n > 0 {
			c.types[i].Add(n)
			c.unpublished[i] = 0
		}
	}
	if n := c.unpublished[slotMalformed]; n > 0 {
		c.malformed.Add(n)
		c.unpublished[slotMalformed] = 0
	}
	if n := c.unpublishedBytes; n > 0 {
		c.bytes.Add(n)
		c.unpublishedBytes = 0
	}
	for i, n := range c.unpublishedEvents[:numEvents] {
		if n > 0 {
			c.events[i].Add(n)
			c.unpublishedEvents[i] = 0
		}
	}
}

// Events returns the event counters.
func (c *Counts) Events() Events {
	return Events{
		Total:           c.events[evTotal].Load(),
		Failed:          c.events[evFailed].Load(),
		AVC:             c.events[evAVC].Load(),
		FANotify:        c.events[evFANotify].Load(),
		LoginsSucceeded: c.events[evLoginsOK].Load(),
		LoginsFailed:    c.events[evLoginsFailed].Load(),
		Anomalies:       c.events[evAnomaly].Load(),
		Responses:       c.events[evResponse].Load(),
	}
}

// Records returns the number of well-formed records read.
func (c *Counts) Records() uint64 {
	var n uint64
	for i := range c.types {
		n += c.types[i].Load()
	}
	return n
}

// Malformed returns the number of lines skipped because they were not
// audit records or were longer than the read buffer.
func (c *Counts) Malformed() uint64 { return c.malformed.Load() }

// Bytes returns the number of bytes read from the stream, newlines
// included: over Records, the mean size of a record.
func (c *Counts) Bytes() uint64 { return c.bytes.Load() }

// Dropped returns the number of reset records the reader could not hand
// over because the channel was full.
func (c *Counts) Dropped() uint64 { return c.dropped.Load() }

// TypeCount is the number of records of one type.
type TypeCount struct {
	Type  string // a name from Types
	Count uint64
}

// ByType returns the records read so far by type, in the order of Types,
// for the types seen.
func (c *Counts) ByType() []TypeCount {
	var out []TypeCount
	for i := range c.types {
		if n := c.types[i].Load(); n > 0 {
			out = append(out, TypeCount{Type: Types[i], Count: n})
		}
	}
	return out
}

// Type returns the number of records of type typ read so far. A type that
// is not one of Types is counted as "other", so Type of it returns the
// count of every type not listed.
func (c *Counts) Type(typ string) uint64 {
	return c.types[typeSlot.lookup([]byte(typ))].Load()
}
