package auditclient

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// wireStatus returns an n-byte struct audit_status payload whose i-th
// __u32 (the mask at 0 included) is 100+i, so every field is distinct and a
// wrong offset shows.
func wireStatus(n int) []byte {
	b := make([]byte, n+4)
	for i := 0; 4*i < n; i++ {
		binary.NativeEndian.PutUint32(b[4*i:], uint32(100+i))
	}
	return b[:n]
}

func TestDecodeStatus(t *testing.T) {
	upToBacklog := Status{
		Enabled: 101, Failure: 102, PID: 103, RateLimit: 104,
		BacklogLimit: 105, Lost: 106, Backlog: 107,
	}
	today := upToBacklog
	today.FeatureBitmap, today.BacklogWaitTime, today.BacklogWaitTimeActual = 108, 109, 110
	patched := today
	patched.MaxDepth, patched.HasMaxDepth = 111, true

	for _, tc := range []struct {
		name    string
		len     int
		want    Status
		wantErr bool
	}{
		{name: "empty", len: 0, wantErr: true},
		{name: "one byte short of backlog", len: 31, wantErr: true},
		{name: "2.6.32 layout, through backlog", len: 32, want: upToBacklog},
		{name: "through backlog_wait_time", len: 40, want: func() Status {
			s := today
			s.BacklogWaitTimeActual = 0
			return s
		}()},
		{name: "today's kernels", len: 44, want: today},
		{name: "partial max depth word", len: 47, want: today},
		{name: "patched kernel", len: 48, want: patched},
		{name: "future field ignored", len: 52, want: patched},
		{name: "future fields ignored", len: 64, want: patched},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeStatus(wireStatus(tc.len))
			if tc.wantErr {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("decodeStatus(%d bytes) error = %v, want io.ErrUnexpectedEOF", tc.len, err)
				}
				if got != (Status{}) {
					t.Errorf("decodeStatus(%d bytes) = %+v with its error, want zero Status", tc.len, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeStatus(%d bytes): %v", tc.len, err)
			}
			if got != tc.want {
				t.Errorf("decodeStatus(%d bytes)\n got %+v\nwant %+v", tc.len, got, tc.want)
			}
		})
	}
}

// FuzzDecodeStatus checks, for any input, that decodeStatus never panics,
// accepts exactly the inputs of 32 bytes or more, sets HasMaxDepth from the
// length alone, reads the fields the length covers from their offsets, and
// ignores bytes past the 48 it knows.
func FuzzDecodeStatus(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeStatus(b)
		if len(b) < 32 {
			if err == nil || s != (Status{}) {
				t.Fatalf("decodeStatus(%d bytes) = %+v, %v; want zero Status and an error", len(b), s, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("decodeStatus(%d bytes): %v", len(b), err)
		}
		if s.HasMaxDepth != (len(b) >= 48) {
			t.Errorf("HasMaxDepth = %v for %d bytes", s.HasMaxDepth, len(b))
		}
		word := func(i int) uint32 {
			if 4*i+4 > len(b) {
				return 0
			}
			return binary.NativeEndian.Uint32(b[4*i:])
		}
		for i, got := range []uint32{
			1: s.Enabled, 2: s.Failure, 3: s.PID, 4: s.RateLimit, 5: s.BacklogLimit,
			6: s.Lost, 7: s.Backlog, 8: s.FeatureBitmap, 9: s.BacklogWaitTime,
			10: s.BacklogWaitTimeActual, 11: s.MaxDepth,
		} {
			if i > 0 && got != word(i) {
				t.Errorf("field at word %d = %d, want %d", i, got, word(i))
			}
		}
		if len(b) > 48 {
			if head, _ := decodeStatus(b[:48]); head != s {
				t.Errorf("bytes past 48 changed the result: %+v, want %+v", s, head)
			}
		}
	})
}
