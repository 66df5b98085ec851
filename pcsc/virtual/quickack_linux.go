package virtual

import (
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge the next segment at once. The vpcd
// driver writes a frame's 2-byte length and its payload separately; with
// Nagle on its side, the payload waits for our ACK, which Linux delays by
// up to 40 ms. Quick ACK mode lapses on its own, so it is set again before
// each frame: one APDU through pcscd goes from ~50 ms to well under 1 ms.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
