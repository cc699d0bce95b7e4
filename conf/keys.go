package conf

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"sort"
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

	parse  func(c *Config, v string) error
	format func(c *Config) string
	redact func(c *Config) string // format with secrets hidden; Secret keys only
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
			Name: "sample_interval", Section: SectionGeneral, Default: "100ms",
			Allowed: "a duration from 10ms to less than interval, " + durationForms,
			Doc: "How often the backlog is polled with AUDIT_GET for the mean and, with the sampled " +
				"method, the peak. Bursts shorter than this can be missed by the sampled method.",
			parse: func(c *Config, v string) (err error) {
				c.SampleInterval, err = durationIn(v, minSampleInterval, maxInterval)
				return err
			},
			format: func(c *Config) string { return formatDuration(c.SampleInterval) },
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
			Allowed: "auto, kernel, sampled",
			Doc: "How the peak is measured. auto: the kernel's high-water mark when the kernel has " +
				"backlog_max_depth, else sampling; kernel: refuse to start without backlog_max_depth; " +
				"sampled: never reset the mark, only poll the backlog every sample_interval.",
			parse: func(c *Config, v string) (err error) {
				c.Method, err = oneOf(v, MethodAuto, MethodKernel, MethodSampled)
				return err
			},
			format: func(c *Config) string { return c.Method },
		},
		{
			Name: "emitters", Section: SectionGeneral, Default: EmitterOTLP,
			Allowed: "a comma-separated list of stdout, otlp, statsd, at least one, no duplicates",
			Doc:     "Where each interval's figures are sent.",
			parse:   parseEmitters,
			format:  func(c *Config) string { return strings.Join(c.Emitters, ", ") },
		},
		{
			Name: "emit_queue", Section: SectionGeneral, Default: "16",
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
		},
		{
			Name: "otlp_protocol", Section: SectionOTLP, Default: "grpc",
			Allowed: "grpc, http/protobuf",
			Doc:     "The OTLP transport.",
			parse: func(c *Config, v string) (err error) {
				c.OTLP.Protocol, err = oneOf(v, "grpc", "http/protobuf")
				return err
			},
			format: func(c *Config) string { return c.OTLP.Protocol },
		},
		{
			Name: "otlp_insecure", Section: SectionOTLP, Default: "no",
			Allowed: "yes, no, true, false, 1, 0",
			Doc:     "Whether to send OTLP in plain text, without TLS.",
			parse: func(c *Config, v string) (err error) {
				c.OTLP.Insecure, err = parseBool(v)
				return err
			},
			format: func(c *Config) string { return formatBool(c.OTLP.Insecure) },
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
		},
		{
			Name: "otlp_compression", Section: SectionOTLP, Default: "none",
			Allowed: "gzip, none",
			Doc:     "Compression of OTLP exports.",
			parse: func(c *Config, v string) (err error) {
				c.OTLP.Compression, err = oneOf(v, "gzip", "none")
				return err
			},
			format: func(c *Config) string { return c.OTLP.Compression },
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
			Name: "statsd_tag_format", Section: SectionStatsD, Default: "dogstatsd",
			Allowed: "dogstatsd, none",
			Doc: "dogstatsd sends tags (such as method) the DogStatsD way; none sends plain StatsD " +
				"without tags and then statsd_tags must be empty.",
			parse: func(c *Config, v string) (err error) {
				c.StatsD.TagFormat, err = oneOf(v, "dogstatsd", "none")
				return err
			},
			format: func(c *Config) string { return c.StatsD.TagFormat },
		},
	}
}

var errEmpty = errors.New("empty value")

// parseDuration accepts a bare count of seconds or a time.ParseDuration
// string, never negative.
func parseDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, errEmpty
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(math.MaxInt64/time.Second) {
			return 0, fmt.Errorf("%s seconds is out of range", quote(v))
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration", quote(v))
	}
	if d < 0 {
		return 0, fmt.Errorf("%s is negative", quote(v))
	}
	return d, nil
}

