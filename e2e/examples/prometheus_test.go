package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
)

// waitLimit bounds every wait of the live test for a condition; it detects
// a hang, it is not a performance figure.
const waitLimit = 90 * time.Second

// TestPrometheusPeer sends the plugin's figures to a real Prometheus 3 over
// OTLP/HTTP, as README.md documents it, and asserts through Prometheus's
// query API the names, labels and values the README gives, that the
// shipped rules load and evaluate on them, and that every dashboard query
// answers.
func TestPrometheusPeer(t *testing.T) {
	server := os.Getenv("AUDISP_PROMETHEUS")
	if server == "" {
		t.Skip("AUDISP_PROMETHEUS is not set: make examples-check builds Prometheus and runs this test")
	}
	if os.Geteuid() != 0 {
		t.Skip("the plugin needs root (CAP_AUDIT_CONTROL) for AUDIT_GET; run make examples-check as root")
	}
	before := kernelStatus(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	p := startPrometheus(t, server)
	const users, syscalls = 5, 3
	plug := startPlugin(t, pluginBinary(t), p.port, users, syscalls)

	// Every figure of the first intervals has arrived once the record
	// counters show what was written.
	want := map[string]float64{
		`linux_audit_plugin_records_total{type="USER"}`:    users,
		`linux_audit_plugin_records_total{type="SYSCALL"}`: syscalls,
		`linux_audit_plugin_malformed_total`:               1,
	}
	p.waitFor(t, "the records written to the plugin's stdin", func() string {
		plug.mustRun(t)
		for q, v := range want {
			got := p.query(t, q)
			if len(got) != 1 || got[0].value(t) != v {
				return fmt.Sprintf("%s = %v, want %v", q, got, v)
			}
		}
		return ""
	})
	// Range functions (increase, max_over_time) need a few intervals.
	const intervals = 4
	p.waitFor(t, fmt.Sprintf("%d intervals", intervals), func() string {
		got := p.query(t, "count_over_time(linux_audit_backlog_limit[1m])")
		if len(got) != 1 || got[0].value(t) < intervals {
			return fmt.Sprintf("count_over_time(linux_audit_backlog_limit[1m]) = %v", got)
		}
		return ""
	})

	t.Run("names", func(t *testing.T) { checkNames(t, p) })
	t.Run("labels", func(t *testing.T) { checkLabels(t, p, host) })
	t.Run("values", func(t *testing.T) { checkValues(t, p, before) })
	t.Run("rules", func(t *testing.T) { checkRules(t, p) })
	t.Run("alerts", func(t *testing.T) { checkAlerts(t, p) })
	t.Run("dashboard", func(t *testing.T) { checkDashboard(t, p, host) })

	plug.stop(t)
}

// checkNames: the metric names Prometheus made of the plugin's are
// promName's, one for every metric the plugin exports here. The plugin
// runs with method = sampled on a host without auditd, so the metrics of
// the eBPF probe and of auditd's state report are absent, and must be.
func checkNames(t *testing.T, p *prometheus) {
	var names []string
	p.api(t, "/api/v1/label/__name__/values", nil, &names)
	got := map[string]bool{}
	for _, n := range names {
		if strings.HasPrefix(n, "linux_audit_") {
			got[n] = true
		}
	}
	known := map[string]bool{}
	for _, m := range pluginMetrics(t) {
		for _, n := range promSeriesNames(m) {
			known[n] = true
			switch {
			case m.conditional && got[n]:
				t.Errorf("Prometheus has %s (from %s), which only the eBPF probe or auditd's state report gives", n, m.Name)
			case !m.conditional && !got[n]:
				t.Errorf("Prometheus has no %s (from %s, %s, %s); its linux_audit names: %v", n, m.Name, m.Kind, m.Unit, sortedKeys(got))
			}
		}
	}
	for n := range got {
		if !known[n] {
			t.Errorf("Prometheus has %s, which promName gives for no metric of the plugin", n)
		}
	}
}

// checkLabels: every series has job (service.name), host_name (the
// promoted host.name) and the attributes the README lists, and nothing
// else.
func checkLabels(t *testing.T, p *prometheus, host string) {
	var series []map[string]string
	p.api(t, "/api/v1/series", url.Values{"match[]": {`{__name__=~"linux_audit_.+"}`}}, &series)
	if len(series) == 0 {
		t.Fatal("no linux_audit_ series")
	}
	// Each metric's attribute label, from the plugin's table, and the
	// values the README gives where it lists them.
	attrs := map[string][]string{}
	for _, m := range pluginMetrics(t) {
		if m.Attr != "" {
			attrs[promName(m)] = []string{m.Attr}
		}
	}
	for name, values := range map[string][]string{
		"linux_audit_backlog_max_depth":         {"kernel", "ebpf", "sampled"},
		"linux_audit_backlog_utilization_ratio": {"kernel", "ebpf", "sampled"},
		"linux_audit_backlog_resets_total":      {"own", "external"},
		"linux_audit_login_total":               {"success", "failed"},
	} {
		if attrs[name] == nil {
			t.Fatalf("%s has no attribute in the plugin's metric table", name)
		}
		attrs[name] = append(attrs[name], values...)
	}
	var lines []string
	for _, s := range series {
		lines = append(lines, seriesString(s))
		name := s["__name__"]
		want := []string{"__name__", "host_name", "job"}
		if a, ok := attrs[name]; ok {
			want = append(want, a[0])
			if len(a) > 1 && !slices.Contains(a[1:], s[a[0]]) {
				t.Errorf("%s: %s=%q, want one of %v", seriesString(s), a[0], s[a[0]], a[1:])
			}
		}
		if got := sortedKeys(s); !slices.Equal(got, sortedStrings(want)) {
			t.Errorf("%s: labels %v, want %v", seriesString(s), got, sortedStrings(want))
		}
		if s["job"] != "audisp-backlog" || s["host_name"] != host {
			t.Errorf("%s: want job=\"audisp-backlog\" host_name=%q", seriesString(s), host)
		}
		if a, ok := attrs[name]; ok && a[0] == "method" && s["method"] != "sampled" {
			t.Errorf("%s: the plugin runs with method = sampled", seriesString(s))
		}
	}
	sort.Strings(lines)
	t.Logf("%d series:\n%s", len(lines), strings.Join(lines, "\n"))
}

// checkValues: the figures are the kernel's and the plugin's, as the
// README describes them.
func checkValues(t *testing.T, p *prometheus, before auditclient.Status) {
	after := kernelStatus(t)
	one := func(q string) sample {
		t.Helper()
		got := p.query(t, q)
		if len(got) != 1 {
			t.Fatalf("%s: %d series, want 1: %v", q, len(got), got)
		}
		return got[0]
	}
	if before.BacklogLimit == after.BacklogLimit {
		if got := one("linux_audit_backlog_limit").value(t); got != float64(after.BacklogLimit) {
			t.Errorf("linux_audit_backlog_limit = %v, want the kernel's backlog_limit %d", got, after.BacklogLimit)
		}
	}
	if before.Lost == after.Lost {
		if got := one("linux_audit_lost_total").value(t); got != float64(after.Lost) {
			t.Errorf("linux_audit_lost_total = %v, want the kernel's lost %d", got, after.Lost)
		}
	}
	// Sampled: the plugin never resets the mark.
	if got := one(`linux_audit_backlog_resets_total{source="own"}`).value(t); got != 0 {
		t.Errorf(`linux_audit_backlog_resets_total{source="own"} = %v, want 0 with method = sampled`, got)
	}
	// Utilization is peak / limit (0 when unlimited), in the same interval:
	// compare the raw samples of the last minute, matched by time stamp.
	peaks := p.raw(t, "linux_audit_backlog_max_depth[1m]")
	utils := p.raw(t, "linux_audit_backlog_utilization_ratio[1m]")
	limits := p.raw(t, "linux_audit_backlog_limit[1m]")
	matched := 0
	for ts, u := range utils {
		peak, ok1 := peaks[ts]
		limit, ok2 := limits[ts]
		if !ok1 || !ok2 {
			continue
		}
		matched++
		want := 0.0
		if limit > 0 {
			want = peak / limit
		}
		if u != want {
			t.Errorf("at %v: utilization %v, want peak %v / limit %v = %v", ts, u, peak, limit, want)
		}
	}
	if matched == 0 {
		t.Errorf("no interval with peak, limit and utilization at one time stamp: %v %v %v", peaks, limits, utils)
	}
	t.Logf("kernel: backlog_limit %d, lost %d; %d intervals: utilization = max_depth / limit", after.BacklogLimit, after.Lost, matched)
}

// checkRules: every shipped rule is loaded and evaluates without error, and
// each recording rule's value is its expression's at its time stamp.
func checkRules(t *testing.T, p *prometheus) {
	type rule struct {
		Name, Query, Health, LastError, Type string
		LastEvaluation                       time.Time
	}
	var rules []rule
	start := time.Now()
	p.waitFor(t, "every rule evaluated after the data arrived", func() string {
		var data struct {
			Groups []struct{ Rules []rule }
		}
		p.api(t, "/api/v1/rules", nil, &data)
		rules = rules[:0]
		for _, g := range data.Groups {
			rules = append(rules, g.Rules...)
		}
		for _, r := range rules {
			if r.LastEvaluation.Before(start) {
				return r.Name + " not evaluated yet"
			}
		}
		return ""
	})
	records, alerts := 0, 0
	for _, r := range rules {
		if r.Health != "ok" || r.LastError != "" {
			t.Errorf("rule %s: health %q, error %q", r.Name, r.Health, r.LastError)
		}
		if r.Type == "alerting" {
			alerts++
			continue
		}
		records++
		// The rule's value at a time stamp is what its expression gives at
		// that time, given every sample up to it. One sent late can make
		// them differ once (sample times are the intervals' ends), so wait
		// for a match.
		p.waitFor(t, r.Name+" equal to its expression", func() string {
			rs := p.query(t, r.Name+"[10s]")
			if len(rs) == 0 {
				return "no samples"
			}
			for _, s := range rs {
				for k := range s.Metric {
					if k == "method" {
						t.Fatalf("%s keeps the method label: %v", r.Name, s.Metric)
					}
				}
				ts, v := s.last(t)
				exp := p.queryAt(t, r.Query, ts)
				if len(exp) != 1 || exp[0].value(t) != v {
					return fmt.Sprintf("%s = %v at %v, its expression %v", seriesString(s.Metric), v, ts, exp)
				}
			}
			return ""
		})
	}
	wantRecords, wantAlerts := len(shippedRecords(t)), strings.Count(readExample(t, "audisp-backlog.rules.yml"), "- alert: ")
	if records != wantRecords || alerts != wantAlerts {
		t.Errorf("Prometheus loaded %d recording and %d alerting rules, want %d and %d", records, alerts, wantRecords, wantAlerts)
	}
	t.Logf("%d recording and %d alerting rules loaded, healthy, evaluated", records, alerts)
}

// checkAlerts: ALERTS holds what the raw series call for, worked out here
// without the rules: lost above 0 at the first report, lost rising,
// utilization at 80%, a recommended limit above a set limit (pending for
// 15 minutes).
func checkAlerts(t *testing.T, p *prometheus) {
	want := map[string]string{}
	lost := p.raw(t, "linux_audit_lost_total[1h]")
	if first, last := rawFirst(lost), rawLast(lost); first > 0 {
		want["AuditRecordsLostBeforeMonitoring"] = "firing"
	} else if last > first {
		want["AuditRecordsLost"] = "firing"
	}
	for _, u := range p.raw(t, "linux_audit_backlog_utilization_ratio[15m]") {
		if u >= 0.8 {
			want["AuditBacklogNearFull"] = "firing"
		}
	}
	if rec := p.query(t, "linux_audit_backlog_recommended_limit"); len(rec) == 1 {
		limit := p.query(t, "linux_audit_backlog_limit")[0].value(t)
		if rec[0].value(t) > limit && limit != 0 {
			want["AuditBacklogLimitBelowRecommended"] = "pending"
		}
	}
	p.waitFor(t, fmt.Sprintf("ALERTS = %v", want), func() string {
		got := map[string]string{}
		for _, s := range p.query(t, "ALERTS") {
			got[s.Metric["alertname"]] = s.Metric["alertstate"]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("ALERTS %v", got)
		}
		return ""
	})
	t.Logf("ALERTS as the raw series call for: %v", want)
}

// checkDashboard: every query of the Grafana dashboard answers on the live
// data, with its variables set to all hosts.
func checkDashboard(t *testing.T, p *prometheus, host string) {
	var hosts []string
	p.api(t, "/api/v1/label/host_name/values", url.Values{"match[]": {"linux_audit_backlog_limit"}}, &hosts)
	if !slices.Contains(hosts, host) {
		t.Errorf("the dashboard's host variable (label_values(linux_audit_backlog_limit, host_name)) gives %v, want %s in it", hosts, host)
	}
	subst := strings.NewReplacer("$host", ".*", "$__rate_interval", "1m")
	for _, q := range dashboardQueries(t) {
		expr := subst.Replace(q)
		res := p.query(t, expr)
		if len(res) == 0 {
			t.Errorf("dashboard query %s: no data", q)
		}
		t.Logf("%s: %d series", q, len(res))
	}
}

// --- the plugin ---------------------------------------------------------------

// pluginBinary is AUDISP_PLUGIN (make examples-check passes bin/audisp-backlog),
// else the plugin built here as the Makefile builds it.
func pluginBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AUDISP_PLUGIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	bin := filepath.Join(t.TempDir(), "audisp-backlog")
	build := exec.Command("go", "build", "-o", bin, "./plugin")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	return bin
}

type pluginProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   *syncBuffer
	done  chan struct{} // closed when the process has exited, err set
	err   error
}

// startPlugin runs the plugin against Prometheus's OTLP receiver exactly as
// README.md configures it (readmePrometheusConf), with a 1 s interval and
// method = sampled (read-only on the host kernel: AUDIT_GET only), and
// writes users USER records, syscalls SYSCALL records and one malformed
// line to its stdin, which stays open.
func startPlugin(t *testing.T, bin string, port, users, syscalls int) *pluginProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "audisp-backlog.conf")
	body := readmePrometheusConf(t, port) + "interval = 1s\nmethod = sampled\nlog_level = debug\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	pp := &pluginProc{log: &syncBuffer{}, done: make(chan struct{})}
	pp.cmd = exec.Command(bin, "-foreground", "-config", cfg)
	pp.cmd.Env = []string{} // as auditd starts it
	pp.cmd.Stdout, pp.cmd.Stderr = pp.log, pp.log
	var err error
	if pp.stdin, err = pp.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := pp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		pp.err = pp.cmd.Wait()
		close(pp.done)
	}()
	t.Cleanup(func() {
		select {
		case <-pp.done:
		default:
			pp.cmd.Process.Kill()
			<-pp.done
		}
		if t.Failed() {
			t.Logf("plugin's log:\n%s", pp.log)
		}
	})
	var b bytes.Buffer
	for i := range users {
		fmt.Fprintf(&b, "type=USER msg=audit(1732900000.%03d:%d): pid=1 uid=0 auid=0 ses=1 msg='op=examples-test res=success'\n", i, 1000+i)
	}
	for i := range syscalls {
		fmt.Fprintf(&b, "type=SYSCALL msg=audit(1732900001.%03d:%d): arch=c000003e syscall=59 success=yes exit=0 pid=2 comm=\"true\"\n", i, 2000+i)
	}
	b.WriteString("this line is not an audit record\n")
	if _, err := pp.stdin.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return pp
}

