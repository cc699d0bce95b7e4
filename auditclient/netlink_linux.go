package auditclient

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A transport carries netlink datagrams between a Client and the kernel:
// a socket for Open, a scripted kernel in tests.
type transport interface {
	// send sends b, one or more complete netlink messages, as one datagram.
	send(b []byte) error
	// receive reads one datagram from the kernel into b and returns its
	// length, waiting until deadline at most; past it, it fails with an
	// error matching os.ErrDeadlineExceeded.
	receive(b []byte, deadline time.Time) (int, error)
	// portID is the socket's netlink port id, the nlmsg_pid of requests.
	portID() uint32
	close() error
}

// socket is a NETLINK_AUDIT socket in non-blocking mode, registered with
// the Go runtime's network poller through an *os.File. A goroutine waiting
// for a reply is parked on the poller (epoll) like one waiting on a TCP
// connection: its thread goes on to other work or to sleep, the reply
// wakes it without polling, and the read deadline bounds the wait.
//
// Sending stays an ordinary blocking system call whatever the socket's
// mode: the kernel handles an audit request inside sendmsg, and while the
// backlog is over its limit it makes the sender sleep there
// (uninterruptibly, up to backlog_wait_time). The runtime sees a goroutine
// in a system call then, and lets other goroutines run on other threads;
// only the goroutine calling the Client waits.
type socket struct {
	f    *os.File
	rc   syscall.RawConn
	port uint32
	raw  io.Writer     // when not nil, gets a copy of every datagram read
	to   unix.Sockaddr // where send sends: the kernel; nil for a connected socket (tests)

	// The functions RawConn runs, made once so that a call allocates
	// nothing, and their arguments and results.
	sendFn, recvFn func(fd uintptr) bool
	wbuf, rbuf     []byte
	n              int
	err            error
	from           unix.RawSockaddrNetlink
	fromLen        uint32
}

// openSocket opens and binds a NETLINK_AUDIT socket. It joins no multicast
// group. raw, when not nil, is fed a copy of every datagram read.
func openSocket(raw io.Writer) (*socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	// Port id 0: the kernel picks one (the process id for the first
	// netlink socket of a process).
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		unix.Close(fd)
		return nil, fmt.Errorf("getsockname: address of type %T, want a netlink one", sa)
	}
	s, err := newSocket(fd, "audit netlink", raw)
	if err != nil {
		return nil, err
	}
	// The kernel's address, port 0. Each socket has its own: Sendto
	// writes its raw form into it.
	s.port, s.to = nl.Pid, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	return s, nil
}

// newSocket wraps fd, a datagram socket in non-blocking mode, for the
// runtime's poller. It takes fd over: on failure it is closed.
func newSocket(fd int, name string, raw io.Writer) (*socket, error) {
	// os.NewFile registers a descriptor that is already non-blocking
	// with the poller.
	f := os.NewFile(uintptr(fd), name)
	// A descriptor the poller did not take has no deadlines: find out
	// now rather than at the first wait.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("register with the runtime poller: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("register with the runtime poller: %w", err)
	}
	s := &socket{f: f, rc: rc, raw: raw}
	s.sendFn, s.recvFn = s.sendOnce, s.recvOnce
	return s, nil
}

func (s *socket) portID() uint32 { return s.port }

func (s *socket) send(b []byte) error {
	s.wbuf, s.err = b, nil
	err := s.rc.Write(s.sendFn)
	s.wbuf = nil
	if err != nil {
		return err
	}
	return s.err
}

// sendOnce sends wbuf to the kernel with sendto(2) to port 0, as libaudit
// does (a write(2) on the unconnected socket would go there too): audit
// rules on sendto, and tools that trace it, then see the plugin's requests
// as they see every other audit client's. It is a system call the runtime
// may hand the thread's P away from: see the socket doc.
func (s *socket) sendOnce(fd uintptr) bool {
	for {
		err := unix.Sendto(int(fd), s.wbuf, 0, s.to)
		n := len(s.wbuf) // a datagram goes whole or not at all
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false // the poller waits until it can be sent
		case err != nil:
			s.err = err
		case n != len(s.wbuf):
			s.err = fmt.Errorf("sent %d of %d bytes", n, len(s.wbuf))
		}
		return true
	}
}

func (s *socket) receive(b []byte, deadline time.Time) (int, error) {
	if err := s.f.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	for {
		s.rbuf, s.n, s.err = b, 0, nil
		err := s.rc.Read(s.recvFn)
		s.rbuf = nil
		if err == nil {
			err = s.err
		}
		if err != nil {
			return 0, err
		}
		n := s.n
		if n > len(b) {
			// Larger than any control reply: not for us. MSG_TRUNC
			// made recvfrom report its full length.
			continue
		}
		if s.fromLen >= unix.SizeofSockaddrNetlink && s.from.Family == unix.AF_NETLINK && s.from.Pid != 0 {
			// Sent by another process, not the kernel.
			continue
		}
		// A deadline left set would wake the poller when it passes.
		if err := s.f.SetReadDeadline(time.Time{}); err != nil {
			return 0, err
		}
		if s.raw != nil {
			if _, err := s.raw.Write(b[:n]); err != nil {
				return 0, fmt.Errorf("copy of the datagram read: %w", err)
			}
		}
		return n, nil
	}
}

// recvOnce reads one datagram into rbuf if one is queued. It never blocks
// (the socket is non-blocking), so it makes the system call without the
// runtime's accounting for blocking calls; when nothing is queued it
// returns false and RawConn parks the goroutine on the poller.
func (s *socket) recvOnce(fd uintptr) bool {
	var p unsafe.Pointer
	if len(s.rbuf) > 0 {
		p = unsafe.Pointer(&s.rbuf[0])
	}
	for {
		s.fromLen = unix.SizeofSockaddrNetlink
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(p), uintptr(len(s.rbuf)),
			unix.MSG_TRUNC, uintptr(unsafe.Pointer(&s.from)), uintptr(unsafe.Pointer(&s.fromLen)))
		switch e {
		case 0:
			s.n = int(r)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.err = e
		}
		return true
	}
}

func (s *socket) close() error {
	err := s.f.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
