package cardauth

import (
	"crypto/x509"
	"strconv"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/internal/decodecache"
)

// TestCachesBounded: neither cache grows past its bound, and a credential
// whose stored bytes changed is decoded again.
func TestCachesBounded(t *testing.T) {
	var f Factor
	for i := range decodecache.Max + 10 {
		f.certs.Store(strconv.Itoa(i), nil, &parsedCert{cert: &x509.Certificate{}})
		if n := f.certs.Len(); n > decodecache.Max {
			t.Fatalf("%d certificates cached", n)
		}
	}
	for i := range decodecache.Max + 10 {
		c := &identity.Credential{Kind: Kind, ID: strconv.Itoa(i), Public: []byte(`{"mode":"certificate","publicKey":"AQ=="}`)}
		if _, err := f.cardOf(c); err != nil {
			t.Fatal(err)
		}
		if n := f.cardRecords.Len(); n > decodecache.Max {
			t.Fatalf("%d cards cached", n)
		}
	}
	c := &identity.Credential{Kind: Kind, ID: "x", Public: []byte(`{"mode":"certificate","publicKey":"AQ=="}`)}
	if card, err := f.cardOf(c); err != nil || card.Mode != ModeCertificate {
		t.Fatal(card, err)
	}
	c.Public = []byte(`{"mode":"pinned-key","publicKey":"AQ=="}`)
	if card, err := f.cardOf(c); err != nil || card.Mode != ModePinnedKey {
		t.Fatalf("changed record served stale: %+v %v", card, err)
	}
	// Another kind's credential under the same ID is not a card.
	c.Kind = "totp"
	if _, err := f.cardOf(c); err == nil {
		t.Fatal("a TOTP credential decoded as a card")
	}
}
