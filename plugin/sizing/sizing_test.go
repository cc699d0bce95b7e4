package sizing

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestRecommend(t *testing.T) {
	tests := []struct {
		peak, limit uint32
		capped      bool
		want        uint32
	}{
		{0, 8192, false, 1024},
		{20, 64, false, 1024},
		{512, 8192, false, 1024},
		{513, 8192, false, 2048},
		{4762, 8192, false, 10240},
		{8192, 8192, true, 16384},
		{100, 8192, true, 16384}, // lost records: the demand is at least the limit
		{5000, 0, false, 10240},  // unlimited
		{4294967295, 0, false, 1<<31 - 1},
	}
	for _, tt := range tests {
		if got := Recommend(tt.peak, tt.limit, tt.capped); got != tt.want {
			t.Errorf("Recommend(%d, %d, %v) = %d, want %d", tt.peak, tt.limit, tt.capped, got, tt.want)
		}
	}
}

func TestFigures(t *testing.T) {
	tests := []struct {
		name  string
		f     Figures
		state State
		rec   uint32
		says  []string
	}{
		{"fine", Figures{Peak: 300, Limit: 8192, RecordBytes: 350}, Fine, 1024,
			[]string{"peak 300 of backlog limit 8192", "about 103 KiB of records, at 350 bytes a record", "the limit is generous: 1024 would hold twice the peak", "up to 8.8 MiB", "-b 1024 in /etc/audit/rules.d/audit.rules"}},
		{"near", Figures{Peak: 7000, Limit: 8192}, NearlyFull, 14336,
			[]string{"the queue came near its limit: set it to 14336", "auditctl -b 14336"}},
		{"losing", Figures{Peak: 8192, Limit: 8192, LostSince: 40}, Losing, 16384,
			[]string{"the kernel lost 40 records: set the limit to at least 16384"}},
		{"unlimited", Figures{Peak: 100}, Fine, 1024,
			[]string{"backlog limit unlimited", "no limit lets the queue take any amount of kernel memory"}},
		{"small limit", Figures{Peak: 3, Limit: 64}, Fine, 1024,
			[]string{"a limit of 64 leaves the queue little room: set it to 1024"}},
		{"just right", Figures{Peak: 600, Limit: 2048}, Fine, 2048,
			[]string{"the limit holds twice the peak (recommended 2048)"}},
		{"boot", Figures{Peak: 10, Limit: 8192, LostBefore: 17}, Fine, 1024,
			[]string{"the kernel had lost 17 records before the plugin started", "audit_backlog_limit=8192"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.State(); got != tt.state {
				t.Errorf("State = %d, want %d", got, tt.state)
			}
			if got := tt.f.Recommended(); got != tt.rec {
				t.Errorf("Recommended = %d, want %d", got, tt.rec)
			}
			adv := tt.f.Advice()
			for _, s := range tt.says {
				if !strings.Contains(adv, s) {
					t.Errorf("advice lacks %q:\n%s", s, adv)
				}
			}
			if tt.rec == tt.f.Limit && strings.Contains(adv, "-b ") {
				t.Errorf("advice says to set the limit it has:\n%s", adv)
			}
		})
	}
}

// lines is a Logger that keeps what it is told.
type lines []string

func (l *lines) Info(msg string, _ ...any) { *l = append(*l, "INFO "+msg) }
func (l *lines) Warn(msg string, _ ...any) { *l = append(*l, "WARN "+msg) }

// TestAdvisor logs once per change: the boot loss at the start, the queue
// nearly full once, and each growth of the lost count.
func TestAdvisor(t *testing.T) {
	var l lines
	a := NewAdvisor(&l)
	for _, f := range []Figures{
		{Peak: 10, Limit: 8192, LostBefore: 3},
		{Peak: 10, Limit: 8192, LostBefore: 3},
		{Peak: 7000, Limit: 8192, LostBefore: 3},
		{Peak: 7000, Limit: 8192, LostBefore: 3},
		{Peak: 8192, Limit: 8192, LostBefore: 3, LostSince: 5},
		{Peak: 8192, Limit: 8192, LostBefore: 3, LostSince: 5},
		{Peak: 8192, Limit: 8192, LostBefore: 3, LostSince: 9},
	} {
		a.Observe(f)
	}
	var got []string
	for _, s := range l {
		got = append(got, s[:strings.IndexByte(s, ':')])
	}
	want := "[WARN records lost before the plugin started WARN the audit queue was nearly full WARN the kernel lost audit records WARN the kernel lost audit records]"
	if fmt.Sprint(got) != want {
		t.Errorf("logged %v\nwant %s", got, want)
	}
}

// TestREADMEExample holds the README's worked example to what the code
// says for its figures.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := Figures{Peak: 7400, Limit: 8192, RecordBytes: 350}.Advice()
	if !strings.Contains(string(readme), want) {
		t.Errorf("README's sizing example is not what the code says:\n%s", want)
	}
}
