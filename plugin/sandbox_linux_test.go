package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/auditdstate"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
	"github.com/audisp-backlog/audisp-backlog/internal/compat32"
)

// sandboxChildEnv, when set, makes the test binary a child of
// TestSandboxInProcess: TestMain runs sandboxChild instead of the tests.
// Its value is the sandbox to apply: "full" (what the plugin applies),
// "landlock" or "seccomp" (one half of it, to show what each refuses on
// its own).
const sandboxChildEnv = "AUDISP_SANDBOX_CHILD"

// childSetup is what the test gives its child, as JSON in
// AUDISP_SANDBOX_SETUP.
type childSetup struct {
	Config    string // the configuration file, naming the TLS files below
	CAFile    string // replaced by another file after the sandbox is up
	CertFile  string
	Secret    string // a file outside everything the sandbox allows
	Outside   string // a directory outside too
	DNS       string // a loopback DNS server that knows Name
	Name      string // resolves to 127.0.0.1
	UDPPort   int    // a loopback UDP collector, reached by Name
	Unixgram  string // a unix datagram collector's socket, in Outside
	TCP       string // a loopback TCP listener
	SystemPEM string // a certificate of the system's trust store, if any
}

// probeResult is what a probe reports: "ok", an errno's name, or an error.
func probeResult(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	default:
		return strings.ReplaceAll(err.Error(), "\n", " ")
	}
}

