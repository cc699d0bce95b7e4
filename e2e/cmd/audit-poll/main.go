//go:build linux

// Command audit-poll is an e2e guest tool standing for a classic monitoring
// agent: every -every it reads AUDIT_GET and prints the instantaneous
// backlog, until it is killed. This is what the plugin's kernel method is
// compared against.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
)

func main() {
	every := 1 * time.Second
	if len(os.Args) > 1 {
		d, err := time.ParseDuration(os.Args[1])
		if err != nil {
			fmt.Fprintf(os.Stderr, "audit-poll: usage: audit-poll [PERIOD]: %v\n", err)
			os.Exit(2)
		}
		every = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, every); err != nil {
		fmt.Fprintf(os.Stderr, "audit-poll: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, every time.Duration) error {
	c, err := auditnl.Open()
	if err != nil {
		return err
	}
	defer c.Close()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s, err := c.Status()
		if err != nil {
			return err
		}
		fmt.Printf("poll ms=%d backlog=%d\n", time.Now().UnixMilli(), s.Backlog)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
