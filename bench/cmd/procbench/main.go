// Command procbench measures audisp-backlog as a whole process against
// baselines and prints the goals of issue 7 as ratios measured in the same
// run, followed by the details, as Markdown:
//
//   - (a) in-process, from `go test -bench Readers ./plugin/records` output given
//     with -inprocess: the plugin's reader against a newline-finding floor;
//   - (b) `cat corpus | consumer` for wc -l, a do-nothing Go reader and the
//     plugin: wall time and the consumer's CPU time (wait4 rusage);
//   - (c) an auditd-like feed, one write(2) per record into a socketpair,
//     flat out and paced: the records per second the consumer takes and
//     its CPU as a share of a core (schedstat), the longest write stall
//     and the consumer's VmHWM;
//   - idle CPU time and context switches, side by side with a C program
//     making the same kernel calls at the same rate (issue 16), and the
//     time from an interval's end to its data point at a loopback OTLP
//     collector.
//
// The plugin runs with method = sampled, which never resets the kernel's
// high-water mark: it only reads the audit status (AUDIT_GET), so it is
// safe against a host's kernel; so does the C poller. `make bench` builds
// and runs everything; -only idle runs the idle comparison alone.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/bench/gen"
)

// consumer is a program that reads the record stream on stdin.
type consumer struct {
	name string
	argv []string
}

type options struct {
	plugin, nullreader, gopoller, inprocess, dir  string
	cc, only                                      string
	records, rounds, feedRounds, flat, idleRounds int
	paced, idle, settle                           time.Duration
	exports                                       int
}

func main() {
	var o options
	flag.StringVar(&o.plugin, "plugin", "bin/audisp-backlog", "the plugin `binary`")
	flag.StringVar(&o.nullreader, "nullreader", "", "the do-nothing reader `binary` (bench/cmd/nullreader)")
	flag.StringVar(&o.gopoller, "gopoller", "", "the Go poller `binary` (bench/cmd/gopoller)")
	flag.StringVar(&o.inprocess, "inprocess", "", "`file` of `go test -bench Readers ./plugin/records` output, for (a)")
	flag.StringVar(&o.dir, "dir", "", "work `directory` for the corpus and configs (default: a new temporary one)")
	flag.IntVar(&o.records, "records", 3000000, "corpus lines for (b)")
	flag.IntVar(&o.rounds, "rounds", 9, "runs of each consumer in (b)")
	flag.IntVar(&o.feedRounds, "feed-rounds", 3, "runs of each consumer per feed in (c)")
	flag.IntVar(&o.flat, "flat", 300000, "records per flat-out feed in (c)")
	flag.DurationVar(&o.paced, "paced", 3*time.Second, "length of each paced feed in (c)")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "idle window of each round")
	flag.IntVar(&o.idleRounds, "idle-rounds", 3, "rounds of the idle comparison")
	flag.StringVar(&o.cc, "cc", "gcc", "C `compiler` for the C poller of the idle comparison")
	flag.StringVar(&o.only, "only", "", "run one part only: idle")
	flag.DurationVar(&o.settle, "settle", 700*time.Millisecond, "time a consumer gets to start before it is measured")
	flag.IntVar(&o.exports, "exports", 5, "exports timed at the loopback collector (after the first)")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "procbench:", err)
		os.Exit(1)
	}
}

