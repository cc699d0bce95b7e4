// Package auditnl is the e2e guest tools' own minimal client of the kernel's
// audit netlink socket: AUDIT_GET, the backlog_max_depth reset and bursts of
// AUDIT_USER messages. It is deliberately independent of the project's
// auditclient package, so the harness checks the plugin against a second,
// separately written reading of the kernel.
//
// It runs only inside the e2e guest; nothing in the host test calls it.
package auditnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaskBacklogMaxDepth is AUDIT_STATUS_BACKLOG_MAX_DEPTH, the AUDIT_SET mask
// that reads and zeroes the high-water mark on a patched kernel.
const MaskBacklogMaxDepth = 0x0100

// statusLen is sizeof(struct audit_status) with the patch; unpatched
// kernels answer AUDIT_GET with 44 bytes.
const statusLen = 48

// Status is the decoded AUDIT_GET reply.
type Status struct {
	Len          int // payload length: 44 unpatched, 48 patched
	Enabled      uint32
	Pid          uint32
	BacklogLimit uint32
	Lost         uint32
	Backlog      uint32
	MaxDepth     uint32 // backlog_max_depth; 0 when Len < 48
}

// Conn is an audit netlink socket that never registers as the audit daemon.
type Conn struct {
	fd  int
	seq uint32
	buf []byte
}

// Open opens an audit netlink socket.
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, fmt.Errorf("open audit netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind audit netlink socket: %w", err)
	}
	return &Conn{fd: fd, buf: make([]byte, 1<<16)}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// message appends one netlink message (header, payload, padding) to b.
func (c *Conn) message(b []byte, typ, flags uint16, payload []byte) []byte {
	c.seq++
	n := unix.NLMSG_HDRLEN + len(payload)
	b = binary.NativeEndian.AppendUint32(b, uint32(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, c.seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (c *Conn) send(b []byte) error {
	return unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// reply reads messages until one answers seq, and returns its type, its
// payload and, for NLMSG_ERROR, the error field.
func (c *Conn) reply(seq uint32) (typ uint16, payload []byte, errno int32, err error) {
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return 0, nil, 0, fmt.Errorf("receive: %w", err)
		}
		b := c.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return 0, nil, 0, errors.New("malformed netlink message")
			}
			t := binary.NativeEndian.Uint16(b[4:6])
			s := binary.NativeEndian.Uint32(b[8:12])
			p := b[unix.NLMSG_HDRLEN:l]
			b = b[min((l+3)&^3, len(b)):]
			if s != seq {
				continue
			}
			if t == unix.NLMSG_ERROR {
				if len(p) < 4 {
					return 0, nil, 0, errors.New("short netlink error message")
				}
				return t, p, int32(binary.NativeEndian.Uint32(p[0:4])), nil
			}
			return t, p, 0, nil
		}
	}
}

// Status sends AUDIT_GET and decodes the reply.
func (c *Conn) Status() (Status, error) {
	if err := c.send(c.message(nil, unix.AUDIT_GET, unix.NLM_F_REQUEST, nil)); err != nil {
		return Status{}, fmt.Errorf("audit get: %w", err)
	}
	typ, p, errno, err := c.reply(c.seq)
	if err != nil {
		return Status{}, fmt.Errorf("audit get: %w", err)
	}
	if typ == unix.NLMSG_ERROR {
		return Status{}, fmt.Errorf("audit get: %w", syscall.Errno(-errno))
	}
	if len(p) < 44 {
		return Status{}, fmt.Errorf("audit get: reply of %d bytes", len(p))
	}
	u := func(i int) uint32 { return binary.NativeEndian.Uint32(p[4*i:]) }
	s := Status{Len: len(p), Enabled: u(1), Pid: u(3), BacklogLimit: u(5), Lost: u(6), Backlog: u(7)}
	if len(p) >= statusLen {
		s.MaxDepth = u(11)
	}
	return s, nil
}

// ResetMaxDepth sends AUDIT_SET with mask MaskBacklogMaxDepth and returns
// the positive ack value: the mark before the reset on a patched kernel, 0
// on an unpatched one (which ignores the mask).
func (c *Conn) ResetMaxDepth() (uint32, error) {
	payload := make([]byte, statusLen)
	binary.NativeEndian.PutUint32(payload, MaskBacklogMaxDepth)
	if err := c.send(c.message(nil, unix.AUDIT_SET, unix.NLM_F_REQUEST|unix.NLM_F_ACK, payload)); err != nil {
		return 0, fmt.Errorf("reset backlog_max_depth: %w", err)
	}
	typ, _, errno, err := c.reply(c.seq)
	if err != nil {
		return 0, fmt.Errorf("reset backlog_max_depth: %w", err)
	}
	if typ != unix.NLMSG_ERROR {
		return 0, fmt.Errorf("reset backlog_max_depth: unexpected reply type %d", typ)
	}
	if errno < 0 {
		return 0, fmt.Errorf("reset backlog_max_depth: %w", syscall.Errno(-errno))
	}
	return uint32(errno), nil
}

// SendUser sends n AUDIT_USER messages, perSend of them in each sendmsg, as
// fast as the kernel takes them. Each message text names its index and tag.
func (c *Conn) SendUser(tag string, n, perSend int) error {
	var b []byte
	pending := 0
	for i := range n {
		text := fmt.Appendf(nil, "e2e tag=%s i=%d n=%d", tag, i, n)
		b = c.message(b, unix.AUDIT_USER, unix.NLM_F_REQUEST, text)
		pending++
		if pending == perSend || i == n-1 {
			if err := c.send(b); err != nil {
				return fmt.Errorf("send audit user messages: %w", err)
			}
			b, pending = b[:0], 0
		}
	}
	return nil
}
