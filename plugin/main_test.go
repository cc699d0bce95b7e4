package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/conf"
)

// binary is the plugin built once for the tests that exec it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "audisp-backlog-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "audisp-backlog")
	// As the Makefile builds it: without cgo (dropping capabilities on
	// every thread needs that), whatever the test's own CGO_ENABLED.
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the plugin: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hangLimit is how long a test waits for a condition (a log line, an
// exit, a count) before calling the plugin hung. It detects hangs, it is
// not a performance figure: generous, so that a busy machine makes a test
// slower, never red.
const hangLimit = 60 * time.Second

// eventually polls cond until it holds, for at most hangLimit, and reports
// whether it held.
func eventually(cond func() bool) bool {
	return eventuallyUntil(cond, nil)
}

// eventuallyUntil is eventually that gives up early once stop is closed.
func eventuallyUntil(cond func() bool, stop <-chan struct{}) bool {
	deadline := time.NewTimer(hangLimit)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-stop:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

// needAudit skips a test that needs netlink audit (AUDIT_GET) when this
// machine does not allow it, saying why.
func needAudit(t *testing.T) {
	t.Helper()
	c, err := auditclient.Open()
	if err == nil {
		_, err = c.Status()
		c.Close()
	}
	if err != nil {
		t.Skipf("netlink audit is not usable here, so the plugin cannot start: %v", err)
	}
}

// writeConfig writes a root-owned 0600 config file (the plugin refuses a
// group- or world-writable one when run as root).
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audisp-backlog.conf")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// plugin is a running plugin process.
type plugin struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *lines
	stderr *lines
	done   chan error
	exited chan struct{} // closed when the process has ended
}

// lines collects a stream's lines and lets a test wait for one.
type lines struct {
	mu   sync.Mutex
	all  []string
	cond *sync.Cond
	eof  bool
}

func newLines(r io.Reader) *lines {
	l := &lines{}
	l.cond = sync.NewCond(&l.mu)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.eof = true
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	return l
}

// wait returns the first line containing substr, waiting for it.
func (l *lines) wait(t *testing.T, substr string) string {
	t.Helper()
	timer := time.AfterFunc(hangLimit, func() {
		l.mu.Lock()
		l.eof = true
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; ; i++ {
		for ; i < len(l.all); i++ {
			if strings.Contains(l.all[i], substr) {
				return l.all[i]
			}
		}
		if l.eof {
			t.Fatalf("no line with %q in:\n%s", substr, strings.Join(l.all, "\n"))
		}
		l.cond.Wait()
		i--
	}
}

// waitEOF waits until the stream has ended and every line is collected.
func (l *lines) waitEOF(t *testing.T) {
	t.Helper()
	if !eventually(func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.eof
	}) {
		t.Fatalf("stream not ended after %v", hangLimit)
	}
}

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// start runs the plugin in the foreground with config.
func start(t *testing.T, args ...string) *plugin {
	t.Helper()
	return startArgv(t, append([]string{binary, "-foreground"}, args...))
}

// startArgv is start with the whole command line given, for a plugin run
// under a wrapper that execs it.
func startArgv(t *testing.T, argv []string) *plugin {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{} // as auditd starts plugins
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Not StdoutPipe: Wait closes that pipe when the process exits, and
	// may lose its last lines. With a writer, Wait returns only once
	// everything written has been copied.
	stdout, stdoutW := io.Pipe()
	stderr, stderrW := io.Pipe()
	cmd.Stdout, cmd.Stderr = stdoutW, stderrW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &plugin{t: t, cmd: cmd, stdin: stdin, stdout: newLines(stdout), stderr: newLines(stderr),
		done: make(chan error, 1), exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		stdoutW.Close() // the collectors see EOF after the last line
		stderrW.Close()
		p.done <- err
		close(p.exited)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// eventually polls cond until it holds, for at most hangLimit, and reports
// whether it held; it gives up early if the plugin has ended.
func (p *plugin) eventually(cond func() bool) bool {
	return eventuallyUntil(cond, p.exited)
}

// exit waits for the plugin to end and returns its exit error. Every line
// it wrote has then been collected.
func (p *plugin) exit() error {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.stdout.waitEOF(p.t)
		p.stderr.waitEOF(p.t)
		return err
	case <-time.After(hangLimit):
		p.t.Fatalf("plugin did not exit; stderr:\n%s", p.stderr.text())
		return nil
	}
}

const sampledConfig = `# test
interval = 1s
sample_interval = 10ms
emitters = stdout
log_level = debug
`

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "-version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "audisp-backlog ") {
		t.Errorf("-version: %v, %q", err, out)
	}
}

func TestBadFlags(t *testing.T) {
	tests := [][]string{
		{"-nope"},
		{"a.conf", "b.conf"},
		{"-config", "a.conf", "b.conf"},
	}
	for _, args := range tests {
		err := exec.Command(binary, args...).Run()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%q: %v, want exit status 2", args, err)
		}
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

func TestCheck(t *testing.T) {
	needAudit(t)
	good := writeConfig(t, sampledConfig)
	out, err := exec.Command(binary, "-check", "-config", good).CombinedOutput()
	if err != nil {
		t.Errorf("-check of a good config: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    config", "ok    kernel", "ok    method", "ok    emitter"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("-check output lacks %q:\n%s", want, out)
		}
	}

	bad := writeConfig(t, "interval = 1s\nintervall = 2s\nmethod = magic\n")
	out, err = exec.Command(binary, "-check", bad).CombinedOutput()
	if err == nil {
		t.Errorf("-check of a broken config succeeded:\n%s", out)
	}
	for _, want := range []string{"FAIL  config", bad + ":2: intervall", bad + ":3: method"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("-check output lacks %q:\n%s", want, out)
		}
	}
}

// TestRefusesBrokenConfig: a broken config at start is an error exit, with
// the reason in the log.
func TestRefusesBrokenConfig(t *testing.T) {
	p := start(t, writeConfig(t, "interval = soon\n"))
	p.stdin.Close()
	if err := p.exit(); err == nil {
		t.Fatal("plugin started with a broken config")
	}
	p.stderr.wait(t, "interval")
}

const resetRecordLine = "type=CONFIG_CHANGE msg=audit(1700000000.123:456): op=set backlog_max_depth=0 old=4762 auid=4294967295 ses=4294967295 res=1\x1dAUID=\"unset\"\n"

// TestStdinEOF: auditd 4.2 closes stdin on reload and waits: the plugin
// reports its partial interval and exits 0.
func TestStdinEOF(t *testing.T) {
	needAudit(t)
	p := start(t, "-config", writeConfig(t, strings.Replace(sampledConfig, "interval = 1s", "interval = 1h", 1)))
	p.stderr.wait(t, "starting")
	for _, rec := range append(realShaped, "garbage\n") {
		io.WriteString(p.stdin, rec)
	}
	p.stdin.Close()
	if err := p.exit(); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderr.text())
	}
	p.stderr.wait(t, "end of stdin")
	line := p.stdout.wait(t, "method=sampled")
	for _, want := range []string{"records=6", "malformed=1"} {
		if !strings.Contains(line, want) {
			t.Errorf("final interval %q lacks %q", line, want)
		}
	}
}

// TestSignals: SIGHUP reloads (a broken file is refused and the running
// configuration kept), SIGTERM flushes and exits 0.
func TestSignals(t *testing.T) {
	needAudit(t)
	cfg := writeConfig(t, sampledConfig)
	p := start(t, cfg)
	p.stderr.wait(t, "starting")
	p.stdout.wait(t, "method=sampled") // a 1 s interval went by

	if err := os.WriteFile(cfg, []byte("interval = 1s\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.stderr.wait(t, "keeping the running configuration")

	if err := os.WriteFile(cfg, []byte(strings.Replace(sampledConfig, "interval = 1s", "interval = 2s", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.stderr.wait(t, "configuration reloaded")

	io.WriteString(p.stdin, resetRecordLine)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.exit(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.text())
	}
	p.stderr.wait(t, "stopping")
}

func TestSameEmitters(t *testing.T) {
	parse := func(body string) *conf.Config {
		t.Helper()
		c, err := conf.Parse(strings.NewReader(body), "test.conf")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
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
	}
	a := parse(base)
	for _, tt := range tests {
		if got := sameEmitters(a, parse(tt.b)); got != tt.same {
			t.Errorf("%s: sameEmitters = %v, want %v", tt.name, got, tt.same)
		}
	}
}