func durationIn(v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := parseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < lo {
		return 0, fmt.Errorf("%s is shorter than %s", quote(v), formatDuration(lo))
	}
	if d > hi {
		return 0, fmt.Errorf("%s is longer than %s", quote(v), formatDuration(hi))
	}
	return d, nil
}

// formatDuration writes d the way the defaults are written: whole hours
// as 1h, else whole seconds as 60s, else milliseconds as 100ms.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return d.String()
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func intIn(v string, lo, hi int) (int, error) {
	if v == "" {
		return 0, errEmpty
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of range", quote(v))
		}
		return 0, fmt.Errorf("%s is not an integer", quote(v))
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return n, nil
}

// oneOf returns the canonical (lower-case) spelling of v among words,
// compared case-insensitively.
func oneOf(v string, words ...string) (string, error) {
	if v == "" {
		return "", errEmpty
	}
	for _, w := range words {
		if strings.EqualFold(v, w) {
			return w, nil
		}
	}
	return "", fmt.Errorf("%s is not a valid value", quote(v))
}

func parseBool(v string) (bool, error) {
	w, err := oneOf(v, "yes", "true", "1", "no", "false", "0")
	if err != nil {
		return false, err
	}
	return w == "yes" || w == "true" || w == "1", nil
}

func formatBool(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func parseLogLevel(c *Config, v string) error {
	w, err := oneOf(v, "debug", "info", "warn", "error")
	if err != nil {
		return err
	}
	switch w {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	}
	return nil
}

func formatLogLevel(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelInfo:
		return "info"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return strings.ToLower(l.String())
}

// splitList splits a comma-separated list, trimming spaces around items.
// Empty items are errors; "" is an empty list.
func splitList(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	if strings.Count(v, ",") >= maxListItems {
		return nil, fmt.Errorf("more than %d items", maxListItems)
	}
	items := strings.Split(v, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
		if items[i] == "" {
			return nil, fmt.Errorf("item %d is empty", i+1)
		}
	}
	return items, nil
}

func parseEmitters(c *Config, v string) error {
	if v == "" {
		return errEmpty
	}
	items, err := splitList(v)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(items))
	out := make([]string, 0, len(items))
	for _, it := range items {
		name, err := oneOf(it, EmitterStdout, EmitterOTLP, EmitterStatsD)
		if err != nil {
			return fmt.Errorf("%s is not an emitter", quote(it))
		}
		if seen[name] {
			return fmt.Errorf("%s is listed twice", name)
		}
		seen[name] = true
		out = append(out, name)
	}
	c.Emitters = out
	return nil
}

func path(v string) (string, error) {
	if v != "" && !strings.HasPrefix(v, "/") {
		return "", fmt.Errorf("%s is not an absolute path", quote(v))
	}
	return v, nil
}

// parsePairs parses "k=v,k2=v2" into a map; "" is a nil map. With fold,
// names that differ only in case are duplicates (HTTP header names).
func parsePairs(v string, validName, validValue func(string) bool, fold bool) (map[string]string, error) {
	items, err := splitList(v)
	if err != nil || items == nil {
		return nil, err
	}
	m := make(map[string]string, len(items))
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		k, val, ok := strings.Cut(it, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s has no '='", quote(it))
		case k == "":
			return nil, fmt.Errorf("%s has no name before '='", quote(it))
		case !validName(k):
			return nil, fmt.Errorf("%s is not a valid name", quote(k))
		case val == "":
			return nil, fmt.Errorf("%s has an empty value", quote(k))
		case !validValue(val):
			return nil, fmt.Errorf("the value of %s holds a character not allowed", quote(k))
		}
		id := k
		if fold {
			id = strings.ToLower(k)
		}
		if seen[id] {
			return nil, fmt.Errorf("%s is given twice", quote(k))
		}
		seen[id] = true
		m[k] = val
	}
	return m, nil
}

// formatPairs writes m sorted by key, with values hidden if redact.
func formatPairs(m map[string]string, redact bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if redact {
			b.WriteString(redacted)
		} else {
			b.WriteString(m[k])
		}
	}
	return b.String()
}

