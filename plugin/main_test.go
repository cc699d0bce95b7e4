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

// hangLimit is how long a test waits for the plugin before calling it hung.
// It detects hangs; it is not a performance figure.
const hangLimit = 20 * time.Second

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
	p := &plugin{t: t, cmd: cmd, stdin: stdin, stdout: newLines(stdout), stderr: newLines(stderr), done: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		stdoutW.Close() // the collectors see EOF after the last line
		stderrW.Close()
		p.done <- err
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exit waits for the plugin to end and returns its exit error.
func (p *plugin) exit() error {
	p.t.Helper()
	select {
	case err := <-p.done:
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
