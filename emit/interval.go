package emit

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is returned by Emit once an emitter is closed.
var ErrClosed = errors.New("emitter closed")

// Method says how an interval's peak was measured. It is the `method`
// attribute (OTLP) or tag (DogStatsD) of the peak.
type Method string

// The measuring methods.
const (
	// MethodKernel: the peak is the kernel's own high-water mark
	// (backlog_max_depth), read and zeroed by AUDIT_SET; it misses nothing.
	MethodKernel Method = "kernel"
	// MethodEBPF: the peak is the highest depth an eBPF probe in the
	// kernel saw as each record was queued (package auditclient/probe);
	// it misses nothing, on kernels without backlog_max_depth.
	MethodEBPF Method = "ebpf"
	// MethodSampled: the peak is the highest backlog seen by polling
	// AUDIT_GET every sample_interval; bursts shorter than that can be
	// missed.
	MethodSampled Method = "sampled"
)

// Interval is one reporting interval's figures. The interval loop computes
// every value; emitters only format and send them, each by ranging over
// [Metrics].
//
// Cumulative fields count from CounterStart (kernel counters: from boot or
// from their last reset by an administrator; plugin counters: from the
// plugin's start). Emitters that need deltas (DogStatsD counts) derive them.
type Interval struct {
	// Start and End bound the interval. End is the time of the reset that
	// closed it (kernel method) or of its last sample (sampled method), and
	// is the time stamp of every data point.
	Start, End time.Time
	// CounterStart is when the plugin started counting its cumulative
	// figures (the start time of OTLP cumulative sums).
	CounterStart time.Time

	Method Method
	// Peak is the highest backlog depth (records queued in the kernel) in
	// the interval.
	Peak uint32
	// Size is the backlog at the end of the interval (the last AUDIT_GET).
	Size uint32
	// Mean is the mean of the backlog samples taken in the interval, and
	// Samples how many there were.
	Mean    float64
	Samples int
	// Limit is the kernel's backlog_limit; 0 means unlimited.
	Limit uint32
	// Utilization is Peak / Limit, 0 when Limit is 0.
	Utilization float64
	// RecommendedLimit is the backlog limit the plugin recommends from
	// the highest peak it has seen, the limit and the records lost (see
	// package plugin/sizing).
	RecommendedLimit uint32

	// Lost is the kernel's cumulative count of records it dropped.
	Lost uint64
	// WaitTime is the kernel's cumulative backlog_wait_time_actual: time
	// that audited tasks spent waiting for room in a full queue.
	WaitTime time.Duration

	// OwnResets and ExternalResets count the resets of the high-water
	// mark since CounterStart: the plugin's own, and those other tools
	// made (seen from their CONFIG_CHANGE records).
	OwnResets, ExternalResets uint64

	// Plugin holds the plugin's own cumulative counters.
	Plugin Counters

	// Probe is what the eBPF probe saw, nil unless it measures the peak
	// (MethodEBPF).
	Probe *ProbeFigures

	// Auditd is auditd's own report of its dispatcher queue to its
	// plugins, its log partition and its memory (auditd.state); nil when
	// auditd writes none, or none recent enough.
	Auditd *AuditdState
}

// AuditdState is what auditd's state report says, each figure only when
// the report states it.
type AuditdState struct {
	// QueueDepth is the records waiting in auditd's queue to its plugins,
	// QueueMaxDepth the most it has held since auditd started, QueueSize
	// its room (q_depth), QueueOverflow 1 once it has overflowed (records
	// were dropped for every plugin).
	QueueDepth, QueueMaxDepth, QueueSize, QueueOverflow Figure
	// LogFreeSpace is the free space of the log's partition, in bytes.
	LogFreeSpace Figure
	// MemoryTotal, MemoryInUse and MemoryFree are glibc's figures of
	// auditd's heap, in bytes.
	MemoryTotal, MemoryInUse, MemoryFree Figure
}

// ProbeFigures are the eBPF probe's figures beyond the peak.
type ProbeFigures struct {
	// Depths is the distribution of the queue depths the records found
	// as they were queued, themselves included, cumulative since
	// CounterStart.
	Depths DepthHistogram
	// MeanDepth is the mean depth the interval's records found as they
	// were queued (0 when none was): the queue's average length as the
	// records saw it.
	MeanDepth float64
	// RetryMaxDepth and HoldMaxDepth are the interval's highest lengths
	// of kauditd's retry queue (records auditd did not take in time) and
	// hold queue (records waiting for an auditd to connect), which the
	// kernel's backlog does not count. Each is measured only when OK.
	RetryMaxDepth, HoldMaxDepth Figure
	// Lost counts the records the kernel dropped since CounterStart, by
	// cause; nil when the probe cannot tell causes.
	Lost []CauseCount
}

// DepthHistogram is a cumulative histogram of queue depths in log2
// buckets: Counts[0] counts depths 0 and 1, Counts[k] depths from 2^k to
// 2^(k+1)-1 (upper bound DepthBound(k)).
type DepthHistogram struct {
	Counts []uint64
	// Count is the number of depths counted (the records queued), Sum
	// their sum.
	Count, Sum uint64
}

// DepthBound returns the highest depth bucket k of a DepthHistogram
// counts: 2^(k+1)-1.
func DepthBound(k int) uint64 { return 1<<(k+1) - 1 }

// CauseCount is the number of records lost for one cause.
type CauseCount struct {
	Cause string
	Count uint64
}

// Figure is a value that may be missing.
type Figure struct {
	Value uint64
	OK    bool
}

// Counters are the plugin's own cumulative counters.
type Counters struct {
	// Records is every record read from auditd on stdin; Types breaks it
	// down by record type (a bounded set of known types plus "other").
	Records uint64
	Types   []TypeCount
	// Malformed counts lines skipped because they were not audit records
	// or were longer than the reader's buffer.
	Malformed uint64
	// ResetsFailed counts resets (AUDIT_SET) or status reads (AUDIT_GET)
	// that failed.
	ResetsFailed uint64
	// EmitsFailed counts interval deliveries that an emitter failed;
	// EmitsDropped those dropped because an emitter's queue was full.
	EmitsFailed, EmitsDropped uint64
	// SamplesSkipped counts backlog samples not taken because a kernel
	// call was held longer than a sample interval.
	SamplesSkipped uint64
	// ResetRecordsDropped counts backlog_max_depth reset records the
	// plugin could not keep for the interval loop (it was not keeping up).
	ResetRecordsDropped uint64
	// Events counts the audit events read: the records that share a serial
	// number make one event.
	Events Events
}

// Events are the plugin's counts of audit events by kind.
type Events struct {
	// All counts every event; Failed those of a failed system call
	// (success=no) or a user space record with res=failed.
	All, Failed uint64
	// AVC, FANotify, Anomalies and Responses count the events whose first
	// record is an AVC, a FANOTIFY, a user space anomaly (ANOM_, 2100-2199)
	// or a response to one (RESP_, 2200-2299).
	AVC, FANotify, Anomalies, Responses uint64
	// LoginsSucceeded and LoginsFailed count USER_LOGIN records by res=.
	LoginsSucceeded, LoginsFailed uint64
}

// TypeCount is the number of records of one type.
type TypeCount struct {
	Type  string
	Count uint64
}

// Emitter sends intervals to one destination.
type Emitter interface {
	// Emit sends one interval. It must honour ctx's deadline.
	Emit(ctx context.Context, iv Interval) error
	// Close flushes what is pending and releases the emitter, within ctx's
	// deadline. Emit after Close returns ErrClosed; a second Close does
	// nothing and returns nil.
	Close(ctx context.Context) error
}
