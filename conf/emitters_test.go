package conf

import "testing"

func TestSameEmitters(t *testing.T) {
	base := "emitters = otlp, statsd\notlp_insecure = yes\n"
	tests := []struct {
		name string
		b    string
		same bool
	}{
		{"identical", base, true},
		{"loop settings only", base + "interval = 2m\nsample_interval = 1s\nlog_level = debug\nmethod = sampled\n", true},
		{"emitter order", "emitters = statsd, otlp\notlp_insecure = yes\n", false},
		{"emitter removed", "emitters = otlp\notlp_insecure = yes\n", false},
		{"queue", base + "emit_queue = 4\n", false},
		{"otlp setting", base + "otlp_compression = gzip\n", false},
		{"statsd setting", base + "statsd_tags = env:prod\n", false},
		{"default written out, so no longer left to the environment", base + "otlp_endpoint = localhost:4317\n", false},
		{"statsd default written out", base + "statsd_address = 127.0.0.1:8125\n", false},
	}
	a := mustParse(t, base)
	for _, tt := range tests {
		if got := a.SameEmitters(mustParse(t, tt.b)); got != tt.same {
			t.Errorf("%s: SameEmitters = %v, want %v", tt.name, got, tt.same)
		}
	}
}

// TestEmitterKeys checks which keys configure the emitters: a new key of
// an emitter's section is one by being in the section, and of the general
// section only these two are.
func TestEmitterKeys(t *testing.T) {
	for _, k := range Keys() {
		want := k.Section != SectionGeneral || k.Name == "emitters" || k.Name == "emit_queue"
		if k.Emitters != want {
			t.Errorf("%s: Emitters = %v, want %v", k.Name, k.Emitters, want)
		}
	}
}

// TestOTLPGiven checks that the typed flags follow the file, key by key.
func TestOTLPGiven(t *testing.T) {
	keys := map[string]func(OTLPGiven) bool{
		"otlp_endpoint = localhost:4317": func(g OTLPGiven) bool { return g.Endpoint },
		"otlp_protocol = grpc":           func(g OTLPGiven) bool { return g.Protocol },
		"otlp_insecure = no":             func(g OTLPGiven) bool { return g.Insecure },
		"otlp_headers = x=y":             func(g OTLPGiven) bool { return g.Headers },
		"otlp_compression = none":        func(g OTLPGiven) bool { return g.Compression },
		"otlp_timeout = 10s":             func(g OTLPGiven) bool { return g.Timeout },
	}
	for line, given := range keys {
		if g := mustParse(t, line+"\n").OTLP.Given; !given(g) || countTrue(g) != 1 {
			t.Errorf("%s: Given = %+v, want exactly its own flag", line, g)
		}
	}
	if g := mustParse(t, "interval = 60s\n").OTLP.Given; g != (OTLPGiven{}) {
		t.Errorf("no otlp key: Given = %+v, want none", g)
	}
}

func countTrue(g OTLPGiven) int {
	n := 0
	for _, b := range []bool{g.Endpoint, g.Protocol, g.Insecure, g.Headers, g.Compression, g.Timeout} {
		if b {
			n++
		}
	}
	return n
}
