//go:build unix

// Package vpcdlock serialises the tests, of every package and process, that
// put a virtual card into pcscd's shared vpcd reader: the driver takes one
// card per slot, and go test runs packages in parallel.
package vpcdlock

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Lock takes an flock on a file named after the vpcd port until the test
// ends (or the process dies, which drops it too).
func Lock(t testing.TB, port int) {
	t.Helper()
	name := filepath.Join(os.TempDir(), "puce-vpcd-"+strconv.Itoa(port)+".lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("lock the vpcd reader: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock the vpcd reader: %v", err)
	}
	t.Cleanup(func() { f.Close() }) // closing drops the lock
}
