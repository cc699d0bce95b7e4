package auditclient

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The real transport and the fake both satisfy what newClient takes.
var (
	_ transport = (*socket)(nil)
	_ transport = (*fakeKernel)(nil)
)

// A step is what one fakeKernel.receive returns: a datagram (a testdata
// file, or raw bytes) or an error.
type step struct {
	file string // datagram from testdata/
	raw  []byte // datagram built by the test, if file is ""
	seq  int    // the datagram's sequence number, relative to the last one sent (-1: the request before)
	seq0 bool   // keep sequence number 0, as unsolicited messages have
	err  error  // returned instead of a datagram
}

// testPort is the netlink port id the fake kernel gives its socket.
const testPort = 4242

// fakeKernel is a scripted kernel: it records what is sent and replays
// datagrams, stamping each with a sequence number relative to the last
// request. When the script runs out, receive reports that the deadline
// passed, as a silent kernel's socket does.
type fakeKernel struct {
	t         *testing.T
	steps     []step
	sendErr   error
	closeErr  error
	sent      [][]byte
	lastSeq   uint32
	deadlines []time.Time // of every receive
	closes    int
}

func (f *fakeKernel) portID() uint32 { return testPort }

func (f *fakeKernel) send(b []byte) error {
	f.t.Helper()
	if f.sendErr != nil {
		return f.sendErr
	}
	if len(b) < syscall.NLMSG_HDRLEN || binary.NativeEndian.Uint32(b) != uint32(len(b)) {
		f.t.Errorf("sent %d bytes that are not one netlink message: % x", len(b), b)
	}
	f.lastSeq = binary.NativeEndian.Uint32(b[8:])
	f.sent = append(f.sent, bytes.Clone(b))
	return nil
}

func (f *fakeKernel) receive(b []byte, deadline time.Time) (int, error) {
	f.t.Helper()
	f.deadlines = append(f.deadlines, deadline)
	if len(f.steps) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	if s.err != nil {
		return 0, s.err
	}
	d := bytes.Clone(s.raw)
	if s.file != "" {
		d = readFixture(f.t, s.file)
	}
	if !s.seq0 && len(d) >= 12 {
		binary.NativeEndian.PutUint32(d[8:], uint32(int(f.lastSeq)+s.seq))
	}
	if len(d) > len(b) {
		f.t.Fatalf("a %d-byte datagram does not fit the client's %d-byte buffer", len(d), len(b))
	}
	return copy(b, d), nil
}

func (f *fakeKernel) close() error {
	f.closes++
	return f.closeErr
}

// sentMessages parses what the client sent, one netlink message per send.
func (f *fakeKernel) sentMessages() []syscall.NetlinkMessage {
	f.t.Helper()
	var out []syscall.NetlinkMessage
	for _, b := range f.sent {
		msgs, err := parseMessages(nil, b)
		if err != nil || len(msgs) != 1 {
			f.t.Fatalf("sent % x: %d messages, %v; want one", b, len(msgs), err)
		}
		out = append(out, msgs[0])
	}
	return out
}