// sandboxChild applies the sandbox named by mode to the process, as the
// plugin applies it, and reports on stdout what each probe got: first what
// the kernel says before the sandbox, then "ready", then (after a line on
// stdin, once the test has replaced files) one line per probe, "done".
func sandboxChild(mode string) int {
	var setup childSetup
	if err := json.Unmarshal([]byte(os.Getenv("AUDISP_SANDBOX_SETUP")), &setup); err != nil {
		fmt.Println("setup:", err)
		return 2
	}
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }

	// Before the sandbox: the kernel's own answers, for comparison.
	say("baseline bpf %s", probeResult(bpfLoadEmpty()))
	if compat32.Supported {
		say("baseline i386 %d", compat32.Syscall(compat32.I386Getpid, 0, 0, 0))
	}
	abi, _ := llsys.LandlockGetABIVersion()
	say("abi %d", abi)

	cfg, err := conf.Load(setup.Config)
	if err != nil {
		say("config: %v", err)
		return 2
	}
	sb := newSandbox(setup.Config, cfg, os.Getenv)
	switch mode {
	case "full":
		_, err = sb.apply() // what daemon calls
	case "landlock":
		_, err = sb.applyLandlock()
	case "seccomp":
		_, err = applySeccomp(os.Getpid())
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		say("sandbox: %v", err)
		return 2
	}
	say("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		say("stdin: %v", err)
		return 2
	}

	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, setup.DNS) // no query leaves the machine
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialer := &net.Dialer{Resolver: resolver}
	send := func(network, addr string) error {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = io.WriteString(c, "probe "+mode)
		return err
	}

	for _, p := range []struct {
		name string
		run  func() error
	}{
		{"read config", func() error { _, err := os.ReadFile(setup.Config); return err }},
		{"load config", func() error { _, err := conf.Load(setup.Config); return err }},
		{"read TLS file", func() error { _, err := os.ReadFile(setup.CertFile); return err }},
		{"read replaced TLS file", func() error { _, err := os.ReadFile(setup.CAFile); return err }},
		{"report replaced TLS file", func() error {
			if !slices.Contains(sb.unreadable(), setup.CAFile) {
				return errors.New("not reported")
			}
			return nil
		}},
		{"trust store", func() error {
			pool, err := x509.SystemCertPool()
			if err != nil || setup.SystemPEM == "" {
				return err
			}
			b, _ := pem.Decode([]byte(setup.SystemPEM))
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return err
			}
			_, err = cert.Verify(x509.VerifyOptions{Roots: pool})
			return err
		}},
		{"kernel figures", func() error { _, _, err := auditclient.TickRate(""); return err }},
		{"auditd state report", func() error {
			_, err := auditdstate.Read("/")
			if errors.Is(err, fs.ErrPermission) {
				return err
			}
			return nil // none on a machine without auditd: fine
		}},
		{"host name", func() error { _, err := os.Hostname(); return err }},
		{"resolve", func() error {
			addrs, err := resolver.LookupHost(ctx, setup.Name)
			if err == nil && !slices.Equal(addrs, []string{"127.0.0.1"}) {
				err = fmt.Errorf("resolved to %v", addrs)
			}
			return err
		}},
		{"send UDP", func() error { return send("udp", net.JoinHostPort(setup.Name, strconv.Itoa(setup.UDPPort))) }},
		{"send unixgram", func() error { return send("unixgram", setup.Unixgram) }},
		{"connect TCP", func() error { return send("tcp", setup.TCP) }},
		{"threads", func() error {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() { runtime.LockOSThread(); time.Sleep(20 * time.Millisecond) })
			}
			wg.Wait()
			return nil
		}},
		{"signal itself", func() error { return unix.Kill(os.Getpid(), 0) }},
		{"read outside", func() error { _, err := os.ReadFile(setup.Secret); return err }},
		{"list outside", func() error { _, err := os.ReadDir(setup.Outside); return err }},
		{"create file", func() error { return os.WriteFile(filepath.Join(setup.Outside, "new"), nil, 0o600) }},
		{"write config", func() error {
			f, err := os.OpenFile(setup.Config, os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"chmod", func() error { return os.Chmod(setup.Secret, 0o640) }},
		{"remove file", func() error { return os.Remove(setup.Secret) }},
		{"executable memory", func() error {
			m, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err == nil {
				unix.Munmap(m)
			}
			return err
		}},
		{"make memory executable", func() error {
			m, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				return err
			}
			defer unix.Munmap(m)
			return unix.Mprotect(m, unix.PROT_READ|unix.PROT_EXEC)
		}},
		{"i386 system call", func() error {
			if r := compat32.Syscall(compat32.I386Getpid, 0, 0, 0); r < 0 {
				return syscall.Errno(-r)
			}
			return nil
		}},
		// BPF_PROG_LOAD with no instructions: the kernel refuses it before
		// loading anything (E2BIG as root), so this probe can load nothing
		// even unsandboxed; sandboxed, seccomp refuses the call itself.
		{"load a BPF program", bpfLoadEmpty},
		{"setuid", func() error {
			_, _, e := unix.RawSyscall(unix.SYS_SETUID, uintptr(os.Getuid()), 0, 0)
			return errnoErr(e)
		}},
		// PTRACE_GETREGS on pid 1, which this process does not trace: the
		// kernel says ESRCH, and attaches to nothing.
		{"ptrace", func() error {
			var regs unix.PtraceRegs
			_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGS, 1, 0, uintptr(unsafe.Pointer(&regs)), 0, 0)
			return errnoErr(e)
		}},
		// Signal 0 checks the right to signal and sends nothing.
		{"signal another process", func() error { return unix.Kill(os.Getppid(), 0) }},
		{"unix stream socket", func() error {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"listen on TCP", func() error {
			var lc net.ListenConfig
			lc.SetMultipathTCP(false) // Landlock sees plain TCP only
			ln, err := lc.Listen(ctx, "tcp4", "127.0.0.1:0")
			if err == nil {
				ln.Close()
			}
			return err
		}},
		// A file system type no kernel has: unsandboxed, root gets ENODEV
		// and nothing is mounted.
		{"mount", func() error { return unix.Mount("none", setup.Outside, "audisp-backlog-none", 0, "") }},
		{"fork and exec", func() error {
			pid, err := syscall.ForkExec("/bin/true", []string{"true"}, nil)
			if err == nil {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
			}
			return err
		}},
		// Last: if it worked, this process would be /bin/true now.
		{"exec", func() error { return syscall.Exec("/bin/true", []string{"true"}, nil) }},
	} {
		say("probe %s: %s", p.name, probeResult(p.run()))
	}
	say("done")
	return 0
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// bpfLoadEmpty asks the kernel to load a BPF program of no instructions.
// Nothing can be loaded that way: bpf_prog_load refuses insn_cnt 0 (E2BIG)
// before it builds a program, and without CAP_BPF refuses any load
// (EPERM, with unprivileged BPF disabled as distributions ship it).
func bpfLoadEmpty() error {
	var attr [128]byte // union bpf_attr: prog_type, insn_cnt 0, insns NULL
	*(*uint32)(unsafe.Pointer(&attr[0])) = unix.BPF_PROG_TYPE_SOCKET_FILTER
	_, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
	return errnoErr(e)
}

