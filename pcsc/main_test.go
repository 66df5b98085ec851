package pcsc

import (
	"os"
	"testing"
)

// TestMain runs the test binary as a helper process when a test re-executes
// it with PUCE_PCSC_CHILD set: pcsc-lite's client reads the daemon's socket
// path (PCSCLITE_CSOCK_NAME) once per process, so talking to a private
// pcscd takes a process of its own.
func TestMain(m *testing.M) {
	if mode := os.Getenv("PUCE_PCSC_CHILD"); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}
