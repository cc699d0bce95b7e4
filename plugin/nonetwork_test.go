package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// The names the plugin is configured with, under .test (RFC 6761: never
// delegated), resolved only through the test's own /etc/hosts.
const (
	statsdName = "statsd.audisp-backlog.test"
	otlpName   = "otlp.audisp-backlog.test"
)

// privateEtc runs the plugin in a private mount namespace (unshare -m)
// whose /etc/hosts, /etc/nsswitch.conf and /etc/resolv.conf are files of
// the test, bind-mounted over the real ones: the plugin reads them as it
// would the machine's, the test changes /etc/hosts under it, and neither
// the machine's files nor any other process are touched.
type privateEtc struct {
	dir   string
	hosts string // the file the plugin sees as /etc/hosts
	argv  []string
}

// newPrivateEtc prepares the files and the wrapper, with dns as the only
// name server (no DNS if nil), and skips the test, saying why, where a
// private mount namespace cannot be made.
func newPrivateEtc(t *testing.T, dns *dnsSink) *privateEtc {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a private mount namespace with its own /etc/hosts needs root (CAP_SYS_ADMIN); this test is not root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	mount, err := exec.LookPath("mount")
	if err != nil {
		t.Skip("mount (util-linux) is not installed")
	}
	e := &privateEtc{dir: t.TempDir()}
	e.hosts = filepath.Join(e.dir, "hosts")
	e.setHosts(t, "")
	// Name resolution as at boot before the network is up: DNS is asked
	// (files first, as on Debian) and never answers. The only name server
	// is the test's sink on a loopback address, so no query can leave the
	// machine; without the sink the plugin gets no DNS at all.
	nss := "hosts: files\n"
	if dns != nil {
		nss = "hosts: files dns\n"
	}
	files := map[string]string{
		"nsswitch.conf": nss,
		"resolv.conf":   "nameserver " + dnsSinkIP + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const script = `set -e
mount="$1"; shift
"$mount" --bind "$1" /etc/hosts
"$mount" --bind "$2" /etc/nsswitch.conf
"$mount" --bind "$3" /etc/resolv.conf
shift 3
exec "$@"`
	e.argv = []string{unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", mount,
		e.hosts, filepath.Join(e.dir, "nsswitch.conf"), filepath.Join(e.dir, "resolv.conf")}
	probe := exec.Command(e.argv[0], append(e.argv[1:], "/bin/cat", "/etc/hosts", "/etc/nsswitch.conf")...)
	probe.Env = []string{}
	out, err := probe.CombinedOutput()
	if err != nil {
		t.Skipf("cannot run a program in a private mount namespace with its own /etc files here: %v: %s", err, out)
	}
	if !strings.Contains(string(out), nss) {
		t.Fatalf("the private namespace does not see the test's files:\n%s", out)
	}
	return e
}

// setHosts rewrites the plugin's /etc/hosts in place (the bind mount holds
// the inode) with localhost and lines.
func (e *privateEtc) setHosts(t *testing.T, lines string) {
	t.Helper()
	if err := os.WriteFile(e.hosts, []byte("127.0.0.1 localhost\n::1 localhost\n"+lines), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dnsSinkIP is the address of the DNS sink, on loopback.
const dnsSinkIP = "127.83.0.53"

// dnsSink is a DNS server on loopback that never answers, as one that is
// not reachable yet; it keeps the names it was asked.
type dnsSink struct {
	conn net.PacketConn
	done chan struct{}
	mu   sync.Mutex
	asks []string
}

func listenDNSSink(addr string) (*dnsSink, error) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	s := &dnsSink{conn: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			s.mu.Lock()
			s.asks = append(s.asks, queryName(buf[:n]))
			s.mu.Unlock()
		}
	}()
	return s, nil
}

func (s *dnsSink) close() {
	s.conn.Close()
	<-s.done
}

func (s *dnsSink) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asks...)
}

// queryName returns the first question's name of a DNS query, or "?".
func queryName(msg []byte) string {
	var labels []string
	for i := 12; i < len(msg); {
		n := int(msg[i])
		if n == 0 {
			return strings.Join(labels, ".")
		}
		if n > 63 || i+1+n > len(msg) {
			break
		}
		labels = append(labels, string(msg[i+1:i+1+n]))
		i += 1 + n
	}
	return "?"
}

// countAll returns how many lines contain every one of substrs.
func (l *lines) countAll(substrs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.all {
		all := true
		for _, sub := range substrs {
			all = all && strings.Contains(s, sub)
		}
		if all {
			n++
		}
	}
	return n
}

// emitsFailed returns the largest emits_failed of the stdout interval lines.
func (l *lines) emitsFailed() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var most uint64
	re := regexp.MustCompile(` emits_failed=(\d+) `)
	for _, s := range l.all {
		if m := re.FindStringSubmatch(s); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			most = max(most, n)
		}
	}
	return most
}

