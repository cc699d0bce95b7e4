//go:build linux

// Command audit-burst is an e2e guest tool: it sends -n AUDIT_USER messages
// to the kernel over netlink, -per of them in each sendmsg, as fast as the
// kernel takes them. Each message becomes one queued audit record, so a burst
// while auditd is stopped raises the backlog by about -n.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
)

func main() {
	n := flag.Int("n", 1000, "number of messages")
	per := flag.Int("per", 8, "messages per sendmsg")
	tag := flag.String("tag", "burst", "tag written into every message")
	flag.Parse()
	if err := run(*n, *per, *tag); err != nil {
		fmt.Fprintf(os.Stderr, "audit-burst: %v\n", err)
		os.Exit(1)
	}
}

func run(n, per int, tag string) error {
	c, err := auditnl.Open()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendUser(tag, n, per); err != nil {
		return err
	}
	fmt.Printf("audit-burst sent=%d per=%d tag=%s\n", n, per, tag)
	return nil
}
