package examples

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/audisp-backlog/audisp-backlog/conf"
)

// ddQuery is a Datadog metric monitor query:
// aggregation(last_Nm):metric query comparator threshold.
var ddQuery = regexp.MustCompile(`^(avg|min|max|sum)\(last_(\d+)m\):(.+) (>=|<=|>|<) (-?[0-9.]+)$`)

// TestDatadogMonitors: each monitor is a metric monitor whose query ends
// in the threshold its options give, grouped by host when its texts name
// the host.
func TestDatadogMonitors(t *testing.T) {
	var monitors []struct {
		Name, Type, Query, Message string
		Tags                       []string
		Options                    struct {
			Thresholds      map[string]float64
			NotifyNoData    bool `json:"notify_no_data"`
			NoDataTimeframe int  `json:"no_data_timeframe"`
		}
	}
	if err := json.Unmarshal([]byte(readExample(t, "datadog-monitors.json")), &monitors); err != nil {
		t.Fatalf("datadog-monitors.json: %v", err)
	}
	if len(monitors) == 0 {
		t.Fatal("datadog-monitors.json: no monitor")
	}
	for _, m := range monitors {
		t.Run(m.Name, func(t *testing.T) {
			if m.Type != "query alert" {
				t.Errorf("type %q, want \"query alert\" (a metric monitor)", m.Type)
			}
			q := ddQuery.FindStringSubmatch(m.Query)
			if q == nil {
				t.Fatalf("query %q: want aggregation(last_Nm):query comparator threshold", m.Query)
			}
			th, _ := strconv.ParseFloat(q[5], 64)
			if c, ok := m.Options.Thresholds["critical"]; !ok || c != th {
				t.Errorf("options.thresholds.critical = %v (set: %v), want the query's threshold %v", c, ok, th)
			}
			if strings.Contains(m.Name+m.Message, "{{host.name}}") && !strings.Contains(q[3], "by {host}") {
				t.Errorf("name or message use {{host.name}} but the query %q is not grouped by {host}", m.Query)
			}
			if m.Message == "" || !slices.Contains(m.Tags, "service:audisp-backlog") {
				t.Errorf("want a message and the tag service:audisp-backlog")
			}
			if m.Options.NotifyNoData && m.Options.NoDataTimeframe == 0 {
				t.Errorf("notify_no_data without no_data_timeframe")
			}
		})
	}
}

// TestGrafanaDashboard: the dashboard takes its data source from a
// variable, and shows what issue 14 asks of it: peak vs limit per host,
// utilization, lost, the recommended limit and the method.
func TestGrafanaDashboard(t *testing.T) {
	type ds struct{ Type, UID string }
	var d struct {
		UID, Title string
		Panels     []struct {
			ID         int
			Title      string
			Datasource ds
			Targets    []struct {
				RefID      string
				Expr       string
				Datasource ds
			}
		}
		Templating struct {
			List []struct{ Name, Type string }
		}
	}
	if err := json.Unmarshal([]byte(readExample(t, "grafana-dashboard.json")), &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name+":"+v.Type)
	}
	if !slices.Contains(vars, "datasource:datasource") || !slices.Contains(vars, "host:query") {
		t.Errorf("variables %v, want datasource:datasource and host:query", vars)
	}
	want := ds{Type: "prometheus", UID: "${datasource}"}
	ids := map[int]bool{}
	all := ""
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource != want {
			t.Errorf("panel %q: data source %+v, want %+v", p.Title, p.Datasource, want)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || tg.Datasource != want {
				t.Errorf("panel %q, query %q: want refId, expr and data source %+v", p.Title, tg.RefID, want)
			}
			if !strings.Contains(tg.Expr, `host_name=~"$host"`) {
				t.Errorf("panel %q, query %s: not filtered by the host variable", p.Title, tg.Expr)
			}
			all += tg.Expr + "\n"
		}
	}
	for _, m := range []string{
		"linux_audit_backlog_max_depth", "linux_audit_backlog_limit", "linux_audit_backlog_utilization_ratio",
		"linux_audit_lost_total", "linux_audit_backlog_recommended_limit", "(host_name, method)",
	} {
		if !strings.Contains(all, m) {
			t.Errorf("no dashboard query shows %s", m)
		}
	}
}

// pluginConf is a plugin configuration the examples give in a comment:
// the "#     key = value" lines right under a line that names
// /etc/audit/audisp-backlog.conf.
var pluginConf = regexp.MustCompile(`(?m)audisp-backlog\.conf[^\n]*:\n((?:#\s+[a-z_]+ = [^\n]+\n)+)`)

// TestExampleConfigs: the plugin settings each example tells the reader
// to write are valid for the plugin.
func TestExampleConfigs(t *testing.T) {
	n := 0
	for _, name := range exampleFiles(t) {
		for i, m := range pluginConf.FindAllStringSubmatch(readExample(t, name), -1) {
			n++
			var body strings.Builder
			for _, line := range strings.Split(strings.TrimSuffix(m[1], "\n"), "\n") {
				body.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "#")) + "\n")
			}
			src := name + " (example " + strconv.Itoa(i+1) + ")"
			if _, err := conf.Parse(strings.NewReader(body.String()), src); err != nil {
				t.Errorf("%s:\n%s%v", src, body.String(), err)
			}
		}
	}
	// prometheus.yml, otelcol.yaml and datadog.yaml's two ways.
	if n < 4 {
		t.Errorf("found %d plugin configurations in the examples, want at least 4", n)
	}
}
