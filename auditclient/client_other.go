//go:build !linux

package auditclient

import (
	"errors"
	"fmt"
)

// A Client is a NETLINK_AUDIT control socket. Audit netlink exists only on
// Linux; elsewhere Open fails with errors.ErrUnsupported.
//
// A Client is for one goroutine at a time.
type Client struct{}

// Open fails with errors.ErrUnsupported: audit netlink is Linux only.
func Open() (*Client, error) {
	return nil, fmt.Errorf("open audit netlink socket: %w", errors.ErrUnsupported)
}

// Close does nothing and returns nil.
func (c *Client) Close() error { return nil }

// Status fails with errors.ErrUnsupported.
func (c *Client) Status() (Status, error) {
	return Status{}, fmt.Errorf("audit status: %w", errors.ErrUnsupported)
}

// ResetMaxDepth fails with errors.ErrUnsupported.
func (c *Client) ResetMaxDepth() (old uint32, err error) {
	return 0, fmt.Errorf("reset backlog_max_depth: %w", errors.ErrUnsupported)
}
