package emit

import (
	"strconv"
	"strings"
	"time"
)

// Kind is how a metric's values are exported.
type Kind int

const (
	// Gauge is a figure of the interval: an OTLP gauge, a statsd gauge.
	Gauge Kind = iota + 1
	// Counter is monotonic and cumulative: an OTLP cumulative sum, a
	// statsd count of its increase since the previous interval.
	Counter
	// Histogram is a cumulative distribution: an OTLP explicit-bucket
	// histogram; statsd gets a count per bucket (tagged with the bucket's
	// range of values) of its increase since the previous interval.
	Histogram
)

// Metric is one figure that every emitter sends for each interval.
type Metric struct {
	// Name is the OTLP name. Statsd and the stdout line drop its
	// "linux.audit." prefix (statsd puts statsd_namespace instead).
	Name string
	Kind Kind
	// Unit is a UCUM unit, as OTLP wants.
	Unit string
	// Float says the values are fractions; else they are whole numbers.
	Float bool
	// Attr is the attribute (statsd tag) that tells the metric's points
	// apart, "" when it has one point without attributes.
	Attr string
	// SinceBoot says a counter is the kernel's, counting from boot (or
	// from its last reset by an administrator), not from the plugin's
	// start: statsd takes its first value as a baseline.
	SinceBoot bool
	// Description says what the figure is, for OTLP, the README and the
	// man page.
	Description string

	points    func(iv *Interval, dst []Point) []Point
	histogram func(iv *Interval) *DepthHistogram
}

// Point is one value of a metric.
type Point struct {
	// Attr is the value of Metric.Attr, "" for a point without attributes.
	Attr string
	// Int is the value of a whole-number metric, Float of a fraction.
	Int   int64
	Float float64
}

// Points appends the metric's points for iv to dst.
func (m *Metric) Points(iv *Interval, dst []Point) []Point { return m.points(iv, dst) }

// Histogram returns a Histogram metric's distribution for iv, nil when iv
// has none (and for other kinds).
func (m *Metric) Histogram(iv *Interval) *DepthHistogram {
	if m.histogram == nil {
		return nil
	}
	return m.histogram(iv)
}

// ShortName is Name without "linux.audit.", as statsd and stdout write it.
func (m *Metric) ShortName() string { return strings.TrimPrefix(m.Name, namePrefix) }

// namePrefix starts every metric name.
const namePrefix = "linux.audit."