// testNow is the fake clock's time.
var testNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// newFakeClient returns a Client on a fakeKernel running steps, on a
// stopped clock.
func newFakeClient(t *testing.T, steps ...step) (*Client, *fakeKernel) {
	t.Helper()
	f := &fakeKernel{t: t, steps: steps}
	c := newClient(f)
	c.now = func() time.Time { return testNow }
	// Start as if 41 requests had gone before, so a stale reply (seq -1)
	// is distinct from the seq 0 of an unsolicited message.
	c.seq = 41
	return c, f
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Netlink wire constants the fixtures use, from include/uapi/linux/netlink.h.
const (
	nlmFCapped = 0x100 // NLM_F_CAPPED: the ack carries no copy of the request payload
)

// resetRequest is the AUDIT_SET payload ResetMaxDepth sends: 48 bytes, mask
// 0x0100, everything else zero.
func resetRequest() []byte {
	b := make([]byte, 48)
	binary.NativeEndian.PutUint32(b, 0x0100)
	return b
}

// netlinkAck builds the datagram net/netlink/af_netlink.c netlink_ack sends
// for a request (hdr, payload) with the given error code: struct nlmsgerr
// (the code, then the request's header) followed, for a non-zero code, by
// the request's payload; a zero code gets NLM_F_CAPPED and no payload.
func netlinkAck(code int32, portID uint32, hdr syscall.NlMsghdr, payload []byte) []byte {
	var flags uint16
	if code == 0 {
		flags = nlmFCapped
		payload = nil
	}
	b := make([]byte, 16+4+16+len(payload))
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], syscall.NLMSG_ERROR)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[12:], portID)
	binary.NativeEndian.PutUint32(b[16:], uint32(code))
	binary.NativeEndian.PutUint32(b[20:], hdr.Len)
	binary.NativeEndian.PutUint16(b[24:], hdr.Type)
	binary.NativeEndian.PutUint16(b[26:], hdr.Flags)
	binary.NativeEndian.PutUint32(b[28:], hdr.Seq)
	binary.NativeEndian.PutUint32(b[32:], hdr.Pid)
	copy(b[36:], payload)
	return b
}

// deriveFixtures writes the fixtures this host cannot produce, from its
// captured AUDIT_GET reply and zero ack: a patched 48-byte reply, when the
// host's is 44 bytes, and the acks a patched kernel gives ResetMaxDepth,
// addressed to the captured ack's port id. testdata/README says which files
// are derived.
func deriveFixtures(t *testing.T, hostReply, hostAck []byte) {
	t.Helper()
	portID := binary.NativeEndian.Uint32(hostAck[12:])
	if len(hostReply) == 16+44 {
		b := binary.NativeEndian.AppendUint32(bytes.Clone(hostReply), 512)
		binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
		writeFixture(t, "get-reply-48.bin", b)
	}
	req := resetRequest()
	hdr := syscall.NlMsghdr{
		Len:   uint32(16 + len(req)),
		Type:  unix.AUDIT_SET,
		Flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK,
		Pid:   portID,
	}
	for name, code := range map[string]int32{
		"set-ack-0.bin":      0,
		"set-ack-4762.bin":   4762,
		"set-ack-eperm.bin":  -int32(syscall.EPERM),
		"set-ack-einval.bin": -int32(syscall.EINVAL),
	} {
		writeFixture(t, name, netlinkAck(code, portID, hdr, req))
	}
}

// The status in testdata/get-reply-44.bin, as `od -A d -t u4` reads it: the
// capture's host had auditing off (no auditd), the default backlog limit
// of 64 and backlog_wait_time 60*HZ with HZ=250. Rerunning -update on a
// host in another state changes the file; update these values with it.
var (
	host44 = Status{Failure: 1, BacklogLimit: 64, FeatureBitmap: 127, BacklogWaitTime: 15000}
	// get-reply-48.bin is get-reply-44.bin with backlog_max_depth 512 appended.
	host48 = Status{Failure: 1, BacklogLimit: 64, FeatureBitmap: 127, BacklogWaitTime: 15000,
		MaxDepth: 512, HasMaxDepth: true}
)

// auditRecord is an unsolicited audit record, sequence number 0, of the
// kind a socket registered as auditd receives among control replies.
func auditRecord() []byte {
	text := "audit(1732467600.123:4242): op=set backlog_max_depth=0 old=4762 auid=0 ses=1 res=1"
	b := make([]byte, 16+len(text))
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], 1305) // AUDIT_CONFIG_CHANGE
	copy(b[16:], text)
	return b
}

// getAck is the kernel's ack to an AUDIT_GET (which has no payload) with
// the given error code.
func getAck(t *testing.T, code int32) []byte {
	t.Helper()
	captured := readFixture(t, "get-ack-0.bin")
	hdr := syscall.NlMsghdr{Len: 16, Type: unix.AUDIT_GET, Flags: syscall.NLM_F_REQUEST}
	return netlinkAck(code, binary.NativeEndian.Uint32(captured[12:]), hdr, nil)
}

