package agent

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestParseAttributes reads what esign.Prepare writes: the agent must find
// the document's digest, the time and the certificate in it.
func TestParseAttributes(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte("hello")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := esign.Prepare(doc, card.SignCert, at)
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseAttributes(p.SignedAttributes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(doc)
	if !bytes.Equal(a.messageDigest, sum[:]) || !a.signingTime.Equal(at) || !bytes.Equal(a.certHash, sha256Of(card.SignCert.Raw)) {
		t.Fatalf("parsed %+v", a)
	}
	if _, err := parseAttributes(append(p.SignedAttributes, 0)); err == nil {
		t.Fatal("trailing data accepted")
	}
}
