package emrtd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// A plain ECDSA signature is r ‖ s, each an octet string of the order's
// length (BSI TR-03111 §5.2.1). Another split of the same integers — r and
// s with a leading zero, or a short r shifting s — is not that encoding and
// must not verify: the bytes a receiver of an ActiveProof or a CV
// certificate holds are then the only ones for that signature.
func TestPlainSignatureLength(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("challenge")
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	point := encodePoint(k.X, k.Y, 32)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	if !verifyPlain(elliptic.P256(), point, crypto.SHA256, msg, sig) {
		t.Fatal("plain signature of 64 bytes refused")
	}
	long := make([]byte, 66)
	r.FillBytes(long[:33])
	s.FillBytes(long[33:])
	if verifyPlain(elliptic.P256(), point, crypto.SHA256, msg, long) {
		t.Error("r ‖ s of 33 bytes each accepted")
	}
}
