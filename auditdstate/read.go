package auditdstate

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrStale means the state report is older than the Reader's maximum age:
// auditd is not rewriting it periodically (report_interval unset, or an
// auditd older than 4.0.5), or has stopped.
var ErrStale = errors.New("stale")

// Paths returns where auditd writes its state report, newest auditd first:
// /run/audit/auditd.state from auditd 4.1.2, /var/run/auditd.state before.
// (From 4.1.2 the directory is the build's runstatedir plus /audit:
// /run/audit wherever distributions build with --runstatedir=/run or link
// /var/run to /run.) These are the only files the package reads. /var/run is a symbolic link
// to /run on current distributions, so the second resolves to
// /run/auditd.state: a sandbox that lists readable paths (Landlock) must
// allow the directory /run/audit and the file /run/auditd.state (a rule on
// the file needs it to exist when the rule is made; auditd truncates and
// rewrites it in place, keeping the inode, and removes it only when it
// stops).
func Paths() []string {
	return []string{"/run/audit/auditd.state", "/var/run/auditd.state"}
}

// Read reads auditd's state report from the first of Paths that exists
// under root: "/" in production, a directory tree of fixtures in tests. It
// only reads (and never signals auditd to write the report).
//
// It returns an error wrapping fs.ErrNotExist when neither file exists,
// ErrIncomplete when the file changed while it was read or is not whole
// (see Parse), fs.ErrPermission when it may not read it. The report's Path
// is the path under root, its ModTime the file's.
//
// auditd creates the file owned by root with mode 0640 (and, from 4.2.1,
// in a directory /run/audit of mode 0700), so only root (or auditd's
// log_group, from 4.0.5) can read it. The plugin keeps uid 0 when it drops
// every capability but CAP_AUDIT_CONTROL: the kernel then grants the
// owner's permissions, which suffice, with no CAP_DAC_OVERRIDE or
// CAP_DAC_READ_SEARCH.
func Read(root string) (Report, error) {
	for _, p := range Paths() {
		name := filepath.Join(root, p)
		// Stat first, so that a FIFO put there is never opened: opening it
		// would block until something writes to it.
		fi, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Report{}, fmt.Errorf("auditd state report: %w (the plugin must run as root)", err)
		}
		if !fi.Mode().IsRegular() {
			return Report{}, fmt.Errorf("auditd state report %s: not a regular file (%s)", name, fi.Mode().Type())
		}
		f, err := os.Open(name)
		if err != nil {
			return Report{}, fmt.Errorf("auditd state report: %w (the plugin must run as root)", err)
		}
		data, mtime, err := readWhole(f)
		f.Close()
		if err != nil {
			return Report{}, fmt.Errorf("auditd state report %s: %w", name, err)
		}
		rep, err := parse(data)
		if err != nil {
			return Report{}, fmt.Errorf("%s: %w", name, err)
		}
		rep.Path, rep.ModTime = p, mtime
		return rep, nil
	}
	return Report{}, fmt.Errorf("no auditd state report (%s): %w; %s",
		strings.Join(Paths(), ", "), fs.ErrNotExist, hint(""))
}

// statReader is what readWhole needs of an open file.
type statReader interface {
	io.Reader
	Stat() (fs.FileInfo, error)
}

// readWhole reads the whole file f and returns it with its modification
// time. auditd rewrites the report in place: fopen(path, "w") truncates it,
// then fclose writes it in one write. A read that overlaps a rewrite sees
// an empty file, or (when it takes more than one read) the head of the old
// report and the tail of the new one, which can look whole. Both change the
// file's size or modification time between the stat before the read and
// the stat after it, so readWhole returns ErrIncomplete when they differ
// or when it read other than the size stated.
func readWhole(f statReader) ([]byte, time.Time, error) {
	before, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if !before.Mode().IsRegular() {
		return nil, time.Time{}, fmt.Errorf("not a regular file (%s)", before.Mode().Type())
	}
	if before.Size() > maxSize {
		return nil, time.Time{}, fmt.Errorf("%d bytes, longer than %d KiB: not auditd's state report", before.Size(), maxSize>>10)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	after, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) || int64(len(data)) != after.Size() {
		return nil, time.Time{}, fmt.Errorf("%w (it changed while it was read)", ErrIncomplete)
	}
	return data, after.ModTime(), nil
}

