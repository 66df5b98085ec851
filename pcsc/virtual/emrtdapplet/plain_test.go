package emrtdapplet

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// The chip takes a terminal's plain ECDSA signature (Terminal
// Authentication, CV certificates) only in the encoding of BSI TR-03111
// §5.2.1: r and s each of the order's length.
func TestVerifyPlainLength(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("ID_IC r_IC Comp(PK_PCD)")
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{32, 33} {
		sig := make([]byte, 2*n)
		r.FillBytes(sig[:n])
		s.FillBytes(sig[n:])
		if got := verifyPlain(elliptic.P256(), point{k.X, k.Y}, crypto.SHA256, msg, sig); got != (n == 32) {
			t.Errorf("r ‖ s of %d bytes each: verified %v", n, got)
		}
	}
}
