package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/audisp-backlog/audisp-backlog/auditdstate"
	"github.com/audisp-backlog/audisp-backlog/conf"
)

// The sandbox (sandbox_linux.go applies it) confines the plugin once it has
// opened what only start-up needs, so that a flaw in what parses auditd's
// stream, which carries text any user controls, can do nothing but the
// plugin's job. Landlock restricts files: the plugin may read the few paths
// listed here and write, create, remove or run nothing. seccomp refuses the
// system calls it never makes (seccompDenied).
//
// Landlock allows a directory for everything beneath it, now and later, but
// a file only as the inode it is when the rule is made: a file replaced by
// another (an editor saving by rename, configuration management, dhclient)
// is no longer the one allowed. What a reload may read follows from that:
//   - the configuration file is allowed by its directory, so that SIGHUP
//     reads it however it was saved;
//   - the TLS files are allowed one by one, since their directories
//     (/etc/ssl/private) hold other keys: a reload that names another file,
//     or finds one replaced, is refused with a log line saying to restart
//     the plugin (which auditd does on service auditd restart);
//   - the files straight under /etc (hosts, resolv.conf, nsswitch.conf) are
//     allowed one by one, since /etc holds shadow and keys; one replaced
//     while the plugin runs reads as missing until the plugin restarts, and
//     a reload logs it. A resolv.conf that links elsewhere
//     (/run/systemd/resolve) is allowed by its directory.

// sandboxed is what apply enforced, for the start-up log.
type sandboxed struct {
	landlockABI int  // the kernel's Landlock ABI; 0: none
	seccomp     bool // false: the kernel has no seccomp filters
	denied      int  // system calls the seccomp filter refuses on this architecture
}

// readable is a path the sandbox lets the plugin read.
type readable struct {
	path string // absolute, symbolic links resolved
	dir  bool   // a directory: every file beneath it; else this file only
	list bool   // a directory that may also be listed
	why  string // what needs it, for the log
}

// Places the standard library reads, as of go1.26: crypto/x509's
// certFiles and certDirectories (root_linux.go), and the name resolver's
// files (net/conf.go, dnsconfig_unix.go, hosts.go, nss.go; services for
// a named port).
var (
	trustFiles = []string{
		"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo
		"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
		"/etc/ssl/ca-bundle.pem",                            // openSUSE
		"/etc/pki/tls/cacert.pem",                           // OpenELEC
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
		"/etc/ssl/cert.pem",                                 // Alpine
	}
	trustDirs     = []string{"/etc/ssl/certs", "/etc/pki/tls/certs"}
	resolverFiles = []string{"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/services"}
)

// kernelFiles are what the kernel figures read (auditclient.TickRate, and
// os.Hostname when uname fails). They are read at start, before the
// sandbox, today; they stay readable so that moving such a read later does
// not break the plugin.
func kernelFiles() []string {
	files := []string{"/proc/sys/kernel/osrelease", "/proc/sys/kernel/hostname", "/proc/config.gz"}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		files = append(files, "/boot/config-"+strings.TrimSpace(string(b)))
	}
	return files
}

// otlpTLSVariables name TLS files that the OTLP exporter reads when the
// configuration gives none (emit/doc.go).
var otlpTLSVariables = []string{
	"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY",
}

// sandbox is what the plugin may still read once confined.
type sandbox struct {
	read []readable
}

// newSandbox lists what the plugin started with configPath and cfg may
// read: the configuration's directory, the TLS files, the trust store, the
// name resolver's files, the kernel files and auditd's state report. It
// resolves links now: what a link leads to later is not allowed. getenv is
// os.Getenv, or a test's.
func newSandbox(configPath string, cfg *conf.Config, getenv func(string) string) *sandbox {
	s := &sandbox{}
	s.addDirOf(configPath, "configuration")
	for _, f := range tlsFiles(cfg, getenv) {
		s.addExact(f.path, f.key)
	}

	// The trust store: Go loads it once, at the first TLS handshake that
	// needs it, which comes after the sandbox. Its directories are listed
	// and read; their entries link to files elsewhere (Debian's to
	// /usr/share/ca-certificates), whose directories are read too.
	files, dirs := trustFiles, trustDirs
	if f := getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	if d := getenv("SSL_CERT_DIR"); d != "" {
		dirs = strings.Split(d, ":")
	}
	for _, d := range dirs {
		s.addTrustDir(d)
	}
	for _, f := range files {
		s.addFile(f, "trust store")
	}

	for _, f := range resolverFiles {
		s.addFile(f, "name resolution")
	}
	for _, f := range kernelFiles() {
		s.addFile(f, "kernel figures")
	}
	state := auditdstate.Paths()
	s.addAuditdState(state[0], state[len(state)-1])
	return s
}