// readmePrometheusConf returns the plugin settings README.md gives for
// sending straight to Prometheus (the fenced block holding its OTLP path),
// pointed at 127.0.0.1:port.
func readmePrometheusConf(t *testing.T, port int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const host = "prometheus.example.org:9090"
	for i, block := range strings.Split(string(b), "```") {
		if i%2 == 1 && strings.Contains(block, "http://"+host+"/api/v1/otlp/v1/metrics") {
			block = strings.TrimPrefix(block, "\n")
			return strings.ReplaceAll(block, host, fmt.Sprintf("127.0.0.1:%d", port))
		}
	}
	t.Fatalf("README.md: no code block with otlp_endpoint = http://%s/api/v1/otlp/v1/metrics", host)
	return ""
}

// mustRun fails the test at once if the plugin has exited.
func (pp *pluginProc) mustRun(t *testing.T) {
	t.Helper()
	select {
	case <-pp.done:
		t.Fatalf("the plugin exited (%v) while stdin was open", pp.err)
	default:
	}
}

// stop closes stdin: the plugin reports its partial interval and exits 0.
func (pp *pluginProc) stop(t *testing.T) {
	t.Helper()
	pp.stdin.Close()
	select {
	case <-pp.done:
		if pp.err != nil {
			t.Errorf("plugin exited with %v after stdin closed; log:\n%s", pp.err, pp.log)
		}
	case <-time.After(waitLimit):
		t.Fatalf("plugin still running %v after stdin closed", waitLimit)
	}
}

