package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/audisp-backlog/audisp-backlog/emit"
)

// root is the repository's top directory, seen from this package.
const root = "../.."

// examplesDir holds the shipped examples.
var examplesDir = filepath.Join(root, "packaging", "examples")

// metric is one of the plugin's metrics: its OpenTelemetry name, kind and
// unit, as in README.md's "Metrics" table.
type metric struct {
	Name string // e.g. linux.audit.lost
	Kind string // gauge, sum or monotonic sum
	Unit string // UCUM: {record}, 1, ms, ...
	Attr string // the attribute that tells its points apart, "" for none
	// conditional: the metric has points only while the eBPF probe
	// measures the peak or auditd's state report is read.
	conditional bool
}

// conditional reports whether m has points (or a histogram) only when the
// interval carries the eBPF probe's figures or auditd's state report: the
// same interval gives m points with them and none without.
func conditional(m emit.Metric) bool {
	ok := emit.Figure{Value: 1, OK: true}
	with := &emit.Interval{
		Probe: &emit.ProbeFigures{
			Depths:        emit.DepthHistogram{Counts: []uint64{1}, Count: 1, Sum: 1},
			MeanDepth:     1,
			RetryMaxDepth: ok, HoldMaxDepth: ok,
			Lost: []emit.CauseCount{{Cause: "queue_full", Count: 1}},
		},
		Auditd: &emit.AuditdState{
			QueueDepth: ok, QueueMaxDepth: ok, QueueSize: ok, QueueOverflow: ok,
			LogFreeSpace: ok, MemoryTotal: ok, MemoryInUse: ok, MemoryFree: ok,
		},
	}
	without := &emit.Interval{}
	if m.Kind == emit.Histogram {
		return m.Histogram(with) != nil && m.Histogram(without) == nil
	}
	return len(m.Points(with, nil)) > 0 && len(m.Points(without, nil)) == 0
}

// pluginMetrics returns the metrics the plugin exports: emit's metric
// table, the one every emitter ranges over. Every test of this package
// takes the list from here, and only from here.
func pluginMetrics(t *testing.T) []metric {
	t.Helper()
	var ms []metric
	for _, m := range emit.Metrics() {
		kind := "gauge"
		switch m.Kind {
		case emit.Counter:
			kind = "monotonic sum"
		case emit.Histogram:
			kind = "histogram"
		}
		ms = append(ms, metric{Name: m.Name, Kind: kind, Unit: m.Unit, Attr: m.Attr, conditional: conditional(m)})
	}
	return ms
}

// promUnits are the unit words Prometheus 3's OTLP translation
// (UnderscoreEscapingWithSuffixes, the default) appends for the UCUM units
// the plugin uses. Annotations in braces ({record}) add nothing.
var promUnits = map[string]string{
	"ms": "milliseconds",
	"s":  "seconds",
	"By": "bytes",
}

// promName is m's name in Prometheus, as Prometheus's own OTLP receiver
// and the Collector's Prometheus exporters translate it: dots become
// underscores, then the unit (1 is "ratio" on a gauge), then _total on a
// monotonic sum. TestPrometheusPeer holds it against a real Prometheus.
func promName(m metric) string {
	name := strings.ReplaceAll(m.Name, ".", "_")
	unit := promUnits[m.Unit]
	if m.Unit == "1" && m.Kind == "gauge" {
		unit = "ratio"
	}
	if unit != "" && !strings.HasSuffix(name, "_"+unit) {
		name += "_" + unit
	}
	if m.Kind == "monotonic sum" {
		name += "_total"
	}
	return name
}

// promSeriesNames are the names of the series Prometheus makes of m: a
// histogram's buckets, count and sum, else promName's one.
func promSeriesNames(m metric) []string {
	p := promName(m)
	if m.Kind == "histogram" {
		return []string{p + "_bucket", p + "_count", p + "_sum"}
	}
	return []string{p}
}

// vocabulary is what the examples may name.
type vocabulary struct {
	otel    map[string]bool // OpenTelemetry and DogStatsD names
	prom    map[string]bool // Prometheus names
	base    map[string]bool // Prometheus names, and without _total (for recording rules)
	records map[string]bool // recording rules the shipped rules define
}

func newVocabulary(ms []metric, records []string) vocabulary {
	v := vocabulary{otel: map[string]bool{}, prom: map[string]bool{}, base: map[string]bool{}, records: map[string]bool{}}
	for _, m := range ms {
		v.otel[m.Name] = true
		for _, p := range promSeriesNames(m) {
			v.prom[p] = true
			v.base[p] = true
			v.base[strings.TrimSuffix(p, "_total")] = true
		}
	}
	for _, r := range records {
		v.records[r] = true
	}
	return v
}

var (
	otelName  = regexp.MustCompile(`linux\.audit(?:\.[a-z0-9_]+)+`)
	promToken = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	recordDef = regexp.MustCompile(`(?m)^\s*-?\s*record:\s*(\S+)\s*$`)
)

// unknown returns the metric names in text that v does not know, each
// once, in order: OpenTelemetry names (linux.audit.x.y), Prometheus names
// (linux_audit_x_y), and recording rules (level:metric:operations), which
// must be defined and built on a known metric.
func (v vocabulary) unknown(text string) []string {
	var bad []string
	add := func(s string) {
		if !slices.Contains(bad, s) {
			bad = append(bad, s)
		}
	}
	for _, n := range otelName.FindAllString(text, -1) {
		if !v.otel[n] {
			add(n)
		}
	}
	for _, tok := range promToken.FindAllString(text, -1) {
		if !strings.Contains(tok, "linux_audit") {
			continue
		}
		if parts := strings.Split(tok, ":"); len(parts) > 1 {
			if len(parts) != 3 || !v.records[tok] || !v.base[parts[1]] {
				add(tok)
			}
			continue
		}
		if !v.prom[tok] {
			add(tok)
		}
	}
	return bad
}