// withPayload returns the datagram b with its payload cut or padded to n
// bytes and nlmsg_len to match.
func withPayload(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	out := make([]byte, 16+n)
	copy(out, b)
	binary.NativeEndian.PutUint32(out[0:], uint32(len(out)))
	return out
}

// checkErr reports whether err is what a case wants: nil when wantIs and
// wantMsg are empty, else an error matching every wantIs and starting with
// wantMsg.
func checkErr(t *testing.T, err error, wantIs []error, wantMsg string) {
	t.Helper()
	if len(wantIs) == 0 && wantMsg == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got no error, want one starting %q", wantMsg)
	}
	for _, target := range wantIs {
		if !errors.Is(err, target) {
			t.Errorf("error %q is not %v", err, target)
		}
	}
	if !strings.HasPrefix(err.Error(), wantMsg) {
		t.Errorf("error %q, want it to start %q", err, wantMsg)
	}
}

func TestStatus(t *testing.T) {
	many := make([]step, maxSkipped+1)
	for i := range many {
		many[i] = step{raw: auditRecord(), seq0: true}
	}
	for _, tc := range []struct {
		name    string
		steps   []step
		steps2  func(t *testing.T) []step // steps that need t to build
		want    Status
		wantIs  []error
		wantMsg string
	}{
		{name: "44-byte reply, unpatched kernel (captured)",
			steps: []step{{file: "get-reply-44.bin"}}, want: host44},
		{name: "48-byte reply, patched kernel",
			steps: []step{{file: "get-reply-48.bin"}}, want: host48},
		{name: "52-byte reply, future kernel",
			steps2: func(t *testing.T) []step {
				b := withPayload(t, readFixture(t, "get-reply-48.bin"), 52)
				binary.NativeEndian.PutUint32(b[16+48:], 0xdeadbeef)
				return []step{{raw: b}}
			}, want: host48},
		{name: "32-byte reply, oldest layout",
			steps2: func(t *testing.T) []step {
				return []step{{raw: withPayload(t, readFixture(t, "get-reply-44.bin"), 32)}}
			}, want: Status{Failure: 1, BacklogLimit: 64}},
		{name: "reply too short",
			steps2: func(t *testing.T) []step {
				return []step{{raw: withPayload(t, readFixture(t, "get-reply-44.bin"), 28)}}
			},
			wantIs: []error{io.ErrUnexpectedEOF}, wantMsg: "audit status: audit status reply is 28 bytes, want at least 32"},
		{name: "zero ack, then the reply (captured)",
			steps: []step{{file: "get-ack-0.bin"}, {file: "get-reply-44.bin"}}, want: host44},
		{name: "late reply to an earlier request skipped",
			steps: []step{{file: "get-reply-48.bin", seq: -1}, {file: "get-reply-44.bin"}}, want: host44},
		{name: "unsolicited audit record skipped",
			steps: []step{{raw: auditRecord(), seq0: true}, {file: "get-reply-48.bin"}}, want: host48},
		{name: "zero ack and the reply in one datagram",
			steps2: func(t *testing.T) []step {
				ack, reply := readFixture(t, "get-ack-0.bin"), readFixture(t, "get-reply-44.bin")
				// Both carry the request's sequence number: the fake
				// stamps the first message, this is the second.
				binary.NativeEndian.PutUint32(reply[8:], 42)
				return []step{{raw: append(ack, reply...)}}
			}, want: host44},
		{name: "datagram shorter than a netlink header",
			steps:   []step{{raw: make([]byte, 15), seq0: true}},
			wantMsg: "audit status: receive: 15-byte datagram is shorter than a netlink header"},
		{name: "EPERM ack",
			steps2: func(t *testing.T) []step { return []step{{raw: getAck(t, -int32(syscall.EPERM))}} },
			wantIs: []error{fs.ErrPermission, syscall.EPERM}, wantMsg: "audit status: needs CAP_AUDIT_CONTROL"},
		{name: "ECONNREFUSED ack, user namespace",
			steps2: func(t *testing.T) []step { return []step{{raw: getAck(t, -int32(syscall.ECONNREFUSED))}} },
			wantIs: []error{syscall.ECONNREFUSED}, wantMsg: "audit status: audit netlink answers only in the initial user namespace"},
		{name: "positive ack",
			steps2:  func(t *testing.T) []step { return []step{{raw: getAck(t, 7)}} },
			wantMsg: "audit status: unexpected positive ack 7"},
		{name: "ack too short for its code",
			steps2: func(t *testing.T) []step {
				return []step{{raw: withPayload(t, readFixture(t, "get-ack-0.bin"), 2)}}
			},
			wantIs: []error{io.ErrUnexpectedEOF}, wantMsg: "audit status: netlink ack is 2 bytes"},
		{name: "receive error",
			steps:  []step{{err: syscall.ENOBUFS}},
			wantIs: []error{syscall.ENOBUFS}, wantMsg: "audit status: receive: no buffer space available"},
		{name: "silent kernel",
			wantIs: []error{os.ErrDeadlineExceeded}, wantMsg: "audit status: no reply from the kernel within 2s"},
		{name: "only unrelated messages",
			steps:   many,
			wantMsg: "audit status: no reply among 64 unrelated messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := tc.steps
			if tc.steps2 != nil {
				steps = tc.steps2(t)
			}
			c, f := newFakeClient(t, steps...)
			got, err := c.Status()
			checkErr(t, err, tc.wantIs, tc.wantMsg)
			if got != tc.want {
				t.Errorf("Status()\n got %+v\nwant %+v", got, tc.want)
			}
			checkDeadlines(t, f)
			if len(f.steps) != 0 {
				t.Errorf("%d scripted datagrams left unread", len(f.steps))
			}
		})
	}
}

