package auditclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// replyTimeout bounds how long Status and ResetMaxDepth wait for the
// kernel's answer once the request is sent.
const replyTimeout = 2 * time.Second

// maxSkipped bounds how many messages that are not the awaited reply one
// request reads past before giving up.
const maxSkipped = 64

// readBufSize is the size of the buffer datagrams are read into: control
// replies and acks take under 200 bytes, and a longer datagram (an audit
// record, which a control socket should never get) is skipped.
const readBufSize = 8 << 10

// A Client is a NETLINK_AUDIT control socket. It sends only AUDIT_GET and
// the backlog_max_depth reset; it never sets the audit pid or any other
// setting, so it can run beside auditd.
//
// A Client is for one goroutine at a time: requests and their replies share
// the socket and a read buffer, so calls must not overlap.
//
// How long a call takes: the kernel handles a request inside the send, and
// while the backlog is over its limit it makes every sender sleep there, up
// to backlog_wait_time (60 s by default) or until kauditd drains the queue;
// nothing can cut that short, and the calling goroutine's thread sleeps in
// the kernel meanwhile (the Go runtime runs other goroutines on other
// threads). The wait for the answer after the send is bounded by
// replyTimeout (2 s): the goroutine waits on the runtime's poller, with no
// thread tied up, and past the timeout the call fails with an error
// matching os.ErrDeadlineExceeded; a late answer is ignored by the next
// call (it carries an old sequence number).
type Client struct {
	t       transport
	timeout time.Duration    // total wait for one reply
	now     func() time.Time // time.Now; tests fix it
	seq     uint32
	req     []byte                   // the request being sent
	buf     []byte                   // the datagram being read
	pending []syscall.NetlinkMessage // its messages not yet looked at; they alias buf
	msgs    []syscall.NetlinkMessage // the array pending slices, reused
	closed  bool
}

// Open opens a NETLINK_AUDIT control socket. It needs no privilege itself;
// Status and ResetMaxDepth need CAP_AUDIT_CONTROL. The socket joins no
// multicast group, so no audit records arrive on it.
func Open() (*Client, error) {
	return open(nil)
}

// open is Open with raw, when not nil, fed a copy of every datagram read;
// tests capture fixtures with it.
func open(raw io.Writer) (*Client, error) {
	s, err := openSocket(raw)
	if err != nil {
		return nil, explain("open audit netlink socket", err)
	}
	return newClient(s), nil
}

func newClient(t transport) *Client {
	return &Client{
		t:       t,
		timeout: replyTimeout,
		now:     time.Now,
		req:     make([]byte, 0, syscall.NLMSG_HDRLEN+statusLenMaxDepth),
		buf:     make([]byte, readBufSize),
		msgs:    make([]syscall.NetlinkMessage, 0, 4),
	}
}

// Close closes the socket. Only the first call does anything; later calls
// return nil.
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.pending = nil
	if err := c.t.close(); err != nil {
		return fmt.Errorf("close audit netlink socket: %w", err)
	}
	return nil
}

// Status asks the kernel for its audit status (AUDIT_GET). It fails with an
// error matching fs.ErrPermission without CAP_AUDIT_CONTROL.
func (c *Client) Status() (Status, error) {
	b, err := c.statusReply()
	if err != nil {
		return Status{}, err
	}
	s, err := decodeStatus(b)
	if err != nil {
		return Status{}, fmt.Errorf("audit status: %w", err)
	}
	return s, nil
}