// metrics is the table of every metric, in the order emitters send them.
var metrics = []Metric{
	gauge("linux.audit.backlog.max_depth", "{record}", "method",
		"The interval's peak depth of the kernel's audit queue; method says how it was measured (kernel: the kernel's high-water mark, exact; ebpf: the eBPF probe's maximum, exact; sampled: the highest of the interval's samples).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Attr: string(iv.Method), Int: int64(iv.Peak)})
		}),
	gauge("linux.audit.backlog.size", "{record}", "",
		"Depth of the kernel's audit queue at the end of the interval.",
		func(iv *Interval, dst []Point) []Point { return append(dst, Point{Int: int64(iv.Size)}) }),
	fraction("linux.audit.backlog.mean", "{record}", "",
		"Mean of the queue depths sampled in the interval.",
		func(iv *Interval, dst []Point) []Point { return append(dst, Point{Float: iv.Mean}) }),
	gauge("linux.audit.backlog.limit", "{record}", "",
		"The kernel's backlog_limit; 0 means unlimited.",
		func(iv *Interval, dst []Point) []Point { return append(dst, Point{Int: int64(iv.Limit)}) }),
	fraction("linux.audit.backlog.utilization", "1", "method",
		"The interval's peak divided by backlog_limit (0 when unlimited).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Attr: string(iv.Method), Float: iv.Utilization})
		}),
	gauge("linux.audit.backlog.recommended_limit", "{record}", "",
		"The backlog_limit the plugin recommends: twice the highest peak it has seen (at least the limit when the queue reached it or records were lost), rounded up to a multiple of 1024.",
		func(iv *Interval, dst []Point) []Point { return append(dst, Point{Int: int64(iv.RecommendedLimit)}) }),
	histogram("linux.audit.backlog.enqueue_depth", "{record}",
		"Depth of the kernel's audit queue that each record found when it was queued, itself included, in log2 buckets (bucket attribute: the depths it counts); its count is the records queued. Measured by the eBPF probe only (method ebpf).",
		func(iv *Interval) *DepthHistogram {
			if iv.Probe == nil {
				return nil
			}
			return &iv.Probe.Depths
		}),
	fraction("linux.audit.backlog.enqueue_depth_mean", "{record}", "",
		"Mean depth of the kernel's audit queue that the interval's records found when queued, themselves included: the queue's average length as the records saw it (0 when none was queued). eBPF probe only.",
		func(iv *Interval, dst []Point) []Point {
			if iv.Probe == nil {
				return dst
			}
			return append(dst, Point{Float: iv.Probe.MeanDepth})
		}),
	probeGauge("linux.audit.kauditd.retry_queue.max_depth",
		"The interval's highest length of kauditd's retry queue: records auditd did not take in time, to be sent again, which the backlog does not count. eBPF probe only.",
		func(p *ProbeFigures) Figure { return p.RetryMaxDepth }),
	probeGauge("linux.audit.kauditd.hold_queue.max_depth",
		"The interval's highest length of kauditd's hold queue: records waiting for an auditd to connect, which the backlog does not count. eBPF probe only.",
		func(p *ProbeFigures) Figure { return p.HoldMaxDepth }),
	counter("linux.audit.probe.lost", "{record}", "cause",
		"Records the kernel dropped since the plugin started, by cause (rate_limit, backlog_limit, no_memory, retry_overflow, hold_overflow, other), as the eBPF probe saw them; the kernel's lost counter does not tell causes.",
		func(iv *Interval, dst []Point) []Point {
			if iv.Probe == nil {
				return dst
			}
			for _, c := range iv.Probe.Lost {
				dst = append(dst, Point{Attr: c.Cause, Int: clampInt64(c.Count)})
			}
			return dst
		}),
	kernelCounter("linux.audit.lost", "{record}",
		"Audit records the kernel dropped (its lost counter).",
		func(iv *Interval, dst []Point) []Point { return append(dst, Point{Int: clampInt64(iv.Lost)}) }),
	kernelCounter("linux.audit.backlog.wait_time", "ms",
		"Time audited tasks waited for room in a full queue (backlog_wait_time_actual, converted from kernel ticks).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: max(iv.WaitTime.Milliseconds(), 0)})
		}),
	counter("linux.audit.backlog.resets", "{reset}", "source",
		"Resets of the kernel's high-water mark: the plugin's own (source own) and other tools' (source external).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Attr: "own", Int: clampInt64(iv.OwnResets)},
				Point{Attr: "external", Int: clampInt64(iv.ExternalResets)})
		}),
	counter("linux.audit.event.count", "{event}", "",
		"Audit events the plugin read: the records that share a serial number make one event.",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.Events.All)})
		}),
	counter("linux.audit.event.failed", "{event}", "",
		"Events of a failed system call (success=no) or a user space record with res=failed (or no, 0).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.Events.Failed)})
		}),
	counter("linux.audit.event.avc", "{event}", "",
		"Events whose first record is an AVC: SELinux or AppArmor denials.",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.Events.AVC)})
		}),
	counter("linux.audit.event.fanotify", "{event}", "",
		"Events whose first record is a FANOTIFY: access decisions of a fanotify listener.",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.Events.FANotify)})
		}),
	counter("linux.audit.event.anomaly", "{event}", "",
		"Events whose first record is a user space anomaly (ANOM_ types 2100-2199).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.Events.Anomalies)})
		}),
	counter("linux.audit.event.response", "{event}", "",
		"Events whose first record is a response to an anomaly (RESP_ types 2200-2299).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.Events.Responses)})
		}),
	counter("linux.audit.login", "{login}", "result",
		"USER_LOGIN records, by result: success or failed (res=).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Attr: "success", Int: clampInt64(iv.Plugin.Events.LoginsSucceeded)},
				Point{Attr: "failed", Int: clampInt64(iv.Plugin.Events.LoginsFailed)})
		}),
	counter("linux.audit.plugin.records", "{record}", "type",
		"Records the plugin read from auditd, by record type (a fixed set of known types, the rest as other).",
		func(iv *Interval, dst []Point) []Point {
			if len(iv.Plugin.Types) == 0 {
				return append(dst, Point{Int: clampInt64(iv.Plugin.Records)})
			}
			for _, t := range iv.Plugin.Types {
				dst = append(dst, Point{Attr: t.Type, Int: clampInt64(t.Count)})
			}
			return dst
		}),
	counter("linux.audit.plugin.malformed", "{record}", "",
		"Lines the plugin skipped because they were not audit records or were too long.",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.Malformed)})
		}),
	counter("linux.audit.plugin.resets_failed", "{reset}", "",
		"Resets (AUDIT_SET) or status reads (AUDIT_GET) of the kernel that failed.",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.ResetsFailed)})
		}),
	counter("linux.audit.plugin.emits_failed", "{interval}", "",
		"Interval deliveries that an emitter failed (a collector refused or timed out).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.EmitsFailed)})
		}),
	counter("linux.audit.plugin.emits_dropped", "{interval}", "",
		"Intervals dropped because an emitter's queue was full.",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.EmitsDropped)})
		}),
	counter("linux.audit.plugin.samples_skipped", "{sample}", "",
		"Queue samples not taken because a kernel call was held longer than sample_interval (the kernel holds audit senders while its backlog is over its limit; a busy machine delays its replies too).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.SamplesSkipped)})
		}),
	counter("linux.audit.plugin.reset_records_dropped", "{record}", "",
		"backlog_max_depth reset records the plugin could not keep (its loop was not keeping up).",
		func(iv *Interval, dst []Point) []Point {
			return append(dst, Point{Int: clampInt64(iv.Plugin.ResetRecordsDropped)})
		}),
	auditd("linux.audit.auditd.queue.depth", "{record}",
		"Records waiting in auditd's queue to its plugins, from auditd's state report (absent without a recent one).",
		func(a *AuditdState) Figure { return a.QueueDepth }),
	auditd("linux.audit.auditd.queue.max_depth", "{record}",
		"The most records auditd's queue to its plugins has held since auditd started (its high-water mark, never reset).",
		func(a *AuditdState) Figure { return a.QueueMaxDepth }),
	auditd("linux.audit.auditd.queue.size", "{record}",
		"The room of auditd's queue to its plugins (q_depth).",
		func(a *AuditdState) Figure { return a.QueueSize }),
	auditd("linux.audit.auditd.queue.overflow", "1",
		"1 once auditd's queue to its plugins has overflowed since auditd started (it then drops records for every plugin), else 0.",
		func(a *AuditdState) Figure { return a.QueueOverflow }),
	auditd("linux.audit.auditd.log.free_space", "By",
		"Free space of the partition of auditd's log.",
		func(a *AuditdState) Figure { return a.LogFreeSpace }),
	auditd("linux.audit.auditd.memory.total", "By",
		"auditd's heap, as glibc reports it (arena).",
		func(a *AuditdState) Figure { return a.MemoryTotal }),
	auditd("linux.audit.auditd.memory.in_use", "By",
		"The part of auditd's heap in use (glibc's uordblks).",
		func(a *AuditdState) Figure { return a.MemoryInUse }),
	auditd("linux.audit.auditd.memory.free", "By",
		"The free part of auditd's heap (glibc's fordblks).",
		func(a *AuditdState) Figure { return a.MemoryFree }),
}

