package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The harness's artefacts, built by `make e2e` into AUDISP_E2E_BUILD.
const (
	kernelPatched   = "patched.bzImage"
	kernelUnpatched = "unpatched.bzImage"
	initrdPlugin    = "initramfs.cpio.gz"
	initrdNoPlugin  = "initramfs-noplugin.cpio.gz"
)

// buildDir returns the directory `make e2e` filled, or skips the test: the
// VM tests need two kernel builds and qemu, far too much for `go test ./...`.
func buildDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("AUDISP_E2E") != "1" {
		t.Skip("VM end-to-end test: run `make e2e` (it builds the guest kernels and initramfs, then sets AUDISP_E2E=1)")
	}
	dir := os.Getenv("AUDISP_E2E_BUILD")
	if dir == "" {
		t.Fatal("AUDISP_E2E=1 but AUDISP_E2E_BUILD is not set; run `make e2e`")
	}
	return dir
}

// accel is the qemu accelerator, probed once per test binary (a probe can
// take up to 20 s where KVM hangs): KVM when it boots a guest, else TCG.
var accel struct {
	once sync.Once
	args []string
	name string
}

// event is one "@e2e {json}" line from the guest's console.
type event map[string]any

func (e event) str(k string) string { s, _ := e[k].(string); return s }

func (e event) num(k string) float64 { f, _ := e[k].(float64); return f }

func (e event) u32(k string) uint32 { return uint32(e.num(k)) }

// boot is one guest run: its events in console order and its timings.
type boot struct {
	events  []event
	console string
	elapsed time.Duration
	accel   string
}

// all returns the events named ev.
func (b *boot) all(ev string) []event {
	var out []event
	for _, e := range b.events {
		if e.str("ev") == ev {
			out = append(out, e)
		}
	}
	return out
}

// last returns the last event named ev, failing the test if there is none.
func (b *boot) last(t *testing.T, ev string) event {
	t.Helper()
	all := b.all(ev)
	if len(all) == 0 {
		t.Fatalf("guest printed no %q event", ev)
	}
	return all[len(all)-1]
}

// runGuest boots kernel with initrd and the scenario, reads its console
// until it powers off, and fails the test unless the driver exited 0.
//
// The guest runs in parallel with the other tests' guests (each qemu TCG
// guest keeps one host core busy; make e2e runs as many at once as the
// host has cores, E2E_PARALLEL), so a test calls runGuest once, and the
// test's code before the call runs before the others' guests end. The
// benchmarks boot with runGuestAlone.
func runGuest(t *testing.T, kernel, initrd, scenario string, timeout time.Duration, extra ...string) *boot {
	t.Helper()
	buildDir(t) // skip before waiting for a turn
	t.Parallel()
	return runGuestAlone(t, kernel, initrd, scenario, timeout, extra...)
}

// runGuestAlone is runGuest for the benchmarks: the guest runs while no
// other test's does (make e2e-stall, e2e-flood and e2e-probe-bench run
// only their own test, one guest at a time).
func runGuestAlone(t *testing.T, kernel, initrd, scenario string, timeout time.Duration, extra ...string) *boot {
	t.Helper()
	dir := buildDir(t)
	accel.once.Do(func() {
		accel.name, accel.args = "tcg", []string{"-accel", "tcg"}
		if os.Getenv("AUDISP_E2E_ACCEL") == "tcg" {
			return
		}
		// KVM when the host offers it and a guest really boots with it.
		if _, err := os.Stat("/dev/kvm"); err != nil {
			return
		}
		b, err := qemu(filepath.Join(dir, kernelPatched), filepath.Join(dir, initrdNoPlugin), "probe",
			[]string{"-accel", "kvm", "-cpu", "host"}, 20*time.Second)
		if exits := b.all("exit"); err == nil && len(exits) == 1 && exits[0].num("code") == 0 {
			accel.name, accel.args = "kvm", []string{"-accel", "kvm", "-cpu", "host"}
		} else {
			t.Logf("KVM did not boot a guest (%v); using TCG", err)
		}
	})
	b, err := qemu(filepath.Join(dir, kernel), filepath.Join(dir, initrd), scenario, accel.args, timeout, extra...)
	logDir := filepath.Join(dir, "console")
	os.MkdirAll(logDir, 0o755)
	logFile := filepath.Join(logDir, strings.ReplaceAll(t.Name(), "/", "_")+".log")
	if werr := os.WriteFile(logFile, []byte(b.console), 0o644); werr != nil {
		t.Logf("save console: %v", werr)
	}
	if err != nil {
		t.Fatalf("guest %s on %s: %v (console: %s)", scenario, kernel, err, logFile)
	}
	t.Logf("guest %s on %s (%s): %v, console in %s", scenario, kernel, b.accel, b.elapsed.Round(10*time.Millisecond), logFile)
	for _, e := range b.all("error") {
		t.Errorf("guest driver: %s", e.str("err"))
	}
	exits := b.all("exit")
	if len(exits) != 1 || exits[0].num("code") != 0 {
		t.Fatalf("guest driver did not exit 0 (exit events %v); console in %s", exits, logFile)
	}
	return b
}

// qemu boots one guest and collects its console.
func qemu(kernel, initrd, scenario string, accelArgs []string, timeout time.Duration, extra ...string) (*boot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	media := []string{"-initrd", initrd}
	if strings.HasSuffix(initrd, ".img") {
		// A disk image is a Debian root booting systemd (scripts/diskimage.sh).
		media = []string{"-drive", "file=" + initrd + ",format=raw,if=virtio,snapshot=on"}
		extra = append([]string{"root=/dev/vda", "rw", "systemd.show_status=false"}, extra...)
	}
	cmdline := strings.Join(append([]string{"console=ttyS0", "audit=1", "audit_backlog_limit=8192",
		// no_timer_check: on a loaded host, TCG can be too slow for the
		// kernel's IO-APIC timer check, which then panics at boot.
		"loglevel=4", "panic=-1", "no_timer_check", "e2e.scenario=" + scenario}, extra...), " ")
	args := append(append([]string{"-machine", "pc", "-m", "512", "-smp", "1", "-nodefaults", "-no-user-config",
		"-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", kernel, "-append", cmdline}, media...), accelArgs...)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	var console bytes.Buffer
	cmd.Stdout = &console
	cmd.Stderr = &console
	start := time.Now()
	err := cmd.Run()
	b := &boot{console: console.String(), elapsed: time.Since(start), accel: accelArgs[1]}
	sc := bufio.NewScanner(strings.NewReader(b.console))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "@e2e {")
		if i < 0 {
			continue
		}
		var e event
		if json.Unmarshal([]byte(strings.TrimRight(line[i+len("@e2e "):], "\r")), &e) == nil {
			b.events = append(b.events, e)
		}
	}
	if ctx.Err() != nil {
		return b, fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return b, fmt.Errorf("qemu: %w", err)
	}
	return b, nil
}
