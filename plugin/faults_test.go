package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// The fault tests run the built plugin, feed its stdin as fast as it reads,
// and check that a fault in an emitter (or a storm of reloads) changes none
// of that: the process keeps running and reading stdin, memory stays under
// rssBound, every record is counted, and the figures reach the collector
// again once the fault ends.
//
// In the test gate (`make test`) every check waits for its condition with
// a generous deadline (hangLimit), never for a fixed time, so that a busy
// machine makes the test slower, not red: each run is fed until its fault
// shows in the log and it has then read gateRecords more records and
// reported two more intervals. A soak (`make soak`) feeds every run for
// the same time beside a run without a fault and compares how much each
// consumed: that ratio is a measurement, printed and checked there only.
// Each run logs its figures (go test -v) for the README.

// soakTime is how long each run feeds stdin in a soak: AUDISP_SOAK, a Go
// duration, as `make soak` sets it. It is 0 in the test gate.
func soakTime(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("AUDISP_SOAK")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("AUDISP_SOAK=%q: want a positive Go duration such as 10m", v)
	}
	return d
}

// gateRecords is how many records a run must read after its fault showed,
// in the test gate. A reader stalled by the fault reads one pipe buffer
// (a few hundred records).
const gateRecords = 200_000

// minSpeedRatio is the least share of the no-fault run's records a faulty
// run must consume in a soak. A reader stalled by a fault consumes one
// pipe buffer against millions, so the bound is far from both.
const minSpeedRatio = 0.5

// rssBound is the stated bound on the plugin's peak resident memory
// (VmHWM) under every fault.
const rssBound = 64 << 20

// resumeLimit is how long figures may take to reach a collector again after
// a fault ends: gRPC reconnects with a backoff of up to tens of seconds.
const resumeLimit = 60 * time.Second

// procFigures are a process's figures from /proc/PID/status.
type procFigures struct {
	rss, hwm int64 // VmRSS, VmHWM in bytes
	threads  int
}

func readProcStatus(pid int) (procFigures, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procFigures{}, err
	}
	var f procFigures
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch key {
		case "VmRSS":
			f.rss = n << 10
		case "VmHWM":
			f.hwm = n << 10
		case "Threads":
			f.threads = int(n)
		}
	}
	if f.hwm == 0 || f.threads == 0 {
		return f, fmt.Errorf("/proc/%d/status lacks VmHWM or Threads:\n%s", pid, b)
	}
	return f, nil
}

// writableFiles lists the regular files the process holds open for
// writing: the plugin must hold none.
func writableFiles(pid int) ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/dev/") {
			continue // sockets, pipes, anon inodes, or closed meanwhile
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		m := regexp.MustCompile(`(?m)^flags:\s+([0-7]+)`).FindSubmatch(info)
		if m == nil {
			return nil, fmt.Errorf("fdinfo of fd %s has no flags: %s", e.Name(), info)
		}
		flags, _ := strconv.ParseUint(string(m[1]), 8, 64)
		if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
			out = append(out, fmt.Sprintf("fd %s %s flags %o", e.Name(), target, flags))
		}
	}
	return out, nil
}

// feedChunk is real-shaped records repeated to about 64 KiB.
func feedChunk() (chunk []byte, records int) {
	var b bytes.Buffer
	for b.Len() < 64<<10 {
		for _, rec := range realShaped {
			b.WriteString(rec)
			records++
		}
	}
	return b.Bytes(), records
}

// feed writes records to w as fast as they are read until stop is closed,
// adding each chunk's records to fed once written. A write blocks while
// the plugin does not read; a dead plugin ends it with an error.
func feed(w io.Writer, stop <-chan struct{}, fed *atomic.Uint64) error {
	chunk, per := feedChunk()
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		fed.Add(uint64(per))
	}
}

// recordsIn returns the records= counter of a stdout interval line, and
// whether it has one.
func recordsIn(line string) (uint64, bool) {
	m := regexp.MustCompile(` records=(\d+) `).FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	return n, err == nil
}