func run(o options, w io.Writer) error {
	if o.nullreader == "" || o.gopoller == "" {
		return fmt.Errorf("-nullreader and -gopoller are required")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "procbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	var err error
	if o.plugin, err = filepath.Abs(o.plugin); err != nil {
		return err
	}
	if o.nullreader, err = filepath.Abs(o.nullreader); err != nil {
		return err
	}
	if o.gopoller, err = filepath.Abs(o.gopoller); err != nil {
		return err
	}
	r := &report{w: w, load0: loadavg()}
	// Built first, so that a missing compiler fails the run at once.
	poller, err := buildPoller(o.cc, o.dir)
	if err != nil {
		return err
	}
	switch o.only {
	case "":
	case "idle":
		if err := runIdle(o, poller, r); err != nil {
			return err
		}
		r.load1 = loadavg()
		r.print()
		return nil
	default:
		return fmt.Errorf("-only %q: the only part that runs alone is idle", o.only)
	}

	if o.inprocess != "" {
		f, err := os.Open(o.inprocess)
		if err != nil {
			return err
		}
		r.bench, err = parseBench(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", o.inprocess, err)
		}
	}

	progress("generating a %d-line corpus", o.records)
	corpus := filepath.Join(o.dir, "corpus")
	f, err := os.Create(corpus)
	if err != nil {
		return err
	}
	r.corpus, err = gen.Write(f, gen.Default(o.records))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	data, err := os.ReadFile(corpus)
	if err != nil {
		return err
	}
	lines := splitLines(data)

	cfg := func(name, body string) (string, error) {
		p := filepath.Join(o.dir, name)
		return p, os.WriteFile(p, []byte(body), 0o600)
	}
	const base = "method = sampled\nemitters = stdout\nlog_level = warn\n"
	streamCfg, err := cfg("stream.conf", "interval = 60s\nsample_interval = 100ms\n"+base)
	if err != nil {
		return err
	}
	plugin := func(cfg string) []string { return []string{o.plugin, "-foreground", "-config", cfg} }
	null := consumer{"do-nothing Go reader", []string{o.nullreader}}
	plug := consumer{"audisp-backlog", plugin(streamCfg)}

	progress("(b) cat corpus | consumer, %d rounds", o.rounds)
	r.pipe, err = pipeBench(corpus, o.rounds, []consumer{{"wc -l", []string{"wc", "-l"}}, null, plug})
	if err != nil {
		return err
	}

	progress("startup and exit cost: empty input, %d rounds", o.rounds)
	if r.empty, err = pipeBench(os.DevNull, o.rounds, []consumer{null, plug}); err != nil {
		return err
	}

	progress("(c) socketpair feed, flat out, %d records, %d rounds", o.flat, o.feedRounds)
	both := []consumer{null, plug}
	if r.flat, err = feedBench(lines, o.flat, 0, 0, o.settle, o.feedRounds, both); err != nil {
		return err
	}
	for _, rate := range []int{10000, 100000} {
		progress("(c) socketpair feed at %d records/s for %v, %d rounds", rate, o.paced, o.feedRounds)
		res, err := feedBench(lines, 0, rate, o.paced, o.settle, o.feedRounds, both)
		if err != nil {
			return err
		}
		r.paced = append(r.paced, pacedRun{rate, res})
	}

	if err := runIdle(o, poller, r); err != nil {
		return err
	}

	progress("interval end to data point at a loopback OTLP collector, %d exports", o.exports+1)
	if r.latency, err = latencyBench(o.plugin, o.dir, o.exports, o.settle); err != nil {
		return err
	}
	r.load1 = loadavg()
	r.print()
	return nil
}

// runIdle runs the idle comparison: the plugin sampling every 100 ms and
// every 1 s, the C and Go pollers at the same rates, and the do-nothing
// reader. The order is the one report.idleGoals expects.
func runIdle(o options, poller string, r *report) error {
	cfg := func(name, body string) (string, error) {
		p := filepath.Join(o.dir, name)
		return p, os.WriteFile(p, []byte(body), 0o600)
	}
	const base = "interval = 60s\nmethod = sampled\nemitters = stdout\nlog_level = warn\n"
	cfg100, err := cfg("idle-100ms.conf", "sample_interval = 100ms\n"+base)
	if err != nil {
		return err
	}
	cfg1s, err := cfg("idle-1s.conf", "sample_interval = 1s\n"+base)
	if err != nil {
		return err
	}
	plugin := func(cfg string) []string { return []string{o.plugin, "-foreground", "-config", cfg} }
	progress("idle: %d rounds of %v, the plugin and the C poller side by side", o.idleRounds, o.idle)
	r.idleWindow = o.idle
	const ms100, s1 = 100 * time.Millisecond, time.Second
	r.idle, err = idleBench(o.idleRounds, o.idle, o.settle+300*time.Millisecond, []idler{
		idlePlugin100: {name: "audisp-backlog, sample_interval 100ms", argv: plugin(cfg100), period: ms100, cRef: idleC100},
		idleC100:      {name: "C poller, AUDIT_GET every 100 ms", argv: []string{poller, "100"}, period: ms100, cRef: -1, signal: syscall.SIGTERM},
		idleGo100:     {name: "Go poller, AUDIT_GET every 100 ms", argv: []string{o.gopoller, "-every", "100ms"}, period: ms100, cRef: idleC100},
		idlePlugin1s:  {name: "audisp-backlog, sample_interval 1s", argv: plugin(cfg1s), period: s1, cRef: idleC1s},
		idleC1s:       {name: "C poller, AUDIT_GET every 1 s", argv: []string{poller, "1000"}, period: s1, cRef: -1, signal: syscall.SIGTERM},
		idleGo1s:      {name: "Go poller, AUDIT_GET every 1 s", argv: []string{o.gopoller, "-every", "1s"}, period: s1, cRef: idleC1s},
		idleNull:      {name: "do-nothing Go reader", argv: []string{o.nullreader}, cRef: -1},
	})
	return err
}

// The rows of the idle comparison.
const (
	idlePlugin100 = iota
	idleC100
	idleGo100
	idlePlugin1s
	idleC1s
	idleGo1s
	idleNull
	idleRows
)

// progress tells the person waiting what is running.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "procbench: "+format+"\n", args...)
}

// splitLines returns the corpus's lines, newlines included.
func splitLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, data)
			break
		}
		out = append(out, data[:i+1])
		data = data[i+1:]
	}
	return out
}

// machine describes the host, for the record.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (nproc), %s, Linux %s, %s", runtime.NumCPU(), model, kernel, runtime.Version())
}

// loadavg is the 1-minute load average, a hint of how noisy the run was.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
