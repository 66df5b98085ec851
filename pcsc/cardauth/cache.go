package cardauth

import (
	"bytes"
	"crypto/x509"
	"maps"
	"sync"

	"github.com/puce-id/puce/identity"
)

// A login spends more on decoding than on checking: the token's
// certificate (base64 and DER), its claims (distinguished names as text)
// and the stored card record (JSON with base64 inside) cost together about
// half of a card Finish without OCSP. All three are pure functions of
// bytes that repeat from one login of a card to the next, so a Factor
// remembers their results, keyed by those exact bytes: a different
// certificate or a changed record is a different key, never a stale
// answer. Nothing a check decides is cached here: validity period, key
// usage, the chain (chainCache, which re-checks dates), the signature and
// revocation run at every login on the parsed certificate.

// maxCachedCerts and maxCachedCards bound the caches; when one is full it
// starts over, which costs one parse per card, never a wrong answer.
const (
	maxCachedCerts = 4096
	maxCachedCards = 4096
)

// parsedCert is what a token's certificate decodes to. It is shared
// between logins and never modified: claims is cloned before use.
type parsedCert struct {
	cert          *x509.Certificate
	claims        map[string]string
	certID, keyID string // credentialID of each mode
}

// certCache maps the token's unverifiedCertificate text (standard base64
// of the DER) to its parse. Only certificates of a login that succeeded
// are added, so a client sending certificates of its own cannot fill it
// with anything but the cards enrolled here.
type certCache struct {
	mu      sync.Mutex
	entries map[string]*parsedCert
}

func (c *certCache) get(b64 string) *parsedCert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[b64]
}

func (c *certCache) put(b64 string, p *parsedCert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedCerts {
		c.entries = make(map[string]*parsedCert)
	}
	c.entries[b64] = p
}

// newParsedCert derives what a login needs from cert.
func newParsedCert(cert *x509.Certificate) *parsedCert {
	return &parsedCert{cert: cert, claims: Claims(cert),
		certID: credentialID(ModeCertificate, cert.Raw), keyID: credentialID(ModePinnedKey, cert.RawSubjectPublicKeyInfo)}
}

// claimsCopy is the certificate's claims for one proof, which adds to them.
func (p *parsedCert) claimsCopy() map[string]string { return maps.Clone(p.claims) }

// cardCache maps a credential ID to its decoded card record and the exact
// stored bytes it was decoded from: a hit requires the credential's
// current Public to be byte for byte those, so a re-enrolment or any edit
// of the record misses.
type cardCache struct {
	mu      sync.Mutex
	entries map[string]cardEntry
}

type cardEntry struct {
	public []byte
	card   *Card
}

// cardOf is CardOf through the cache. The Card returned is shared and
// must not be modified.
func (c *cardCache) cardOf(cred *identity.Credential) (*Card, error) {
	c.mu.Lock()
	e, ok := c.entries[cred.ID]
	c.mu.Unlock()
	if ok && cred.Kind == Kind && bytes.Equal(e.public, cred.Public) {
		return e.card, nil
	}
	card, err := CardOf(cred)
	if err != nil {
		return nil, err
	}
	e = cardEntry{public: bytes.Clone(cred.Public), card: card}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedCards {
		c.entries = make(map[string]cardEntry)
	}
	c.entries[cred.ID] = e
	return card, nil
}
