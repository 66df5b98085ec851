package esign

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"testing"
)

// TestTimestampOfAnotherSignature: a signature timestamp is bound to its
// signature value; one taken from another signature (valid in itself) is
// refused with ErrTimestamp.
func TestTimestampOfAnotherSignature(t *testing.T) {
	f := newTimestampFixture(t)
	p7sA, p7sB := f.sign(t), f.sign(t)
	sdB, err := parse(p7sB)
	if err != nil {
		t.Fatal(err)
	}
	sumB := sha256.Sum256(sdB.signature)
	tokenB, _, err := f.tsa.Stamp(t.Context(), crypto.SHA256, sumB[:])
	if err != nil {
		t.Fatal(err)
	}
	// B's token in A's signature.
	swapped, err := withUnsignedAttribute(p7sA, oidSignatureTimeStampToken, tokenB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(f.doc, swapped, VerifyOptions{Roots: f.roots, TSARoots: f.roots}); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("another signature's timestamp: %v, want ErrTimestamp", err)
	}
	// And where it belongs, it verifies.
	right, err := withUnsignedAttribute(p7sB, oidSignatureTimeStampToken, tokenB)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(f.doc, right, VerifyOptions{Roots: f.roots, TSARoots: f.roots}); err != nil || rep.Level != "B-T" {
		t.Fatalf("its own timestamp: %+v, %v", rep, err)
	}
}