// TestSandboxInProcess runs the test binary again, as a child that applies
// the plugin's sandbox to itself (sandboxChild), and checks what the child
// may and may not do: read its configuration (also after it was replaced by
// rename), its TLS files and the trust store, resolve a name through a
// loopback DNS server, send to loopback collectors over UDP, a unix datagram
// socket and TCP; and not read other files, write, create or remove any,
// run a program, load a BPF program, map executable memory, make i386
// system calls, change its uid, trace, signal other processes, open a unix
// stream socket, listen or mount. It does so for the whole sandbox and for
// each half alone.
func TestSandboxInProcess(t *testing.T) {
	t.Run("full", func(t *testing.T) { testSandbox(t, "full") })
	t.Run("landlock", func(t *testing.T) { testSandbox(t, "landlock") })
	t.Run("seccomp", func(t *testing.T) { testSandbox(t, "seccomp") })
}

func testSandbox(t *testing.T, mode string) {
	dir := t.TempDir()
	mkdir := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	confDir, tlsDir, outside := mkdir("conf"), mkdir("tls"), mkdir("outside")
	setup := childSetup{
		Config:   filepath.Join(confDir, "audisp-backlog.conf"),
		CAFile:   filepath.Join(tlsDir, "ca.pem"),
		CertFile: filepath.Join(tlsDir, "client.pem"),
		Secret:   filepath.Join(outside, "secret"),
		Outside:  outside,
		Name:     "collector.sandbox.test.",
		Unixgram: filepath.Join(outside, "collector.sock"),
	}
	for _, f := range []string{setup.CAFile, setup.CertFile, filepath.Join(tlsDir, "client-key.pem"), setup.Secret} {
		write(f, "not a secret\n")
	}
	body := fmt.Sprintf("method = sampled\nemitters = stdout\notlp_ca_file = %s\notlp_cert_file = %s\notlp_key_file = %s\n",
		setup.CAFile, setup.CertFile, filepath.Join(tlsDir, "client-key.pem"))
	write(setup.Config, body)
	setup.SystemPEM = systemRootPEM()

	dns := startDNS(t, setup.Name)
	setup.DNS = dns.addr
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	setup.UDPPort = udp.LocalAddr().(*net.UDPAddr).Port
	ugram, err := net.ListenPacket("unixgram", setup.Unixgram)
	if err != nil {
		t.Fatal(err)
	}
	defer ugram.Close()
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	setup.TCP = tcp.Addr().String()
	received := make(chan string, 3)
	for _, pc := range []net.PacketConn{udp, ugram} {
		go func() {
			buf := make([]byte, 64)
			if n, _, err := pc.ReadFrom(buf); err == nil {
				received <- string(buf[:n])
			}
		}()
	}
	go func() {
		if c, err := tcp.Accept(); err == nil {
			b, _ := io.ReadAll(c)
			c.Close()
			received <- string(b)
		}
	}()

	js, err := json.Marshal(setup)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), sandboxChildEnv+"="+mode, "AUDISP_SANDBOX_SETUP="+string(js))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(hangLimit, func() { cmd.Process.Kill() })
	defer timer.Stop()

	results := map[string]string{}
	var abi int
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		t.Log(line)
		switch {
		case line == "ready":
			// The sandbox is up: replace the configuration and the CA file
			// by rename, as an editor or a certificate renewal does.
			for _, f := range []string{setup.Config, setup.CAFile} {
				b, _ := os.ReadFile(f)
				write(f+".new", string(b))
				if err := os.Rename(f+".new", f); err != nil {
					t.Fatal(err)
				}
			}
			io.WriteString(stdin, "go\n")
		case strings.HasPrefix(line, "abi "):
			abi, _ = strconv.Atoi(strings.TrimPrefix(line, "abi "))
		case strings.HasPrefix(line, "baseline "):
			if f := strings.Fields(line); len(f) == 3 {
				results["baseline "+f[1]] = f[2]
			}
		case strings.HasPrefix(line, "probe "):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "probe "), ": ")
			results[k] = v
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}

	// What each probe must get, in each mode. Landlock's part depends on
	// the kernel's ABI: none (0) restricts nothing.
	landlock := func(abiAtLeast int, denied string) string {
		if abi >= abiAtLeast {
			return denied
		}
		return "ok"
	}
	pick := func(full, ll, sc string) string {
		switch mode {
		case "full":
			return full
		case "landlock":
			return ll
		}
		return sc
	}
	denied := pick("EPERM", landlock(1, "EACCES"), "EPERM") // seccomp answers first
	mount := "ENODEV"                                       // unconfined: no such file system type
	if abi >= 1 {
		mount = "EPERM" // a Landlock domain may not mount
	}
	want := map[string]string{
		"read config":              "ok",
		"load config":              "ok",
		"read TLS file":            "ok",
		"read replaced TLS file":   pick(landlock(1, "EACCES"), landlock(1, "EACCES"), "ok"),
		"report replaced TLS file": pick(landlock(1, "ok"), landlock(1, "ok"), "not reported"),
		"trust store":              "ok",
		"kernel figures":           "ok",
		"auditd state report":      "ok",
		"host name":                "ok",
		"resolve":                  "ok",
		"send UDP":                 "ok",
		"send unixgram":            "ok",
		"connect TCP":              "ok",
		"threads":                  "ok",
		"signal itself":            "ok",
		"read outside":             pick(landlock(1, "EACCES"), landlock(1, "EACCES"), "ok"),
		"list outside":             pick(landlock(1, "EACCES"), landlock(1, "EACCES"), "ok"),
		"create file":              denied,
		"write config":             denied,
		"remove file":              denied,
		"chmod":                    pick("EPERM", "ok", "EPERM"), // Landlock does not cover it
		"executable memory":        pick("EPERM", "ok", "EPERM"),
		"make memory executable":   pick("EPERM", "ok", "EPERM"),
		"load a BPF program":       pick("EPERM", results["baseline bpf"], "EPERM"),
		"setuid":                   pick("EPERM", "ok", "EPERM"),
		"ptrace":                   pick("EPERM", "ESRCH", "EPERM"),
		"signal another process":   pick("EPERM", landlock(6, "EPERM"), "EPERM"),
		"unix stream socket":       pick("EPERM", "ok", "EPERM"),
		"listen on TCP":            pick("EPERM", landlock(4, "EACCES"), "EPERM"),
		"mount":                    pick("EPERM", mount, "EPERM"),
		"fork and exec":            pick("EPERM", landlock(1, "EACCES"), "EPERM"),
		"exec":                     denied,
	}
	if b := results["baseline bpf"]; b != "E2BIG" {
		// Not root: the kernel refuses any load with EPERM too, so the
		// probe cannot tell seccomp's answer from the kernel's.
		t.Logf("unsandboxed, an empty BPF program load got %s, not E2BIG (not root?)", b)
	}
	if b := results["baseline i386"]; compat32.Supported && b == strconv.Itoa(cmd.Process.Pid) {
		want["i386 system call"] = pick("ENOSYS", "ok", "ENOSYS")
	} else {
		t.Logf("no i386 system calls here (baseline %q): that probe says nothing", b)
		delete(results, "i386 system call")
	}
	t.Logf("Landlock ABI %d", abi)
	for name, w := range want {
		if got, ok := results[name]; !ok {
			t.Errorf("%s: no result", name)
		} else if got != w {
			t.Errorf("%s: got %s, want %s", name, got, w)
		}
	}
	for name := range results {
		if _, ok := want[name]; !ok && !strings.HasPrefix(name, "baseline ") {
			t.Errorf("%s: a probe without an expectation", name)
		}
	}

	// What was sent arrived, and the name was asked of the test's server.
	for range 3 {
		select {
		case got := <-received:
			if got != "probe "+mode {
				t.Errorf("a collector received %q", got)
			}
		case <-time.After(hangLimit):
			t.Fatal("a collector received nothing")
		}
	}
	if dns.queries() == 0 {
		t.Error("the DNS server was not asked")
	}
}

