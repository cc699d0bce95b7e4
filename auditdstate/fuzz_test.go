package auditdstate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, returns figures or an error
// but never both, that a report it accepts has every plugin queue figure,
// and the rule that matters most: a report cut anywhere but at the end of a
// line (a read racing auditd's rewrite) never yields figures. Seeds: every
// testdata/*.state (each version's format) and each version's lines alone.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.state")
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata/*.state: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	for _, s := range []string{
		"audit version = 3.0.9\nLogging partition free space 77681 MB\n" + queue,
		"audit version = 4.0.2\nLogging partition free space = 77680 MB\n" + queue,
		"audit version = 4.2.1\nLogging partition free space = 77665 MiB\n" + queue,
		"audit version = 4.0.5\n" + queue + "glibc arena (total memory) is: 132 KB, was: 132 KB\n",
		"audit version = 4.2.1\n" + queue + "glibc fordblks (total free space) is: 38 KiB, was: 126 KiB\n",
		"audit version = 4.0.2\nplugin queue overflow detected = yes\nplugin queueing suspended = yes\n",
		"",
		"\n",
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Parse(bytes.NewReader(data))
		if err != nil {
			if rep != (Report{}) {
				t.Fatalf("Parse returned figures with its error %v: %+v", err, rep)
			}
			return
		}
		if rep.Version == "" || rep.Path != "" || !rep.ModTime.IsZero() {
			t.Fatalf("Parse accepted a report with version %q, path %q, mtime %v", rep.Version, rep.Path, rep.ModTime)
		}
		for _, fig := range []Figure{rep.QueueDepth, rep.QueueMaxDepth, rep.QueueSize, rep.QueueOverflow, rep.QueueSuspended} {
			if !fig.OK {
				t.Fatalf("Parse accepted a report without a plugin queue figure: %+v", rep)
			}
		}
		for _, fig := range []Figure{rep.QueueOverflow, rep.QueueSuspended, rep.LoggingSuspended} {
			if fig.Value > 1 {
				t.Fatalf("a flag is %d: %+v", fig.Value, rep)
			}
		}
		again, err := Parse(bytes.NewReader(data))
		if err != nil || again != rep {
			t.Fatalf("Parse is not deterministic: %+v, %v then %+v", rep, err, again)
		}
		// Cut it anywhere inside a line: no figures.
		for cut := 1; cut < len(data); cut++ {
			if data[cut-1] == '\n' {
				continue
			}
			if rep, err := Parse(bytes.NewReader(data[:cut])); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("Parse of the first %d bytes = %+v, %v; want ErrIncomplete", cut, rep, err)
			}
		}
	})
}
