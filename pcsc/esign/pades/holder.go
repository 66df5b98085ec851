package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"fmt"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
)

// ErrRequest: the holder's side refuses a signing request (Check): it names
// another document than the one shown, or its digest is not that of CMS
// signed attributes naming the signed byte ranges and the card's
// certificate. Wraps identity.ErrBadInput; the message says which.
var ErrRequest = fmt.Errorf("%w: pades: the signing request is not a signature of the document shown with this card", identity.ErrBadInput)

// Check is the holder's side's check before its card signs, so that the
// card's e-signature key signs only CMS signed attributes of a PDF
// signature with this card, for a request naming the document shown:
//
//   - shown, when not nil, is the PDF the holder was shown: the request must
//     state its size and SHA-256 (esign.ErrDocumentAltered otherwise);
//   - Digest must be SHA-256 of SignedAttributes: 32 bytes of the server's
//     choosing could be the digest of anything else the key signs, a payment
//     approval's Web eID token for a payment the holder never saw (PSD2 RTS on
//     SCA, Article 5(1));
//   - SignedAttributes must name SignedRanges and cert, the card's signing
//     certificate (esign.CheckSignedAttributesDigest).
//
// Every failure is ErrRequest, wrapping the esign error when there is one.
// SignOnCard runs it.
//
// SignedRanges is the server's word: the holder's side does not hold the
// bytes the signature covers (the document with the server's signature
// field), so it cannot recompute them from shown. A server that states the
// shown document's size and SHA-256 but names other bytes in SignedRanges
// and in the attributes passes Check; the card then signs a PDF signature
// of those bytes.
func (r *SignRequest) Check(cert *x509.Certificate, shown []byte) error {
	if cert == nil {
		return fmt.Errorf("%w: no signing certificate to check it against", ErrRequest)
	}
	if shown != nil {
		h := sha256.Sum256(shown)
		if r.Size != len(shown) || !bytes.Equal(r.DocumentSHA256, h[:]) {
			return fmt.Errorf("%w: it names another document than the one shown (%w)", ErrRequest, esign.ErrDocumentAltered)
		}
	}
	d := sha256.Sum256(r.SignedAttributes)
	if !bytes.Equal(d[:], r.Digest) {
		return fmt.Errorf("%w: its digest is not that of its signed attributes", ErrRequest)
	}
	if _, err := esign.CheckSignedAttributesDigest(r.SignedAttributes, r.SignedRanges, cert); err != nil {
		return fmt.Errorf("%w: %w", ErrRequest, err)
	}
	return nil
}

// SignOnCard is the holder's half of a PDF signature in one call: it
// decodes payload (a PDF signing challenge's Payload, as /auth/sign/begin
// answers it), reads the card's signing certificate (slot 9C), checks the
// request against it and against shown (Check; nil when the holder was shown
// no bytes), and only then has the card sign the digest after the PIN, which
// that key asks for every signature. It returns the request, for showing its
// level and signing time, and the signature that goes to the ceremony's
// Finish. A refused request spends no PIN try; PIN errors are those of
// cardauth.LoginToken.
func SignOnCard(ctx context.Context, t apdu.Transport, payload, shown []byte, pin cardauth.PIN) (*SignRequest, []byte, error) {
	req, err := ParseSignRequest(payload)
	if err != nil {
		return nil, nil, err
	}
	cert, err := cardauth.SigningCertificate(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	if err := req.Check(cert, shown); err != nil {
		return nil, nil, err
	}
	sig, _, err := cardauth.SignDigest(ctx, t, req.Digest, crypto.SHA256, cert, pin)
	if err != nil {
		return nil, nil, err
	}
	return req, sig, nil
}
