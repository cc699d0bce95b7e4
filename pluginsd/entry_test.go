package pluginsd

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shipped is packaging/plugins.d/audisp-backlog.conf, switched on.
func shipped(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../packaging/plugins.d/audisp-backlog.conf")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(data), "active = no", "active = yes", 1)
}

// program writes an executable with mode perm and returns its path.
func program(t *testing.T, dir string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, "bin", "audisp-backlog")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		want  Entry
		probs []string // Problem.String() of each, in order
	}{
		{
			name: "the shipped entry",
			text: "# comment\n\nactive = yes\ndirection = out\npath = /usr/sbin/audisp-backlog\ntype = always\nargs = -config /etc/audit/audisp-backlog.conf\nformat = string\n",
			want: Entry{Active: true, Path: "/usr/sbin/audisp-backlog", Args: []string{"-config", "/etc/audit/audisp-backlog.conf"}, Format: "string"},
		},
		{
			name:  "no spaces around =",
			text:  "active=yes\n",
			want:  Entry{Format: "string"},
			probs: []string{`line 1: "active=yes": auditd wants key = value, with spaces (not tabs) around '='`},
		},
		{
			name:  "a tab is not a separator",
			text:  "active\t=\tyes\n",
			want:  Entry{Format: "string"},
			probs: []string{`line 1: "active\t=\tyes": auditd wants key = value, with spaces (not tabs) around '='`},
		},
		{
			name:  "space before = only",
			text:  "active =yes\n",
			want:  Entry{Format: "string"},
			probs: []string{`line 1: "active =yes": auditd wants key = value, with spaces (not tabs) around '='`},
		},
		{
			name:  "unknown key",
			text:  "interval = 60s\n",
			want:  Entry{Format: "string"},
			probs: []string{`line 1: unknown key "interval": auditd refuses the whole entry (its keys: active, direction, path, type, args, format)`},
		},
		{
			name: "keys are case-insensitive",
			text: "ACTIVE = YES\nFormat = String\n",
			want: Entry{Active: true, Format: "string"},
		},
		{
			name:  "three args: only auditd 4.2 takes them",
			text:  "args = -foreground -config /etc/x.conf\n",
			want:  Entry{Args: []string{"-foreground", "-config", "/etc/x.conf"}, Format: "string"},
			probs: []string{"line 1: args takes at most 2 value(s), not 3 (auditd before 4.2)"},
		},
		{
			name:  "two values for active",
			text:  "active = yes no\n",
			want:  Entry{Active: true, Format: "string"},
			probs: []string{"line 1: active takes at most 1 value(s), not 2"},
		},
		{
			name: "bad values",
			text: "active = maybe\ntype = sometimes\nformat = json\ndirection = in\npath = /x/prog\n",
			want: Entry{Path: "/x/prog", Format: "string"},
			probs: []string{
				"line 1: active = maybe: want yes or no",
				"line 2: type = sometimes: want always",
				"line 3: format = json: want string",
				"line 4: direction = in: only out is supported (auditd 4.2 ignores the key) (auditd before 4.2)",
				"line 5: path = /x/prog: auditd wants a directory of at least 4 characters",
			},
		},
		{
			name:  "a line too long is skipped",
			text:  "# " + strings.Repeat("x", 600) + "\nactive = yes\n",
			want:  Entry{Active: true, Format: "string"},
			probs: []string{"line 1: longer than 510 bytes: auditd skips it"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, probs, err := parse(strings.NewReader(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			if e.Active != tt.want.Active || e.Path != tt.want.Path || e.Format != tt.want.Format || !slices.Equal(e.Args, tt.want.Args) {
				t.Errorf("entry %+v, want %+v", e, tt.want)
			}
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.probs) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.probs)
			}
		})
	}
}

