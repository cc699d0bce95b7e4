package conf

import (
	"strconv"
	"strings"
	"time"
)

// Sections of the configuration file, the values of Key.Section.
const (
	SectionGeneral = "general"
	SectionOTLP    = "otlp"
	SectionStatsD  = "statsd"
)

// Key describes one configuration key. The table returned by Keys drives
// parsing, Default, the effective configuration printed by WriteTo, the
// shipped sample file and the audisp-backlog.conf(5) man page.
type Key struct {
	Name    string // as written in the file
	Section string // SectionGeneral, SectionOTLP or SectionStatsD
	// Default is the default value as written in the file; "" means the
	// key is empty (none) by default. Some defaults are adjusted to other
	// keys when the key is left unset; Doc says so.
	Default string
	// Example is a sample value for keys whose default is empty.
	Example string
	// Allowed says which values are accepted; errors end with it.
	Allowed string
	// Doc says what the key does: plain text, one paragraph.
	Doc string
	// Secret keys may hold credentials: WriteTo redacts their values and,
	// for root, Load refuses a file holding them that others can read.
	Secret bool
	// Emitters says the key configures the emitters: a reload that
	// changes it opens them anew (Config.SameEmitters). Every key of the
	// otlp and statsd sections does.
	Emitters bool

	parse  func(c *Config, v string) error
	format func(c *Config) string
	redact func(c *Config) string // format with secrets hidden; Secret keys only
	given  func(c *Config) *bool  // where Parse records that the file sets the key, if anywhere
}

// Limits on values.
const (
	minInterval       = time.Second
	maxInterval       = time.Hour
	minSampleInterval = 10 * time.Millisecond
	minTimeout        = time.Second
	maxEmitQueue      = 1024
	maxListItems      = 64 // emitters, tags, headers, attributes
)

const durationForms = "e.g. 60 (seconds), 60s, 1m, 100ms"

// Keys returns the table of every configuration key, in file order. The
// caller owns the returned slice.
func Keys() []Key {
	keys := keyTable()
	for i := range keys {
		if keys[i].Section != SectionGeneral {
			keys[i].Emitters = true
		}
	}
	return keys
}

