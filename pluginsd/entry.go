// Package pluginsd checks an auditd plugin entry (a file of
// /etc/audit/plugins.d) and the program it names the way auditd reads
// them. auditd skips an entry that breaks one of its rules, and a plugin
// whose program breaks one, with no more than a line in syslog; the rules
// differ between auditd 3.0-4.1 and 4.2 and later, so each problem says
// which versions it concerns.
//
// The rules are those of audit-userspace's audisp/audispd-pconfig.c
// (load_pconfig, nv_split, sanity_check) and audisp/audispd.c (the scan of
// the plugin directory), in versions 3.0.9 and 4.2.1.
package pluginsd

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultPath is where the packages install audisp-backlog's entry.
const DefaultPath = "/etc/audit/plugins.d/audisp-backlog.conf"

// Versions names the auditd versions a Problem concerns.
type Versions int

const (
	// All auditd versions.
	All Versions = iota
	// Since42 is auditd 4.2 and later, which refuse group-writable files
	// and take any number of args.
	Since42
	// Before42 is auditd 3.0 to 4.1.
	Before42
)

func (v Versions) String() string {
	switch v {
	case Since42:
		return "auditd 4.2 and later"
	case Before42:
		return "auditd before 4.2"
	}
	return "every auditd"
}

// Problem is one rule an entry or its program breaks. auditd refuses the
// whole entry for any of them.
type Problem struct {
	Line     int // 1-based; 0 for the file itself or the program
	Msg      string
	Versions Versions
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	b.WriteString(p.Msg)
	if p.Versions != All {
		fmt.Fprintf(&b, " (%s)", p.Versions)
	}
	return b.String()
}

// Entry is what an entry says, as auditd reads it.
type Entry struct {
	Active bool     // active = yes
	Path   string   // the program auditd runs
	Args   []string // its arguments
	Format string   // "string" or "binary"; auditd's default is string

	keys int // the key = value lines read
}

// maxLine is auditd's line buffer: 512 bytes with the newline and the
// terminating NUL, so 510 bytes of text.
const maxLine = 510

// Check reads the entry at path and checks it, and the program it names
// when it is active, against auditd's rules. It returns what the entry
// says, every problem found, and an error only when the file cannot be
// read at all.
func Check(path string) (Entry, []Problem, error) {
	var probs []Problem
	add := func(line int, v Versions, format string, args ...any) {
		probs = append(probs, Problem{Line: line, Msg: fmt.Sprintf(format, args...), Versions: v})
	}
	name := filepath.Base(path)
	switch {
	case strings.HasPrefix(name, "."):
		add(0, All, "auditd skips a file whose name starts with a dot")
	case strings.Count(name, ".") > 1:
		add(0, All, "auditd skips %s: a name with more than one dot (backups such as .conf.bak, .dpkg-old, .rpmsave are meant to be skipped)", name)
	case !strings.HasSuffix(name, ".conf"):
		add(0, All, "auditd skips %s: the name must end in .conf", name)
	}
	fi, err := os.Stat(path) // auditd follows a symbolic link too
	if err != nil {
		return Entry{}, probs, fmt.Errorf("plugin entry: %w", err)
	}
	probs = append(probs, fileRules(fi)...)
	f, err := os.Open(path)
	if err != nil {
		return Entry{}, probs, fmt.Errorf("plugin entry: %w", err)
	}
	defer f.Close()
	e, lineProbs, err := parse(f)
	if err != nil {
		return e, probs, fmt.Errorf("plugin entry %s: %w", path, err)
	}
	probs = append(probs, lineProbs...)
	if e.Active {
		probs = append(probs, programRules(e.Path)...)
	}
	return e, probs, nil
}

// fileRules checks the entry file's owner, mode and type (load_pconfig).
func fileRules(fi fs.FileInfo) []Problem {
	var probs []Problem
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
		probs = append(probs, Problem{Msg: fmt.Sprintf("owned by uid %d: auditd reads only entries owned by root (chown root)", st.Uid)})
	}
	perm := fi.Mode().Perm()
	switch {
	case perm&0o002 != 0:
		probs = append(probs, Problem{Msg: fmt.Sprintf("world writable (mode %04o): auditd refuses it (chmod go-w)", perm)})
	case perm&0o020 != 0:
		probs = append(probs, Problem{Msg: fmt.Sprintf("group writable (mode %04o): auditd refuses it (chmod g-w)", perm), Versions: Since42})
	}
	if !fi.Mode().IsRegular() {
		probs = append(probs, Problem{Msg: "not a regular file: auditd refuses it"})
	}
	return probs
}

