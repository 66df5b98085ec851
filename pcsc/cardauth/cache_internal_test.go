package cardauth

import (
	"crypto/x509"
	"strconv"
	"testing"

	"github.com/puce-id/puce/identity"
)

// TestCachesBounded: neither cache grows past its bound, and a credential
// whose stored bytes changed is decoded again.
func TestCachesBounded(t *testing.T) {
	var certs certCache
	for i := range maxCachedCerts + 10 {
		certs.put(strconv.Itoa(i), &parsedCert{cert: &x509.Certificate{}})
		if n := len(certs.entries); n > maxCachedCerts {
			t.Fatalf("%d certificates cached", n)
		}
	}
	var cards cardCache
	for i := range maxCachedCards + 10 {
		c := &identity.Credential{Kind: Kind, ID: strconv.Itoa(i), Public: []byte(`{"mode":"certificate","publicKey":"AQ=="}`)}
		if _, err := cards.cardOf(c); err != nil {
			t.Fatal(err)
		}
		if n := len(cards.entries); n > maxCachedCards {
			t.Fatalf("%d cards cached", n)
		}
	}
	c := &identity.Credential{Kind: Kind, ID: "x", Public: []byte(`{"mode":"certificate","publicKey":"AQ=="}`)}
	if card, err := cards.cardOf(c); err != nil || card.Mode != ModeCertificate {
		t.Fatal(card, err)
	}
	c.Public = []byte(`{"mode":"pinned-key","publicKey":"AQ=="}`)
	if card, err := cards.cardOf(c); err != nil || card.Mode != ModePinnedKey {
		t.Fatalf("changed record served stale: %+v %v", card, err)
	}
	// Another kind's credential under the same ID is not a card.
	c.Kind = "totp"
	if _, err := cards.cardOf(c); err == nil {
		t.Fatal("a TOTP credential decoded as a card")
	}
}
