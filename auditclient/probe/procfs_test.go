package probe

import "testing"

func TestParseLockdown(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"[none] integrity confidentiality\n", LockdownNone, true},
		{"none [integrity] confidentiality\n", LockdownIntegrity, true},
		{"none integrity [confidentiality]\n", LockdownConfidentiality, true},
		{"none integrity confidentiality\n", "", false},
		{"[]\n", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := parseLockdown([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseLockdown(%q) = %q, %v; want %q, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseLockdown(f *testing.F) {
	f.Add([]byte("none [integrity] confidentiality\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseLockdown(b)
		if err == nil && got == "" {
			t.Errorf("parseLockdown(%q): empty mode without error", b)
		}
	})
}

func TestParseRelease(t *testing.T) {
	tests := []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.1.0-41-amd64", 6, 1, true},
		{"6.12.117-amd64\n", 6, 12, true},
		{"7.2.0-1-amd64", 7, 2, true},
		{"5.11", 5, 11, true},
		{"6.18.44-fc-v782", 6, 18, true},
		{"6", 0, 0, false},
		{"x.1", 0, 0, false},
		{"6.rc1", 0, 0, false},
	}
	for _, tt := range tests {
		major, minor, err := parseRelease(tt.in)
		if (err == nil) != tt.ok || major != tt.major || minor != tt.minor {
			t.Errorf("parseRelease(%q) = %d, %d, %v; want %d, %d, ok %t", tt.in, major, minor, err, tt.major, tt.minor, tt.ok)
		}
	}
}

func FuzzParseRelease(f *testing.F) {
	f.Add("6.12.117-amd64")
	f.Fuzz(func(t *testing.T, s string) {
		major, minor, err := parseRelease(s)
		if err != nil && (major != 0 || minor != 0) {
			t.Errorf("parseRelease(%q): numbers with an error", s)
		}
	})
}

func TestParseCapEff(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n", 0x1ffffffffff, true},
		{"CapEff:\t0000000040000000\n", 1 << 30, true},
		{"CapEff:\tzz\n", 0, false},
		{"CapPrm:\t0\n", 0, false},
	}
	for _, tt := range tests {
		got, err := parseCapEff([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseCapEff(%q) = %#x, %v; want %#x, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseCapEff(f *testing.F) {
	f.Add([]byte("CapEff:\t000001ffffffffff\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parseCapEff(b); err != nil && v != 0 {
			t.Errorf("parseCapEff(%q): value with an error", b)
		}
	})
}
