package main

import (
	"bufio"
	"bytes"
	"context"
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
	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// binary is the plugin built once for the tests that exec it.
var binary string

func TestMain(m *testing.M) {
	if mode := os.Getenv(sandboxChildEnv); mode != "" {
		os.Exit(sandboxChild(mode)) // TestSandboxInProcess's child
	}
	dir, err := os.MkdirTemp("", "audisp-backlog-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "audisp-backlog")
	// As the Makefile builds it: without cgo (dropping capabilities on
	// every thread needs that), whatever the test's own CGO_ENABLED. But
	// never loading eBPF programs: the tests run on hosts whose kernel
	// they must not change (the e2e harness's VM tests the probe).
	build := exec.Command("go", "build", "-ldflags", "-X main.bpfPrograms=off", "-o", binary, ".")
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
	entry := writeEntry(t, good)
	out, err := exec.Command(binary, "-check", "-config", good, "-entry", entry).CombinedOutput()
	if err != nil {
		t.Errorf("-check of a good config: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    config", "ok    entry     " + entry, "active = no: auditd does not start the plugin",
		"ok    kernel", "ok    method", "ok    emitter", "note  sizing", "all checks passed"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("-check output lacks %q:\n%s", want, out)
		}
	}

	bad := writeConfig(t, "interval = 1s\nintervall = 2s\nmethod = magic\n")
	out, err = exec.Command(binary, "-check", "-entry", entry, bad).CombinedOutput()
	if err == nil {
		t.Errorf("-check of a broken config succeeded:\n%s", out)
	}
	for _, want := range []string{"FAIL  config", bad + ":2: intervall", bad + ":3: method", "2 problems found"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("-check output lacks %q:\n%s", want, out)
		}
	}
}

// writeEntry writes auditd's entry for the plugin, as packaged, pointing
// at config, and returns its path.
func writeEntry(t *testing.T, config string) string {
	t.Helper()
	data, err := os.ReadFile("../packaging/plugins.d/audisp-backlog.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "/etc/audit/audisp-backlog.conf", config, 1)
	path := filepath.Join(t.TempDir(), "audisp-backlog.conf")
	if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckDiagnoses: -check says what to change for the mistakes a new
// user makes: the plugin entry given as the configuration, an entry
// auditd would refuse, a collector that is not there, or one that speaks
// plain text to a TLS client, with the line to change.
func TestCheckDiagnoses(t *testing.T) {
	needAudit(t)
	good := writeConfig(t, sampledConfig)
	plain, err := emittest.ListenOTLPGRPC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	refused := freeAddr(t)
	badEntry := writeEntry(t, good)
	if err := os.WriteFile(badEntry, []byte("active=yes\npath = /usr/sbin/audisp-backlog\n"), 0o660); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(badEntry, 0o660); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"the entry as the configuration", []string{"-config", writeEntry(t, good), "-entry", writeEntry(t, good)},
			[]string{"this is an auditd plugin entry (plugins.d), not audisp-backlog's configuration", "1 problem found"}},
		{"an entry auditd refuses", []string{"-config", good, "-entry", badEntry},
			[]string{"group writable (mode 0660): auditd refuses it (chmod g-w) (auditd 4.2 and later)",
				`line 1: "active=yes": auditd wants key = value, with spaces (not tabs) around '='`, "2 problems found"}},
		{"nothing listening", []string{"-config", writeConfig(t, "emitters = otlp\notlp_endpoint = "+refused+"\n"), "-entry", writeEntry(t, good)},
			[]string{"nothing listens on " + refused + " (connection refused)"}},
		{"TLS to plain text", []string{"-config", writeConfig(t, "emitters = otlp\notlp_endpoint = "+plain.Addr()+"\notlp_insecure = no\n"), "-entry", writeEntry(t, good)},
			[]string{"fix: otlp_insecure = yes (line 3 of "}},
		{"the default reaches a plain-text collector on this host", []string{"-config", writeConfig(t, "emitters = otlp\notlp_endpoint = "+plain.Addr()+"\n"), "-entry", writeEntry(t, good)},
			[]string{"ok    emitter   otlp grpc http://" + plain.Addr(), "all checks passed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
			defer cancel()
			out, _ := exec.CommandContext(ctx, binary, append([]string{"-check"}, tt.args...)...).CombinedOutput()
			for _, want := range tt.want {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("-check output lacks %q:\n%s", want, out)
				}
			}
		})
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

// realShaped are records as auditd's dispatcher sends them, none of them
// a backlog reset (the reader's own tests hold many more).
var realShaped = []string{
	"type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"ls\" exe=\"/usr/bin/ls\" subj=unconfined key=(null)\x1dARCH=x86_64 SYSCALL=execve AUID=\"alice\" UID=\"root\"\n",
	"node=web-1 type=PATH msg=audit(1700000000.123:456): item=0 name=\"/usr/bin/ls\" inode=1 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n",
	"type=PROCTITLE msg=audit(1700000000.123:456): proctitle=6C73002D6C61\n",
	"type=EOE msg=audit(1700000000.123:456): \n",
	"type=USER_LOGIN msg=audit(1700000000.123:457): pid=1 uid=0 auid=1000 ses=3 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=? addr=10.0.0.1 terminal=sshd res=success'\x1dUID=\"root\" AUID=\"alice\"\n",
	"type=CONFIG_CHANGE msg=audit(1700000000.123:458): op=set audit_backlog_limit=8192 old=64 auid=0 ses=1 res=1\n",
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
	if n := p.stdout.count("method="); n != 1 {
		t.Errorf("%d interval lines, want the partial interval once:\n%s", n, p.stdout.text())
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

// TestMethodEBPF: the tests' build never loads an eBPF program (it runs
// on hosts whose kernel must stay untouched), so it shows what the plugin
// does when the probe cannot be attached: method = ebpf refuses to start,
// saying why, and method = auto on a kernel without backlog_max_depth
// samples, saying why. -check only reads (kernel, BTF, capabilities,
// kallsyms) and reports on the probe either way.
func TestMethodEBPF(t *testing.T) {
	needAudit(t)
	ebpf := writeConfig(t, "emitters = stdout\ninterval = 1s\nmethod = ebpf\n")
	p := start(t, "-config", ebpf)
	p.stdin.Close()
	if err := p.exit(); err == nil {
		t.Fatalf("method = ebpf started without the probe:\n%s", p.stderr.text())
	}
	if !strings.Contains(p.stderr.text(), "method = ebpf: this build of the plugin never loads eBPF programs") {
		t.Errorf("the refusal does not say why:\n%s", p.stderr.text())
	}

	out, _ := exec.Command(binary, "-check", "-config", ebpf, "-entry", writeEntry(t, ebpf)).CombinedOutput()
	if !bytes.Contains(out, []byte("FAIL  probe")) || !bytes.Contains(out, []byte("kernel "+kernelRelease(t))) ||
		!bytes.Contains(out, []byte("never loads eBPF programs")) {
		t.Errorf("-check does not report on the probe as the plugin would find it:\n%s", out)
	}

	st, err := hostStatus()
	if err != nil || st.HasMaxDepth {
		return // the mark would be the source under auto
	}
	auto := writeConfig(t, "emitters = stdout\ninterval = 1s\nmethod = auto\n")
	p = start(t, "-config", auto)
	p.stdout.wait(t, "method=sampled")
	p.stdin.Close()
	if err := p.exit(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if !strings.Contains(p.stderr.text(), "the eBPF probe of the audit queue cannot be attached") {
		t.Errorf("auto does not say why it samples:\n%s", p.stderr.text())
	}
}

func kernelRelease(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func hostStatus() (auditclient.Status, error) {
	c, err := auditclient.Open()
	if err != nil {
		return auditclient.Status{}, err
	}
	defer c.Close()
	return c.Status()
}
