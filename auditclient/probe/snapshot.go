package probe

// HistogramBuckets is the number of log2 buckets of Snapshot.Histogram.
const HistogramBuckets = 32

// A LostCause is why the kernel lost a record: the message it passed to
// audit_log_lost().
type LostCause int

// The causes, in the order of Snapshot.Lost.
const (
	LostRateLimit     LostCause = iota // "rate limit exceeded": audit_rate_limit reached
	LostBacklogLimit                   // "backlog limit exceeded": audit_queue over audit_backlog_limit
	LostNoMemory                       // "out of memory in ...": an allocation failed
	LostRetryOverflow                  // "kauditd retry queue overflow"
	LostHoldOverflow                   // "kauditd hold queue overflow"
	LostOther                          // any other message
	LostCauses                         // the number of causes
)

var lostCauseNames = [LostCauses]string{"rate_limit", "backlog_limit", "no_memory", "retry_overflow", "hold_overflow", "other"}

// String returns the cause as a metric attribute value, e.g. "rate_limit".
func (c LostCause) String() string {
	if c < 0 || c >= LostCauses {
		return "invalid"
	}
	return lostCauseNames[c]
}

// A Snapshot is what the probe saw in one interval: from the previous
// ReadAndReset (or Open) to this one. Depths are audit_queue's length
// (skb_queue_len) read right after a record was added to it, the record
// included: the value the backlog_max_depth patch compares, so MaxDepth
// has the patch's meaning.
type Snapshot struct {
	// MaxDepth is the highest depth of the interval: the peak of the
	// audit backlog, exact (every enqueue is seen). 0 if no record was
	// queued. Like the patch's reset, an interval starts at 0, not at
	// the depth already queued.
	MaxDepth uint32
	// Enqueued is the number of records put on audit_queue.
	Enqueued uint64
	// DepthSum is the sum of the depths those records found; DepthSum /
	// Enqueued is the mean depth a record found when queued (MeanDepth).
	DepthSum uint64
	// Histogram[k] counts the records that found a depth d with
	// 2^k <= d < 2^(k+1) (bucket 0 holds d = 0 and 1; see BucketBounds).
	Histogram [HistogramBuckets]uint64
	// RetryMaxDepth and HoldMaxDepth are the highest lengths of kauditd's
	// audit_retry_queue (records auditd did not take in time, to be sent
	// again) and audit_hold_queue (records waiting for an auditd to
	// connect) after a record was added to them. The kernel's backlog
	// figure counts neither, so records pending there are invisible to
	// AUDIT_GET. 0 if none was added, or if their addresses are unknown
	// (Info.RetryHold).
	RetryMaxDepth, HoldMaxDepth uint32
	// Lost counts the kernel's audit_log_lost() calls by cause (each is
	// one lost record, counted in AUDIT_GET's lost too). All 0 when
	// Info.LostByCause is false.
	Lost [LostCauses]uint64
}

// MeanDepth returns the mean depth a record found when queued, 0 if none
// was queued.
func (s Snapshot) MeanDepth() float64 {
	if s.Enqueued == 0 {
		return 0
	}
	return float64(s.DepthSum) / float64(s.Enqueued)
}

// LostTotal returns the number of lost records of every cause.
func (s Snapshot) LostTotal() uint64 {
	var n uint64
	for _, v := range s.Lost {
		n += v
	}
	return n
}

// BucketBounds returns the depths bucket k of Snapshot.Histogram counts:
// lo <= depth <= hi. Bucket 0 is [0, 1], bucket k > 0 is [2^k, 2^(k+1)-1].
func BucketBounds(k int) (lo, hi uint64) {
	if k <= 0 {
		return 0, 1
	}
	return 1 << k, 1<<(k+1) - 1
}
