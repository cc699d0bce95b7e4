//go:build !unix

package emit

import "net"

// socketError is not available here: a refused UDP datagram shows only
// as an error of a later write.
func socketError(net.Conn) error { return nil }
