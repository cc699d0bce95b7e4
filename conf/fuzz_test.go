package conf

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, returns either a valid
// configuration or errors (never both), that every error is a *Error
// whose text is printable, and that a valid configuration survives a
// round trip through its own output.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.conf")
	files = append(files, samplePath)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data), "fuzz.conf")
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one", c, err)
		}
		if err != nil {
			checkErrors(t, err, bytes.Count(data, []byte("\n"))+1)
			return
		}
		checkValid(t, c)
		var out bytes.Buffer
		if _, err := c.write(&out, false); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(&out, "again.conf")
		if err != nil {
			t.Fatalf("output of a valid config does not parse: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(plain(*c), plain(*again)) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", *c, *again)
		}
	})
}

func checkErrors(t *testing.T, err error, lines int) {
	t.Helper()
	errs := allErrors(t, err)
	if len(errs) == 0 || len(errs) > MaxErrors+1+10 {
		t.Fatalf("%d errors", len(errs))
	}
	for _, e := range errs {
		if e.File != "fuzz.conf" || e.Line < 0 || e.Line > lines || e.Msg == "" {
			t.Fatalf("bad error %+v", e)
		}
		s := e.Error()
		if !utf8.ValidString(s) || len(s) > 2048 {
			t.Fatalf("error text is invalid UTF-8 or %d bytes long: %q", len(s), s)
		}
		if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
			t.Fatalf("error text holds a control character: %q", s)
		}
	}
}

// checkValid checks the rules a parsed configuration must follow.
func checkValid(t *testing.T, c *Config) {
	t.Helper()
	switch {
	case c.Interval < minInterval || c.Interval > maxInterval:
		t.Fatalf("interval %v", c.Interval)
	case c.SampleInterval != 0 && (c.SampleInterval < minSampleInterval || c.SampleInterval >= c.Interval):
		t.Fatalf("sample_interval %v with interval %v", c.SampleInterval, c.Interval)
	case c.RecordWait < 0 || c.RecordWait > c.Interval/2:
		t.Fatalf("record_wait %v with interval %v", c.RecordWait, c.Interval)
	case c.OTLP.Timeout < minTimeout || c.OTLP.Timeout > c.Interval:
		t.Fatalf("otlp_timeout %v with interval %v", c.OTLP.Timeout, c.Interval)
	case len(c.Emitters) == 0 || c.EmitQueue < 1 || c.EmitQueue > maxEmitQueue:
		t.Fatalf("emitters %v, emit_queue %d", c.Emitters, c.EmitQueue)
	case (c.OTLP.CertFile == "") != (c.OTLP.KeyFile == ""):
		t.Fatalf("cert %q without key %q", c.OTLP.CertFile, c.OTLP.KeyFile)
	case len(c.StatsD.Tags) > 0 && c.StatsD.TagFormat == "none":
		t.Fatalf("tags %v with tag format none", c.StatsD.Tags)
	}
}