// TestStatusRequest checks that Status sends a bare AUDIT_GET and nothing
// else: no payload, no ack requested.
func TestStatusRequest(t *testing.T) {
	c, f := newFakeClient(t, step{file: "get-reply-44.bin"})
	if _, err := c.Status(); err != nil {
		t.Fatal(err)
	}
	sent := f.sentMessages()
	if len(sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sent))
	}
	m := sent[0]
	if m.Header.Type != 1000 || m.Header.Flags != syscall.NLM_F_REQUEST || len(m.Data) != 0 {
		t.Errorf("sent type %d flags %#x with %d payload bytes, want AUDIT_GET (1000), NLM_F_REQUEST, none",
			m.Header.Type, m.Header.Flags, len(m.Data))
	}
}

// TestSequence checks the header of every request: a new sequence number
// each, and the socket's port id.
func TestSequence(t *testing.T) {
	c, f := newFakeClient(t, step{file: "get-reply-44.bin"}, step{file: "set-ack-0.bin"}, step{file: "get-reply-48.bin"})
	if _, err := c.Status(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ResetMaxDepth(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(); err != nil {
		t.Fatal(err)
	}
	for i, m := range f.sentMessages() {
		if want := uint32(42 + i); m.Header.Seq != want || m.Header.Pid != testPort {
			t.Errorf("request %d: seq %d, port id %d; want %d, %d", i, m.Header.Seq, m.Header.Pid, want, testPort)
		}
	}
}

// checkDeadlines checks that every receive of a request waited until the
// same deadline: replyTimeout after the send, on the client's clock.
func checkDeadlines(t *testing.T, f *fakeKernel) {
	t.Helper()
	want := testNow.Add(replyTimeout)
	for i, d := range f.deadlines {
		if !d.Equal(want) {
			t.Errorf("receive %d waited until %v, want %v (the send's time + %v)", i, d, want, replyTimeout)
		}
	}
}

// TestReplyDeadline checks that a kernel that stays silent fails the call
// at the reply deadline, which stays the same however many unrelated
// datagrams come first.
func TestReplyDeadline(t *testing.T) {
	c, f := newFakeClient(t, step{raw: auditRecord(), seq0: true}, step{file: "set-ack-0.bin", seq: -1})
	_, err := c.ResetMaxDepth()
	checkErr(t, err, []error{os.ErrDeadlineExceeded}, "reset backlog_max_depth: no reply from the kernel within 2s")
	if len(f.deadlines) != 3 {
		t.Errorf("received %d times, want 3 (two datagrams, then the deadline)", len(f.deadlines))
	}
	checkDeadlines(t, f)
}

func TestResetMaxDepth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		steps   []step
		want    uint32
		wantIs  []error
		wantMsg string
	}{
		{name: "old peak from the positive ack",
			steps: []step{{file: "set-ack-4762.bin"}}, want: 4762},
		{name: "zero ack",
			steps: []step{{file: "set-ack-0.bin"}}, want: 0},
		{name: "EPERM ack",
			steps:  []step{{file: "set-ack-eperm.bin"}},
			wantIs: []error{fs.ErrPermission, syscall.EPERM}, wantMsg: "reset backlog_max_depth: needs CAP_AUDIT_CONTROL"},
		{name: "EINVAL ack",
			steps:  []step{{file: "set-ack-einval.bin"}},
			wantIs: []error{syscall.EINVAL}, wantMsg: "reset backlog_max_depth: invalid argument"},
		{name: "stale ack with the wrong sequence, then ours",
			steps: []step{{file: "set-ack-eperm.bin", seq: -1}, {file: "set-ack-4762.bin"}}, want: 4762},
		{name: "unrelated messages interleaved",
			steps: []step{{raw: auditRecord(), seq0: true}, {file: "get-reply-48.bin", seq: -1}, {file: "set-ack-4762.bin"}},
			want:  4762},
		{name: "receive error",
			steps:  []step{{err: syscall.ENOBUFS}},
			wantIs: []error{syscall.ENOBUFS}, wantMsg: "reset backlog_max_depth: receive: no buffer space available"},
		{name: "reply that is not an ack",
			steps:   []step{{file: "get-reply-44.bin"}},
			wantMsg: "reset backlog_max_depth: unexpected reply of type 1000, want an ack"},
		{name: "silent kernel",
			wantIs: []error{os.ErrDeadlineExceeded}, wantMsg: "reset backlog_max_depth: no reply from the kernel within 2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f := newFakeClient(t, tc.steps...)
			got, err := c.ResetMaxDepth()
			checkErr(t, err, tc.wantIs, tc.wantMsg)
			if got != tc.want {
				t.Errorf("ResetMaxDepth() = %d, want %d", got, tc.want)
			}
			checkDeadlines(t, f)
			if len(f.steps) != 0 {
				t.Errorf("%d scripted datagrams left unread", len(f.steps))
			}
		})
	}
}

