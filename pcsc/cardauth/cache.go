package cardauth

import (
	"crypto/x509"
	"maps"

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

// parsedCert is what a token's certificate decodes to. It is shared
// between logins and never modified: claims is cloned before use.
type parsedCert struct {
	cert          *x509.Certificate
	claims        map[string]string
	certID, keyID string // credentialID of each mode
}

// The Factor's certs cache (internal/decodecache) maps the token's
// unverifiedCertificate text (standard base64 of the DER) to its parse.
// Only certificates of a login that succeeded are added, so a client
// sending certificates of its own cannot fill it with anything but the
// cards enrolled here.

// newParsedCert derives what a login needs from cert.
func newParsedCert(cert *x509.Certificate) *parsedCert {
	return &parsedCert{cert: cert, claims: Claims(cert),
		certID: credentialID(ModeCertificate, cert.Raw), keyID: credentialID(ModePinnedKey, cert.RawSubjectPublicKeyInfo)}
}

// claimsCopy is the certificate's claims for one proof, which adds to them.
func (p *parsedCert) claimsCopy() map[string]string { return maps.Clone(p.claims) }

// cardOf is CardOf through the Factor's cache of card records, keyed by
// the credential's kind and ID and served only for the exact stored bytes
// it was decoded from, so a re-enrolment or any edit of the record misses.
// The Card returned is shared and must not be modified.
func (f *Factor) cardOf(cred *identity.Credential) (*Card, error) {
	return f.cardRecords.Decode(string(cred.Kind)+"\x00"+cred.ID, cred.Public, func() (*Card, error) { return CardOf(cred) })
}
