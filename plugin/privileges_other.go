//go:build !linux

package main

import "errors"

// dropPrivileges is only implemented on Linux, the only system with audit
// netlink.
func dropPrivileges() error { return errors.ErrUnsupported }