// programRules checks the program an active entry names (sanity_check).
func programRules(path string) []Problem {
	add := func(v Versions, format string, args ...any) Problem {
		return Problem{Msg: fmt.Sprintf(format, args...), Versions: v}
	}
	if path == "" {
		return []Problem{add(All, "active = yes but no path: auditd refuses it")}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return []Problem{add(All, "path %s: %v: auditd does not start the plugin", path, err)}
	}
	var probs []Problem
	if !fi.Mode().IsRegular() {
		probs = append(probs, add(All, "path %s is not a regular file", path))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
		probs = append(probs, add(All, "path %s is owned by uid %d, not root (chown root)", path, st.Uid))
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		probs = append(probs, add(Since42, "path %s is group or world writable (mode %04o): chmod go-w", path, perm))
	}
	if perm&0o750 != 0o750 {
		probs = append(probs, add(Before42, "path %s has mode %04o; auditd wants at least 0750 (owner rwx, group rx): chmod 0755", path, perm))
	}
	if perm&0o550 != 0o550 {
		probs = append(probs, add(Since42, "path %s has mode %04o; auditd wants at least 0550: chmod 0755", path, perm))
	}
	return probs
}

// keyword is one key auditd knows, with the most value tokens each family
// of versions takes (-1: any number).
type keyword struct {
	name              string
	max3x, maxSince42 int
}

var keywords = []keyword{
	{"active", 1, 1},
	{"direction", 1, 1},
	{"path", 1, 1},
	{"type", 1, 1},
	{"args", 2, -1},
	{"format", 1, 1},
}

// parse reads the entry's lines the way nv_split splits them: tokens
// separated by single spaces (a tab is part of a token), "key = value".
func parse(r io.Reader) (Entry, []Problem, error) {
	e := Entry{Format: "string"}
	var probs []Problem
	add := func(line int, v Versions, format string, args ...any) {
		probs = append(probs, Problem{Line: line, Msg: fmt.Sprintf(format, args...), Versions: v})
	}
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if len(line) > maxLine {
			add(n, All, "longer than %d bytes: auditd skips it", maxLine)
			continue
		}
		var toks []string
		for _, t := range strings.Split(line, " ") {
			if t != "" {
				toks = append(toks, t)
			}
		}
		if len(toks) == 0 || strings.HasPrefix(toks[0], "#") {
			continue
		}
		if len(toks) < 3 {
			if strings.Contains(toks[0], "=") || len(toks) == 2 && strings.HasPrefix(toks[1], "=") {
				add(n, All, "%q: auditd wants key = value, with spaces (not tabs) around '='", line)
			} else {
				add(n, All, "%q: not key = value", line)
			}
			continue
		}
		if toks[1] != "=" {
			add(n, All, "%q: auditd wants key = value, with spaces (not tabs) around '='", line)
			continue
		}
		key, vals := strings.ToLower(toks[0]), toks[2:]
		kw := lookup(key)
		if kw == nil {
			add(n, All, "unknown key %q: auditd refuses the whole entry (its keys: active, direction, path, type, args, format)", toks[0])
			continue
		}
		if kw.max3x >= 0 && len(vals) > kw.max3x {
			v := Before42
			if kw.maxSince42 >= 0 && len(vals) > kw.maxSince42 {
				v = All
			}
			add(n, v, "%s takes at most %d value(s), not %d", kw.name, kw.max3x, len(vals))
		}
		e.keys++
		val := vals[0]
		switch kw.name {
		case "active":
			switch strings.ToLower(val) {
			case "yes":
				e.Active = true
			case "no":
				e.Active = false
			default:
				add(n, All, "active = %s: want yes or no", val)
			}
		case "direction":
			if !strings.EqualFold(val, "out") {
				add(n, Before42, "direction = %s: only out is supported (auditd 4.2 ignores the key)", val)
			}
		case "path":
			if d := filepath.Dir(val); len(d) < 4 && !strings.HasPrefix(strings.ToLower(val), "builtin_") {
				add(n, All, "path = %s: auditd wants a directory of at least 4 characters", val)
			}
			e.Path = val
		case "type":
			if !strings.EqualFold(val, "always") && !strings.EqualFold(val, "builtin") {
				add(n, All, "type = %s: want always", val)
			}
		case "args":
			e.Args = vals
		case "format":
			switch strings.ToLower(val) {
			case "string", "binary":
				e.Format = strings.ToLower(val)
			default:
				add(n, All, "format = %s: want string", val)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return e, probs, err
	}
	return e, probs, nil
}

func lookup(name string) *keyword {
	for i := range keywords {
		if keywords[i].name == name {
			return &keywords[i]
		}
	}
	return nil
}

// Keywords returns the keys auditd knows in an entry.
func Keywords() []string {
	out := make([]string, len(keywords))
	for i, k := range keywords {
		out[i] = k.name
	}
	return out
}

// LooksLikeEntry reports whether the text in r reads as a plugin entry:
// at least one key = value line, all of them auditd's keys.
func LooksLikeEntry(r io.Reader) bool {
	e, probs, err := parse(r)
	return err == nil && len(probs) == 0 && e.keys > 0
}
