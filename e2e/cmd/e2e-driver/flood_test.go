//go:build linux

package main

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestParseFloodOpts(t *testing.T) {
	tests := []struct {
		in      string
		want    floodOpts
		wantErr bool
	}{
		{"", floodOpts{rounds: 5, window: 5 * time.Second, mode: "user", variants: floodVariants}, false},
		{"rounds=3,window=2s,mode=syscall,variants=cat+kernel,statsd=1",
			floodOpts{rounds: 3, window: 2 * time.Second, mode: "syscall", variants: []string{"cat", "kernel"}, statsd: true}, false},
		{"rounds=x", floodOpts{}, true},
		{"dur=5s", floodOpts{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseFloodOpts(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFloodOpts(%q): error %v, want error %t", tt.in, err, tt.wantErr)
			}
			if err == nil && (got.rounds != tt.want.rounds || got.window != tt.want.window || got.mode != tt.want.mode ||
				!slices.Equal(got.variants, tt.want.variants) || got.statsd != tt.want.statsd) {
				t.Errorf("parseFloodOpts(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	// What auditd 3.0.9 wrote in the guest (cont_handler, src/auditd.c).
	whole := "audit version = 3.0.9\ncurrent time = 11/29/26 23:00:18\nprocess priority = -4\n" +
		"writing to logs = yes\ncurrent log size = 1898 KB\nmax log size = 0 KB\n" +
		"current plugin queue depth = 0\nmax plugin queue depth used = 43\nplugin queue size = 20000\n" +
		"plugin queue overflow detected = no\nplugin queueing suspended = no\n"
	tests := []struct {
		name   string
		in     string
		wantOK bool
		key    string
		want   string
	}{
		{"whole", whole, true, "max plugin queue depth used", "43"},
		{"half written", whole[:len(whole)/2], false, "audit version", "3.0.9"},
		{"empty", "", false, "audit version", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := parseState([]byte(tt.in))
			if ok != tt.wantOK || m[tt.key] != tt.want {
				t.Errorf("parseState: %s = %q, whole %t; want %q, %t", tt.key, m[tt.key], ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestStatsdSum(t *testing.T) {
	grams := []string{
		"linux.audit.plugin.records:10|c|#type:USER\nlinux.audit.plugin.records:2|c|#type:SYSCALL\nlinux.audit.backlog.max_depth:5|g|#method:kernel",
		"linux.audit.plugin.records:5|c|#type:USER\nlinux.audit.plugin.records_other:7|c|#type:USER\nlinux.audit.plugin.records:x|c|#type:USER",
		"linux.audit.plugin.emits_dropped:3|c",
	}
	tests := []struct {
		name string
		want map[string]int64
	}{
		{"linux.audit.plugin.records", map[string]int64{"USER": 15, "SYSCALL": 2}},
		{"linux.audit.plugin.emits_dropped", map[string]int64{"": 3}},
		{"linux.audit.backlog.max_depth", map[string]int64{}}, // a gauge, not a count
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statsdSum(grams, tt.name); !maps.Equal(got, tt.want) {
				t.Errorf("statsdSum(%s) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

// FuzzStatsdSum: whatever the datagrams, summing two of them at once is
// summing each alone.
func FuzzStatsdSum(f *testing.F) {
	f.Add("linux.audit.plugin.records:10|c|#type:USER", "linux.audit.plugin.records:3|c|#type:USER,method:kernel")
	f.Add("linux.audit.plugin.records:-1|c\n\n", "linux.audit.plugin.records:|c|#")
	f.Fuzz(func(t *testing.T, a, b string) {
		const name = "linux.audit.plugin.records"
		both, sa, sb := statsdSum([]string{a, b}, name), statsdSum([]string{a}, name), statsdSum([]string{b}, name)
		for k, v := range sb {
			sa[k] += v
		}
		if !maps.Equal(both, sa) {
			t.Errorf("statsdSum of both = %v, of each = %v", both, sa)
		}
	})
}