func kernelStatus(t *testing.T) auditclient.Status {
	t.Helper()
	c, err := auditclient.Open()
	if err != nil {
		t.Skipf("netlink audit is not usable here, so the plugin cannot run: %v", err)
	}
	defer c.Close()
	s, err := c.Status()
	if err != nil {
		t.Skipf("AUDIT_GET fails here, so the plugin cannot run: %v", err)
	}
	return s
}

// --- Prometheus ---------------------------------------------------------------

type prometheus struct {
	port int
	base string
	log  *syncBuffer
}

// startPrometheus runs server on a free loopback port with its OTLP
// receiver, a temporary storage directory and the shipped prometheus.yml
// (pointed at the shipped rules, evaluated every second).
func startPrometheus(t *testing.T, server string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(examplesDir, "audisp-backlog.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(serverConfig(t, rules, "global:\n  evaluation_interval: 1s\n\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &prometheus{port: port, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: &syncBuffer{}}
	cmd := exec.Command(server,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--web.enable-otlp-receiver",
		"--log.level=info")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(waitLimit):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("Prometheus's log:\n%s", p.log)
		}
	})
	out, _ := exec.Command(server, "--version").CombinedOutput()
	t.Logf("%s", bytes.SplitN(out, []byte("\n"), 2)[0])
	deadline := time.Now().Add(waitLimit)
	for {
		select {
		case err := <-exited:
			t.Fatalf("Prometheus exited: %v\n%s", err, p.log)
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus not ready after %v: %v\n%s", waitLimit, err, p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// api GETs path from Prometheus's HTTP API and decodes its data into out.
func (p *prometheus) api(t *testing.T, path string, params url.Values, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s %v: %v", path, params, err)
	}
	if r.Status != "success" {
		t.Fatalf("%s %v: %s: %s", path, params, r.Status, r.Error)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("%s %v: %v", path, params, err)
	}
}

// sample is one series of a query's answer: Value for an instant vector,
// Values for a range vector.
type sample struct {
	Metric map[string]string
	Value  [2]any
	Values [][2]any
}

func (s sample) String() string {
	return fmt.Sprintf("%s %v%v", seriesString(s.Metric), s.Value, s.Values)
}

func parsePoint(t *testing.T, pt [2]any) (time.Time, float64) {
	t.Helper()
	ts, ok := pt[0].(float64)
	str, ok2 := pt[1].(string)
	if !ok || !ok2 {
		t.Fatalf("point %v: want [time, \"value\"]", pt)
	}
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(int64(ts*1000 + 0.5)), v
}

func (s sample) value(t *testing.T) float64 {
	t.Helper()
	_, v := parsePoint(t, s.Value)
	return v
}

func (s sample) last(t *testing.T) (time.Time, float64) {
	t.Helper()
	return parsePoint(t, s.Values[len(s.Values)-1])
}

func (p *prometheus) query(t *testing.T, q string) []sample {
	t.Helper()
	return p.queryAt(t, q, time.Time{})
}

// queryAt runs an instant query at ts (now if zero).
func (p *prometheus) queryAt(t *testing.T, q string, ts time.Time) []sample {
	t.Helper()
	params := url.Values{"query": {q}}
	if !ts.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64))
	}
	var data struct {
		ResultType string
		Result     []sample
	}
	p.api(t, "/api/v1/query", params, &data)
	return data.Result
}

