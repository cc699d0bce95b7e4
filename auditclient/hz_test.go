package auditclient

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTickRate reads CONFIG_HZ from fixture roots laid out as a live
// system: /proc/config.gz first, else /boot/config-RELEASE of the running
// release, else DefaultHZ and why.
func TestTickRate(t *testing.T) {
	tests := []struct {
		root       string
		hz         uint32
		source     string // relative to the root; "" when none
		errContain string
	}{
		{root: "proc-config", hz: 250, source: "/proc/config.gz"},
		{root: "boot", hz: 1000, source: "/boot/config-6.1.0-40-amd64"},
		{root: "none", hz: DefaultHZ, errContain: "kernel HZ unknown, assuming 1000"},
		{root: "bad", hz: DefaultHZ, errContain: `bad CONFIG_HZ="abc"`},
		{root: "missing", hz: DefaultHZ, errContain: "kernel release"},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			root := filepath.Join("testdata", "hz", tt.root)
			hz, source, err := TickRate(root)
			if hz != tt.hz {
				t.Errorf("hz = %d, want %d", hz, tt.hz)
			}
			want := ""
			if tt.source != "" {
				want = root + tt.source
			}
			if source != want {
				t.Errorf("source = %q, want %q", source, want)
			}
			switch {
			case tt.errContain == "" && err != nil:
				t.Errorf("err = %v", err)
			case tt.errContain != "" && (err == nil || !strings.Contains(err.Error(), tt.errContain)):
				t.Errorf("err = %v, want one saying %q", err, tt.errContain)
			}
		})
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		ticks, hz uint32
		want      time.Duration
	}{
		{1000, 1000, time.Second},
		{250, 250, time.Second},
		{1, 300, time.Second / 300},
		{4294967295, 100, 4294967295 * 10 * time.Millisecond},
		{5, 0, 0},
	}
	for _, tt := range tests {
		if got := Ticks(tt.ticks, tt.hz); got != tt.want {
			t.Errorf("Ticks(%d, %d) = %v, want %v", tt.ticks, tt.hz, got, tt.want)
		}
	}
}
