package auditnl

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMessageFraming(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		wantLen int // nlmsg_len: header + payload, unpadded
		wantPad int // bytes in the buffer: padded to 4
	}{
		{"empty", "", 16, 16},
		{"aligned", "abcd", 20, 20},
		{"padded", "e2e tag=x i=0 n=1", 33, 36},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Conn{seq: 41}
			b := c.message(nil, unix.AUDIT_USER, unix.NLM_F_REQUEST, []byte(tt.payload))
			if len(b) != tt.wantPad {
				t.Fatalf("buffer: got %d bytes, want %d", len(b), tt.wantPad)
			}
			if got := int(binary.NativeEndian.Uint32(b[0:4])); got != tt.wantLen {
				t.Errorf("nlmsg_len: got %d, want %d", got, tt.wantLen)
			}
			if got := binary.NativeEndian.Uint16(b[4:6]); got != unix.AUDIT_USER {
				t.Errorf("type: got %d, want %d", got, unix.AUDIT_USER)
			}
			if got := binary.NativeEndian.Uint32(b[8:12]); got != 42 || c.seq != 42 {
				t.Errorf("seq: got %d (conn %d), want 42", got, c.seq)
			}
			if got := string(b[16 : 16+len(tt.payload)]); got != tt.payload {
				t.Errorf("payload: got %q, want %q", got, tt.payload)
			}
		})
	}
}

// Several messages in one buffer, as SendUser batches them, must each start
// on a 4-byte boundary where the previous one's padded length says.
func TestMessageBatch(t *testing.T) {
	c := &Conn{}
	var b []byte
	texts := []string{"a", "bcdefg", "hi"}
	for _, s := range texts {
		b = c.message(b, unix.AUDIT_USER, unix.NLM_F_REQUEST, []byte(s))
	}
	for i, s := range texts {
		if len(b) < 16 {
			t.Fatalf("message %d: buffer ends early", i)
		}
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if got := string(b[16:l]); got != s {
			t.Errorf("message %d: got %q, want %q", i, got, s)
		}
		b = b[(l+3)&^3:]
	}
	if len(b) != 0 {
		t.Errorf("%d bytes left after the last message", len(b))
	}
}
