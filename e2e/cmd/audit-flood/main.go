//go:build linux

// Command audit-flood is an e2e guest tool: for -dur it makes audit records
// as fast as one process can, then prints how many events it made.
//
//   - -mode user: AUDIT_USER messages over netlink, -per of them in each
//     sendmsg (audit-burst's way, without an end). One record each. The
//     kernel never drops them: past the backlog limit it makes the sender
//     sleep after its sendmsg until kauditd has room again.
//   - -mode syscall: getpid in a busy loop. The driver loads a rule that
//     audits getpid, so each call is one event of three records (SYSCALL,
//     PROCTITLE, EOE); past the limit the kernel makes the caller wait.
//
// Either way the flood runs exactly as fast as the kernel lets it, which,
// once the backlog is full, is as fast as auditd takes records. It stops
// after -dur or at SIGINT or SIGTERM, whichever comes first.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
)

func main() {
	mode := flag.String("mode", "user", "user (AUDIT_USER messages) or syscall (audited getpid calls)")
	dur := flag.Duration("dur", 5*time.Second, "how long to flood at most (SIGINT or SIGTERM stops it sooner)")
	per := flag.Int("per", 8, "messages per sendmsg (-mode user)")
	tag := flag.String("tag", "flood", "tag written into every message (-mode user)")
	flag.Parse()
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }() // ends at the first signal
	n, took, err := run(*mode, *dur, *per, *tag, &stop)
	if err != nil {
		fmt.Fprintf(os.Stderr, "audit-flood: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("audit-flood mode=%s events=%d took_us=%d\n", *mode, n, took.Microseconds())
}

// run floods until dur has passed or stop is set, and returns the events
// made and the time they took.
func run(mode string, dur time.Duration, per int, tag string, stop *atomic.Bool) (int, time.Duration, error) {
	start := time.Now()
	end := start.Add(dur)
	n := 0
	switch mode {
	case "user":
		c, err := auditnl.Open()
		if err != nil {
			return 0, 0, err
		}
		defer c.Close()
		for !stop.Load() && time.Now().Before(end) {
			if err := c.SendUser(tag, per, per); err != nil {
				return n, time.Since(start), err
			}
			n += per
		}
	case "syscall":
		for !stop.Load() && time.Now().Before(end) {
			for range 64 {
				unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
			}
			n += 64
		}
	default:
		return 0, 0, fmt.Errorf("unknown -mode %q: want user or syscall", mode)
	}
	return n, time.Since(start), nil
}