// TestResetMaxDepthRequest checks the one AUDIT_SET the package sends: mask
// 0x0100 and nothing else set, with an ack requested.
func TestResetMaxDepthRequest(t *testing.T) {
	c, f := newFakeClient(t, step{file: "set-ack-4762.bin"})
	if _, err := c.ResetMaxDepth(); err != nil {
		t.Fatal(err)
	}
	sent := f.sentMessages()
	if len(sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sent))
	}
	m := sent[0]
	if m.Header.Type != 1001 || m.Header.Flags != syscall.NLM_F_REQUEST|syscall.NLM_F_ACK {
		t.Errorf("sent type %d flags %#x, want AUDIT_SET (1001), NLM_F_REQUEST|NLM_F_ACK", m.Header.Type, m.Header.Flags)
	}
	if len(m.Data) != 48 {
		t.Fatalf("sent a %d-byte payload, want 48 (struct audit_status with backlog_max_depth)", len(m.Data))
	}
	if mask := binary.NativeEndian.Uint32(m.Data); mask != 0x0100 {
		t.Errorf("sent mask %#x, want 0x0100 alone", mask)
	}
	if rest := m.Data[4:]; !bytes.Equal(rest, make([]byte, len(rest))) {
		t.Errorf("sent non-zero fields after the mask: % x", rest)
	}
}

func TestSendError(t *testing.T) {
	c, f := newFakeClient(t)
	f.sendErr = syscall.EPERM
	_, err := c.Status()
	checkErr(t, err, []error{fs.ErrPermission}, "audit status: needs CAP_AUDIT_CONTROL in the initial PID namespace: send: operation not permitted")
	_, err = c.ResetMaxDepth()
	checkErr(t, err, []error{fs.ErrPermission}, "reset backlog_max_depth: needs CAP_AUDIT_CONTROL")
}

