package main

import (
	"bytes"
	"strconv"
	"testing"
)

func TestSwitchesOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  string
		want    uint64
		wantErr bool
	}{
		{name: "both counts", status: "Name:\tgopoller\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t140\nnonvoluntary_ctxt_switches:\t7\n", want: 147},
		{name: "no trailing newline", status: "voluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t2", want: 3},
		{name: "zero", status: "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n", want: 0},
		{name: "one count missing", status: "voluntary_ctxt_switches:\t5\n", wantErr: true},
		{name: "one count twice", status: "voluntary_ctxt_switches:\t1\nvoluntary_ctxt_switches:\t2\n", wantErr: true},
		{name: "not a number", status: "voluntary_ctxt_switches:\tx\nnonvoluntary_ctxt_switches:\t2\n", wantErr: true},
		{name: "empty", status: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := switchesOf([]byte(tc.status))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("switchesOf = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// FuzzSwitchesOf checks switchesOf against a plain reading of the two
// lines: whenever it succeeds, its sum is theirs.
func FuzzSwitchesOf(f *testing.F) {
	f.Add([]byte("voluntary_ctxt_switches:\t140\nnonvoluntary_ctxt_switches:\t7\n"))
	f.Add([]byte("voluntary_ctxt_switches: 1\nvoluntary_ctxt_switches: 2\n"))
	f.Fuzz(func(t *testing.T, status []byte) {
		got, err := switchesOf(status)
		if err != nil {
			return
		}
		var sum uint64
		for line := range bytes.Lines(status) {
			for _, key := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
					n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
					if err != nil {
						t.Fatalf("switchesOf(%q) = %d, but %q is not a number", status, got, v)
					}
					sum += n
				}
			}
		}
		if sum != got {
			t.Errorf("switchesOf(%q) = %d, the lines add up to %d", status, got, sum)
		}
	})
}
