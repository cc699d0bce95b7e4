package auditdstate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxSize bounds what Parse and Read take in. auditd's report is under
// 2 KiB; anything past 64 KiB is not one.
const maxSize = 64 << 10

// ErrIncomplete means the file is not a whole state report: empty, cut
// short, or holding a line twice. auditd rewrites the report in place (it
// truncates the file, then writes it anew), so a reader can catch it
// between the two. Its figures must not be used; the next rewrite is whole.
var ErrIncomplete = errors.New("incomplete, caught while auditd rewrote it")

// A Figure is one number of the report. OK is false when the report did not
// state it (an older auditd, logging to stdout, no glibc figures, a unit
// this package does not know): such a figure is not sent at all, never as 0.
type Figure struct {
	Value uint64
	OK    bool
}

// Report holds the figures of one state report. Sizes are in bytes, flags
// are 1 (yes) or 0 (no).
type Report struct {
	// Path is the file the report came from and ModTime when auditd wrote
	// it; both are set by Read, not by Parse.
	Path    string
	ModTime time.Time
	// Version is auditd's version as its first line states it ("4.2.1").
	Version string

	// QueueDepth is the number of records in auditd's queue to its plugins
	// when it wrote the report ("current plugin queue depth").
	QueueDepth Figure
	// QueueMaxDepth is the queue's high-water mark since auditd started
	// ("max plugin queue depth used"). auditd resets it only when its
	// dispatcher stops (a reload that leaves no plugin).
	QueueMaxDepth Figure
	// QueueSize is the queue's capacity, auditd.conf's q_depth ("plugin
	// queue size").
	QueueSize Figure
	// QueueOverflow is 1 once the queue has overflowed and auditd dropped a
	// record for its plugins; it stays 1 until auditd restarts, a reload
	// grows q_depth or its dispatcher stops ("plugin queue overflow
	// detected").
	QueueOverflow Figure
	// QueueSuspended is 1 while auditd passes no records to its plugins
	// (overflow_action = suspend after an overflow; "plugin queueing
	// suspended").
	QueueSuspended Figure

	// LogFreeSpace is the free space, in bytes, that an unprivileged user
	// could use on the file system holding the audit log ("Logging
	// partition free space", written in MiB whether labelled MB or MiB).
	// Absent when auditd writes no log file.
	LogFreeSpace Figure
	// LoggingSuspended is 1 while auditd has stopped writing its log
	// ("logging suspended", after a disk full or error action).
	LoggingSuspended Figure

	// MemoryTotal, MemoryInUse and MemoryFree are glibc's malloc figures for
	// auditd in bytes (mallinfo2's arena, uordblks and fordblks; written
	// rounded down to KiB), from auditd 4.0.4 built against glibc 2.33 or
	// later.
	MemoryTotal, MemoryInUse, MemoryFree Figure
}

// format says how a known line's value is written.
type format int

const (
	formatText   format = iota // "label = text"
	formatCount                // "label = N"
	formatFlag                 // "label = yes" or "label = no"
	formatSize                 // "label = N UNIT", in 3.x "label N UNIT"
	formatMemory               // "label is: N UNIT, was: M UNIT"
)

// line is a line of the report that Parse reads; every other line is skipped.
type line struct {
	label  string
	format format
	// figure returns the field the line fills; nil for the version line.
	figure func(*Report) *Figure
	// required lines are in every report of every auditd version that
	// writes one (write_queue_state has not changed since 3.0), so a report
	// without them was cut short.
	required bool
}

// lines are the lines Parse reads, as auditd's cont_handler writes them.
var lines = [...]line{
	{"audit version", formatText, nil, true},
	{"Logging partition free space", formatSize, func(r *Report) *Figure { return &r.LogFreeSpace }, false},
	{"logging suspended", formatFlag, func(r *Report) *Figure { return &r.LoggingSuspended }, false},
	{"current plugin queue depth", formatCount, func(r *Report) *Figure { return &r.QueueDepth }, true},
	{"max plugin queue depth used", formatCount, func(r *Report) *Figure { return &r.QueueMaxDepth }, true},
	{"plugin queue size", formatCount, func(r *Report) *Figure { return &r.QueueSize }, true},
	{"plugin queue overflow detected", formatFlag, func(r *Report) *Figure { return &r.QueueOverflow }, true},
	{"plugin queueing suspended", formatFlag, func(r *Report) *Figure { return &r.QueueSuspended }, true},
	{"glibc arena (total memory)", formatMemory, func(r *Report) *Figure { return &r.MemoryTotal }, false},
	{"glibc uordblks (in use memory)", formatMemory, func(r *Report) *Figure { return &r.MemoryInUse }, false},
	{"glibc fordblks (total free space)", formatMemory, func(r *Report) *Figure { return &r.MemoryFree }, false},
}