func TestClose(t *testing.T) {
	c, f := newFakeClient(t, step{file: "get-reply-44.bin"})
	for i := range 2 {
		if err := c.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if f.closes != 1 {
		t.Errorf("socket closed %d times, want 1", f.closes)
	}
	_, err := c.Status()
	checkErr(t, err, []error{fs.ErrClosed}, "audit status: file already closed")
	_, err = c.ResetMaxDepth()
	checkErr(t, err, []error{fs.ErrClosed}, "reset backlog_max_depth: file already closed")
	if len(f.sent) != 0 {
		t.Errorf("sent %d messages after Close, want 0", len(f.sent))
	}
}

func TestCloseError(t *testing.T) {
	c, f := newFakeClient(t)
	f.closeErr = syscall.EBADF
	err := c.Close()
	checkErr(t, err, []error{syscall.EBADF}, "close audit netlink socket: bad file descriptor")
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if f.closes != 1 {
		t.Errorf("socket closed %d times, want 1", f.closes)
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		err     error
		wantIs  []error
		wantMsg string
	}{
		{syscall.EPERM, []error{fs.ErrPermission},
			"op: needs CAP_AUDIT_CONTROL in the initial PID namespace: operation not permitted"},
		{syscall.EACCES, []error{fs.ErrPermission},
			"op: needs CAP_AUDIT_CONTROL, and no LSM policy denying audit netlink: permission denied"},
		{syscall.ECONNREFUSED, []error{syscall.ECONNREFUSED},
			"op: audit netlink answers only in the initial user namespace"},
		{syscall.EPROTONOSUPPORT, []error{syscall.EPROTONOSUPPORT},
			"op: kernel has no audit support (built without CONFIG_AUDIT, or booted with audit=0)"},
		{syscall.ENOMEM, []error{syscall.ENOMEM}, "op: cannot allocate memory"},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			checkErr(t, explain("op", tc.err), tc.wantIs, tc.wantMsg)
		})
	}
}

func TestParseMessages(t *testing.T) {
	reply := readFixture(t, "get-reply-44.bin")
	ack := readFixture(t, "get-ack-0.bin")
	for _, tc := range []struct {
		name      string
		b         []byte
		wantTypes []uint16
		wantLens  []int
		wantErr   bool
	}{
		{name: "one reply", b: reply, wantTypes: []uint16{1000}, wantLens: []int{44}},
		{name: "two messages in one datagram", b: append(bytes.Clone(ack), reply...),
			wantTypes: []uint16{syscall.NLMSG_ERROR, 1000}, wantLens: []int{20, 44}},
		{name: "audit record", b: auditRecord(),
			wantTypes: []uint16{1305}, wantLens: []int{len(auditRecord()) - 16}},
		{name: "length short of the header takes the rest", b: func() []byte {
			b := auditRecord()
			binary.NativeEndian.PutUint32(b, 8)
			return b
		}(), wantTypes: []uint16{1305}, wantLens: []int{len(auditRecord()) - 16}},
		{name: "length past the end takes the rest", b: withPayload(t, reply, 44)[:40],
			wantTypes: []uint16{1000}, wantLens: []int{24}},
		{name: "shorter than a header", b: reply[:15], wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := parseMessages(nil, tc.b)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseMessages(%d bytes) = %d messages, want an error", len(tc.b), len(msgs))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != len(tc.wantTypes) {
				t.Fatalf("got %d messages, want %d", len(msgs), len(tc.wantTypes))
			}
			for i, m := range msgs {
				if m.Header.Type != tc.wantTypes[i] || len(m.Data) != tc.wantLens[i] {
					t.Errorf("message %d: type %d, %d payload bytes; want type %d, %d bytes",
						i, m.Header.Type, len(m.Data), tc.wantTypes[i], tc.wantLens[i])
				}
			}
		})
	}
}