// TestCheck checks files and programs on disk: names, owners, modes.
func TestCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the fixtures are files owned by root and by another user")
	}
	tests := []struct {
		name      string
		file      string
		fileMode  os.FileMode
		fileOwner int
		progMode  os.FileMode
		progOwner int
		noProg    bool
		want      []string
	}{
		{name: "as packaged", file: "audisp-backlog.conf", fileMode: 0o640, progMode: 0o755},
		{name: "0750 program", file: "audisp-backlog.conf", fileMode: 0o640, progMode: 0o750},
		{name: "backup name", file: "audisp-backlog.conf.dpkg-old", fileMode: 0o640, progMode: 0o755,
			want: []string{"auditd skips audisp-backlog.conf.dpkg-old: a name with more than one dot (backups such as .conf.bak, .dpkg-old, .rpmsave are meant to be skipped)"}},
		{name: "no .conf", file: "audisp-backlog", fileMode: 0o640, progMode: 0o755,
			want: []string{"auditd skips audisp-backlog: the name must end in .conf"}},
		{name: "group-writable entry", file: "e.conf", fileMode: 0o660, progMode: 0o755,
			want: []string{"group writable (mode 0660): auditd refuses it (chmod g-w) (auditd 4.2 and later)"}},
		{name: "world-writable entry", file: "e.conf", fileMode: 0o646, progMode: 0o755,
			want: []string{"world writable (mode 0646): auditd refuses it (chmod go-w)"}},
		{name: "entry not root's", file: "e.conf", fileMode: 0o640, fileOwner: 65534, progMode: 0o755,
			want: []string{"owned by uid 65534: auditd reads only entries owned by root (chown root)"}},
		{name: "program 0555", file: "e.conf", fileMode: 0o640, progMode: 0o555,
			want: []string{"path PROG has mode 0555; auditd wants at least 0750 (owner rwx, group rx): chmod 0755 (auditd before 4.2)"}},
		{name: "program group-writable", file: "e.conf", fileMode: 0o640, progMode: 0o775,
			want: []string{"path PROG is group or world writable (mode 0775): chmod go-w (auditd 4.2 and later)"}},
		{name: "program 0700", file: "e.conf", fileMode: 0o640, progMode: 0o700,
			want: []string{
				"path PROG has mode 0700; auditd wants at least 0750 (owner rwx, group rx): chmod 0755 (auditd before 4.2)",
				"path PROG has mode 0700; auditd wants at least 0550: chmod 0755 (auditd 4.2 and later)",
			}},
		{name: "program not root's", file: "e.conf", fileMode: 0o640, progMode: 0o755, progOwner: 65534,
			want: []string{"path PROG is owned by uid 65534, not root (chown root)"}},
		{name: "program missing", file: "e.conf", fileMode: 0o640, noProg: true,
			want: []string{"path PROG: stat PROG: no such file or directory: auditd does not start the plugin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			prog := filepath.Join(dir, "bin", "audisp-backlog")
			if !tt.noProg {
				prog = program(t, dir, tt.progMode)
				if err := os.Chown(prog, tt.progOwner, 0); err != nil {
					t.Fatal(err)
				}
			}
			text := strings.Replace(shipped(t), "/usr/sbin/audisp-backlog", prog, 1)
			path := filepath.Join(dir, tt.file)
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.fileMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, tt.fileOwner, 0); err != nil {
				t.Fatal(err)
			}
			e, probs, err := Check(path)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Active || e.Path != prog {
				t.Errorf("entry %+v", e)
			}
			var got []string
			for _, p := range probs {
				got = append(got, strings.ReplaceAll(p.String(), prog, "PROG"))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCheckMissing(t *testing.T) {
	if _, _, err := Check(filepath.Join(t.TempDir(), "none.conf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want not exist", err)
	}
}

// FuzzParse feeds any text: parse must not fail on it, and whatever it
// finds must come from the text.
func FuzzParse(f *testing.F) {
	f.Add("active = yes\npath = /usr/sbin/audisp-backlog\nargs = -config /etc/audit/audisp-backlog.conf\n")
	f.Add("active=yes\n\targs = a b c d\n#x\n= =\n")
	f.Fuzz(func(t *testing.T, text string) {
		e, probs, err := parse(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		if e.Path != "" && !strings.Contains(text, e.Path) {
			t.Errorf("path %q not in the text", e.Path)
		}
		for _, a := range e.Args {
			if !strings.Contains(text, a) {
				t.Errorf("arg %q not in the text", a)
			}
		}
		for _, p := range probs {
			if p.Line < 1 || p.Msg == "" {
				t.Errorf("problem %+v", p)
			}
		}
	})
}

func TestLooksLikeEntry(t *testing.T) {
	for text, want := range map[string]bool{
		shipped(t):                          true,
		"# only a comment\n":                false,
		"interval = 60s\nemitters = otlp\n": false,
		"active = no\n":                     true,
		"active=no\n":                       false,
	} {
		if got := LooksLikeEntry(strings.NewReader(text)); got != want {
			t.Errorf("LooksLikeEntry(%.30q) = %v, want %v", text, got, want)
		}
	}
}
