package auditdstate

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadWithoutDACCapabilities checks what the plugin relies on: after
// it drops every capability but CAP_AUDIT_CONTROL it is still uid 0, and
// uid 0 reads a root-owned 0640 report inside 0700 root-owned directories
// (as auditd 4.2.1 lays them out) by the owner's permission bits alone,
// with no CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH. The same thread is
// refused a 0640 file that another user owns, which shows the capabilities
// really were gone.
//
// Capabilities belong to a thread, so the reads run on a goroutine locked
// to its own OS thread after it dropped them; it never unlocks, so the Go
// runtime ends that thread with the goroutine instead of reusing it.
func TestReadWithoutDACCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the check is what uid 0 without CAP_DAC_OVERRIDE may read")
	}
	mine := t.TempDir()
	writeReport(t, mine, "/run/audit/auditd.state", fixture(t, "4.2.1"), time.Now())
	theirs := t.TempDir()
	writeReport(t, theirs, "/run/audit/auditd.state", fixture(t, "4.2.1"), time.Now())
	if err := os.Chown(filepath.Join(theirs, "/run/audit/auditd.state"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/run", "/run/audit", "/run/audit/auditd.state"} {
		fi, err := os.Stat(filepath.Join(mine, p))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]fs.FileMode{true: fs.ModeDir | 0o700, false: 0o640}[fi.IsDir()]; fi.Mode() != want {
			t.Fatalf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}

	type result struct {
		capEff            string
		mineErr, theirErr error
		mine              Report
		setupErr          error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var res result
		defer func() { done <- res }()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		keep := uint32(1) << unix.CAP_AUDIT_CONTROL
		data[0].Effective, data[0].Permitted = keep, keep
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			res.setupErr = err
			return
		}
		status, err := os.ReadFile("/proc/thread-self/status")
		if err != nil {
			res.setupErr = err
			return
		}
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
				res.capEff = strings.TrimSpace(v)
			}
		}
		res.mine, res.mineErr = Read(mine)
		_, res.theirErr = Read(theirs)
	}()
	res := <-done
	if res.setupErr != nil {
		t.Fatalf("drop capabilities: %v", res.setupErr)
	}
	if res.capEff != "0000000040000000" {
		t.Fatalf("CapEff after the drop = %q, want only CAP_AUDIT_CONTROL (0000000040000000)", res.capEff)
	}
	if res.mineErr != nil || res.mine.Version != "4.2.1" {
		t.Errorf("uid 0 without DAC capabilities: Read = %q, %v; want the report", res.mine.Version, res.mineErr)
	}
	if !errors.Is(res.theirErr, fs.ErrPermission) {
		t.Errorf("uid 0 without DAC capabilities, a file uid 65534 owns: Read error %v, want permission denied", res.theirErr)
	}
}
