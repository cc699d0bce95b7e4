package emit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The README's metric table and the METRICS section of audisp-backlog(8)
// are generated from the metric table: go test ./emit -update rewrites
// them between their markers, and TestMetricDocs fails when either is
// stale.
var metricDocs = []struct {
	path, begin, end string
	render           func() string
}{
	{
		path:   "../README.md",
		begin:  "<!-- metrics: generated from emit/metrics.go by go test ./emit -update -->\n",
		end:    "<!-- metrics end -->\n",
		render: readmeMetrics,
	},
	{
		path:   "../packaging/audisp-backlog.8",
		begin:  `.\" metrics: generated from emit/metrics.go by go test ./emit -update` + "\n",
		end:    `.\" metrics end` + "\n",
		render: manMetrics,
	},
}

var kindNames = map[Kind]string{Gauge: "gauge", Counter: "counter", Histogram: "histogram"}

func readmeMetrics() string {
	var b strings.Builder
	b.WriteString("| name | kind | unit | attribute | what |\n| --- | --- | --- | --- | --- |\n")
	for _, m := range metrics {
		kind := kindNames[m.Kind]
		if m.SinceBoot {
			kind += " (kernel, since boot)"
		}
		attr := ""
		if m.Attr != "" {
			attr = "`" + m.Attr + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s |\n", m.Name, kind, m.Unit, attr, m.Description)
	}
	return b.String()
}

func manMetrics() string {
	var b strings.Builder
	for _, m := range metrics {
		what := kindNames[m.Kind] + ", unit " + m.Unit
		if m.SinceBoot {
			what += ", the kernel's count since boot"
		}
		if m.Attr != "" {
			what += ", attribute " + m.Attr
		}
		fmt.Fprintf(&b, ".TP\n.B %s\n(%s)\n%s\n", m.Name, what, strings.ReplaceAll(m.Description, ". ", ".\n"))
	}
	return b.String()
}

// section returns the text of path between begin and end, and the text
// around it.
func section(t *testing.T, path, begin, end string) (before, inside, after string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q and %q", path, begin, end)
	}
	return s[:i+len(begin)], s[i+len(begin) : j], s[j:]
}

func TestMetricDocs(t *testing.T) {
	for _, d := range metricDocs {
		before, inside, after := section(t, d.path, d.begin, d.end)
		want := d.render()
		if *update {
			if err := os.WriteFile(d.path, []byte(before+want+after), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if inside != want {
			t.Errorf("%s: the metric list is stale; run go test ./emit -update\ngot:\n%s\nwant:\n%s", d.path, inside, want)
		}
	}
}

// TestMetricTable checks the rules the emitters rely on: unique names
// under linux.audit., unique stdout names, whole-number counters, and
// every metric giving at least one point.
func TestMetricTable(t *testing.T) {
	names, short := map[string]bool{}, map[string]bool{}
	for _, m := range metrics {
		if !strings.HasPrefix(m.Name, namePrefix) {
			t.Errorf("%s: not under %s", m.Name, namePrefix)
		}
		if names[m.Name] {
			t.Errorf("%s: listed twice", m.Name)
		}
		names[m.Name] = true
		if s := stdoutName(m.Name); short[s] {
			t.Errorf("%s: stdout name %s is taken", m.Name, s)
		} else {
			short[s] = true
		}
		if m.Kind == Counter && m.Float {
			t.Errorf("%s: a counter of fractions; statsd counts whole numbers", m.Name)
		}
		if m.SinceBoot && m.Kind != Counter {
			t.Errorf("%s: SinceBoot on a gauge", m.Name)
		}
		if m.Unit == "" || m.Description == "" || kindNames[m.Kind] == "" {
			t.Errorf("%s: unit, description or kind missing", m.Name)
		}
		iv1, iv2 := firstInterval(), secondInterval() // with auditd's figures, with the probe's
		iv2.Probe.HoldMaxDepth.OK = true
		if len(m.Points(&iv1, nil))+len(m.Points(&iv2, nil)) == 0 {
			t.Errorf("%s: no point", m.Name)
		}
	}
}

// TestManPageRenders formats audisp-backlog(8) the way man(1) does and
// fails on any warning from groff.
func TestManPageRenders(t *testing.T) {
	man, err := exec.LookPath("man")
	if err != nil {
		t.Skip("man(1) is not installed (apt-get install man-db); cannot check the man page renders")
	}
	cmd := exec.Command(man, "--warnings", "-l", "../packaging/audisp-backlog.8")
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man --warnings: %s", stderr.String())
	}
	for _, m := range metrics {
		if !strings.Contains(stdout.String(), m.Name) {
			t.Errorf("rendered page lacks metric %s", m.Name)
		}
	}
}