func keyTable() []Key {
	return []Key{
		{
			Name: "interval", Section: SectionGeneral, Default: "60s",
			Allowed: "a duration from 1s to 1h, " + durationForms,
			Doc: "How often the plugin reports: each interval ends by reading and zeroing the kernel's " +
				"backlog high-water mark and sending the interval's peak. Every reset writes a " +
				"CONFIG_CHANGE, SYSCALL and PROCTITLE record to the audit trail, so a longer interval " +
				"means less noise. DogStatsD agents keep only the last gauge of each 10 s flush, so " +
				"below 10s some intervals' peaks are overwritten before they reach Datadog.",
			parse: func(c *Config, v string) (err error) {
				c.Interval, err = durationIn(v, minInterval, maxInterval)
				return err
			},
			format: func(c *Config) string { return formatDuration(c.Interval) },
		},
		{
			Name: "sample_interval", Section: SectionGeneral, Default: SampleAuto,
			Allowed: "auto, or a duration from 10ms to less than interval, " + durationForms,
			Doc: "How often the backlog is polled with AUDIT_GET, for the interval's mean and, " +
				"with the sampled method, its peak; bursts shorter than this can be missed by the " +
				"sampled method. auto: 100ms when sampling measures the peak, 1s (at most half the " +
				"interval) when the kernel's mark does, since the samples then only feed the mean " +
				"and each costs a netlink round trip.",
			parse: func(c *Config, v string) (err error) {
				if strings.EqualFold(v, SampleAuto) {
					c.SampleInterval = 0
					return nil
				}
				c.SampleInterval, err = durationIn(v, minSampleInterval, maxInterval)
				return err
			},
			format: func(c *Config) string {
				if c.SampleInterval == 0 {
					return SampleAuto
				}
				return formatDuration(c.SampleInterval)
			},
		},
		{
			Name: "record_wait", Section: SectionGeneral, Default: "1s",
			Allowed: "a duration from 0 to interval/2, " + durationForms,
			Doc: "How long an interval's report waits for the plugin's own reset record to come back " +
				"through auditd, so that resets made by other tools just before it are counted in the " +
				"right interval; 0 reports at once. When unset it is 1s, or interval/2 if that is shorter.",
			parse: func(c *Config, v string) (err error) {
				c.RecordWait, err = durationIn(v, 0, maxInterval/2)
				return err
			},
			format: func(c *Config) string { return formatDuration(c.RecordWait) },
		},
		{
			Name: "method", Section: SectionGeneral, Default: MethodAuto,
			Allowed: "auto, kernel, ebpf, sampled",
			Doc: "How the peak is measured. auto: the kernel's high-water mark when the kernel has " +
				"backlog_max_depth, else the eBPF probe of the queue when it can be attached, else " +
				"sampling; kernel: refuse to start without backlog_max_depth; ebpf: refuse to start " +
				"unless the eBPF probe attaches (the probe is attached at start only: a reload cannot " +
				"switch to it); sampled: never reset the mark, only poll the backlog every sample_interval.",
			parse: func(c *Config, v string) (err error) {
				c.Method, err = oneOf(v, MethodAuto, MethodKernel, MethodEBPF, MethodSampled)
				return err
			},
			format: func(c *Config) string { return c.Method },
		},
		{
			Name: "emitters", Section: SectionGeneral, Default: EmitterOTLP, Emitters: true,
			Allowed: "a comma-separated list of " + strings.Join(emitterNames, ", ") + ", at least one, no duplicates",
			Doc:     "Where each interval's figures are sent.",
			parse:   parseEmitters,
			format:  func(c *Config) string { return strings.Join(c.Emitters, ", ") },
		},
		{
			Name: "emit_queue", Section: SectionGeneral, Default: "16", Emitters: true,
			Allowed: "an integer from 1 to 1024",
			Doc: "How many intervals each emitter keeps while its collector is unreachable; when the " +
				"queue is full the oldest interval is dropped.",
			parse: func(c *Config, v string) (err error) {
				c.EmitQueue, err = intIn(v, 1, maxEmitQueue)
				return err
			},
			format: func(c *Config) string { return strconv.Itoa(c.EmitQueue) },
		},
		{
			Name: "log_level", Section: SectionGeneral, Default: "info",
			Allowed: "debug, info, warn, error",
			Doc:     "The least severe messages logged (to syslog, or to stderr in the foreground).",
			parse:   parseLogLevel,
			format:  func(c *Config) string { return formatLogLevel(c.LogLevel) },
		},
		{
			Name: "otlp_endpoint", Section: SectionOTLP, Default: "localhost:4317",
			Allowed: "host:port, [ipv6]:port, or an http:// or https:// URL",
			Doc: "Where the OTLP collector listens. When unset it is localhost:4317, or localhost:4318 " +
				"with otlp_protocol = http/protobuf. An http:// URL means no TLS, an https:// URL TLS; " +
				"with http/protobuf a URL may give the path (default /v1/metrics).",
			parse:  parseEndpoint,
			format: func(c *Config) string { return c.OTLP.Endpoint },
			given:  func(c *Config) *bool { return &c.OTLP.Given.Endpoint },
		},
		{
			Name: "otlp_protocol", Section: SectionOTLP, Default: ProtocolGRPC,
			Allowed: "grpc, http/protobuf",
			Doc:     "The OTLP transport.",
			parse: func(c *Config, v string) (err error) {
				c.OTLP.Protocol, err = oneOf(v, ProtocolGRPC, ProtocolHTTP)
				return err
			},
			format: func(c *Config) string { return c.OTLP.Protocol },
			given:  func(c *Config) *bool { return &c.OTLP.Given.Protocol },
		},
		{
			Name: "otlp_insecure", Section: SectionOTLP, Default: InsecureAuto,
			Allowed: "auto, yes, no (or true, false, 1, 0)",
			Doc: "Whether to send OTLP in plain text, without TLS. auto: plain text to an endpoint on " +
				"this host (localhost, 127.0.0.0/8, ::1), where a collector or agent listens without " +
				"TLS by default, unless a TLS file is set; TLS to any other host. An http:// or " +
				"https:// URL endpoint says it itself.",
			parse: func(c *Config, v string) error {
				if strings.EqualFold(v, InsecureAuto) {
					c.OTLP.InsecureAuto = true
					return nil
				}
				b, err := parseBool(v)
				c.OTLP.Insecure, c.OTLP.InsecureAuto = b, false
				return err
			},
			format: func(c *Config) string {
				if c.OTLP.InsecureAuto {
					return InsecureAuto
				}
				return formatBool(c.OTLP.Insecure)
			},
			given: func(c *Config) *bool { return &c.OTLP.Given.Insecure },
		},
		{
			Name: "otlp_ca_file", Section: SectionOTLP, Example: "/etc/ssl/certs/collector-ca.pem",
			Allowed: "an absolute path, or empty",
			Doc:     "PEM file of the CA certificates that verify the collector; empty uses the system's.",
			parse:   func(c *Config, v string) (err error) { c.OTLP.CAFile, err = path(v); return err },
			format:  func(c *Config) string { return c.OTLP.CAFile },
		},
		{
			Name: "otlp_cert_file", Section: SectionOTLP, Example: "/etc/audisp-backlog/client.pem",
			Allowed: "an absolute path, or empty; needs otlp_key_file",
			Doc:     "PEM client certificate for mutual TLS, given together with otlp_key_file.",
			parse:   func(c *Config, v string) (err error) { c.OTLP.CertFile, err = path(v); return err },
			format:  func(c *Config) string { return c.OTLP.CertFile },
		},
		{
			Name: "otlp_key_file", Section: SectionOTLP, Example: "/etc/audisp-backlog/client-key.pem",
			Allowed: "an absolute path, or empty; needs otlp_cert_file",
			Doc:     "PEM private key of otlp_cert_file.",
			parse:   func(c *Config, v string) (err error) { c.OTLP.KeyFile, err = path(v); return err },
			format:  func(c *Config) string { return c.OTLP.KeyFile },
		},
		{
			Name: "otlp_headers", Section: SectionOTLP, Example: "authorization=Bearer token,x-tenant=ops",
			Allowed: "comma-separated name=value pairs: names are HTTP header names, values printable ASCII without commas",
			Doc: "Headers (gRPC metadata) sent with every export, typically credentials. A value runs " +
				"from the first = to the next comma and is taken literally. Setting this key makes " +
				"the file secret: as root the plugin refuses it if others can read it.",
			Secret: true,
			parse: func(c *Config, v string) (err error) {
				c.OTLP.Headers, err = parsePairs(v, validHeaderName, validHeaderValue, true)
				return err
			},
			format: func(c *Config) string { return formatPairs(c.OTLP.Headers, false) },
			redact: func(c *Config) string { return formatPairs(c.OTLP.Headers, true) },
			given:  func(c *Config) *bool { return &c.OTLP.Given.Headers },
		},
		{
			Name: "otlp_compression", Section: SectionOTLP, Default: CompressionNone,
			Allowed: "gzip, none",
			Doc:     "Compression of OTLP exports.",
			parse: func(c *Config, v string) (err error) {
				c.OTLP.Compression, err = oneOf(v, CompressionGzip, CompressionNone)
				return err
			},
			format: func(c *Config) string { return c.OTLP.Compression },
			given:  func(c *Config) *bool { return &c.OTLP.Given.Compression },
		},
		{
			Name: "otlp_timeout", Section: SectionOTLP, Default: "10s",
			Allowed: "a duration from 1s to interval, " + durationForms,
			Doc:     "How long one OTLP export may take. When unset it is 10s, or interval if that is shorter.",
			parse: func(c *Config, v string) (err error) {
				c.OTLP.Timeout, err = durationIn(v, minTimeout, maxInterval)
				return err
			},
			format: func(c *Config) string { return formatDuration(c.OTLP.Timeout) },
			given:  func(c *Config) *bool { return &c.OTLP.Given.Timeout },
		},
		{
			Name: "resource_attributes", Section: SectionOTLP, Example: "deployment.environment=prod,service.namespace=audit",
			Allowed: "comma-separated key=value pairs without spaces in keys or commas in values",
			Doc: "OTLP resource attributes added to the plugin's own (service.name, host.name and " +
				"the like); a value runs from the first = to the next comma.",
			parse: func(c *Config, v string) (err error) {
				c.OTLP.ResourceAttributes, err = parsePairs(v, validAttrName, validAttrValue, false)
				return err
			},
			format: func(c *Config) string { return formatPairs(c.OTLP.ResourceAttributes, false) },
		},
		{
			Name: "statsd_address", Section: SectionStatsD, Default: "127.0.0.1:8125",
			Allowed: "host:port, [ipv6]:port (UDP) or unix:///path (unixgram socket)",
			Doc:     "Where the DogStatsD agent listens.",
			parse:   parseStatsDAddress,
			format:  func(c *Config) string { return c.StatsD.Address },
		},
		{
			Name: "statsd_namespace", Section: SectionStatsD, Default: "linux.audit.",
			Allowed: "letters, digits, '_' and '.', starting with a letter, or empty",
			Doc:     "Prefix of every metric name.",
			parse:   parseNamespace,
			format:  func(c *Config) string { return c.StatsD.Namespace },
		},
		{
			Name: "statsd_tags", Section: SectionStatsD, Example: "env:prod,team:security",
			Allowed: "comma-separated key:value tags without spaces or '|'",
			Doc:     "Tags added to every metric.",
			parse:   parseTags,
			format:  func(c *Config) string { return strings.Join(c.StatsD.Tags, ",") },
		},
		{
			Name: "statsd_tag_format", Section: SectionStatsD, Default: TagFormatDogStatsD,
			Allowed: "dogstatsd, none",
			Doc: "dogstatsd sends tags (such as method) the DogStatsD way; none sends plain StatsD " +
				"without tags and then statsd_tags must be empty.",
			parse: func(c *Config, v string) (err error) {
				c.StatsD.TagFormat, err = oneOf(v, TagFormatDogStatsD, TagFormatNone)
				return err
			},
			format: func(c *Config) string { return c.StatsD.TagFormat },
		},
	}
}