// Metrics returns the table of every metric, in the order emitters send
// them. The caller owns the returned slice.
func Metrics() []Metric { return append([]Metric(nil), metrics...) }

func gauge(name, unit, attr, desc string, p func(*Interval, []Point) []Point) Metric {
	return Metric{Name: name, Kind: Gauge, Unit: unit, Attr: attr, Description: desc, points: p}
}

func fraction(name, unit, attr, desc string, p func(*Interval, []Point) []Point) Metric {
	m := gauge(name, unit, attr, desc, p)
	m.Float = true
	return m
}

func counter(name, unit, attr, desc string, p func(*Interval, []Point) []Point) Metric {
	return Metric{Name: name, Kind: Counter, Unit: unit, Attr: attr, Description: desc, points: p}
}

// auditd is a gauge of auditd's state report: no point when the interval
// has no report, or the report does not state the figure.
func auditd(name, unit, desc string, f func(*AuditdState) Figure) Metric {
	return gauge(name, unit, "", desc, func(iv *Interval, dst []Point) []Point {
		if iv.Auditd == nil {
			return dst
		}
		if v := f(iv.Auditd); v.OK {
			dst = append(dst, Point{Int: clampInt64(v.Value)})
		}
		return dst
	})
}

// histogram is a Histogram metric of queue depths; its points are its
// buckets, each with the range of depths it counts as attribute.
func histogram(name, unit, desc string, h func(*Interval) *DepthHistogram) Metric {
	return Metric{Name: name, Kind: Histogram, Unit: unit, Attr: "bucket", Description: desc, histogram: h,
		points: func(iv *Interval, dst []Point) []Point {
			d := h(iv)
			if d == nil {
				return dst
			}
			for k, n := range d.Counts {
				dst = append(dst, Point{Attr: bucketName(k), Int: clampInt64(n)})
			}
			return dst
		}}
}

// bucketNames are the attribute values of the buckets of a
// DepthHistogram: "0-1", "2-3", "4-7", ...
var bucketNames = func() []string {
	names := make([]string, 64)
	for k := range names {
		lo := uint64(0)
		if k > 0 {
			lo = 1 << k
		}
		names[k] = strconv.FormatUint(lo, 10) + "-" + strconv.FormatUint(DepthBound(k), 10)
	}
	return names
}()

func bucketName(k int) string {
	if k < 0 || k >= len(bucketNames) {
		return "invalid"
	}
	return bucketNames[k]
}

// probeGauge is a gauge of the eBPF probe's figures: no point unless the
// interval has them and the figure is measured.
func probeGauge(name, desc string, f func(*ProbeFigures) Figure) Metric {
	return gauge(name, "{record}", "", desc, func(iv *Interval, dst []Point) []Point {
		if iv.Probe == nil {
			return dst
		}
		if v := f(iv.Probe); v.OK {
			dst = append(dst, Point{Int: clampInt64(v.Value)})
		}
		return dst
	})
}

func kernelCounter(name, unit, desc string, p func(*Interval, []Point) []Point) Metric {
	m := counter(name, unit, "", desc, p)
	m.SinceBoot = true
	return m
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// Start returns when the metric's points start: the interval's start for a
// gauge, CounterStart for a counter.
func (m *Metric) Start(iv *Interval) time.Time {
	if m.Kind == Gauge {
		return iv.Start
	}
	return iv.CounterStart
}