// systemRootPEM returns the first certificate of the first trust store
// file Go reads, or "" if there is none.
func systemRootPEM() string {
	for _, f := range trustFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if blk, _ := pem.Decode(b); blk != nil && blk.Type == "CERTIFICATE" {
			return string(pem.EncodeToMemory(blk))
		}
	}
	return ""
}

// testDNS is a loopback DNS server that answers an A query for one name
// with 127.0.0.1, and NXDOMAIN for anything else.
type testDNS struct {
	addr string
	mu   sync.Mutex
	n    int
}

func (d *testDNS) queries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

func startDNS(t *testing.T, name string) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	d := &testDNS{addr: pc.LocalAddr().String()}
	want := dnsmessage.MustNewName(name)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			d.mu.Lock()
			d.n++
			d.mu.Unlock()
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError}
			match := strings.EqualFold(q.Name.String(), want.String())
			if match {
				rh.RCode = dnsmessage.RCodeSuccess
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if match && q.Type == dnsmessage.TypeA {
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
			}
			if msg, err := b.Finish(); err == nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
	return d
}

// TestSandboxReload runs the built plugin and reloads it under Landlock: a
// configuration naming a TLS file it did not start with is refused, saying
// why; a TLS file replaced by rename since start is reported, and the
// reload that needs it refused; the configuration itself, replaced by
// rename, reloads.
func TestSandboxReload(t *testing.T) {
	needAudit(t)
	if abi, err := llsys.LandlockGetABIVersion(); err != nil || abi == 0 {
		t.Skip("no Landlock on this kernel")
	}
	pki, err := emittest.WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := emittest.WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, sampledConfig+"otlp_ca_file = "+pki.CAFile+"\n")
	replace := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path+".new", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	withOTLP := func(ca string) string {
		return strings.Replace(sampledConfig, "emitters = stdout", "emitters = stdout, otlp", 1) +
			"otlp_endpoint = 127.0.0.1:1\notlp_ca_file = " + ca + "\n"
	}
	p := start(t, cfg)
	p.stderr.wait(t, "sandbox: confined")

	replace(cfg, withOTLP(other.CAFile))
	p.cmd.Process.Signal(syscall.SIGHUP)
	line := p.stderr.wait(t, "not readable in the sandbox")
	if !strings.Contains(line, "keeping the running configuration") || !strings.Contains(line, "service auditd restart") {
		t.Errorf("refusal does not say what it keeps and what to do: %s", line)
	}

	ca, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	replace(pki.CAFile, string(ca))
	replace(cfg, withOTLP(pki.CAFile))
	p.cmd.Process.Signal(syscall.SIGHUP)
	if line := p.stderr.wait(t, "was replaced since start"); !strings.Contains(line, pki.CAFile) {
		t.Errorf("replaced file not named: %s", line)
	}
	p.stderr.wait(t, "permission denied")

	replace(cfg, strings.Replace(sampledConfig, "interval = 1s", "interval = 2s", 1))
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.stderr.wait(t, "configuration reloaded")
	p.stdin.Close()
	if err := p.exit(); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderr.text())
	}
}
