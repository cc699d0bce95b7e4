//go:build !linux

package main

import "errors"

// apply is only implemented on Linux, the only system with audit netlink.
func (s *sandbox) apply() (sandboxed, error) { return sandboxed{}, errors.ErrUnsupported }

// sandboxSupport: no sandbox off Linux.
func sandboxSupport() (landlockABI int, seccompFilters bool) { return 0, false }