// raw returns the samples of a range selector on one series, by time.
func (p *prometheus) raw(t *testing.T, q string) map[time.Time]float64 {
	t.Helper()
	res := p.query(t, q)
	if len(res) != 1 {
		t.Fatalf("%s: %d series, want 1: %v", q, len(res), res)
	}
	m := map[time.Time]float64{}
	for _, pt := range res[0].Values {
		ts, v := parsePoint(t, pt)
		m[ts] = v
	}
	return m
}

func rawFirst(m map[time.Time]float64) float64 {
	return m[slices.MinFunc(mapKeys(m), time.Time.Compare)]
}
func rawLast(m map[time.Time]float64) float64 {
	return m[slices.MaxFunc(mapKeys(m), time.Time.Compare)]
}

// waitFor polls cond, which returns "" when it holds and else what it saw,
// until it holds or waitLimit passes.
func (p *prometheus) waitFor(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := cond()
		if got == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", waitLimit, what, got)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// --- the dashboard ----------------------------------------------------------

// dashboardQueries returns every Prometheus query of the Grafana dashboard:
// its panels' targets and its query variables.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(readExample(t, "grafana-dashboard.json")), &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var qs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, tg.Expr)
		}
	}
	return qs
}

// --- small helpers ------------------------------------------------------------

// syncBuffer is a bytes.Buffer safe for a process's output and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mapKeys[K comparable, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func sortedKeys[V any](m map[string]V) []string {
	return sortedStrings(mapKeys(m))
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// seriesString formats labels as Prometheus does: name{k="v", ...}.
func seriesString(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		if k != "__name__" {
			parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
		}
	}
	return m["__name__"] + "{" + strings.Join(parts, ", ") + "}"
}