// lastLine returns the last line containing substr.
func (l *lines) lastLine(substr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.all) - 1; i >= 0; i-- {
		if strings.Contains(l.all[i], substr) {
			return l.all[i]
		}
	}
	return ""
}

// count returns how many lines contain substr.
func (l *lines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.all {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// faultConfig is every run's config; each fault adds its emitter.
const faultConfig = `interval = 1s
sample_interval = 100ms
method = sampled
log_level = info
`

// fault is one fault to survive.
type fault struct {
	name string
	// conf is the fault's config lines, after faultConfig.
	conf string
	// during, if set, runs while stdin is fed; it ends with the run.
	during func(t *testing.T, p *plugin, stop <-chan struct{})
	// end ends the fault and waits for the figures to reach a collector.
	end func(t *testing.T, ctx context.Context, p *plugin, cfg string)
	// sign is a log line that shows the fault took effect.
	sign string
	// cleanup releases what the fault set up.
	cleanup func()
}

// freeAddr returns a loopback TCP address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// awaitOTLP starts an OTLP/gRPC receiver on addr and waits for an export.
func awaitOTLP(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	var rcv *emittest.OTLP
	var err error
	// The port was free a moment ago; the plugin's own dials cannot take it.
	if !eventually(func() bool { rcv, err = emittest.ListenOTLPGRPC(addr); return err == nil }) {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	t.Cleanup(func() { rcv.Close() })
	if _, err := rcv.Next(ctx); err != nil {
		t.Fatalf("no OTLP export after the fault ended: %v", err)
	}
}

func faults(t *testing.T) []fault {
	t.Helper()
	down := freeAddr(t)
	hole, err := emittest.ListenBlackhole("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sockDir := t.TempDir()
	sock := filepath.Join(sockDir, "statsd.sock")
	storm, err := emittest.ListenStatsD("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	otlpConf := func(endpoint string) string {
		return fmt.Sprintf("emitters = stdout, otlp\notlp_endpoint = %s\notlp_insecure = yes\notlp_timeout = 1s\n", endpoint)
	}
	return []fault{
		{name: "none", conf: "emitters = stdout\n"},
		{
			name: "collector down",
			conf: otlpConf(down),
			sign: "emitter failing",
			end: func(t *testing.T, ctx context.Context, p *plugin, cfg string) {
				awaitOTLP(t, ctx, down)
			},
		},
		{
			name: "collector blackholed",
			conf: otlpConf(hole.Addr()),
			sign: "emitter failing",
			end: func(t *testing.T, ctx context.Context, p *plugin, cfg string) {
				if hole.Accepted() == 0 {
					t.Errorf("the plugin never connected to the blackhole")
				}
				hole.Close()
				awaitOTLP(t, ctx, hole.Addr())
			},
			cleanup: func() { hole.Close() },
		},
		{
			name: "collector name does not resolve",
			// A .onion name: Go's resolver (the binary is built without
			// cgo) never sends a DNS query for one (RFC 7686), so this
			// fault stays inside the machine; a .invalid name would be
			// asked of the configured resolver, off loopback.
			conf: otlpConf("collector.audisp-backlog.onion:4317"),
			sign: "emitter failing",
			end: func(t *testing.T, ctx context.Context, p *plugin, cfg string) {
				// The fault ends with a config that names a collector.
				addr := freeAddr(t)
				body := faultConfig + otlpConf(addr)
				if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				p.cmd.Process.Signal(syscall.SIGHUP)
				p.stderr.wait(t, "configuration reloaded")
				awaitOTLP(t, ctx, addr)
			},
		},
		{
			name: "statsd socket missing",
			conf: fmt.Sprintf("emitters = stdout, statsd\nstatsd_address = unix://%s\n", sock),
			sign: "emitter failing",
			end: func(t *testing.T, ctx context.Context, p *plugin, cfg string) {
				rcv, err := emittest.ListenStatsD("unixgram", sock)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rcv.Close() })
				if _, err := rcv.Next(ctx); err != nil {
					t.Fatalf("no statsd datagram after the socket appeared: %v", err)
				}
			},
		},
		{
			name: "SIGHUP storm",
			conf: fmt.Sprintf("emitters = stdout, statsd\nstatsd_address = %s\n", storm.Addr()),
			sign: "configuration reloaded",
			during: func(t *testing.T, p *plugin, stop <-chan struct{}) {
				// 100 reloads in a second, then quiet until the run ends.
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for range 100 {
					select {
					case <-stop:
						return
					case <-tick.C:
						p.cmd.Process.Signal(syscall.SIGHUP)
					}
				}
			},
			end: func(t *testing.T, ctx context.Context, p *plugin, cfg string) {
				// Intervals delivered after the storm: skip what is queued.
				for storm.Pending() > 0 {
					storm.Next(ctx)
				}
				if _, err := storm.Next(ctx); err != nil {
					t.Fatalf("no statsd datagram after the storm: %v", err)
				}
				if n := p.stderr.count("configuration reloaded"); n == 0 || n > 100 {
					t.Errorf("%d reloads logged, want 1 to 100 (signals coalesce)", n)
				}
			},
			cleanup: func() { storm.Close() },
		},
	}
}

// faultRun is one plugin run's figures.
type faultRun struct {
	fault
	p        *plugin
	cfg      string
	fed      atomic.Uint64 // records written to stdin so far
	written  uint64        // records written, once feeding stopped
	feedErr  error
	stormed  chan struct{} // closed when during has returned
	gateErr  error         // what the gate waited for in vain
	proc     procFigures
	procErr  error
	writable []string
}

// awaitFault waits, in the test gate, until r's fault shows in the log and
// r then keeps working through it: gateRecords more records read from
// stdin and two more intervals reported. It returns what did not happen
// within hangLimit, or nil.
func (r *faultRun) awaitFault() error {
	if r.during != nil {
		select {
		case <-r.stormed:
		case <-time.After(hangLimit):
			return fmt.Errorf("the fault's own action did not end within %v", hangLimit)
		}
	}
	if r.sign != "" && !r.p.eventually(func() bool { return r.p.stderr.count(r.sign) > 0 }) {
		return fmt.Errorf("the fault did not show: no %q in the log within %v", r.sign, hangLimit)
	}
	fed, intervals := r.fed.Load(), r.p.stdout.count("method=sampled")
	if !r.p.eventually(func() bool { return r.fed.Load() >= fed+gateRecords }) {
		return fmt.Errorf("stdin not read during the fault: %d records in %v, want %d", r.fed.Load()-fed, hangLimit, gateRecords)
	}
	if !r.p.eventually(func() bool { return r.p.stdout.count("method=sampled") >= intervals+2 }) {
		return fmt.Errorf("no interval reported during the fault: %d in %v, want 2", r.p.stdout.count("method=sampled")-intervals, hangLimit)
	}
	return nil
}

func TestFaults(t *testing.T) {
	needAudit(t)
	soak := soakTime(t)
	fs := faults(t)
	runs := make([]*faultRun, len(fs))
	for i, f := range fs {
		if f.cleanup != nil {
			t.Cleanup(f.cleanup)
		}
		cfg := writeConfig(t, faultConfig+f.conf)
		p := start(t, cfg)
		p.stderr.wait(t, "starting")
		runs[i] = &faultRun{fault: f, p: p, cfg: cfg, stormed: make(chan struct{})}
	}

	// Feed every plugin at once: for the soak's time, or until every
	// run has shown its fault and worked through it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() { r.feedErr = feed(r.p.stdin, stop, &r.fed) })
		if r.during != nil {
			wg.Go(func() {
				defer close(r.stormed)
				r.during(t, r.p, stop)
			})
		}
	}
	began := time.Now()
	if soak > 0 {
		time.Sleep(soak)
	} else {
		var waits sync.WaitGroup
		for _, r := range runs {
			waits.Go(func() { r.gateErr = r.awaitFault() })
		}
		waits.Wait()
	}
	fedFor := time.Since(began)
	for _, r := range runs {
		r.proc, r.procErr = readProcStatus(r.p.cmd.Process.Pid)
		r.writable, _ = writableFiles(r.p.cmd.Process.Pid)
	}
	close(stop)
	fed := make(chan struct{})
	go func() { wg.Wait(); close(fed) }()
	waitFor(t, fed, "the feeders to stop (a plugin stopped reading stdin)")
	for _, r := range runs {
		r.written = r.fed.Load()
	}

	base := runs[0]
	if base.feedErr != nil || base.written == 0 {
		t.Fatalf("no-fault run: wrote %d records, %v\n%s", base.written, base.feedErr, base.p.stderr.text())
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if r.feedErr != nil {
				t.Fatalf("feeding stdin: %v (the plugin died?)\n%s", r.feedErr, r.p.stderr.text())
			}
			if r.procErr != nil {
				t.Fatalf("plugin not running at the end of the run: %v", r.procErr)
			}
			if r.gateErr != nil {
				t.Errorf("%v\nstderr:\n%s", r.gateErr, r.p.stderr.text())
			}
			ratio := float64(r.written) / float64(base.written)
			if soak > 0 && ratio < minSpeedRatio {
				t.Errorf("consumed %d records, %.2f of the no-fault run's %d; want at least %.2f", r.written, ratio, base.written, minSpeedRatio)
			}
			if r.proc.hwm > rssBound {
				t.Errorf("VmHWM %d MiB, bound %d MiB", r.proc.hwm>>20, rssBound>>20)
			}
			if r.sign != "" && !r.p.eventually(func() bool { return r.p.stderr.count(r.sign) > 0 }) {
				t.Errorf("the fault did not show: no %q in the log:\n%s", r.sign, r.p.stderr.text())
			}
			if len(r.writable) > 0 {
				t.Errorf("files open for writing: %v", r.writable)
			}

			// The fault ends; the figures must come back.
			ctx, cancel := context.WithTimeout(context.Background(), resumeLimit)
			defer cancel()
			ended := time.Now()
			if r.end != nil {
				r.end(t, ctx, r.p, r.cfg)
			}
			resumed := time.Since(ended)

			// Every record written was read and counted: the next
			// interval reports them all. (Not only the final one at
			// exit, which gets a bounded time, exitBudget.)
			counted := func() uint64 {
				n, _ := recordsIn(r.p.stdout.lastLine("method=sampled"))
				return n
			}
			if !r.p.eventually(func() bool { return counted() >= r.written }) {
				t.Errorf("intervals count %d records, %d were written", counted(), r.written)
			}
			r.p.stdin.Close()
			if err := r.p.exit(); err != nil {
				t.Fatalf("exit: %v\n%s", err, r.p.stderr.text())
			}
			if got := counted(); got != r.written {
				t.Errorf("last interval counts %d records, %d were written", got, r.written)
			}
			figures := fmt.Sprintf("fault=%q fed=%v records=%d VmRSS=%.1fMiB VmHWM=%.1fMiB threads=%d reloads=%d resumed_after=%v",
				r.name, fedFor.Round(10*time.Millisecond), r.written,
				float64(r.proc.rss)/(1<<20), float64(r.proc.hwm)/(1<<20), r.proc.threads,
				r.p.stderr.count("configuration reloaded"), resumed.Round(10*time.Millisecond))
			if soak > 0 {
				// Only a soak feeds every run for the same time.
				figures += fmt.Sprintf(" rate=%.0f/s ratio=%.2f", float64(r.written)/soak.Seconds(), ratio)
			}
			t.Logf("figures: %s", figures)
		})
	}
}
