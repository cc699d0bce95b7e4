package auditclient

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests drive the socket transport over descriptors a test may open
// anywhere: a datagram socketpair, and NETLINK_USERSOCK sockets, which
// unprivileged processes may send to each other. What only the audit
// protocol does (the kernel's answers) is covered by host_linux_test.go.

// newPair returns a socket on one end of a non-blocking datagram
// socketpair and the other end's descriptor, both closed when the test
// ends.
func newPair(t *testing.T, raw io.Writer) (*socket, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSocket(fds[0], "test socketpair", raw)
	if err != nil {
		unix.Close(fds[1])
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.close()
		unix.Close(fds[1])
	})
	return s, fds[1]
}

// peerWrite writes b to the peer end, as the kernel would send a reply.
func peerWrite(t *testing.T, fd int, b []byte) {
	t.Helper()
	if _, err := unix.Write(fd, b); err != nil {
		t.Error(err)
	}
}

// far is a deadline no test reaches.
func far() time.Time { return time.Now().Add(time.Minute) }

func TestSocketReceiveWaits(t *testing.T) {
	s, peer := newPair(t, nil)
	// The datagram arrives while receive waits on the poller (or, on a
	// slow machine, before it starts: either way it must be returned).
	go func() {
		time.Sleep(20 * time.Millisecond)
		peerWrite(t, peer, []byte("reply"))
	}()
	b := make([]byte, readBufSize)
	n, err := s.receive(b, far())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b[:n]); got != "reply" {
		t.Errorf("received %q, want %q", got, "reply")
	}
}

func TestSocketDeadline(t *testing.T) {
	s, peer := newPair(t, nil)
	b := make([]byte, readBufSize)
	_, err := s.receive(b, time.Now().Add(20*time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("receive from a silent peer: %v, want os.ErrDeadlineExceeded", err)
	}
	// The socket still works after a timeout.
	peerWrite(t, peer, []byte("late"))
	n, err := s.receive(b, far())
	if err != nil || string(b[:n]) != "late" {
		t.Fatalf("receive after a timeout: %q, %v; want %q", b[:n], err, "late")
	}
}

// TestSocketSkipsOversized checks that a datagram longer than the buffer is
// dropped whole, not returned cut short.
func TestSocketSkipsOversized(t *testing.T) {
	s, peer := newPair(t, nil)
	peerWrite(t, peer, bytes.Repeat([]byte{'x'}, readBufSize+1))
	peerWrite(t, peer, []byte("ack"))
	b := make([]byte, readBufSize)
	n, err := s.receive(b, far())
	if err != nil || string(b[:n]) != "ack" {
		t.Fatalf("received %d bytes %.8q, %v; want %q", n, b[:n], err, "ack")
	}
}

func TestSocketRawCopy(t *testing.T) {
	var raw bytes.Buffer
	s, peer := newPair(t, &raw)
	peerWrite(t, peer, []byte("first"))
	peerWrite(t, peer, []byte("second"))
	b := make([]byte, readBufSize)
	for range 2 {
		if _, err := s.receive(b, far()); err != nil {
			t.Fatal(err)
		}
	}
	if got := raw.String(); got != "firstsecond" {
		t.Errorf("raw copy %q, want %q", got, "firstsecond")
	}
}

func TestSocketSend(t *testing.T) {
	s, peer := newPair(t, nil)
	if err := s.send([]byte("request")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, err := unix.Read(peer, b)
	if err != nil || string(b[:n]) != "request" {
		t.Fatalf("peer read %q, %v; want %q", b[:n], err, "request")
	}
}

func TestSocketCloseTwice(t *testing.T) {
	s, _ := newPair(t, nil)
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Errorf("second close: %v, want nil", err)
	}
	if err := s.send([]byte("x")); err == nil {
		t.Error("send after close succeeded")
	}
}

// TestSocketAllocs checks that a round trip allocates nothing: the plugin
// makes one every sample, forever.
func TestSocketAllocs(t *testing.T) {
	s, peer := newPair(t, nil)
	req, b, pb := []byte("request"), make([]byte, readBufSize), make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.send(req); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Read(peer, pb); err != nil {
			t.Fatal(err)
		}
		peerWrite(t, peer, req)
		if _, err := s.receive(b, far()); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per round trip, want 0", allocs)
	}
}

// openUsersock opens a bound NETLINK_USERSOCK socket and returns its
// descriptor and port id.
func openUsersock(t *testing.T) (int, uint32) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_USERSOCK)
	if err != nil {
		t.Skipf("no NETLINK_USERSOCK socket here: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd, sa.(*unix.SockaddrNetlink).Pid
}

// TestSocketSkipsOtherSenders checks that a netlink datagram from another
// process's port (not the kernel's, port 0) is not taken for a reply.
func TestSocketSkipsOtherSenders(t *testing.T) {
	fd, port := openUsersock(t)
	s, err := newSocket(fd, "test usersock", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	other, _ := openUsersock(t)
	defer unix.Close(other)
	if err := unix.Sendto(other, []byte("spoofed reply"), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: port}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, readBufSize)
	n, err := s.receive(b, time.Now().Add(50*time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("received %q, %v; want the spoofed datagram skipped and the deadline reached", b[:n], err)
	}
}
