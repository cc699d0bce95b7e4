package auditdstate

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeReport puts data at path p under root, written at mtime.
func writeReport(t *testing.T, root, p string, data []byte, mtime time.Time) {
	t.Helper()
	name := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(name, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func fixture(t *testing.T, version string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/derived-" + version + ".state")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPaths(t *testing.T) {
	got := Paths()
	want := []string{"/run/audit/auditd.state", "/var/run/auditd.state"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Paths() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Paths()[0] != want[0] {
		t.Error("Paths returns a slice its caller can change for everyone")
	}
}

func TestRead(t *testing.T) {
	mtime := time.Date(2026, 11, 29, 20, 21, 41, 123456789, time.UTC)
	tests := []struct {
		name    string
		files   map[string]string // path under root: fixture version
		path    string            // want Report.Path
		version string            // want Report.Version
	}{
		{"4.2.1 under /run/audit", map[string]string{"/run/audit/auditd.state": "4.2.1"}, "/run/audit/auditd.state", "4.2.1"},
		{"4.0.2 under /var/run", map[string]string{"/var/run/auditd.state": "4.0.2"}, "/var/run/auditd.state", "4.0.2"},
		{"3.0.9 under /var/run", map[string]string{"/var/run/auditd.state": "3.0.9"}, "/var/run/auditd.state", "3.0.9"},
		{"both: the newer path wins", map[string]string{"/run/audit/auditd.state": "4.2.1", "/var/run/auditd.state": "4.0.2"}, "/run/audit/auditd.state", "4.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, v := range tt.files {
				writeReport(t, root, p, fixture(t, v), mtime)
			}
			rep, err := Read(root)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if rep.Path != tt.path || rep.Version != tt.version || !rep.ModTime.Equal(mtime) {
				t.Errorf("Read = %q %q %v; want %q %q %v", rep.Path, rep.Version, rep.ModTime, tt.path, tt.version, mtime)
			}
			want, err := Parse(bytes.NewReader(fixture(t, tt.version)))
			if err != nil {
				t.Fatal(err)
			}
			want.Path, want.ModTime = rep.Path, rep.ModTime
			if rep != want {
				t.Errorf("Read:\ngot  %+v\nwant %+v", rep, want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, root string)
		is     error  // errors.Is target, or nil
		saying string // part of the message
	}{
		{"neither file", func(t *testing.T, root string) {}, fs.ErrNotExist, "report_interval"},
		{"empty file", func(t *testing.T, root string) {
			writeReport(t, root, "/run/audit/auditd.state", nil, time.Now())
		}, ErrIncomplete, "empty file"},
		{"cut short", func(t *testing.T, root string) {
			writeReport(t, root, "/run/audit/auditd.state", fixture(t, "4.2.1")[:300], time.Now())
		}, ErrIncomplete, "no newline"},
		{"a directory", func(t *testing.T, root string) {
			if err := os.MkdirAll(filepath.Join(root, "/run/audit/auditd.state"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, nil, "not a regular file"},
		{"a FIFO is never opened", func(t *testing.T, root string) {
			if err := os.MkdirAll(filepath.Join(root, "/run/audit"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(filepath.Join(root, "/run/audit/auditd.state"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, nil, "not a regular file"},
		{"too large", func(t *testing.T, root string) {
			writeReport(t, root, "/var/run/auditd.state", bytes.Repeat([]byte("x\n"), maxSize), time.Now())
		}, nil, "not auditd's state report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.setup(t, root)
			rep, err := Read(root)
			if err == nil {
				t.Fatalf("Read = %+v, nil; want an error", rep)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Read: %v; want errors.Is %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.saying) {
				t.Errorf("Read: %q does not say %q", err, tt.saying)
			}
			if rep != (Report{}) {
				t.Errorf("Read returned figures with its error: %+v", rep)
			}
		})
	}
}

// rewritingFile is a file that auditd rewrites between readWhole's first
// Stat and its Read or its second Stat.
type rewritingFile struct {
	stats []fakeInfo // returned by successive Stat calls
	data  *bytes.Reader
}

func (f *rewritingFile) Read(p []byte) (int, error) { return f.data.Read(p) }

func (f *rewritingFile) Stat() (fs.FileInfo, error) {
	fi := f.stats[0]
	if len(f.stats) > 1 {
		f.stats = f.stats[1:]
	}
	return fi, nil
}

type fakeInfo struct {
	size  int64
	mtime time.Time
}

func (fi fakeInfo) Name() string       { return "auditd.state" }
func (fi fakeInfo) Size() int64        { return fi.size }
func (fi fakeInfo) Mode() fs.FileMode  { return 0o640 }
func (fi fakeInfo) ModTime() time.Time { return fi.mtime }
func (fi fakeInfo) IsDir() bool        { return false }
func (fi fakeInfo) Sys() any           { return nil }

func TestReadWhole(t *testing.T) {
	old := fixture(t, "4.0.2")
	cur := fixture(t, "4.2.1")
	t0 := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	// A read that took the old report's head and the new one's tail.
	spliced := append(append([]byte{}, old[:400]...), cur[400:]...)
	tests := []struct {
		name  string
		stats []fakeInfo
		data  []byte
		ok    bool
	}{
		{"unchanged", []fakeInfo{{int64(len(cur)), t1}}, cur, true},
		{"rewritten during the read: same size, new mtime", []fakeInfo{{int64(len(cur)), t0}, {int64(len(cur)), t1}}, spliced[:len(cur)], false},
		{"rewritten during the read: new size", []fakeInfo{{int64(len(old)), t0}, {int64(len(cur)), t1}}, spliced, false},
		{"truncated after the first stat", []fakeInfo{{int64(len(old)), t0}, {0, t1}}, nil, false},
		{"truncated before, written during the read, same tick", []fakeInfo{{0, t1}, {int64(len(cur)), t1}}, cur, false},
		{"shorter than its size", []fakeInfo{{int64(len(cur)), t1}}, cur[:100], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, mtime, err := readWhole(&rewritingFile{stats: tt.stats, data: bytes.NewReader(tt.data)})
			if tt.ok {
				if err != nil || !bytes.Equal(data, tt.data) || !mtime.Equal(tt.stats[len(tt.stats)-1].mtime) {
					t.Errorf("readWhole = %d bytes, %v, %v; want %d bytes, nil", len(data), mtime, err, len(tt.data))
				}
				return
			}
			if !errors.Is(err, ErrIncomplete) || data != nil {
				t.Errorf("readWhole = %d bytes, %v; want ErrIncomplete", len(data), err)
			}
		})
	}
}

func TestReader(t *testing.T) {
	const maxAge = 2 * time.Minute
	t0 := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	const p = "/run/audit/auditd.state"
	type step struct {
		write   []byte // written before the read at now (nil: no change)
		mtime   time.Time
		remove  bool
		now     time.Time
		version string // want Report.Version ("" = zero Report)
		depth   uint64 // want QueueDepth.Value when version != ""
		is      error  // want errors.Is, nil for no error
		saying  string
	}
	v421 := fixture(t, "4.2.1")
	v402 := fixture(t, "4.0.2")
	v421b := bytes.Replace(v421, []byte("current plugin queue depth = 0"), []byte("current plugin queue depth = 9"), 1)
	tests := []struct {
		name  string
		steps []step
	}{
		{"fresh, then a new report", []step{
			{write: v421, mtime: t0, now: t0.Add(30 * time.Second), version: "4.2.1", depth: 0},
			{write: v421b, mtime: t0.Add(60 * time.Second), now: t0.Add(90 * time.Second), version: "4.2.1", depth: 9},
		}},
		{"exactly maxAge old is fresh, a moment more is stale", []step{
			{write: v421, mtime: t0, now: t0.Add(maxAge), version: "4.2.1"},
			{now: t0.Add(maxAge + time.Second), is: ErrStale, saying: "set report_interval in /etc/audit/auditd.conf"},
		}},
		{"stale on an auditd without report_interval", []step{
			{write: v402, mtime: t0, now: t0.Add(time.Hour), is: ErrStale, saying: "auditd 4.0.2 writes it only on request"},
		}},
		{"written in the future (clock set back)", []step{
			{write: v421, mtime: t0, now: t0.Add(-time.Minute), version: "4.2.1"},
			{now: t0.Add(-time.Hour), is: ErrStale},
		}},
		{"caught mid-rewrite: the last whole report again", []step{
			{write: v421b, mtime: t0, now: t0.Add(10 * time.Second), version: "4.2.1", depth: 9},
			{write: v421[:500], mtime: t0.Add(60 * time.Second), now: t0.Add(70 * time.Second), version: "4.2.1", depth: 9, is: ErrIncomplete},
			{write: v421, mtime: t0.Add(120 * time.Second), now: t0.Add(130 * time.Second), version: "4.2.1", depth: 0},
		}},
		{"caught mid-rewrite when the last whole report is stale", []step{
			{write: v421, mtime: t0, now: t0.Add(10 * time.Second), version: "4.2.1"},
			{write: []byte{}, mtime: t0.Add(time.Hour), now: t0.Add(time.Hour), is: ErrIncomplete},
		}},
		{"caught mid-rewrite with no report before", []step{
			{write: []byte{}, mtime: t0, now: t0, is: ErrIncomplete},
		}},
		{"removed (auditd stopped)", []step{
			{write: v421, mtime: t0, now: t0, version: "4.2.1"},
			{remove: true, now: t0.Add(time.Second), is: fs.ErrNotExist, saying: "auditd 4.0.5 or later"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			r := NewReader(root, maxAge)
			for i, s := range tt.steps {
				if s.write != nil {
					writeReport(t, root, p, s.write, s.mtime)
				}
				if s.remove {
					if err := os.Remove(filepath.Join(root, p)); err != nil {
						t.Fatal(err)
					}
				}
				rep, err := r.Read(s.now)
				if s.is == nil && err != nil || s.is != nil && !errors.Is(err, s.is) {
					t.Fatalf("step %d: Read error %v, want %v", i, err, s.is)
				}
				if err != nil && !strings.Contains(err.Error(), s.saying) {
					t.Errorf("step %d: %q does not say %q", i, err, s.saying)
				}
				if s.version == "" {
					if rep != (Report{}) {
						t.Errorf("step %d: Read = %+v, want no figures", i, rep)
					}
					continue
				}
				if rep.Version != s.version || rep.QueueDepth != (Figure{s.depth, true}) {
					t.Errorf("step %d: Read = version %q depth %+v, want %q %d", i, rep.Version, rep.QueueDepth, s.version, s.depth)
				}
			}
		})
	}
}

func TestHint(t *testing.T) {
	tests := []struct {
		version string
		saying  []string
	}{
		{"", []string{"auditd 4.0.5 or later", "report_interval", "auditctl --signal state", "never"}},
		{"garbage", []string{"auditd 4.0.5 or later"}},
		{"3.0.9", []string{"auditd 3.0.9 writes it only on request", "auditctl --signal state", "never"}},
		{"4.0.4b", []string{"auditd 4.0.4b writes it only on request"}},
		{"4.0.5", []string{"to have auditd 4.0.5 write it periodically, set report_interval"}},
		{"4.2.1", []string{"to have auditd 4.2.1 write it periodically", "/etc/audit/auditd.conf"}},
		{"10.0", []string{"to have auditd 10.0 write it periodically"}},
	}
	for _, tt := range tests {
		got := hint(tt.version)
		for _, s := range tt.saying {
			if !strings.Contains(got, s) {
				t.Errorf("hint(%q) = %q; does not say %q", tt.version, got, s)
			}
		}
	}
}
