//go:build linux

// Command audit-burst is an e2e guest tool: it sends -n AUDIT_USER messages
// to the kernel over netlink, -per of them in each sendmsg, as fast as the
// kernel takes them. Each message becomes one queued audit record, so a burst
// while auditd is stopped raises the backlog by about -n.
//
// With -rt it runs at real-time priority (SCHED_FIFO) and then reads
// AUDIT_GET itself: on a one-CPU guest kauditd, an ordinary kernel thread,
// cannot run until the tool blocks, and the kernel fills in AUDIT_GET's
// backlog while handling the request, in the tool's own system call. So
// nothing leaves the queue during the burst and the backlog printed is
// exactly the queue's depth after its last record.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
)

func main() {
	n := flag.Int("n", 1000, "number of messages")
	per := flag.Int("per", 8, "messages per sendmsg")
	tag := flag.String("tag", "burst", "tag written into every message")
	rt := flag.Bool("rt", false, "send at SCHED_FIFO priority, then print AUDIT_GET's backlog")
	flag.Parse()
	if err := run(*n, *per, *tag, *rt); err != nil {
		fmt.Fprintf(os.Stderr, "audit-burst: %v\n", err)
		os.Exit(1)
	}
}

func run(n, per int, tag string, rt bool) error {
	if rt {
		// Scheduling policy is per thread: keep this goroutine, which
		// makes every system call below, on the thread made real-time.
		runtime.LockOSThread()
		debug.SetGCPercent(-1) // a GC would block the thread, letting kauditd run
		if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 50}, 0); err != nil {
			return fmt.Errorf("SCHED_FIFO: %w", err)
		}
	}
	c, err := auditnl.Open()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendUser(tag, n, per); err != nil {
		return err
	}
	if rt {
		st, err := c.Status()
		if err != nil {
			return err
		}
		fmt.Printf("audit-burst sent=%d per=%d tag=%s backlog=%d\n", n, per, tag, st.Backlog)
		return nil
	}
	fmt.Printf("audit-burst sent=%d per=%d tag=%s\n", n, per, tag)
	return nil
}