// tlsFile is a TLS file the OTLP emitter reads, and the key or variable
// that names it.
type tlsFile struct{ key, path string }

func tlsFiles(cfg *conf.Config, getenv func(string) string) []tlsFile {
	var files []tlsFile
	for _, f := range []tlsFile{
		{"otlp_ca_file", cfg.OTLP.CAFile},
		{"otlp_cert_file", cfg.OTLP.CertFile},
		{"otlp_key_file", cfg.OTLP.KeyFile},
	} {
		if f.path != "" {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		return files // the file's TLS settings replace the variables'
	}
	for _, v := range otlpTLSVariables {
		if p := getenv(v); p != "" {
			files = append(files, tlsFile{v, p})
		}
	}
	return files
}

// addDirOf allows the directory of path (links resolved), unless that is
// tooWide, when it allows the file alone.
func (s *sandbox) addDirOf(path, why string) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return // it does not exist: opening it fails anyway
	}
	real, _ = filepath.Abs(real)
	if dir := filepath.Dir(real); !tooWide(dir) {
		s.add(readable{path: dir, dir: true, why: why})
		return
	}
	s.add(readable{path: real, why: why})
}

// addExact allows the file path (links resolved) alone.
func (s *sandbox) addExact(path, why string) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		real, _ = filepath.Abs(real)
		if !s.allows(real) {
			s.add(readable{path: real, why: why})
		}
	}
}

// addFile allows path (links resolved) if it exists: the directory a link
// leads to (resolv.conf to /run/systemd/resolve, where systemd-resolved
// replaces it by rename), unless that is tooWide; else the file alone.
func (s *sandbox) addFile(path, why string) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return
	}
	real, _ = filepath.Abs(real)
	if s.allows(real) {
		return
	}
	if dir := filepath.Dir(real); real != filepath.Clean(path) && !tooWide(dir) {
		s.add(readable{path: dir, dir: true, why: why})
		return
	}
	s.add(readable{path: real, why: why})
}

// addTrustDir allows listing and reading the certificate directory dir,
// and reading the directories its entries link to.
func (s *sandbox) addTrustDir(dir string) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return
	}
	real, _ = filepath.Abs(real)
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() || tooWide(real) {
		return
	}
	s.add(readable{path: real, dir: true, list: true, why: "trust store"})
	entries, err := os.ReadDir(real)
	if err != nil {
		return
	}
	// Where the entries link, by directory. Debian's hundreds of links
	// all lead to one or two directories, so each link is read once
	// (readlink) and each directory resolved once: resolving every link
	// took thousands of system calls, most of the plugin's start.
	targets := map[string][]string{}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		t, err := os.Readlink(filepath.Join(real, e.Name()))
		if err != nil {
			continue
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(real, t)
		}
		t = filepath.Clean(t)
		if d := filepath.Dir(t); d != real { // else another entry, seen on its own
			targets[d] = append(targets[d], filepath.Base(t))
		}
	}
	for d, names := range targets {
		s.addTrustTargets(d, names)
	}
}

// addTrustTargets allows directory dir (links resolved), where trust store
// links lead to names, if one of them is there; a name that is itself a
// link is followed to its end.
func (s *sandbox) addTrustTargets(dir string, names []string) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return
	}
	real, _ = filepath.Abs(real)
	entries, err := os.ReadDir(real)
	if err != nil {
		return
	}
	types := make(map[string]fs.FileMode, len(entries))
	for _, e := range entries {
		types[e.Name()] = e.Type()
	}
	for _, name := range names {
		typ, ok := types[name]
		switch {
		case !ok:
			continue // a dangling link
		case typ&fs.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(filepath.Join(real, name))
			if err != nil {
				continue
			}
			if t := filepath.Dir(target); !s.allows(target) && !tooWide(t) {
				s.add(readable{path: t, dir: true, why: "trust store"})
			}
		case !s.allows(filepath.Join(real, name)) && !tooWide(real):
			s.add(readable{path: real, dir: true, why: "trust store"})
		}
	}
}