// exampleFiles lists packaging/examples, which holds only files.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			t.Fatalf("%s: %s is not a regular file: the packages ship the directory's files only", examplesDir, e.Name())
		}
		files = append(files, e.Name())
	}
	if len(files) == 0 {
		t.Fatalf("%s: no examples", examplesDir)
	}
	return files
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shippedRecords returns the recording rules the shipped rules file defines.
func shippedRecords(t *testing.T) []string {
	t.Helper()
	var rs []string
	for _, m := range recordDef.FindAllStringSubmatch(readExample(t, "audisp-backlog.rules.yml"), -1) {
		rs = append(rs, m[1])
	}
	if len(rs) == 0 {
		t.Fatal("audisp-backlog.rules.yml defines no recording rule")
	}
	return rs
}

// TestExampleMetricNames: every metric an example names is one the plugin
// exports.
func TestExampleMetricNames(t *testing.T) {
	v := newVocabulary(pluginMetrics(t), shippedRecords(t))
	for _, name := range exampleFiles(t) {
		t.Run(name, func(t *testing.T) {
			for _, n := range v.unknown(readExample(t, name)) {
				t.Errorf("%s names %s, which the plugin does not export (plugin's metrics: pluginMetrics in e2e/examples/names_test.go)", name, n)
			}
		})
	}
}

func TestUnknown(t *testing.T) {
	v := newVocabulary([]metric{
		{Name: "linux.audit.lost", Kind: "monotonic sum", Unit: "{record}"},
		{Name: "linux.audit.backlog.utilization", Kind: "gauge", Unit: "1"},
		{Name: "linux.audit.backlog.max_depth", Kind: "gauge", Unit: "{record}"},
	}, []string{"host:linux_audit_lost:increase1h", "host:linux_audit_nosuch:max1h"})
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"increase(linux_audit_lost_total[5m]) > 0", nil},
		{"max:linux.audit.backlog.utilization{*} by {host}", nil},
		{"linux_audit_backlog_utilization_ratio >= 0.8 # linux.audit.lost", nil},
		{"record: host:linux_audit_lost:increase1h", nil},
		{"rate(linux_audit_lost[5m])", []string{"linux_audit_lost"}},
		{"linux_audit_backlog_utilization > 0.8", []string{"linux_audit_backlog_utilization"}},
		{"linux_audit_backlog_peak or linux_audit_backlog_peak", []string{"linux_audit_backlog_peak"}},
		{"sum:linux.audit.backlog.peak{*}", []string{"linux.audit.backlog.peak"}},
		{"linux.audit.lost.total", []string{"linux.audit.lost.total"}},
		{"host:linux_audit_lost:increase5m", []string{"host:linux_audit_lost:increase5m"}},
		{"host:linux_audit_nosuch:max1h", []string{"host:linux_audit_nosuch:max1h"}},
		{"linux_audit_lost_total:rate", []string{"linux_audit_lost_total:rate"}},
	} {
		t.Run(tc.text, func(t *testing.T) {
			if got := v.unknown(tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("unknown(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestPromName(t *testing.T) {
	for _, tc := range []struct {
		m    metric
		want string
	}{
		{metric{Name: "linux.audit.backlog.max_depth", Kind: "gauge", Unit: "{record}"}, "linux_audit_backlog_max_depth"},
		{metric{Name: "linux.audit.backlog.utilization", Kind: "gauge", Unit: "1"}, "linux_audit_backlog_utilization_ratio"},
		{metric{Name: "linux.audit.lost", Kind: "monotonic sum", Unit: "{record}"}, "linux_audit_lost_total"},
		{metric{Name: "linux.audit.backlog.wait_time", Kind: "monotonic sum", Unit: "ms"}, "linux_audit_backlog_wait_time_milliseconds_total"},
		{metric{Name: "x.count", Kind: "monotonic sum", Unit: "1"}, "x_count_total"},
		{metric{Name: "x.open", Kind: "sum", Unit: "{conn}"}, "x_open"},
		{metric{Name: "x.size_bytes", Kind: "gauge", Unit: "By"}, "x_size_bytes"},
	} {
		if got := promName(tc.m); got != tc.want {
			t.Errorf("promName(%+v) = %s, want %s", tc.m, got, tc.want)
		}
	}
}

// TestExamplesPackaged: both packages and their checks list every example,
// and the README that explains them.
func TestExamplesPackaged(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	nfpm, check, spec := read("packaging/nfpm.yaml"), read("packaging/check.sh"), read("packaging/rpm/audisp-backlog.spec")
	const doc = "/usr/share/doc/audisp-backlog/"
	for _, f := range append(exampleFiles(t), "README.md") {
		src, dst := "packaging/examples/"+f, doc+"examples/"+f
		if f == "README.md" {
			src, dst = "README.md", doc+"README.md"
		}
		// nfpm: once for the .deb, once as %doc for the .rpm.
		if n := strings.Count(nfpm, "src: "+src+"\n    dst: "+dst+"\n"); n != 2 {
			t.Errorf("packaging/nfpm.yaml installs %s as %s %d times, want 2 (deb, rpm)", src, dst, n)
		}
		if !strings.Contains(check, strings.TrimPrefix(dst, "/")) {
			t.Errorf("packaging/check.sh does not expect %s in the packages", dst)
		}
	}
	for _, want := range []string{"%doc README.md", "%doc packaging/examples"} {
		if !strings.Contains(spec, "\n"+want+"\n") {
			t.Errorf("packaging/rpm/audisp-backlog.spec: no %q line", want)
		}
	}
}
