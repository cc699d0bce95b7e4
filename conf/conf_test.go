package conf

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parse parses src as file "t.conf".
func parse(t *testing.T, src string) (*Config, error) {
	t.Helper()
	c, err := Parse(strings.NewReader(src), "t.conf")
	if (c == nil) == (err == nil) {
		t.Fatalf("Parse(%q) = %v, %v: want exactly one of config and error", src, c, err)
	}
	return c, err
}

// mustParse parses src and fails the test on error.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := parse(t, src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return c
}

// plain returns c without its file name and set keys, for comparing values.
func plain(c Config) Config {
	c.File = ""
	c.lines = nil
	c.OTLP.Given = OTLPGiven{}
	return c
}

// allErrors returns the *Error values joined in err.
func allErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*Error, 0, len(errs))
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %v (%T) is not a *conf.Error", e, e)
		}
		out = append(out, ce)
	}
	return out
}

func TestDefault(t *testing.T) {
	got := Default()
	want := Config{
		Interval:       60 * time.Second,
		SampleInterval: 0, // auto
		RecordWait:     time.Second,
		Method:         MethodAuto,
		Emitters:       []string{EmitterOTLP},
		EmitQueue:      16,
		LogLevel:       slog.LevelInfo,
		OTLP: OTLP{
			Endpoint:     "localhost:4317",
			Protocol:     "grpc",
			Insecure:     true, // auto, and the endpoint is on this host
			InsecureAuto: true,
			Compression:  "none",
			Timeout:      10 * time.Second,
		},
		StatsD: StatsD{
			Address:   "127.0.0.1:8125",
			Namespace: "linux.audit.",
			TagFormat: "dogstatsd",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", got, want)
	}
	for _, k := range Keys() {
		if got.IsSet(k.Name) {
			t.Errorf("Default().IsSet(%q) = true, want false", k.Name)
		}
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n", "  \t\r\n\r\n", "\uFEFF# BOM\n"} {
		c := mustParse(t, src)
		if got, want := plain(*c), Default(); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, want Default() %+v", src, got, want)
		}
		if c.File != "t.conf" {
			t.Errorf("Parse(%q).File = %q, want t.conf", src, c.File)
		}
	}
}

func TestKeysTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if seen[k.Name] {
			t.Errorf("key %s listed twice", k.Name)
		}
		seen[k.Name] = true
		if k.Doc == "" || k.Allowed == "" || k.parse == nil || k.format == nil {
			t.Errorf("key %s lacks Doc, Allowed, parse or format", k.Name)
		}
		if k.Secret != (k.redact != nil) {
			t.Errorf("key %s: Secret = %v but redact set = %v", k.Name, k.Secret, k.redact != nil)
		}
		if (k.Default == "") == (k.Example == "") {
			t.Errorf("key %s: want exactly one of Default %q and Example %q", k.Name, k.Default, k.Example)
		}
		switch k.Section {
		case SectionGeneral, SectionOTLP, SectionStatsD:
		default:
			t.Errorf("key %s: unknown section %q", k.Name, k.Section)
		}
	}
	// Every Default and Example must parse, all together (the examples
	// are consistent with each other), and format back to itself.
	var src strings.Builder
	for _, k := range Keys() {
		src.WriteString(k.Name + " = " + k.Default + k.Example + "\n")
	}
	c := mustParse(t, src.String())
	for _, k := range Keys() {
		if got, want := k.format(c), k.Default+k.Example; got != want {
			t.Errorf("key %s: %q formats back as %q", k.Name, want, got)
		}
	}
	// Keys returns a copy: changing it does not change the next call.
	ks := Keys()
	ks[0].Default = "1h"
	if Keys()[0].Default == "1h" {
		t.Error("Keys() returned shared storage")
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		src  string
		want func(*Config) // edits Default() into the expected config
	}{
		{"interval = 60", func(c *Config) {}},
		{"interval = 90", func(c *Config) { c.Interval = 90 * time.Second }},
		{"interval=2m", func(c *Config) { c.Interval = 2 * time.Minute }},
		{"interval = 1h", func(c *Config) { c.Interval = time.Hour }},
		{"interval = 1s", func(c *Config) {
			c.Interval = time.Second
			c.RecordWait = 500 * time.Millisecond // default capped at interval/2
			c.OTLP.Timeout = time.Second          // default capped at interval
		}},
		{"interval = 5s\r\n", func(c *Config) { c.Interval = 5 * time.Second; c.OTLP.Timeout = 5 * time.Second }},
		{"\t interval \t=\t 1m30s \t", func(c *Config) { c.Interval = 90 * time.Second }},
		{"sample_interval = 10ms", func(c *Config) { c.SampleInterval = 10 * time.Millisecond }},
		{"sample_interval = 59s", func(c *Config) { c.SampleInterval = 59 * time.Second }},
		{"record_wait = 0", func(c *Config) { c.RecordWait = 0 }},
		{"record_wait = 30s", func(c *Config) { c.RecordWait = 30 * time.Second }},
		{"interval = 4s\nrecord_wait = 2s", func(c *Config) {
			c.Interval, c.RecordWait, c.OTLP.Timeout = 4*time.Second, 2*time.Second, 4*time.Second
		}},
		{"method = kernel", func(c *Config) { c.Method = MethodKernel }},
		{"method = Sampled", func(c *Config) { c.Method = MethodSampled }},
		{"emitters = statsd, stdout,otlp", func(c *Config) { c.Emitters = []string{"statsd", "stdout", "otlp"} }},
		{"emitters = STDOUT", func(c *Config) { c.Emitters = []string{"stdout"} }},
		{"emit_queue = 1", func(c *Config) { c.EmitQueue = 1 }},
		{"emit_queue = 1024", func(c *Config) { c.EmitQueue = 1024 }},
		{"log_level = debug", func(c *Config) { c.LogLevel = slog.LevelDebug }},
		{"log_level = WARN", func(c *Config) { c.LogLevel = slog.LevelWarn }},
		{"log_level = error", func(c *Config) { c.LogLevel = slog.LevelError }},
		{"otlp_protocol = http/protobuf", func(c *Config) {
			c.OTLP.Protocol, c.OTLP.Endpoint = "http/protobuf", "localhost:4318"
		}},
		{"otlp_endpoint = collector:4317\notlp_protocol = http/protobuf", func(c *Config) {
			c.OTLP.Protocol, c.OTLP.Endpoint, c.OTLP.Insecure = "http/protobuf", "collector:4317", false
		}},
		{"otlp_endpoint = [::1]:4317", func(c *Config) { c.OTLP.Endpoint = "[::1]:4317" }},
		{"otlp_endpoint = https://otel.example.com", func(c *Config) {
			c.OTLP.Endpoint, c.OTLP.Insecure = "https://otel.example.com", false
		}},
		{"otlp_endpoint = http://10.0.0.1:4318/custom/metrics\notlp_protocol = http/protobuf", func(c *Config) {
			c.OTLP.Endpoint, c.OTLP.Protocol = "http://10.0.0.1:4318/custom/metrics", "http/protobuf"
		}},
		{"otlp_endpoint = 10.0.0.1:4317", func(c *Config) { c.OTLP.Endpoint, c.OTLP.Insecure = "10.0.0.1:4317", false }},
		{"otlp_endpoint = 127.0.0.2:4317", func(c *Config) { c.OTLP.Endpoint = "127.0.0.2:4317" }},
		{"otlp_endpoint = agent.localhost:4317", func(c *Config) { c.OTLP.Endpoint = "agent.localhost:4317" }},
		{"otlp_endpoint = localhost.example.com:4317", func(c *Config) {
			c.OTLP.Endpoint, c.OTLP.Insecure = "localhost.example.com:4317", false
		}},
		{"otlp_insecure = yes", func(c *Config) { c.OTLP.Insecure, c.OTLP.InsecureAuto = true, false }},
		{"otlp_insecure = TRUE", func(c *Config) { c.OTLP.Insecure, c.OTLP.InsecureAuto = true, false }},
		{"otlp_insecure = 1", func(c *Config) { c.OTLP.Insecure, c.OTLP.InsecureAuto = true, false }},
		{"otlp_insecure = false", func(c *Config) { c.OTLP.Insecure, c.OTLP.InsecureAuto = false, false }},
		{"otlp_insecure = Auto", func(c *Config) {}},
		{"otlp_insecure = no\notlp_endpoint = [::1]:4317", func(c *Config) {
			c.OTLP.Endpoint, c.OTLP.Insecure, c.OTLP.InsecureAuto = "[::1]:4317", false, false
		}},
		{"otlp_ca_file = /etc/ca.pem", func(c *Config) { c.OTLP.CAFile, c.OTLP.Insecure = "/etc/ca.pem", false }},
		{"otlp_ca_file =", func(c *Config) {}},
		{"otlp_cert_file = /c.pem\notlp_key_file = /k.pem", func(c *Config) {
			c.OTLP.CertFile, c.OTLP.KeyFile, c.OTLP.Insecure = "/c.pem", "/k.pem", false
		}},
		{"otlp_headers = authorization=Bearer a=b==, x-tenant = ops ", func(c *Config) {
			c.OTLP.Headers = map[string]string{"authorization": "Bearer a=b==", "x-tenant": "ops"}
		}},
		{"otlp_headers = api-key=abc#123", func(c *Config) { c.OTLP.Headers = map[string]string{"api-key": "abc#123"} }},
		{"otlp_compression = gzip", func(c *Config) { c.OTLP.Compression = "gzip" }},
		{"otlp_timeout = 30s", func(c *Config) { c.OTLP.Timeout = 30 * time.Second }},
		{"resource_attributes = deployment.environment=prod, site=é/1", func(c *Config) {
			c.OTLP.ResourceAttributes = map[string]string{"deployment.environment": "prod", "site": "é/1"}
		}},
		{"statsd_address = [fe80::1%eth0]:8125", func(c *Config) { c.StatsD.Address = "[fe80::1%eth0]:8125" }},
		{"statsd_address = unix:///var/run/datadog/dsd.socket", func(c *Config) {
			c.StatsD.Address = "unix:///var/run/datadog/dsd.socket"
		}},
		{"statsd_address = dd-agent:8125", func(c *Config) { c.StatsD.Address = "dd-agent:8125" }},
		{"statsd_namespace =", func(c *Config) { c.StatsD.Namespace = "" }},
		{"statsd_namespace = audit_2.", func(c *Config) { c.StatsD.Namespace = "audit_2." }},
		{"statsd_tags = env:prod, team:sec:ops", func(c *Config) { c.StatsD.Tags = []string{"env:prod", "team:sec:ops"} }},
		{"statsd_tag_format = none", func(c *Config) { c.StatsD.TagFormat = "none" }},
		{"# interval = 5s\n   # emitters = stdout", func(c *Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			want := Default()
			tt.want(&want)
			got := mustParse(t, tt.src)
			if !reflect.DeepEqual(plain(*got), want) {
				t.Errorf("got\n%+v\nwant\n%+v", plain(*got), want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		want []string // each error's text, in order
	}{
		{"interval", []string{`t.conf:1: "interval" has no '=' (allowed: key = value, or a comment starting with #)`}},
		{"= 5", []string{`t.conf:1: no key before '=' (allowed: key = value, or a comment starting with #)`}},
		{"intervall = 5s", []string{`t.conf:1: intervall: unknown key, did you mean interval?`}},
		{"active = yes\npath = /x\nfoo = 1", []string{
			`t.conf:1: active: unknown key (allowed: ` + strings.Join(keyNames(), ", ") + `)`,
			`t.conf:2: path: unknown key (the keys are listed above)`,
			`t.conf:3: foo: unknown key (the keys are listed above)`,
		}},
		{"interval = 5s\ninterval = 6s", []string{`t.conf:2: interval: duplicate key, first set on line 1`}},
		{"interval =", []string{`t.conf:1: interval: empty value (allowed: a duration from 1s to 1h, e.g. 60 (seconds), 60s, 1m, 100ms)`}},
		{"interval = 500ms", []string{`t.conf:1: interval: "500ms" is shorter than 1s (allowed: a duration from 1s to 1h, e.g. 60 (seconds), 60s, 1m, 100ms)`}},
		{"interval = 3601", []string{`t.conf:1: interval: "3601" is longer than 1h (allowed: a duration from 1s to 1h, e.g. 60 (seconds), 60s, 1m, 100ms)`}},
		{"interval = 60 # seconds", []string{`t.conf:1: interval: "60 # seconds" is not a duration; comments must be on a line of their own (allowed: a duration from 1s to 1h, e.g. 60 (seconds), 60s, 1m, 100ms)`}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := parse(t, tt.src)
			if err == nil {
				t.Fatal("no error")
			}
			var got []string
			for _, e := range allErrors(t, err) {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func keyNames() []string {
	var names []string
	for _, k := range Keys() {
		names = append(names, k.Name)
	}
	return names
}

// TestRejects checks, for each bad value, the key and line of the single
// error and a fragment of its message.
func TestRejects(t *testing.T) {
	tests := []struct {
		src  string
		line int
		key  string
		msg  string
	}{
		{"interval = -5s", 1, "interval", "negative"},
		{"interval = 1.5", 1, "interval", "not a duration"},
		{"interval = 99999999999999999999", 1, "interval", "out of range"},
		{"interval = 9999999999999h", 1, "interval", "not a duration"},
		{"interval = 5 s", 1, "interval", "not a duration"},
		{"sample_interval = 5ms", 1, "sample_interval", "shorter than 10ms"},
		{"interval = 2s\nsample_interval = 2s", 2, "sample_interval", "not shorter than interval = 2s on line 1"},
		{"sample_interval = 2s\ninterval = 1s", 1, "sample_interval", "not shorter than interval = 1s on line 2"},
		{"sample_interval = 60s", 1, "sample_interval", "interval = 60s by default"},
		{"record_wait = 31s", 1, "record_wait", "longer than half of interval = 60s by default"},
		{"otlp_timeout = 61s", 1, "otlp_timeout", "longer than interval = 60s by default"},
		{"otlp_timeout = 500ms", 1, "otlp_timeout", "shorter than 1s"},
		{"method = both", 1, "method", `"both" is not a valid value`},
		{"emitters =", 1, "emitters", "empty value"},
		{"emitters = otlp,,stdout", 1, "emitters", "item 2 is empty"},
		{"emitters = otlp, otlp", 1, "emitters", "listed twice"},
		{"emitters = prometheus", 1, "emitters", `"prometheus" is not an emitter`},
		{"emit_queue = 0", 1, "emit_queue", "out of range"},
		{"emit_queue = 1025", 1, "emit_queue", "out of range"},
		{"emit_queue = 18446744073709551616", 1, "emit_queue", "out of range"},
		{"emit_queue = 0x10", 1, "emit_queue", "not an integer"},
		{"log_level = trace", 1, "log_level", "not a valid value"},
		{"otlp_endpoint = localhost", 1, "otlp_endpoint", "not host:port"},
		{"otlp_endpoint = localhost:0", 1, "otlp_endpoint", "out of range"},
		{"otlp_endpoint = localhost:65536", 1, "otlp_endpoint", "out of range"},
		{"otlp_endpoint = :4317", 1, "otlp_endpoint", "host is empty"},
		{"otlp_endpoint = grpc://x:4317", 1, "otlp_endpoint", "only http:// and https://"},
		{"otlp_endpoint = https://user:pw@x", 1, "otlp_endpoint", "credentials"},
		{"otlp_endpoint = https://x/?a=b", 1, "otlp_endpoint", "query"},
		{"otlp_endpoint = https://x:port", 1, "otlp_endpoint", "not a URL"},
		{"otlp_endpoint = https://x/v1/metrics", 1, "otlp_endpoint", "needs otlp_protocol = http/protobuf, not grpc by default"},
		{"otlp_protocol = http/json", 1, "otlp_protocol", "not a valid value"},
		{"otlp_insecure = maybe", 1, "otlp_insecure", "not a valid value"},
		{"otlp_ca_file = ca.pem", 1, "otlp_ca_file", "not an absolute path"},
		{"otlp_cert_file = /c.pem", 1, "otlp_cert_file", "needs otlp_key_file"},
		{"otlp_key_file = /k.pem", 1, "otlp_key_file", "needs otlp_cert_file"},
		{"otlp_ca_file = /ca.pem\notlp_insecure = yes", 2, "otlp_insecure", "otlp_ca_file is set on line 1"},
		{"otlp_insecure = yes\notlp_endpoint = https://x", 1, "otlp_insecure", "https:// URL on line 2"},
		{"otlp_endpoint = http://x:4318\notlp_ca_file = /ca.pem", 1, "otlp_endpoint", "http:// URL turns off TLS, but otlp_ca_file is set on line 2"},
		{"otlp_headers = authorization", 1, "otlp_headers", "has no '='"},
		{"otlp_headers = =x", 1, "otlp_headers", "no name"},
		{"otlp_headers = a b=x", 1, "otlp_headers", "not a valid name"},
		{"otlp_headers = a=", 1, "otlp_headers", "empty value"},
		{"otlp_headers = a=é", 1, "otlp_headers", "not allowed"},
		{"otlp_headers = Auth=1, auth=2", 1, "otlp_headers", "given twice"},
		{"otlp_compression = zstd", 1, "otlp_compression", "not a valid value"},
		{"resource_attributes = a=1,a=2", 1, "resource_attributes", "given twice"},
		{"statsd_address = 8125", 1, "statsd_address", "not host:port"},
		{"statsd_address = ::1:8125", 1, "statsd_address", "not host:port"},
		{"statsd_address = [nothost]:8125", 1, "statsd_address", "not an IPv6 address"},
		{"statsd_address = unix://relative.sock", 1, "statsd_address", "absolute path"},
		{"statsd_address = udp://x:8125", 1, "statsd_address", "only unix://"},
		{"statsd_namespace = 1audit.", 1, "statsd_namespace", "start with a letter"},
		{"statsd_namespace = a|b", 1, "statsd_namespace", `holds "|"`},
		{"statsd_tags = env", 1, "statsd_tags", "not key:value"},
		{"statsd_tags = env:a|b", 1, "statsd_tags", "'|'"},
		{"statsd_tags = env:a,env:a", 1, "statsd_tags", "given twice"},
		{"statsd_tag_format = datadog", 1, "statsd_tag_format", "not a valid value"},
		{"statsd_tags = a:b\nstatsd_tag_format = none", 1, "statsd_tags", "statsd_tag_format = none on line 2"},
		{"Interval = 5s", 1, "Interval", "did you mean interval?"},
		{"log-level = info", 1, "log-level", "did you mean log_level?"},
		{"interval = 5s\x00", 1, "", "control character"},
		{"interval = \xff", 1, "", "not valid UTF-8"},
		{"interval = 5s\rsample_interval = 1s", 1, "", "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := parse(t, tt.src)
			if err == nil {
				t.Fatal("no error")
			}
			errs := allErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), err)
			}
			e := errs[0]
			if e.File != "t.conf" || e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got %q (line %d, key %q), want line %d, key %q, message containing %q",
					e.Error(), e.Line, e.Key, tt.line, tt.key, tt.msg)
			}
			if e.Key != "" && keyByName(e.Key) != nil && e.Allowed != keyByName(e.Key).Allowed {
				t.Errorf("Allowed = %q, want the key's %q", e.Allowed, keyByName(e.Key).Allowed)
			}
		})
	}
}

func keyByName(name string) *Key {
	for _, k := range Keys() {
		if k.Name == name {
			return &k
		}
	}
	return nil
}

// TestEveryErrorAtOnce checks that all bad lines are reported, in line
// order, and no config comes back.
func TestEveryErrorAtOnce(t *testing.T) {
	src := strings.Join([]string{
		"interval = 5s",          // 1 ok
		"bogus = 1",              // 2 unknown
		"sample_interval = 10s",  // 3 not shorter than interval
		"emit_queue = many",      // 4 bad value
		"no equals sign here",    // 5 missing '='
		"interval = 6s",          // 6 duplicate
		"otlp_cert_file = /c.pm", // 7 needs key
	}, "\n")
	_, err := parse(t, src)
	var lines []int
	for _, e := range allErrors(t, err) {
		lines = append(lines, e.Line)
	}
	if want := []int{2, 3, 4, 5, 6, 7}; !reflect.DeepEqual(lines, want) {
		t.Errorf("error lines = %v, want %v\n%v", lines, want, err)
	}
}

// TestCrossCheckSkipsBadKeys checks that a rejected value does not cause a
// second error about its relation to other keys.
func TestCrossCheckSkipsBadKeys(t *testing.T) {
	_, err := parse(t, "interval = 0s\nsample_interval = 50s\nrecord_wait = 40s\notlp_timeout = 50s")
	errs := allErrors(t, err)
	if len(errs) != 1 || errs[0].Key != "interval" {
		t.Errorf("got %v, want only the error about interval", err)
	}
}

func TestIsSet(t *testing.T) {
	c := mustParse(t, "interval = 60s\n# emitters = stdout\notlp_protocol = http/protobuf\n")
	for _, k := range Keys() {
		want := k.Name == "interval" || k.Name == "otlp_protocol"
		if got := c.IsSet(k.Name); got != want {
			t.Errorf("IsSet(%q) = %v, want %v", k.Name, got, want)
		}
	}
	if c.OTLP.Endpoint != "localhost:4318" {
		t.Errorf("Endpoint = %q, want localhost:4318 for http/protobuf", c.OTLP.Endpoint)
	}
	if c.Line("otlp_protocol") != 3 || c.Line("interval") != 1 || c.Line("emitters") != 0 {
		t.Errorf("Line: otlp_protocol %d, interval %d, emitters %d; want 3, 1, 0",
			c.Line("otlp_protocol"), c.Line("interval"), c.Line("emitters"))
	}
}

func TestLimits(t *testing.T) {
	t.Run("file size", func(t *testing.T) {
		src := strings.Repeat("# padding\n", MaxFileSize/10+1)
		_, err := parse(t, src)
		errs := allErrors(t, err)
		if len(errs) != 1 || errs[0].Line != 0 || !strings.Contains(errs[0].Msg, "larger than 1048576 bytes") {
			t.Errorf("got %v, want one error about the size", err)
		}
		// Exactly MaxFileSize is fine.
		mustParse(t, src[:MaxFileSize-1]+"\n")
	})
	t.Run("line length", func(t *testing.T) {
		long := "otlp_headers = a=" + strings.Repeat("x", MaxLineLen) + "\ninterval = x\n"
		_, err := parse(t, long)
		errs := allErrors(t, err)
		if len(errs) != 2 || errs[0].Line != 1 || !strings.Contains(errs[0].Msg, "longer than 16384 bytes") || errs[1].Line != 2 {
			t.Errorf("got %v, want line 1 too long and line 2 bad", err)
		}
		ok := "otlp_headers = a=" + strings.Repeat("x", MaxValueLen-len("a="))
		if c := mustParse(t, ok); len(c.OTLP.Headers["a"]) != MaxValueLen-len("a=") {
			t.Errorf("value of exactly MaxValueLen bytes not kept whole")
		}
		// A line within MaxLineLen whose value is too long: the value
		// would not fit on a line once written back as "key = value".
		tight := "otlp_headers=a=" + strings.Repeat("x", MaxLineLen-len("otlp_headers=a="))
		_, err = parse(t, tight)
		errs = allErrors(t, err)
		if len(errs) != 1 || errs[0].Key != "otlp_headers" || !strings.Contains(errs[0].Msg, "value is longer than 16352 bytes") {
			t.Errorf("got %v, want one error about the value's length", err)
		}
	})
	t.Run("error count", func(t *testing.T) {
		src := strings.Repeat("bad\n", 1000)
		_, err := parse(t, src)
		errs := allErrors(t, err)
		if len(errs) != MaxErrors+1 || !strings.Contains(errs[MaxErrors].Msg, "too many errors") {
			t.Errorf("got %d errors, want %d and a last one saying too many", len(errs), MaxErrors+1)
		}
	})
	t.Run("long key in error", func(t *testing.T) {
		_, err := parse(t, strings.Repeat("k", 5000)+" = 1")
		if got := err.Error(); len(got) > 1000 {
			t.Errorf("error is %d bytes long, want the key cut short", len(got))
		}
	})
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "a.conf", Line: 3, Key: "interval", Msg: "bad", Allowed: "1s to 1h"}, "a.conf:3: interval: bad (allowed: 1s to 1h)"},
		{Error{File: "a.conf", Line: 3, Key: "interval", Msg: "duplicate"}, "a.conf:3: interval: duplicate"},
		{Error{File: "a.conf", Line: 7, Msg: "no '='"}, "a.conf:7: no '='"},
		{Error{File: "a.conf", Msg: "not a regular file"}, "a.conf: not a regular file"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestWriteToRoundTrip(t *testing.T) {
	src := "interval = 90\nemitters = stdout, statsd\notlp_headers = b=2,a=x=y\nresource_attributes = z=1,y=2\n" +
		"statsd_tags = a:b,c:d\notlp_protocol = http/protobuf\nlog_level = warn\n"
	c := mustParse(t, src)
	var full bytes.Buffer
	if _, err := c.write(&full, false); err != nil {
		t.Fatal(err)
	}
	again := mustParse(t, full.String())
	if !reflect.DeepEqual(plain(*c), plain(*again)) {
		t.Errorf("round trip changed the config:\n%s\n%+v\n%+v", full.String(), *c, *again)
	}

	var red bytes.Buffer
	n, err := c.WriteTo(&red)
	if err != nil || n != int64(red.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, red.Len())
	}
	out := red.String()
	if strings.Contains(out, "x=y") || !strings.Contains(out, "otlp_headers = a=<redacted>,b=<redacted>\n") {
		t.Errorf("WriteTo did not redact otlp_headers:\n%s", out)
	}
	if !strings.Contains(out, "resource_attributes = y=2,z=1\n") || !strings.Contains(out, "otlp_endpoint = localhost:4318\n") {
		t.Errorf("WriteTo output lacks expected lines:\n%s", out)
	}
	for _, k := range Keys() {
		if !strings.Contains(out, "\n"+k.Name+" =") && !strings.HasPrefix(out, k.Name+" =") {
			t.Errorf("WriteTo output lacks key %s", k.Name)
		}
	}
}