// A Reader reads the state report once per interval for the interval loop
// and decides whether its figures may be sent. It keeps the last whole
// report, to send again when a read catches auditd rewriting the file. It
// is not safe for concurrent use; the loop goroutine owns it.
type Reader struct {
	root   string
	maxAge time.Duration
	last   Report
}

// NewReader returns a Reader of the report under root ("/" in production)
// that treats a report older than maxAge as stale. Twice the plugin's
// interval suits an auditd whose report_interval is at most that interval:
// auditd's timer and the plugin's run apart, so a fresh report can be
// almost one report_interval old when the plugin reads it.
func NewReader(root string, maxAge time.Duration) *Reader {
	return &Reader{root: root, maxAge: maxAge}
}

// Read returns the report whose figures to send for an interval ending at
// now, and an error saying why there are none, or why they are the
// previous report's.
//
//   - The file is whole and at most maxAge old (either way): its report,
//     nil.
//   - It is older (ErrStale) or does not exist (fs.ErrNotExist): a zero
//     Report, whose figures are all absent, and an error saying how to make
//     auditd write it periodically.
//   - It was caught mid-rewrite (ErrIncomplete): the last whole report if
//     it is still at most maxAge old, else a zero Report.
//   - Any other error: a zero Report.
//
// The error is for the log, once per kind (errors.Is): the plugin goes on.
func (r *Reader) Read(now time.Time) (Report, error) {
	rep, err := Read(r.root)
	if err != nil {
		if errors.Is(err, ErrIncomplete) && r.fresh(r.last, now) {
			return r.last, err
		}
		return Report{}, err
	}
	if !r.fresh(rep, now) {
		age := now.Sub(rep.ModTime).Round(time.Second)
		return Report{}, fmt.Errorf("auditd state report %s is %w: written %s ago, more than %s: %s",
			rep.Path, ErrStale, age, r.maxAge, hint(rep.Version))
	}
	r.last = rep
	return rep, nil
}

// fresh reports whether rep was written at most maxAge before or after now
// (after: the clock was set back; the report's age is unknown then).
func (r *Reader) fresh(rep Report, now time.Time) bool {
	if rep.ModTime.IsZero() {
		return false
	}
	age := now.Sub(rep.ModTime)
	return age <= r.maxAge && age >= -r.maxAge
}

// hint says how to have auditd write its state report periodically, for
// the auditd version given ("" when unknown).
func hint(version string) string {
	const (
		periodic  = "set report_interval in /etc/audit/auditd.conf (in seconds, at most the plugin's interval) and reload auditd (service auditd reload)"
		onRequest = "`auditctl --signal state` writes it on request, which the plugin never does"
	)
	v, ok := parseVersion(version)
	switch {
	case !ok:
		return "to have auditd 4.0.5 or later write it periodically, " + periodic +
			"; for an older auditd, " + onRequest + ", so its figures are not reported"
	case v.less(version405):
		return "auditd " + version + " writes it only on request (" + onRequest +
			"), so its figures are not reported; auditd 4.0.5 and later can write it periodically"
	default:
		return "to have auditd " + version + " write it periodically, " + periodic
	}
}

// semver is a version's major, minor and patch numbers.
type semver [3]int

// version405 is the first auditd with report_interval.
var version405 = semver{4, 0, 5}

func (v semver) less(w semver) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

// parseVersion reads the leading digits of each part of a version such as
// "4.0.4b"; it needs at least a major and a minor number.
func parseVersion(s string) (semver, bool) {
	var v semver
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return v, false
	}
	for i, p := range parts {
		digits := 0
		for digits < len(p) && digits < 6 && p[digits] >= '0' && p[digits] <= '9' {
			v[i] = v[i]*10 + int(p[digits]-'0')
			digits++
		}
		if digits == 0 {
			return v, false
		}
	}
	return v, true
}
