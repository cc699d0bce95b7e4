package emit

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// thirdInterval follows secondInterval; the kernel's lost counter went
// down (an administrator reset it), so its new value is sent.
// clearDDEnv empties the DD_* variables datadog-go turns into tags or
// fields, so that the lines are exactly the configured ones.
func clearDDEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"DD_ENTITY_ID", "DD_ENV", "DD_SERVICE", "DD_VERSION", "DD_EXTERNAL_ENV", "DD_CARDINALITY", "DATADOG_CARDINALITY"} {
		t.Setenv(k, "")
	}
}

func listenStatsD(t *testing.T, network string) *emittest.StatsD {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unixgram" {
		dir, err := os.MkdirTemp("", "emit") // short: unix socket paths are limited to 108 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "dsd.socket")
	}
	l, err := emittest.ListenStatsD(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var wantDogStatsD = [][]string{{
	"linux.audit.backlog.max_depth:4762|g|#env:test,method:kernel",
	"linux.audit.backlog.size:3|g|#env:test",
	"linux.audit.backlog.mean:12.25|g|#env:test",
	"linux.audit.backlog.limit:8192|g|#env:test",
	"linux.audit.backlog.utilization:0.581298828125|g|#env:test,method:kernel",
	"linux.audit.backlog.recommended_limit:10240|g|#env:test",
	"linux.audit.lost:0|c|#env:test",              // kernel counters: first value is the baseline
	"linux.audit.backlog.wait_time:0|c|#env:test", // ditto
	"linux.audit.backlog.resets:1|c|#env:test,source:own",
	"linux.audit.backlog.resets:1|c|#env:test,source:external",
	"linux.audit.event.count:40|c|#env:test",
	"linux.audit.event.failed:3|c|#env:test",
	"linux.audit.event.avc:1|c|#env:test",
	"linux.audit.event.fanotify:1|c|#env:test",
	"linux.audit.event.anomaly:1|c|#env:test",
	"linux.audit.event.response:1|c|#env:test",
	"linux.audit.login:2|c|#env:test,result:success",
	"linux.audit.login:1|c|#env:test,result:failed",
	"linux.audit.plugin.records:100|c|#env:test,type:SYSCALL", // plugin counters count from CounterStart
	"linux.audit.plugin.records:3|c|#env:test,type:CONFIG_CHANGE",
	"linux.audit.plugin.records:20|c|#env:test,type:other",
	"linux.audit.plugin.malformed:1|c|#env:test",
	"linux.audit.plugin.resets_failed:2|c|#env:test",
	"linux.audit.plugin.emits_failed:3|c|#env:test",
	"linux.audit.plugin.emits_dropped:4|c|#env:test",
	"linux.audit.plugin.samples_skipped:5|c|#env:test",
	"linux.audit.plugin.reset_records_dropped:6|c|#env:test",
	"linux.audit.auditd.queue.depth:3|g|#env:test",
	"linux.audit.auditd.queue.max_depth:1834|g|#env:test",
	"linux.audit.auditd.queue.size:2000|g|#env:test",
	"linux.audit.auditd.queue.overflow:0|g|#env:test",
	"linux.audit.auditd.log.free_space:81437720576|g|#env:test",
	"linux.audit.auditd.memory.total:135168|g|#env:test",
	"linux.audit.auditd.memory.in_use:95232|g|#env:test",
	"linux.audit.auditd.memory.free:39936|g|#env:test",
}, {
	"linux.audit.backlog.max_depth:17|g|#env:test,method:ebpf",
	"linux.audit.backlog.size:0|g|#env:test",
	"linux.audit.backlog.mean:0.5|g|#env:test",
	"linux.audit.backlog.limit:0|g|#env:test",
	"linux.audit.backlog.utilization:0|g|#env:test,method:ebpf",
	"linux.audit.backlog.recommended_limit:10240|g|#env:test",
	"linux.audit.backlog.enqueue_depth:9|c|#env:test,bucket:0-1", // only the buckets something fell in
	"linux.audit.backlog.enqueue_depth:5|c|#env:test,bucket:2-3",
	"linux.audit.backlog.enqueue_depth:3|c|#env:test,bucket:16-31",
	"linux.audit.backlog.enqueue_depth_mean:4.117647058823529|g|#env:test",
	"linux.audit.kauditd.retry_queue.max_depth:2|g|#env:test", // the hold queue's is not measured
	"linux.audit.probe.lost:0|c|#env:test,cause:rate_limit",
	"linux.audit.probe.lost:2|c|#env:test,cause:backlog_limit",
	"linux.audit.probe.lost:0|c|#env:test,cause:no_memory",
	"linux.audit.probe.lost:0|c|#env:test,cause:retry_overflow",
	"linux.audit.probe.lost:0|c|#env:test,cause:hold_overflow",
	"linux.audit.probe.lost:0|c|#env:test,cause:other",
	"linux.audit.lost:2|c|#env:test",
	"linux.audit.backlog.wait_time:500|c|#env:test",
	"linux.audit.backlog.resets:0|c|#env:test,source:own",
	"linux.audit.backlog.resets:0|c|#env:test,source:external",
	"linux.audit.event.count:30|c|#env:test",
	"linux.audit.event.failed:1|c|#env:test",
	"linux.audit.event.avc:0|c|#env:test",
	"linux.audit.event.fanotify:0|c|#env:test",
	"linux.audit.event.anomaly:0|c|#env:test",
	"linux.audit.event.response:0|c|#env:test",
	"linux.audit.login:3|c|#env:test,result:success",
	"linux.audit.login:0|c|#env:test,result:failed",
	"linux.audit.plugin.records:70|c|#env:test,type:SYSCALL",
	"linux.audit.plugin.records:1|c|#env:test,type:CONFIG_CHANGE",
	"linux.audit.plugin.records:6|c|#env:test,type:other",
	"linux.audit.plugin.malformed:0|c|#env:test",
	"linux.audit.plugin.resets_failed:0|c|#env:test",
	"linux.audit.plugin.emits_failed:2|c|#env:test",
	"linux.audit.plugin.emits_dropped:0|c|#env:test",
	"linux.audit.plugin.samples_skipped:3|c|#env:test",
	"linux.audit.plugin.reset_records_dropped:0|c|#env:test",
}, {
	"linux.audit.backlog.max_depth:17|g|#env:test,method:sampled",
	"linux.audit.backlog.size:0|g|#env:test",
	"linux.audit.backlog.mean:0.5|g|#env:test",
	"linux.audit.backlog.limit:0|g|#env:test",
	"linux.audit.backlog.utilization:0|g|#env:test,method:sampled",
	"linux.audit.backlog.recommended_limit:10240|g|#env:test",
	"linux.audit.lost:1|c|#env:test", // went down from 9: reset, send the new value
	"linux.audit.backlog.wait_time:0|c|#env:test",
	"linux.audit.backlog.resets:0|c|#env:test,source:own",
	"linux.audit.backlog.resets:0|c|#env:test,source:external",
	"linux.audit.event.count:0|c|#env:test",
	"linux.audit.event.failed:0|c|#env:test",
	"linux.audit.event.avc:0|c|#env:test",
	"linux.audit.event.fanotify:0|c|#env:test",
	"linux.audit.event.anomaly:0|c|#env:test",
	"linux.audit.event.response:0|c|#env:test",
	"linux.audit.login:0|c|#env:test,result:success",
	"linux.audit.login:0|c|#env:test,result:failed",
	"linux.audit.plugin.records:0|c|#env:test,type:SYSCALL",
	"linux.audit.plugin.records:0|c|#env:test,type:CONFIG_CHANGE",
	"linux.audit.plugin.records:0|c|#env:test,type:other",
	"linux.audit.plugin.malformed:0|c|#env:test",
	"linux.audit.plugin.resets_failed:0|c|#env:test",
	"linux.audit.plugin.emits_failed:0|c|#env:test",
	"linux.audit.plugin.emits_dropped:0|c|#env:test",
	"linux.audit.plugin.samples_skipped:0|c|#env:test",
	"linux.audit.plugin.reset_records_dropped:0|c|#env:test",
}}

// plainLines is want in plain statsd form: no tags, the tag's value folded
// into the name, namespace ns.
func plainLines(want []string, ns string) []string {
	out := make([]string, len(want))
	for i, l := range want {
		l = strings.TrimPrefix(l, "linux.audit.")
		name, rest, _ := strings.Cut(l, ":")
		value, tags, _ := strings.Cut(rest, "|#")
		for _, tag := range strings.Split(tags, ",") {
			if k, v, _ := strings.Cut(tag, ":"); k != "env" {
				name += "." + v
			}
		}
		out[i] = ns + name + ":" + value
	}
	return out
}

func TestStatsDLines(t *testing.T) {
	clearDDEnv(t)
	tests := []struct {
		name    string
		network string
		format  string
		extra   []string
		want    func(i int) []string
	}{
		{"dogstatsd/udp", "udp", "dogstatsd", []string{"statsd_tags = env:test"},
			func(i int) []string { return wantDogStatsD[i] }},
		{"dogstatsd/unixgram", "unixgram", "dogstatsd", []string{"statsd_tags = env:test"},
			func(i int) []string { return wantDogStatsD[i] }},
		{"none/udp", "udp", "none", []string{"statsd_namespace = custom."},
			func(i int) []string { return plainLines(wantDogStatsD[i], "custom.") }},
		{"none/unixgram", "unixgram", "none", nil,
			func(i int) []string { return plainLines(wantDogStatsD[i], "linux.audit.") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := listenStatsD(t, tc.network)
			cfg := parseConf(t, append([]string{
				"emitters = statsd",
				"statsd_address = " + l.Addr(),
				"statsd_tag_format = " + tc.format,
			}, tc.extra...)...)
			s, err := NewStatsD(cfg.StatsD)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			for i, iv := range []Interval{firstInterval(), secondInterval(), thirdInterval()} {
				if err := s.Emit(ctx, iv); err != nil {
					t.Fatalf("Emit %d: %v", i+1, err)
				}
				want := tc.want(i)
				got, err := l.Lines(ctx, len(want))
				if err != nil {
					t.Fatalf("interval %d: %v", i+1, err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("interval %d lines:\ngot:\n%s\nwant:\n%s", i+1, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			if err := s.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := s.Emit(ctx, firstInterval()); err == nil {
				t.Error("Emit after Close: got nil error")
			}
		})
	}
}

// TestStatsDReopened checks the counters of an emitter whose first
// interval is not the plugin's first (opened again after a reload): every
// counter starts from a baseline and sends 0, rather than the whole count
// since the plugin started.
func TestStatsDReopened(t *testing.T) {
	l := listenStatsD(t, "udp")
	s, err := NewStatsD(parseConf(t, "statsd_address = "+l.Addr(), "statsd_tag_format = none").StatsD)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	if err := s.Emit(t.Context(), secondInterval()); err != nil {
		t.Fatal(err)
	}
	// Every count is 0, and a histogram's buckets at 0 are not sent.
	want := slices.DeleteFunc(slices.Clone(wantDogStatsD[1]), func(l string) bool { return strings.Contains(l, "enqueue_depth:") })
	got, err := l.Lines(t.Context(), len(want))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range got {
		if strings.HasSuffix(line, "|c") && !strings.HasSuffix(line, ":0|c") {
			t.Errorf("first count of a reopened emitter: %q, want 0", line)
		}
	}
}

func TestStatsDConfigErrors(t *testing.T) {
	// conf refuses this too; the emitter does not rely on it.
	_, err := NewStatsD(conf.StatsD{Address: "127.0.0.1:8125", TagFormat: "none", Tags: []string{"env:prod"}})
	if err == nil || !strings.Contains(err.Error(), "statsd_tags") {
		t.Errorf("plain statsd with tags: got %v, want an error naming statsd_tags", err)
	}
}

// TestStatsDServerDownThenUp emits to a statsd server that is not there,
// then starts it. Over UDP every Emit after the first fails while nobody
// listens (the kernel reports the previous datagram's ICMP refusal); the
// first one after the listener starts still reports the last refusal but
// is delivered. Over a unix socket every Emit fails until the socket
// exists. Either way: one failing state, one recovery, no flapping.
func TestStatsDServerDownThenUp(t *testing.T) {
	clearDDEnv(t)
	tests := []struct {
		network, format string
		want            []bool // Emit succeeded: 4 while down, 3 after
	}{
		{"udp", "dogstatsd", []bool{true, false, false, false, false, true, true}},
		{"udp", "none", []bool{true, false, false, false, false, true, true}},
		{"unixgram", "dogstatsd", []bool{false, false, false, false, true, true, true}},
		{"unixgram", "none", []bool{false, false, false, false, true, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.network+"/"+tc.format, func(t *testing.T) {
			l := listenStatsD(t, tc.network)
			addr := l.Addr()
			l.Close()
			s, err := NewStatsD(parseConf(t, "statsd_address = "+addr, "statsd_tag_format = "+tc.format).StatsD)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(t.Context())
			var got []bool
			for range 4 {
				got = append(got, s.Emit(t.Context(), firstInterval()) == nil)
			}
			l, err = emittest.ListenStatsD(tc.network, strings.TrimPrefix(addr, "unix://"))
			if err != nil {
				t.Fatalf("listener back on %s: %v", addr, err)
			}
			defer l.Close()
			for range 3 {
				got = append(got, s.Emit(t.Context(), firstInterval()) == nil)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Emit succeeded: %v, want %v", got, tc.want)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if _, err := l.Lines(ctx, 3*len(wantDogStatsD[0])); err != nil {
				t.Errorf("the 3 intervals sent after the listener came back: %v", err)
			}
		})
	}
}