func TestHasSecrets(t *testing.T) {
	if c := Default(); c.HasSecrets() {
		t.Error("Default().HasSecrets() = true")
	}
	if c := mustParse(t, "otlp_headers =\n"); c.HasSecrets() {
		t.Error("empty otlp_headers counted as a secret")
	}
	if c := mustParse(t, "otlp_headers = a=b\n"); !c.HasSecrets() {
		t.Error("otlp_headers not counted as a secret")
	}
}

func TestCheckPerm(t *testing.T) {
	tests := []struct {
		owner   uint32
		mode    os.FileMode
		secrets bool
		want    string // fragment; "" means accepted
	}{
		{0, 0o600, false, ""},
		{0, 0o644, false, ""},
		{0, 0o640, true, ""},
		{0, 0o600, true, ""},
		{0, 0o400, true, ""},
		{1000, 0o600, false, "owned by uid 1000, not root"},
		{1000, 0o600, true, "owned by uid 1000"},
		{0, 0o664, false, "writable by group or others (mode 0664)"},
		{0, 0o646, false, "writable by group or others (mode 0646)"},
		{0, 0o666, true, "writable"},
		{0, 0o644, true, "others can read it (mode 0644)"},
		{0, 0o604, true, "others can read it"},
		{0, 0o644 | os.ModeSetuid, false, ""},
	}
	for _, tt := range tests {
		got := checkPerm(tt.owner, tt.mode, tt.secrets)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("checkPerm(%d, %v, %v) = %q, want %q", tt.owner, tt.mode, tt.secrets, got, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // not subject to umask
			t.Fatal(err)
		}
		return p
	}
	ours := uint32(os.Geteuid())
	good := write("good.conf", "interval = 30s\n", 0o644)
	secret := write("secret.conf", "otlp_headers = a=b\n", 0o644)
	writable := write("writable.conf", "interval = 30s\n", 0o666)
	bad := write("bad.conf", "interval = x\n", 0o644)

	tests := []struct {
		path   string
		asRoot bool
		want   string // error fragment, "" for success
	}{
		{good, false, ""},
		{secret, false, ""},
		{writable, false, ""},
		{bad, false, `interval: "x" is not a duration`},
		{filepath.Join(dir, "missing.conf"), false, "no such file"},
		{dir, false, "not a regular file"},
	}
	if ours == 0 {
		// The files are ours, so root-owned: the mode checks apply.
		tests = append(tests, []struct {
			path   string
			asRoot bool
			want   string
		}{
			{good, true, ""},
			{secret, true, "others can read it"},
			{writable, true, "writable by group or others"},
		}...)
	} else {
		tests = append(tests, struct {
			path   string
			asRoot bool
			want   string
		}{good, true, "not root"})
	}
	for _, tt := range tests {
		c, err := load(tt.path, tt.asRoot)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("load(%s, root=%v): %v", tt.path, tt.asRoot, err)
		case tt.want == "" && c.File != tt.path:
			t.Errorf("load(%s).File = %q", tt.path, c.File)
		case tt.want != "" && (err == nil || c != nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("load(%s, root=%v) = %v, %v; want error containing %q", tt.path, tt.asRoot, c, err, tt.want)
		}
	}
	if c, err := Load(good); err != nil || c.Interval != 30*time.Second {
		t.Errorf("Load(%s) = %+v, %v", good, c, err)
	}
}

// BenchmarkParse parses the shipped sample configuration.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(samplePath)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), samplePath); err != nil {
			b.Fatal(err)
		}
	}
}

// TestValueRoom checks that every key fits in the room MaxValueLen leaves
// on a line, so that WriteTo's "key = value" never exceeds MaxLineLen.
func TestValueRoom(t *testing.T) {
	for _, k := range Keys() {
		if len(k.Name)+len(" = ")+MaxValueLen > MaxLineLen {
			t.Errorf("key %s is too long for MaxValueLen = %d", k.Name, MaxValueLen)
		}
	}
}