// TestStartWithoutNetwork: auditd starts before the network and restarts a
// dead plugin only a few times, so a valid configuration must never stop
// the plugin, whatever the state of the network. The plugin starts with a
// statsd host name and an OTLP host name that do not resolve (DNS does not
// answer), runs, reports the failures in its log once per emitter and in
// emits_failed; then the names resolve (the test adds them to the plugin's
// /etc/hosts) and the figures reach both collectors, from the same
// process. Over OTLP/gRPC and OTLP/HTTP.
func TestStartWithoutNetwork(t *testing.T) {
	needAudit(t)
	// One sink for both runs. Where its address is taken, the plugin gets
	// no DNS at all (a name server there might forward queries).
	dns, err := listenDNSSink(net.JoinHostPort(dnsSinkIP, "53"))
	if err != nil {
		t.Logf("no DNS sink (%v): the plugin resolves from its /etc/hosts only", err)
		dns = nil
	} else {
		t.Cleanup(func() {
			dns.close()
			// The resolver was asked, and only about the test's names.
			names := dns.names()
			if len(names) == 0 {
				t.Errorf("the DNS sink was never asked: the names were not looked up through DNS")
			}
			for _, n := range names {
				if !strings.HasPrefix(n+".", statsdName+".") && !strings.HasPrefix(n+".", otlpName+".") {
					t.Errorf("the plugin asked DNS about %q", n)
				}
			}
			t.Logf("figures: DNS queries to the loopback sink=%d", len(names))
		})
	}
	for _, protocol := range []string{emittest.ProtocolGRPC, emittest.ProtocolHTTP} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			startWithoutNetwork(t, newPrivateEtc(t, dns), protocol)
		})
	}
}

func startWithoutNetwork(t *testing.T, etc *privateEtc, protocol string) {
	var otlp *emittest.OTLP
	var err error
	if protocol == emittest.ProtocolGRPC {
		otlp, err = emittest.ListenOTLPGRPC("127.0.0.1:0")
	} else {
		otlp, err = emittest.ListenOTLPHTTP("127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { otlp.Close() })
	statsd, err := emittest.ListenStatsD("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { statsd.Close() })
	_, otlpPort, _ := net.SplitHostPort(otlp.Addr())
	_, statsdPort, _ := net.SplitHostPort(statsd.Addr())

	cfg := writeConfig(t, fmt.Sprintf(`interval = 1s
sample_interval = 100ms
method = sampled
emitters = stdout, otlp, statsd
otlp_protocol = %s
otlp_endpoint = %s:%s
otlp_insecure = yes
otlp_timeout = 1s
statsd_address = %s:%s
`, protocol, otlpName, otlpPort, statsdName, statsdPort))
	p := startArgv(t, append(append([]string(nil), etc.argv...), binary, "-foreground", cfg))
	p.stderr.wait(t, "starting")

	// Without the names: the plugin runs, both emitters fail, once each
	// in the log, and every failure is counted.
	for _, em := range []string{"emitter=otlp", "emitter=statsd"} {
		if !p.eventually(func() bool { return p.stderr.countAll("emitter failing", em) > 0 }) {
			t.Fatalf("no %q failure in the log:\n%s", em, p.stderr.text())
		}
	}
	if !p.eventually(func() bool { return p.stdout.emitsFailed() >= 4 }) {
		t.Fatalf("emits_failed did not reach 4 on stdout:\n%s", p.stdout.text())
	}

	// The network comes up.
	etc.setHosts(t, fmt.Sprintf("127.0.0.1 %s %s\n", statsdName, otlpName))
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	req, err := otlp.Next(ctx)
	if err != nil {
		t.Fatalf("no OTLP export once %s resolved: %v\n%s", otlpName, err, p.stderr.text())
	}
	if n, ok := total(req, "linux.audit.plugin.emits_failed"); !ok || n == 0 {
		t.Errorf("the first OTLP export reports emits_failed %d (present %v), want the failures before it", n, ok)
	}
	// An interval may take two datagrams: read to its emits_failed line.
	for {
		dgram, err := statsd.Next(ctx)
		if err != nil {
			t.Fatalf("no statsd emits_failed once %s resolved: %v\n%s", statsdName, err, p.stderr.text())
		}
		if strings.Contains(string(dgram), "linux.audit.plugin.emits_failed:") {
			break
		}
	}
	for _, em := range []string{"emitter=otlp", "emitter=statsd"} {
		if !p.eventually(func() bool { return p.stderr.countAll("emitter recovered", em) > 0 }) {
			t.Errorf("no %q recovery in the log:\n%s", em, p.stderr.text())
		}
		if n := p.stderr.countAll("emitter failing", em); n != 1 {
			t.Errorf("%q failure logged %d times, want once:\n%s", em, n, p.stderr.text())
		}
	}

	// The process started at the beginning ran all along.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.exit(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.text())
	}
	p.stderr.wait(t, "stopping")
	for _, l := range strings.Split(p.stderr.text(), "\n") {
		if strings.Contains(l, "emitter failing") || strings.Contains(l, "emitter recovered") {
			t.Logf("log: %s", l)
		}
	}
}
