package piv

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
)

// CSR builds a PKCS #10 certificate signing request for the key in a slot,
// signed on the card: proof to a CA that the card holds the key. The slot's
// PIN rules apply (verify the PIN for 9A; 9C asks opts.PIN).
func (c *Card) CSR(ctx context.Context, slot Slot, pub crypto.PublicKey, template *x509.CertificateRequest, opts *SignerOptions) (*x509.CertificateRequest, error) {
	s, err := c.Signer(slot, pub, opts)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, template, contextSigner{s, ctx})
	if err != nil {
		return nil, fmt.Errorf("piv: certificate request for %s: %w", slot, err)
	}
	return x509.ParseCertificateRequest(der)
}

// Issue is card issuance in one call: it generates a key pair in the slot on
// the card, has the CA certify the public key with the template, and writes
// the certificate back to the slot. The card must be authenticated with its
// management key. The CA key signs here, in this process: for a CA whose key
// lives elsewhere, use GenerateKey, CSR and SetCertificate.
func (c *Card) Issue(ctx context.Context, slot Slot, alg Algorithm, template, ca *x509.Certificate, caKey crypto.Signer) (*x509.Certificate, error) {
	pub, err := c.GenerateKey(ctx, slot, alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("piv: certify the %s key: %w", slot, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := c.SetCertificate(ctx, slot, cert); err != nil {
		return nil, err
	}
	return cert, nil
}

// contextSigner carries a context into crypto.Signer calls that have none.
var _ crypto.Signer = contextSigner{}

type contextSigner struct {
	s   *Signer
	ctx context.Context
}

func (c contextSigner) Public() crypto.PublicKey { return c.s.Public() }

func (c contextSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return c.s.SignContext(c.ctx, digest, opts)
}