// addAuditdState allows auditd's state report, newer and older are its
// two places (auditdstate.Paths: /run/audit/auditd.state from auditd
// 4.1.2, /var/run/auditd.state before). A rule on a file needs the file to
// exist, and auditd writes the report only after a while or on request, so:
//   - the newer's directory, /run/audit, auditd's own, when it exists;
//   - the older file, when it exists: auditd rewrites it in place, and
//     removes it only when it stops, which stops the plugin too;
//   - the older's directory, /run, when neither exists: an auditd older
//     than 4.1.2 that has not written its first report yet. That is the
//     widest rule the sandbox makes, for a file the plugin only reads.
func (s *sandbox) addAuditdState(newer, older string) {
	haveNewer := false
	if dir, err := filepath.EvalSymlinks(filepath.Dir(newer)); err == nil && !tooWide(dir) {
		s.add(readable{path: dir, dir: true, why: "auditd state report"})
		haveNewer = true
	}
	if real, err := filepath.EvalSymlinks(older); err == nil {
		s.add(readable{path: real, why: "auditd state report"})
	} else if dir, err := filepath.EvalSymlinks(filepath.Dir(older)); err == nil && !haveNewer && !tooWide(dir) {
		s.add(readable{path: dir, dir: true, why: "auditd state report, once written"})
	}
}

// tooWide says whether a directory holds secrets (shadow, private keys)
// or too much else to be allowed whole.
func tooWide(dir string) bool {
	switch dir {
	case "/", "/etc", "/etc/ssl", "/etc/pki", "/root", "/home":
		return true
	}
	return false
}

// add appends r unless it is allowed already.
func (s *sandbox) add(r readable) {
	for i, have := range s.read {
		if have.path == r.path && have.dir == r.dir {
			s.read[i].list = have.list || r.list
			return
		}
	}
	s.read = append(s.read, r)
}

// allows says whether the sandbox lets the plugin read path (absolute,
// links resolved). A file allowed by name is so only while it is the same
// inode (see unreadable).
func (s *sandbox) allows(path string) bool {
	for _, r := range s.read {
		if path == r.path || r.dir && strings.HasPrefix(path, r.path+"/") {
			return true
		}
	}
	return false
}

// errOutside marks a reload that names a file the sandbox does not let
// the plugin read.
var errOutside = errors.New("not readable in the sandbox")

// check returns an error for each TLS file of next that the sandbox does
// not let the plugin read, so that a reload is refused with the reason
// rather than fail to open it.
func (s *sandbox) check(next *conf.Config, getenv func(string) string) error {
	if !slices.Contains(next.Emitters, conf.EmitterOTLP) {
		return nil // no TLS file is read
	}
	var errs []error
	for _, f := range tlsFiles(next, getenv) {
		real, err := filepath.EvalSymlinks(f.path)
		if err != nil {
			continue // missing: emit.Open says so
		}
		if real, _ = filepath.Abs(real); !s.allows(real) {
			errs = append(errs, fmt.Errorf("%s %s: %w: the plugin reads only the TLS files it started with; restart it (service auditd restart) to read another", f.key, real, errOutside))
		}
	}
	return errors.Join(errs...)
}

// unreadable returns the files allowed by name that the plugin can no
// longer read: replaced by another file since the sandbox was made.
func (s *sandbox) unreadable() []string {
	var gone []string
	for _, r := range s.read {
		if r.dir {
			continue
		}
		f, err := os.Open(r.path)
		if errors.Is(err, fs.ErrPermission) {
			gone = append(gone, r.path)
		}
		if err == nil {
			f.Close()
		}
	}
	return gone
}

// paths lists what the sandbox allows, for the log: directories end in /.
func (s *sandbox) paths() []string {
	var ps []string
	for _, r := range s.read {
		if r.dir {
			ps = append(ps, r.path+"/")
		} else {
			ps = append(ps, r.path)
		}
	}
	slices.Sort(ps)
	return ps
}
