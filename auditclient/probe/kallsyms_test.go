package probe

import (
	"strings"
	"testing"
)

func TestKallsyms(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]uint64
	}{
		{"debian 6.12", "ffffffff81000000 T _stext\n" +
			"ffffffff83a1c2c0 b audit_queue\n" +
			"ffffffff83a1c2a8 b audit_retry_queue\n" +
			"ffffffff83a1c290 b audit_hold_queue\n" +
			"ffffffff81234560 T audit_log_end\n",
			map[string]uint64{symQueue: 0xffffffff83a1c2c0, symRetryQueue: 0xffffffff83a1c2a8, symHoldQueue: 0xffffffff83a1c290}},
		{"kptr_restrict: zero addresses", "0000000000000000 b audit_queue\n0000000000000000 b audit_hold_queue\n",
			map[string]uint64{}},
		{"no KALLSYMS_ALL: functions only", "ffffffff81234560 T audit_log_end\nffffffff81234000 t kauditd_send_queue\n",
			map[string]uint64{}},
		{"a function of the same name is not data", "ffffffff81234560 t audit_queue\n", map[string]uint64{}},
		{"module symbols skipped", "ffffffffc0001000 b audit_queue\t[evil]\nffffffff83a1c2c0 b audit_queue\n",
			map[string]uint64{symQueue: 0xffffffff83a1c2c0}},
		{"LTO suffix", "ffffffff83a1c2c0 b audit_queue.llvm.1234567\n", map[string]uint64{symQueue: 0xffffffff83a1c2c0}},
		{"ambiguous: two addresses", "ffffffff83a1c2c0 b audit_queue\nffffffff83a1d000 d audit_queue\n", map[string]uint64{}},
		{"same address twice is fine", "ffffffff83a1c2c0 b audit_queue\nffffffff83a1c2c0 b audit_queue\n",
			map[string]uint64{symQueue: 0xffffffff83a1c2c0}},
		{"prefix is not the name", "ffffffff83a1c2c0 b audit_queue_x\nffffffff83a1c2c0 b x_audit_queue\n", map[string]uint64{}},
		{"garbage", "zz b audit_queue\n\n  \nffffffff83a1c2c0 bb audit_queue\nffffffff83a1c2c0 b\n", map[string]uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kallsyms(strings.NewReader(tt.in), symQueue, symRetryQueue, symHoldQueue)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %x, want %x", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: got %#x, want %#x", k, got[k], v)
				}
			}
		})
	}
}

func TestKallsymsLongLine(t *testing.T) {
	in := "ffffffff83a1c2c0 b " + strings.Repeat("x", 1<<17) + "\n"
	if _, err := kallsyms(strings.NewReader(in), symQueue); err == nil {
		t.Fatal("a 128 KiB line: got no error")
	}
}

func FuzzKallsyms(f *testing.F) {
	f.Add("ffffffff83a1c2c0 b audit_queue\n")
	f.Add("ffffffffc0001000 b audit_queue\t[mod]\n")
	f.Add("0 D audit_hold_queue.llvm.1\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := kallsyms(strings.NewReader(in), symQueue, symRetryQueue, symHoldQueue)
		if err != nil {
			return
		}
		for k, v := range got {
			if v == 0 {
				t.Errorf("%s: zero address returned", k)
			}
			if k != symQueue && k != symRetryQueue && k != symHoldQueue {
				t.Errorf("unwanted name %q", k)
			}
		}
	})
}
