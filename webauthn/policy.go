package webauthn

import (
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/puce-id/puce/identity"
)

// AttestationPolicy decides which authenticators may register: the
// relying party's part of W3C WebAuthn §7.1 ("obtain a list of acceptable
// trust anchors", "assess the attestation trustworthiness", and fail the
// ceremony when it is not trustworthy). Every constraint that is set must
// hold; the zero value accepts any authenticator, attested or not.
//
// A refusal is identity.ErrUntrusted.
type AttestationPolicy struct {
	// Roots, when set, require a certificate attestation (basic or attCA,
	// with an x5c chain) that chains to one of these roots. Self attestation
	// and "none" are refused: they say nothing about the model.
	Roots []*x509.Certificate
	// AAGUIDs, when set, allow only these authenticator models. An AAGUID is
	// only as trustworthy as the attestation that carries it: alone, this
	// filters honest authenticators; with Roots or MDS it is enforced.
	AAGUIDs []AAGUID
	// MDS, when set, requires the model to have an entry in the FIDO metadata
	// blob with no undesired status (revoked, compromised...), and a
	// certificate attestation that chains to the entry's attestation roots.
	// Logins are checked against the blob too, so a model the FIDO Alliance
	// later marks compromised stops logging in after a Refresh.
	MDS *MDS
}

// requiresAttestation reports whether the policy looks at the attestation
// at all (and so needs the client to convey it).
func (p *AttestationPolicy) requiresAttestation() bool {
	return len(p.Roots) > 0 || len(p.AAGUIDs) > 0 || p.MDS != nil
}

func (p *AttestationPolicy) check() error {
	for i, r := range p.Roots {
		if r == nil {
			return fmt.Errorf("%w: webauthn: attestation root %d is nil", identity.ErrBadInput, i)
		}
	}
	return nil
}

// verify applies the policy to a registration that go-webauthn verified
// (attestation signature and format rules, and the MDS when configured).
// trusted reports that the attestation certificate chained to one of the
// policy's trust anchors (Roots, or the MDS entry's roots): the one thing
// that tells the relying party what hardware holds the key.
func (p *AttestationPolicy) verify(att *protocol.AttestationObject, now time.Time) (trusted bool, err error) {
	if !p.requiresAttestation() {
		return false, nil
	}
	aaguid := aaguidOf(att.AuthData.AttData.AAGUID)
	if len(p.AAGUIDs) > 0 && !slices.Contains(p.AAGUIDs, aaguid) {
		return false, fmt.Errorf("%w: webauthn: authenticator model %s is not on the allow-list", identity.ErrUntrusted, aaguid)
	}
	if len(p.Roots) == 0 && p.MDS == nil {
		return false, nil
	}
	chain, err := x5c(att)
	if err != nil {
		return false, err
	}
	if len(chain) == 0 {
		return false, fmt.Errorf("%w: webauthn: %q attestation of type %q carries no certificate: the authenticator model is not proven",
			identity.ErrUntrusted, att.Format, att.Type)
	}
	if len(p.Roots) == 0 {
		// The MDS provider verified the chain against the entry's roots.
		return true, nil
	}
	roots := x509.NewCertPool()
	for _, r := range p.Roots {
		roots.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		// Attestation certificates carry no extended key usage of their own.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return false, fmt.Errorf("%w: webauthn: attestation certificate does not chain to a trusted root: %v", identity.ErrUntrusted, err)
	}
	return true, nil
}

// x5c returns the attestation certificate chain of a statement, leaf first
// (§8.2 packed, §8.3 tpm, §8.4 android-key, §8.6 fido-u2f, §8.8 apple all
// name it x5c).
func x5c(att *protocol.AttestationObject) ([]*x509.Certificate, error) {
	raw, ok := att.AttStatement["x5c"]
	if !ok {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: webauthn: attestation x5c is not an array", identity.ErrInvalidResponse)
	}
	chain := make([]*x509.Certificate, 0, len(list))
	for _, v := range list {
		der, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("%w: webauthn: attestation x5c holds a non-certificate", identity.ErrInvalidResponse)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: webauthn: attestation certificate: %v", identity.ErrInvalidResponse, err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}
