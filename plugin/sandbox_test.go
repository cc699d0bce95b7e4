package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/audisp-backlog/audisp-backlog/conf"
)

// tree makes files (ending in /: directories) and symbolic links (name ->
// target) under a temporary directory, and returns it with links resolved.
func tree(t *testing.T, files []string, links map[string]string) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(root, f)
		if f[len(f)-1] == '/' {
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		target = strings.Replace(target, "/ROOT", root, 1) // an absolute link
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// rules renders what s allows under root, as paths relative to it
// (directories end in /, listable ones in /+).
func rules(s *sandbox, root string) []string {
	var rs []string
	for _, r := range s.read {
		rel, err := filepath.Rel(root, r.path)
		if err != nil || rel == ".." || len(rel) > 2 && rel[:3] == "../" {
			continue
		}
		switch {
		case r.list:
			rel += "/+"
		case r.dir:
			rel += "/"
		}
		rs = append(rs, rel)
	}
	slices.Sort(rs)
	return rs
}

func TestSandboxReadable(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		links map[string]string
		add   func(s *sandbox, root string)
		want  []string
	}{
		{
			name:  "configuration: its directory, links resolved",
			files: []string{"etc/audit/real.conf"},
			links: map[string]string{"conf/audisp-backlog.conf": "../etc/audit/real.conf"},
			add: func(s *sandbox, root string) {
				s.addDirOf(filepath.Join(root, "conf/audisp-backlog.conf"), "configuration")
			},
			want: []string{"etc/audit/"},
		},
		{
			name:  "TLS files: each file, links resolved",
			files: []string{"live/../archive/cert1.pem", "keys/key.pem", "keys/other.pem"},
			links: map[string]string{"live/cert.pem": "../archive/cert1.pem"},
			add: func(s *sandbox, root string) {
				s.addExact(filepath.Join(root, "live/cert.pem"), "otlp_cert_file")
				s.addExact(filepath.Join(root, "keys/key.pem"), "otlp_key_file")
				s.addExact(filepath.Join(root, "keys/missing.pem"), "otlp_ca_file")
			},
			want: []string{"archive/cert1.pem", "keys/key.pem"},
		},
		{
			name:  "resolver: a file in place, or the directory a link leads to",
			files: []string{"etc/hosts", "run/resolve/stub-resolv.conf"},
			links: map[string]string{"etc/resolv.conf": "../run/resolve/stub-resolv.conf"},
			add: func(s *sandbox, root string) {
				for _, f := range []string{"etc/hosts", "etc/resolv.conf", "etc/nsswitch.conf"} {
					s.addFile(filepath.Join(root, f), "name resolution")
				}
			},
			want: []string{"etc/hosts", "run/resolve/"},
		},
		{
			name:  "trust store: listed, and where its entries link",
			files: []string{"usr/share/ca/mozilla/a.crt", "usr/local/share/ca/b.crt", "etc/ssl/certs/bundle.crt"},
			links: map[string]string{
				"etc/ssl/certs/a.pem":  "../../../usr/share/ca/mozilla/a.crt",
				"etc/ssl/certs/b.pem":  "../../../usr/local/share/ca/b.crt",
				"etc/ssl/certs/1a.0":   "a.pem",
				"etc/pki/tls/certs/ca": "../../../etc/ssl/certs/bundle.crt",
			},
			add: func(s *sandbox, root string) {
				s.addTrustDir(filepath.Join(root, "etc/ssl/certs"))
				s.addTrustDir(filepath.Join(root, "etc/pki/tls/certs"))
				s.addTrustDir(filepath.Join(root, "etc/missing"))
				s.addFile(filepath.Join(root, "etc/ssl/certs/bundle.crt"), "trust store")
			},
			want: []string{"etc/pki/tls/certs/+", "etc/ssl/certs/+", "usr/local/share/ca/", "usr/share/ca/mozilla/"},
		},
		{
			name:  "trust store: links to links, through linked directories, and dangling",
			files: []string{"usr/share/ca/a.crt", "opt/real/c.crt", "opt/final/d.crt"},
			links: map[string]string{
				"etc/ssl/certs/a.pem":  "/ROOT/usr/share/ca/a.crt", // absolute
				"etc/ssl/certs/c.pem":  "../../../opt/via/c.crt",   // a linked directory
				"opt/via":              "real",
				"etc/ssl/certs/d.pem":  "../../../opt/hop/d.crt", // a link to a link
				"opt/hop/d.crt":        "../final/d.crt",
				"etc/ssl/certs/gone":   "../../../opt/nowhere/x.crt", // dangling: its directory is not there
				"etc/ssl/certs/gone2":  "../../../opt/real/missing.crt",
				"etc/ssl/certs/self.0": "a.pem",
			},
			add: func(s *sandbox, root string) {
				s.addTrustDir(filepath.Join(root, "etc/ssl/certs"))
			},
			want: []string{"etc/ssl/certs/+", "opt/final/", "opt/real/", "usr/share/ca/"},
		},
		{
			name:  "auditd 4.1.2 and later: /run/audit",
			files: []string{"run/audit/"},
			add: func(s *sandbox, root string) {
				s.addAuditdState(filepath.Join(root, "run/audit/auditd.state"), filepath.Join(root, "var/run/auditd.state"))
			},
			want: []string{"run/audit/"},
		},
		{
			name:  "older auditd, report written: the file",
			files: []string{"run/auditd.state"},
			links: map[string]string{"var/run": "../run"},
			add: func(s *sandbox, root string) {
				s.addAuditdState(filepath.Join(root, "run/audit/auditd.state"), filepath.Join(root, "var/run/auditd.state"))
			},
			want: []string{"run/auditd.state"},
		},
		{
			name:  "older auditd, no report yet: its directory",
			files: []string{"run/"},
			links: map[string]string{"var/run": "../run"},
			add: func(s *sandbox, root string) {
				s.addAuditdState(filepath.Join(root, "run/audit/auditd.state"), filepath.Join(root, "var/run/auditd.state"))
			},
			want: []string{"run/"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files, tc.links)
			s := &sandbox{}
			tc.add(s, root)
			if got := rules(s, root); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSandboxTooWide: a file straight under /etc is allowed alone, never
// with all of /etc.
func TestSandboxTooWide(t *testing.T) {
	if _, err := os.Stat("/etc/hosts"); err != nil {
		t.Skip("no /etc/hosts here")
	}
	s := &sandbox{}
	s.addDirOf("/etc/hosts", "configuration")
	s.addFile("/etc/hosts", "name resolution")
	if want := []readable{{path: "/etc/hosts", why: "configuration"}}; !slices.Equal(s.read, want) {
		t.Errorf("got %v, want %v", s.read, want)
	}
	if s.allows("/etc/shadow") || !s.allows("/etc/hosts") {
		t.Errorf("allows /etc/shadow or not /etc/hosts: %v", s.read)
	}
}

// TestSandboxCheck: a reload may name TLS files the sandbox allows (those
// of the start, or any in the configuration's directory), not others.
func TestSandboxCheck(t *testing.T) {
	root := tree(t, []string{"conf/audisp-backlog.conf", "conf/new-ca.pem", "tls/ca.pem", "tls/other.pem", "elsewhere/ca.pem"}, nil)
	load := func(body string) *conf.Config {
		t.Helper()
		p := filepath.Join(root, "conf/audisp-backlog.conf")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := conf.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	noEnv := func(string) string { return "" }
	start := load("emitters = otlp\notlp_ca_file = " + filepath.Join(root, "tls/ca.pem") + "\n")
	s := newSandbox(filepath.Join(root, "conf/audisp-backlog.conf"), start, noEnv)
	for _, tc := range []struct {
		ca string
		ok bool
	}{
		{"tls/ca.pem", true},
		{"conf/new-ca.pem", true},
		{"tls/other.pem", false},
		{"elsewhere/ca.pem", false},
		{"tls/missing.pem", true}, // emit.Open says it is missing
	} {
		err := s.check(load("emitters = otlp\notlp_ca_file = "+filepath.Join(root, tc.ca)+"\n"), noEnv)
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, errOutside) {
			t.Errorf("otlp_ca_file %s: %v, want allowed: %v", tc.ca, err, tc.ok)
		}
	}

	// Without TLS files in the configuration, the OTLP variables name them.
	env := func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_CERTIFICATE" {
			return filepath.Join(root, "elsewhere/ca.pem")
		}
		return ""
	}
	if err := s.check(load("emitters = otlp\n"), env); !errors.Is(err, errOutside) {
		t.Errorf("OTEL_EXPORTER_OTLP_CERTIFICATE outside: %v", err)
	}
	if err := s.check(load("emitters = stdout\notlp_ca_file = "+filepath.Join(root, "elsewhere/ca.pem")+"\n"), noEnv); err != nil {
		t.Errorf("TLS files of an OTLP emitter not in use: %v", err)
	}
	if s := newSandbox(filepath.Join(root, "conf/audisp-backlog.conf"), load("emitters = otlp\n"), env); !s.allows(filepath.Join(root, "elsewhere/ca.pem")) {
		t.Errorf("OTEL_EXPORTER_OTLP_CERTIFICATE at start not allowed: %v", s.paths())
	}
}
