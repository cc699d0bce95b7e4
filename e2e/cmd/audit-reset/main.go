//go:build linux

// Command audit-reset is an e2e guest tool standing for "another tool" that
// resets the kernel's backlog_max_depth: it sends AUDIT_SET with mask 0x0100
// exactly once and prints the ack value (the mark before the reset on a
// patched kernel, 0 on an unpatched one).
package main

import (
	"fmt"
	"os"

	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "audit-reset: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	c, err := auditnl.Open()
	if err != nil {
		return err
	}
	defer c.Close()
	old, err := c.ResetMaxDepth()
	if err != nil {
		return err
	}
	fmt.Printf("audit-reset old=%d\n", old)
	return nil
}