// redacted replaces secret values in WriteTo's output.
const redacted = "<redacted>"

// validHeaderName reports whether s is an HTTP token (RFC 9110 5.6.2).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderValue allows printable ASCII and spaces, which both gRPC
// metadata and HTTP accept.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func validAttrName(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '=' {
			return false
		}
	}
	return true
}

func validAttrValue(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// hostPort checks host:port or [ipv6]:port with a port from 1 to 65535.
func hostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s is not host:port", quote(v))
	}
	if strings.HasPrefix(v, "[") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return fmt.Errorf("%s is not an IPv6 address", quote(host))
		}
	} else if err := checkHost(host); err != nil {
		return err
	}
	return checkPort(port)
}

func checkHost(host string) error {
	if host == "" {
		return errors.New("the host is empty")
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%s is not an IPv6 address", quote(host))
		}
		return nil
	}
	for _, r := range host {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("/?#@[]", r) {
			return fmt.Errorf("%s is not a host name", quote(host))
		}
	}
	return nil
}

func checkPort(port string) error {
	if !isDigits(port) {
		return fmt.Errorf("port %s is not a number", quote(port))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %s is out of range", quote(port))
	}
	return nil
}

func parseEndpoint(c *Config, v string) error {
	if v == "" {
		return errEmpty
	}
	lower := strings.ToLower(v)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		if strings.Contains(v, "://") {
			return fmt.Errorf("%s: only http:// and https:// URLs are allowed", quote(v))
		}
		if err := hostPort(v); err != nil {
			return err
		}
		c.OTLP.Endpoint = v
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("%s is not a URL", quote(v))
	}
	switch {
	case u.User != nil:
		return errors.New("the URL holds credentials; put them in otlp_headers")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("the URL has a query or fragment")
	}
	if err := checkHost(u.Hostname()); err != nil {
		return err
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if err := checkPort(p); err != nil {
			return err
		}
	}
	c.OTLP.Endpoint = v
	return nil
}

// endpointURL returns the parsed URL of an http(s) endpoint, or nil for
// host:port.
func endpointURL(endpoint string) *url.URL {
	lower := strings.ToLower(endpoint)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil
	}
	return u
}

func parseStatsDAddress(c *Config, v string) error {
	if v == "" {
		return errEmpty
	}
	if p, ok := strings.CutPrefix(v, "unix://"); ok {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("%s: a unix socket needs an absolute path, unix:///path", quote(v))
		}
		c.StatsD.Address = v
		return nil
	}
	if strings.Contains(v, "://") {
		return fmt.Errorf("%s: only unix:// addresses are allowed as URLs", quote(v))
	}
	if err := hostPort(v); err != nil {
		return err
	}
	c.StatsD.Address = v
	return nil
}

func parseNamespace(c *Config, v string) error {
	for i := 0; i < len(v); i++ {
		ch := v[i]
		letter := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z'
		if i == 0 && !letter {
			return fmt.Errorf("%s does not start with a letter", quote(v))
		}
		if !letter && !('0' <= ch && ch <= '9') && ch != '_' && ch != '.' {
			return fmt.Errorf("%s holds %s", quote(v), quote(string(rune(ch))))
		}
	}
	c.StatsD.Namespace = v
	return nil
}

func parseTags(c *Config, v string) error {
	items, err := splitList(v)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		k, val, ok := strings.Cut(it, ":")
		if !ok || k == "" || val == "" {
			return fmt.Errorf("%s is not key:value", quote(it))
		}
		for _, r := range it {
			if r <= ' ' || r == 0x7f || r == '|' {
				return fmt.Errorf("%s holds a space, a control character or '|'", quote(it))
			}
		}
		if seen[it] {
			return fmt.Errorf("%s is given twice", quote(it))
		}
		seen[it] = true
	}
	c.StatsD.Tags = items
	return nil
}

// quote quotes s for an error message, cut to a readable length.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }
