package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// TestSandboxAllowsThePlugin runs the built plugin under strace for a
// whole session, sandboxed as it runs under auditd: records on stdin,
// OTLP/gRPC over TLS with a client certificate to a name from /etc/hosts,
// DogStatsD on a unix socket; a reload (its configuration replaced by
// rename) to OTLP/HTTP; a reload to no otlp_ca_file, which loads the
// system's trust store; SIGTERM. It then runs every system call the plugin
// made once the seccomp filter was loaded through that very filter (the
// same policy, built for the plugin's pid), and fails on any the filter
// refuses; and it fails on any call that got EACCES once Landlock was
// enforced. This is the check of the policy against the binary's real
// behaviour: a call that only some path of the plugin makes shows here
// when that path runs, denied or not.
func TestSandboxAllowsThePlugin(t *testing.T) {
	needAudit(t)
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed (apt-get install strace)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	pki, err := emittest.WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rcv := map[string]*emittest.OTLP{}
	for _, protocol := range []string{conf.ProtocolGRPC, conf.ProtocolHTTP} {
		r, err := emittest.ListenOTLPTLS(protocol, "127.0.0.1:0", pki.ServerTLS())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		rcv[protocol] = r
	}
	sock := filepath.Join(t.TempDir(), "statsd.sock")
	statsd, err := emittest.ListenStatsD("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { statsd.Close() })

	config := func(protocol string, ca bool) string {
		_, port, _ := strings.Cut(rcv[protocol].Addr(), ":")
		c := fmt.Sprintf(`interval = 1s
sample_interval = 100ms
method = sampled
emitters = otlp, statsd
log_level = debug
otlp_protocol = %s
otlp_endpoint = localhost:%s
otlp_timeout = 1s
otlp_cert_file = %s
otlp_key_file = %s
statsd_address = unix://%s
`, protocol, port, pki.CertFile, pki.KeyFile, sock)
		if ca {
			c += "otlp_ca_file = " + pki.CAFile + "\n"
		}
		return c
	}
	cfg := writeConfig(t, config(conf.ProtocolGRPC, true))
	replace := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfg+".new", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(cfg+".new", cfg); err != nil {
			t.Fatal(err)
		}
	}
	trace := filepath.Join(t.TempDir(), "trace")
	p := startArgv(t, []string{strace, "-f", "-qq", "-e", "signal=none", "-e", "raw=all", "-o", trace,
		binary, "-foreground", "-config", cfg})
	started := p.stderr.wait(t, "starting")
	pid, err := strconv.Atoi(regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(started)[1])
	if err != nil {
		t.Fatal(err)
	}
	p.stderr.wait(t, "sandbox:")
	signal := func(sig syscall.Signal) {
		t.Helper()
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
	}
	for _, rec := range realShaped {
		io.WriteString(p.stdin, rec)
	}
	if _, err := rcv[conf.ProtocolGRPC].Next(ctx); err != nil {
		t.Fatalf("no OTLP/gRPC export: %v\n%s", err, p.stderr.text())
	}
	if _, err := statsd.Next(ctx); err != nil {
		t.Fatalf("no statsd datagram: %v\n%s", err, p.stderr.text())
	}

	replace(config(conf.ProtocolHTTP, true))
	signal(syscall.SIGHUP)
	if _, err := rcv[conf.ProtocolHTTP].Next(ctx); err != nil {
		t.Fatalf("no OTLP/HTTP export after the reload: %v\n%s", err, p.stderr.text())
	}
	replace(config(conf.ProtocolHTTP, false))
	signal(syscall.SIGHUP)
	p.stderr.wait(t, "unknown authority") // the system's trust store does not know the test CA

	signal(syscall.SIGTERM)
	if err := p.exit(); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderr.text())
	}
	if strings.Contains(p.stderr.text(), "keeping the running configuration") {
		t.Errorf("a reload was refused:\n%s", p.stderr.text())
	}
	checkTrace(t, trace, pid)
}

// straceLine is a system call line of strace -f -e raw=all: "PID
// name(0x1, 0x2) = 0x0", "PID name(0x1 <unfinished ...>" or "PID <...
// name resumed>) = 0x0".
var straceLine = regexp.MustCompile(`^(\d+) +(?:<\.\.\. )?([a-z0-9_]+)(?: resumed>|\()(.*)$`)

// checkTrace checks the system calls of trace made by the process pid.
func checkTrace(t *testing.T, trace string, pid int) {
	t.Helper()
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	filters := newFilters(t, pid)
	var (
		landlock, seccomp bool
		checked           int
		names             = map[string]int{}
		refused           = map[string]string{}
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := straceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, rest, resumed := m[2], m[3], strings.Contains(line, " resumed>")
		if landlock && strings.Contains(rest, "= -1 EACCES") {
			t.Errorf("after Landlock: %s", line)
		}
		if resumed {
			continue
		}
		args := rest
		if i := strings.Index(args, " <unfinished"); i >= 0 {
			args = args[:i]
		} else if i := strings.LastIndex(args, ") "); i >= 0 {
			args = args[:i]
		}
		if name == "landlock_restrict_self" {
			landlock = true
		}
		if !seccomp {
			// The first filter's own call starts the check after it.
			seccomp = name == "seccomp" && strings.HasPrefix(args, "0x1,")
			continue
		}
		nr, ok := filters.arch.SyscallNames[name]
		if n, found := strings.CutPrefix(name, "syscall_"); found {
			v, err := strconv.ParseUint(n, 0, 32)
			nr, ok = int(v), err == nil
		}
		if !ok {
			t.Errorf("unknown system call %q: %s", name, line)
			continue
		}
		var vals []uint64
		for a := range strings.SplitSeq(args, ", ") {
			if a == "" {
				continue
			}
			v, err := strconv.ParseUint(a, 0, 64)
			if err != nil {
				t.Fatalf("argument %q of %s", a, line)
			}
			vals = append(vals, v)
		}
		checked++
		names[name]++
		if got := filters.verdict(t, uint32(filters.arch.ID), nr, vals...); got != "allow" {
			refused[name] = got + ": " + line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !seccomp {
		t.Fatal("no seccomp filter in the trace")
	}
	if !landlock {
		t.Log("no Landlock on this kernel: no EACCES check")
	}
	for name, why := range refused {
		t.Errorf("the sandbox refuses %s, which the plugin calls: %s", name, why)
	}
	var seen []string
	for n, c := range names {
		seen = append(seen, fmt.Sprintf("%s %d", n, c))
	}
	slices.Sort(seen)
	t.Logf("%d system calls after the seccomp filter: %s", checked, strings.Join(seen, ", "))
}
