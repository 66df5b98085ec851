package esign

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// TestArchiveIndexBinds: an unsigned attribute slipped in under an archive
// timestamp, or a certificate removed from under it, is refused: the
// token's hash index no longer describes what it protects.
func TestArchiveIndexBinds(t *testing.T) {
	f := newTimestampFixture(t)
	p7s, _, err := Timestamped(context.Background(), f.sign(t), f.tsa)
	if err != nil {
		t.Fatal(err)
	}
	lta, _, err := ArchiveTimestamped(context.Background(), f.doc, p7s, f.tsa)
	if err != nil {
		t.Fatal(err)
	}
	opts := TimestampOptions{Roots: f.roots}
	if ts, _, err := verifyArchiveTimestamps(f.doc, lta, opts); err != nil || ts == nil {
		t.Fatalf("untouched: %v", err)
	}
	parts, err := splitSignedData(lta)
	if err != nil {
		t.Fatal(err)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidContentType)
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddASN1NULL() })
	})
	parts.unsigned = append([][]byte{b.BytesOrPanic()}, parts.unsigned...)
	slipped, _ := parts.bytes()
	if _, _, err := verifyArchiveTimestamps(f.doc, slipped, opts); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("an attribute slipped in: %v", err)
	}
	parts, _ = splitSignedData(lta)
	parts.certs = parts.certs[:1]
	removed, _ := parts.bytes()
	if _, _, err := verifyArchiveTimestamps(f.doc, removed, opts); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("a certificate removed: %v", err)
	}
	if _, _, err := verifyArchiveTimestamps([]byte("other"), lta, opts); err == nil {
		t.Fatal("another document")
	}
}