// Parse reads one state report as auditd 3.0 to 4.2 write it. It reads the
// lines it knows in every version's spelling and skips the others. It
// returns an error wrapping ErrIncomplete, and no figures, for a report
// that is empty, does not end in a newline, does not start with
// "audit version = ", lacks one of the plugin queue's lines, holds a known
// line twice, or has a known line whose value is garbled: each is a file
// read while auditd rewrote it (or not a state report at all). A
// value in a unit it does not know leaves that figure absent.
//
// Parse cannot see every mix of an old and a new report: Read also checks
// that the file did not change while it was read.
func Parse(r io.Reader) (Report, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return Report{}, fmt.Errorf("read auditd state report: %w", err)
	}
	return parse(data)
}

func parse(data []byte) (Report, error) {
	switch {
	case len(data) == 0:
		return Report{}, fmt.Errorf("auditd state report: %w (empty file)", ErrIncomplete)
	case len(data) > maxSize:
		return Report{}, fmt.Errorf("auditd state report: longer than %d KiB, not auditd's state report", maxSize>>10)
	case data[len(data)-1] != '\n':
		return Report{}, fmt.Errorf("auditd state report: %w (the last line has no newline)", ErrIncomplete)
	case !bytes.HasPrefix(data, []byte("audit version = ")):
		return Report{}, fmt.Errorf("auditd state report: %w (the first line is not \"audit version = ...\")", ErrIncomplete)
	}
	var rep Report
	var seen [len(lines)]bool
	// The text ends in a newline, so the last element is empty.
	text := strings.Split(string(data), "\n")
	for n, t := range text[:len(text)-1] {
		i, value, ok := match(t)
		if !ok {
			continue
		}
		if seen[i] {
			return Report{}, fmt.Errorf("auditd state report: %w (line %d: %q a second time)", ErrIncomplete, n+1, lines[i].label)
		}
		seen[i] = true
		if err := fill(&rep, lines[i], value); err != nil {
			return Report{}, fmt.Errorf("auditd state report: %w (line %d: %q: %v)", ErrIncomplete, n+1, lines[i].label, err)
		}
	}
	for i, l := range lines {
		if l.required && !seen[i] {
			return Report{}, fmt.Errorf("auditd state report: %w (no %q line)", ErrIncomplete, l.label)
		}
	}
	return rep, nil
}

// match finds the known line text is, and returns its index and the text
// after the label and its separator.
func match(text string) (int, string, bool) {
	for i, l := range lines {
		rest, ok := strings.CutPrefix(text, l.label)
		if !ok {
			continue
		}
		switch l.format {
		case formatMemory:
			if v, ok := strings.CutPrefix(rest, " is: "); ok {
				return i, v, true
			}
		case formatSize:
			// auditd 3.x wrote "Logging partition free space 77681 MB".
			if v, ok := strings.CutPrefix(rest, " = "); ok {
				return i, v, true
			}
			if v, ok := strings.CutPrefix(rest, " "); ok {
				return i, v, true
			}
		default:
			if v, ok := strings.CutPrefix(rest, " = "); ok {
				return i, v, true
			}
		}
	}
	return 0, "", false
}

// fill stores a known line's value in rep. An error means the value is
// garbled; an unknown unit leaves the figure absent.
func fill(rep *Report, l line, value string) error {
	switch l.format {
	case formatText:
		if value == "" || len(value) > 64 {
			return errors.New("not a version")
		}
		rep.Version = value
		return nil
	case formatCount:
		n, ok := parseUint(value)
		if !ok {
			return errors.New("not a number")
		}
		*l.figure(rep) = Figure{n, true}
	case formatFlag:
		switch value {
		case "yes":
			*l.figure(rep) = Figure{1, true}
		case "no":
			*l.figure(rep) = Figure{0, true}
		default:
			return errors.New("neither yes nor no")
		}
	case formatSize, formatMemory:
		if l.format == formatMemory {
			// "93 KiB, was: 5 KiB": the previous report's figure is not needed.
			value, _, _ = strings.Cut(value, ", was: ")
		}
		num, unit, ok := strings.Cut(value, " ")
		if !ok {
			return errors.New("no unit")
		}
		n, ok := parseUint(num)
		if !ok {
			return errors.New("not a number")
		}
		scale, ok := units[unit]
		if !ok {
			return nil
		}
		if n > ^uint64(0)/scale {
			return errors.New("too large")
		}
		*l.figure(rep) = Figure{n * scale, true}
	}
	return nil
}

// units are the units auditd writes sizes in. It has always computed them
// in powers of 1024 (MEGABYTE is 1048576 in src/auditd-config.h) and only
// relabelled them from KB and MB to KiB and MiB in 4.1.0.
var units = map[string]uint64{
	"KB":  1 << 10,
	"KiB": 1 << 10,
	"MB":  1 << 20,
	"MiB": 1 << 20,
}

// parseUint reads a decimal number of 1 to 20 digits that fits in 64 bits.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
