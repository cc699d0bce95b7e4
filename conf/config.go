// Package conf reads audisp-backlog's configuration file.
//
// The file holds auditd-style "key = value" lines, whole-line '#' comments
// and blank lines; audisp-backlog.conf(5) describes it. One table of keys
// (Keys) drives parsing, Default, WriteTo, the shipped sample file and the
// man page. Parse and Load return either a complete, valid Config or every
// problem found as *Error values joined with errors.Join, never both, so a
// failed reload can keep the configuration in force.
package conf

import (
	"log/slog"
	"time"
)

// DefaultPath is where auditd's plugin entry points the plugin by default.
const DefaultPath = "/etc/audit/audisp-backlog.conf"

// Values of the method key.
const (
	MethodAuto    = "auto"    // kernel when backlog_max_depth is supported, else ebpf when the probe attaches, else sampled
	MethodKernel  = "kernel"  // require backlog_max_depth; fail without it
	MethodEBPF    = "ebpf"    // require the eBPF probe of the queue; fail without it
	MethodSampled = "sampled" // poll AUDIT_GET only, never reset the mark
)

// Emitter names accepted by the emitters key.
const (
	EmitterStdout = "stdout"
	EmitterOTLP   = "otlp"
	EmitterStatsD = "statsd"
)

// emitterNames lists every emitter name, in the order the documentation
// gives them.
var emitterNames = []string{EmitterStdout, EmitterOTLP, EmitterStatsD}

// Values of otlp_protocol.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// SampleAuto is the sample_interval value that lets the method decide.
const SampleAuto = "auto"

// InsecureAuto is the otlp_insecure value that lets the endpoint decide.
const InsecureAuto = "auto"

// Values of otlp_compression.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Values of statsd_tag_format.
const (
	TagFormatDogStatsD = "dogstatsd" // tags the DogStatsD way, "|#key:value"
	TagFormatNone      = "none"      // plain statsd: no tags, values folded into names
)

// Config is the whole configuration. The zero value is not useful; start
// from Default.
type Config struct {
	// File is the path the configuration was loaded from ("" for Default).
	File string

	Interval       time.Duration // interval
	SampleInterval time.Duration // sample_interval; 0 is auto
	RecordWait     time.Duration // record_wait
	Method         string        // method: MethodAuto, MethodKernel, MethodEBPF or MethodSampled
	Emitters       []string      // emitters, in file order, no duplicates
	EmitQueue      int           // emit_queue
	LogLevel       slog.Level    // log_level

	OTLP   OTLP
	StatsD StatsD

	lines map[string]int // the line of each key the file sets
}

// OTLP is the otlp_* section.
type OTLP struct {
	Endpoint           string            // otlp_endpoint, host:port or URL
	Protocol           string            // otlp_protocol: ProtocolGRPC or ProtocolHTTP
	Insecure           bool              // otlp_insecure, resolved: plain text
	InsecureAuto       bool              // otlp_insecure = auto: Insecure follows the endpoint
	CAFile             string            // otlp_ca_file
	CertFile           string            // otlp_cert_file
	KeyFile            string            // otlp_key_file
	Headers            map[string]string // otlp_headers (may hold secrets)
	Compression        string            // otlp_compression: CompressionGzip or CompressionNone
	Timeout            time.Duration     // otlp_timeout
	ResourceAttributes map[string]string // resource_attributes

	// Given says which keys the file sets. The OTLP emitter lets the
	// OTEL_EXPORTER_OTLP_* variables fill in only the others.
	Given OTLPGiven
}

// OTLPGiven says which otlp_* keys a file sets, of those that the
// OTEL_EXPORTER_OTLP_* environment can also set.
type OTLPGiven struct {
	Endpoint, Protocol, Insecure, Headers, Compression, Timeout bool
}

// StatsD is the statsd_* section.
type StatsD struct {
	Address   string   // statsd_address: host:port or unix:///path
	Namespace string   // statsd_namespace, prefixed to every metric name
	Tags      []string // statsd_tags, each "key:value"
	TagFormat string   // statsd_tag_format: TagFormatDogStatsD or TagFormatNone
}

// IsSet reports whether key was given explicitly in the file (as opposed to
// taking its default).
func (c *Config) IsSet(key string) bool { return c.lines[key] > 0 }

// Line returns the line of File that sets key, 0 when the file leaves it
// to its default.
func (c *Config) Line(key string) int { return c.lines[key] }

// SameEmitters reports whether c and o configure the emitters alike, so
// that a reload from one to the other can keep the running emitters: the
// same value, set in the file or not alike, for every key that configures
// them (Key.Emitters).
func (c *Config) SameEmitters(o *Config) bool {
	for _, k := range Keys() {
		if k.Emitters && (k.format(c) != k.format(o) || c.IsSet(k.Name) != o.IsSet(k.Name)) {
			return false
		}
	}
	return true
}
