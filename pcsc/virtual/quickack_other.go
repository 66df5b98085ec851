//go:build !linux

package virtual

import "net"

// quickAck: delayed-ACK tuning is Linux's; elsewhere nothing to do.
func quickAck(net.Conn) {}
