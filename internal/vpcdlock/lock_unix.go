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
	"time"
)

// Wait is how long Lock waits for another test to release the reader.
const Wait = 3 * time.Minute

// Lock takes an flock on a file named after the vpcd port until the test
// ends (or the process dies, which drops it too).
func Lock(t testing.TB, port int) {
	t.Helper()
	name := filepath.Join(os.TempDir(), "puce-vpcd-"+strconv.Itoa(port)+".lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("lock the vpcd reader: %v", err)
	}
	// Poll rather than block, so that a test attaching two cards at once
	// (the second waits for the first, which waits for the test to end)
	// fails with a reason instead of hanging.
	deadline := time.Now().Add(Wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("lock the vpcd reader: %v (held for %s by another test; a test may hold one card in the reader at a time)", err, Wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { f.Close() }) // closing drops the lock
}
