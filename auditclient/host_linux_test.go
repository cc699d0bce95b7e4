package auditclient

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// This file talks to the real kernel, read-only: AUDIT_GET and nothing
// else. No test here, or anywhere in this package, sends AUDIT_SET to the
// kernel it runs on; ResetMaxDepth is only ever driven through fakeKernel.

var update = flag.Bool("update", false,
	"rewrite testdata/ from this host's kernel (read-only AUDIT_GET) and rederive the synthesized fixtures")

// openHost opens a real audit netlink socket that copies every datagram it
// reads into raw, and checks the kernel will answer AUDIT_GET. It skips the
// test, saying why, only when audit netlink is not permitted or not there.
func openHost(tb testing.TB, raw *bytes.Buffer) *Client {
	tb.Helper()
	c, err := open(raw)
	if err == nil {
		_, err = c.statusReply()
		raw.Reset()
	}
	switch {
	case err == nil:
		tb.Cleanup(func() {
			if err := c.Close(); err != nil {
				tb.Error(err)
			}
		})
		return c
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPROTONOSUPPORT):
		if c != nil {
			c.Close()
		}
		tb.Skipf("audit netlink is not permitted or not available here: %v", err)
	default:
		tb.Fatal(err)
	}
	return nil
}

// TestStatusHost asks this host's kernel for its status and checks that the
// decoded Status agrees with the raw reply as read off the socket: the
// length-derived HasMaxDepth and the fields at their wire offsets. It
// asserts nothing about whether the host kernel is patched.
func TestStatusHost(t *testing.T) {
	var raw bytes.Buffer
	c := openHost(t, &raw)

	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	dgram := bytes.Clone(raw.Bytes())
	if len(dgram) < syscall.NLMSG_HDRLEN {
		t.Fatalf("read %d bytes, want one netlink message", len(dgram))
	}
	n := binary.NativeEndian.Uint32(dgram[0:])
	typ := binary.NativeEndian.Uint16(dgram[4:])
	if typ != unix.AUDIT_GET || int(n) != len(dgram) {
		t.Fatalf("read %d bytes, header len %d type %d; want one AUDIT_GET (%d) message",
			len(dgram), n, typ, unix.AUDIT_GET)
	}
	payload := dgram[syscall.NLMSG_HDRLEN:]
	t.Logf("kernel %s: AUDIT_GET reply payload is %d bytes; %+v", kernelRelease(t), len(payload), st)

	if want := len(payload) >= 48; st.HasMaxDepth != want {
		t.Errorf("HasMaxDepth = %v for a %d-byte reply, want %v", st.HasMaxDepth, len(payload), want)
	}
	word := func(i int) uint32 {
		if 4*i+4 > len(payload) {
			return 0
		}
		return binary.NativeEndian.Uint32(payload[4*i:])
	}
	for _, f := range []struct {
		name string
		got  uint32
		word int
	}{
		{"Enabled", st.Enabled, 1},
		{"Failure", st.Failure, 2},
		{"PID", st.PID, 3},
		{"BacklogLimit", st.BacklogLimit, 5},
		{"Backlog", st.Backlog, 7},
		{"FeatureBitmap", st.FeatureBitmap, 8},
		{"BacklogWaitTime", st.BacklogWaitTime, 9},
		{"MaxDepth", st.MaxDepth, 11},
	} {
		if want := word(f.word); f.got != want {
			t.Errorf("%s = %d, want %d (word %d of the reply)", f.name, f.got, want, f.word)
		}
	}
	if st.Enabled > 2 || st.Failure > 2 {
		t.Errorf("Enabled = %d, Failure = %d; the kernel allows 0..2 for both", st.Enabled, st.Failure)
	}
	if len(payload) >= 36 && st.FeatureBitmap == 0 {
		t.Error("FeatureBitmap = 0; every kernel that sends it sets some bits")
	}

	if *update {
		writeFixture(t, "get-reply-"+strconv.Itoa(len(payload))+".bin", dgram)
		ack := captureGetAck(t)
		deriveFixtures(t, dgram, ack)
	}
}

// captureGetAck records the kernel's zero ack to an AUDIT_GET sent with
// NLM_F_ACK (still read-only) as testdata/get-ack-0.bin.
func captureGetAck(t *testing.T) []byte {
	t.Helper()
	var raw bytes.Buffer
	c := openHost(t, &raw)
	seq, deadline, err := c.send("capture", syscall.NetlinkMessage{
		Header: syscall.NlMsghdr{Type: unix.AUDIT_GET, Flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.next("capture", seq, deadline)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Type != syscall.NLMSG_ERROR {
		t.Fatalf("first answer to AUDIT_GET|NLM_F_ACK has type %d, want NLMSG_ERROR", m.Header.Type)
	}
	ack := bytes.Clone(raw.Bytes())
	writeFixture(t, "get-ack-0.bin", ack)
	return ack
}

// BenchmarkStatusHost measures one AUDIT_GET round trip against this host's
// kernel.
func BenchmarkStatusHost(b *testing.B) {
	var raw bytes.Buffer
	c := openHost(b, &raw)
	b.ReportAllocs()
	for b.Loop() {
		raw.Reset()
		if _, err := c.Status(); err != nil {
			b.Fatal(err)
		}
	}
}

func writeFixture(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote testdata/%s (%d bytes)", name, len(b))
}

func kernelRelease(t *testing.T) string {
	t.Helper()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