// statusReply sends AUDIT_GET and returns the reply's payload, valid until
// the next request.
func (c *Client) statusReply() ([]byte, error) {
	const op = "audit status"
	// No NLM_F_ACK: on success the kernel answers with the AUDIT_GET reply
	// alone (sent from a kernel thread, so a little later); on failure it
	// answers with a negative ack.
	seq, deadline, err := c.send(op, syscall.NetlinkMessage{
		Header: syscall.NlMsghdr{Type: unix.AUDIT_GET, Flags: syscall.NLM_F_REQUEST},
	})
	if err != nil {
		return nil, err
	}
	for {
		m, err := c.next(op, seq, deadline)
		if err != nil {
			return nil, err
		}
		switch m.Header.Type {
		case unix.AUDIT_GET:
			return m.Data, nil
		case syscall.NLMSG_ERROR:
			code, err := ackCode(m.Data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			switch {
			case code < 0:
				return nil, explain(op, syscall.Errno(-code))
			case code > 0:
				return nil, fmt.Errorf("%s: unexpected positive ack %d", op, code)
			}
			// A zero ack: the reply itself follows.
		default:
			return nil, fmt.Errorf("%s: unexpected reply of type %d", op, m.Header.Type)
		}
	}
}

// ResetMaxDepth atomically reads and zeroes the kernel's backlog_max_depth
// and returns the value it had: the peak queue depth since the last reset.
// It sends AUDIT_SET with mask StatusBacklogMaxDepth and nothing else, and
// the patched kernel answers with the old value as a positive netlink ack
// (logging a CONFIG_CHANGE record, op=set backlog_max_depth=0 old=N).
//
// Call it only when Status reports HasMaxDepth: a kernel without the patch
// ignores the mask bit and acks 0, which is indistinguishable from a peak of 0.
// It fails with an error matching fs.ErrPermission without CAP_AUDIT_CONTROL.
func (c *Client) ResetMaxDepth() (old uint32, err error) {
	const op = "reset backlog_max_depth"
	// The kernel copies min(len, sizeof(struct audit_status)) bytes and
	// zero-fills the rest, so the patched 48-byte layout works everywhere.
	var req [statusLenMaxDepth]byte
	binary.NativeEndian.PutUint32(req[:], StatusBacklogMaxDepth)
	seq, deadline, err := c.send(op, syscall.NetlinkMessage{
		Header: syscall.NlMsghdr{Type: unix.AUDIT_SET, Flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK},
		Data:   req[:],
	})
	if err != nil {
		return 0, err
	}
	m, err := c.next(op, seq, deadline)
	if err != nil {
		return 0, err
	}
	if m.Header.Type != syscall.NLMSG_ERROR {
		return 0, fmt.Errorf("%s: unexpected reply of type %d, want an ack", op, m.Header.Type)
	}
	code, err := ackCode(m.Data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	// audit_receive_msg returns the old u32 as an int: a peak above 2^31-1
	// would read as negative, but the queue can't hold that many records.
	if code < 0 {
		return 0, explain(op, syscall.Errno(-code))
	}
	return uint32(code), nil
}

// send sends m with the next sequence number, returns that number and
// when the reply must have come.
func (c *Client) send(op string, m syscall.NetlinkMessage) (seq uint32, deadline time.Time, err error) {
	if c.closed {
		return 0, time.Time{}, fmt.Errorf("%s: %w", op, fs.ErrClosed)
	}
	c.seq++
	h := m.Header
	h.Len = uint32(syscall.NLMSG_HDRLEN + len(m.Data))
	h.Seq = c.seq
	h.Pid = c.t.portID()
	b := c.req[:0]
	b = binary.NativeEndian.AppendUint32(b, h.Len)
	b = binary.NativeEndian.AppendUint16(b, h.Type)
	b = binary.NativeEndian.AppendUint16(b, h.Flags)
	b = binary.NativeEndian.AppendUint32(b, h.Seq)
	b = binary.NativeEndian.AppendUint32(b, h.Pid)
	b = append(b, m.Data...)
	c.req = b
	// A reply still queued belongs to an earlier request.
	c.pending = nil
	// The send can block: see the Client doc (audit_receive's penalty
	// sleep is uninterruptible, so no socket option shortens it).
	if err := c.t.send(b); err != nil {
		return 0, time.Time{}, explain(op, fmt.Errorf("send: %w", err))
	}
	return h.Seq, c.now().Add(c.timeout), nil
}

// next returns the next message whose sequence number is seq, skipping
// others (such as a late reply to an earlier request that timed out). It
// waits for datagrams until deadline.
func (c *Client) next(op string, seq uint32, deadline time.Time) (syscall.NetlinkMessage, error) {
	for skipped := 0; ; {
		if len(c.pending) == 0 {
			n, err := c.t.receive(c.buf, deadline)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				return syscall.NetlinkMessage{}, fmt.Errorf("%s: no reply from the kernel within %v: %w",
					op, c.timeout, os.ErrDeadlineExceeded)
			case err != nil:
				return syscall.NetlinkMessage{}, explain(op, fmt.Errorf("receive: %w", err))
			}
			c.msgs, err = parseMessages(c.msgs[:0], c.buf[:n])
			if err != nil {
				return syscall.NetlinkMessage{}, fmt.Errorf("%s: receive: %w", op, err)
			}
			c.pending = c.msgs
			continue
		}
		m := c.pending[0]
		c.pending = c.pending[1:]
		if m.Header.Seq == seq {
			return m, nil
		}
		if skipped++; skipped > maxSkipped {
			return syscall.NetlinkMessage{}, fmt.Errorf("%s: no reply among %d unrelated messages", op, maxSkipped)
		}
	}
}

// parseMessages splits one datagram into netlink messages, appended to
// msgs; their payloads alias b. Control replies and acks carry correct
// lengths; a header whose length doesn't fit (audit event records have
// been sent with wrong ones) takes the rest of the datagram as its payload.
func parseMessages(msgs []syscall.NetlinkMessage, b []byte) ([]syscall.NetlinkMessage, error) {
	n0 := len(msgs)
	for len(b) >= syscall.NLMSG_HDRLEN {
		h := syscall.NlMsghdr{
			Len:   binary.NativeEndian.Uint32(b[0:]),
			Type:  binary.NativeEndian.Uint16(b[4:]),
			Flags: binary.NativeEndian.Uint16(b[6:]),
			Seq:   binary.NativeEndian.Uint32(b[8:]),
			Pid:   binary.NativeEndian.Uint32(b[12:]),
		}
		n := int(h.Len)
		if n < syscall.NLMSG_HDRLEN || n > len(b) {
			n = len(b)
		}
		msgs = append(msgs, syscall.NetlinkMessage{Header: h, Data: b[syscall.NLMSG_HDRLEN:n]})
		n = (n + syscall.NLMSG_ALIGNTO - 1) &^ (syscall.NLMSG_ALIGNTO - 1)
		if n >= len(b) {
			break
		}
		b = b[n:]
	}
	if len(msgs) == n0 {
		return msgs, fmt.Errorf("%d-byte datagram is shorter than a netlink header", len(b))
	}
	return msgs, nil
}

// ackCode returns the error field of an NLMSG_ERROR payload (struct
// nlmsgerr): 0 for a plain ack, -errno for a failure, and for AUDIT_SET
// resets the old value of the counter that was reset.
func ackCode(data []byte) (int32, error) {
	if len(data) < 4 {
		return 0, fmt.Errorf("netlink ack is %d bytes, too short for an error code: %w", len(data), io.ErrUnexpectedEOF)
	}
	return int32(binary.NativeEndian.Uint32(data)), nil
}

// explain wraps err with op and, for the errors a misplaced or unprivileged
// caller gets, with what to fix. The errno stays in the chain, so
// errors.Is(err, fs.ErrPermission) holds for EPERM and EACCES.
func explain(op string, err error) error {
	switch {
	case errors.Is(err, syscall.EPERM):
		// audit_netlink_ok: no CAP_AUDIT_CONTROL, or not in the initial PID
		// namespace.
		return fmt.Errorf("%s: needs CAP_AUDIT_CONTROL in the initial PID namespace: %w", op, err)
	case errors.Is(err, syscall.EACCES):
		// An LSM (SELinux, AppArmor) refusing the socket or the message.
		return fmt.Errorf("%s: needs CAP_AUDIT_CONTROL, and no LSM policy denying audit netlink: %w", op, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		// audit_netlink_ok answers ECONNREFUSED to any caller outside the
		// initial user namespace (rootless and user-namespaced containers).
		return fmt.Errorf("%s: audit netlink answers only in the initial user namespace (not in a user-namespaced container): %w", op, err)
	case errors.Is(err, syscall.EPROTONOSUPPORT):
		// netlink_create: no NETLINK_AUDIT protocol registered, since
		// audit_init never ran.
		return fmt.Errorf("%s: kernel has no audit support (built without CONFIG_AUDIT, or booted with audit=0): %w", op, err)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}
