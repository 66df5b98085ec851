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
// another document than the one shown, its update (SignRequest.Update) does
// more to that document than add the signature field or is not what the
// signed byte ranges are the digest of, or its digest is not that of CMS
// signed attributes naming the signed byte ranges and the card's
// certificate. Wraps identity.ErrBadInput; the message says which.
var ErrRequest = fmt.Errorf("%w: pades: the signing request is not a signature of the document shown with this card", identity.ErrBadInput)

// Check is the holder's side's check before its card signs, so that the
// card's e-signature key signs only CMS signed attributes of a PDF
// signature with this card, of the document shown:
//
//   - Digest must be SHA-256 of SignedAttributes: 32 bytes of the server's
//     choosing could be the digest of anything else the key signs, a payment
//     approval's Web eID token for a payment the holder never saw (PSD2 RTS on
//     SCA, Article 5(1));
//   - shown, when not nil, is the PDF the holder was shown: Rebuild checks
//     the request names it (size, SHA-256), rebuilds the signed revision
//     from it and the request's Update, requires SignedRanges to be its
//     digest and the update to add the new signature field and nothing
//     else; a request without Update is refused;
//   - SignedAttributes must name SignedRanges and cert, the card's signing
//     certificate (esign.CheckSignedAttributesDigest).
//
// Every failure is ErrRequest, wrapping the error of what failed
// (esign.ErrDocumentAltered for another document or other bytes,
// ErrChanged for an update that changes the document, ErrMalformed for
// one that does not parse). SignOnCard runs it.
//
// With shown, the bytes the card signs are checked, not taken on the
// server's word: they are the document shown followed by the update,
// whose changes are judged as Verify judges updates after a signature.
// What is not checked then is what no byte of the signed revision says:
// the level the server will bring the signature to (Level) and the
// validation data and timestamps it adds after it, which come after the
// signed revision and which Verify judges. What the new signature's
// widget draws is its server-made appearance, placed where Rebuild's
// SignedRevision.Drawn says; a holder's UI shows it by rendering
// SignedRevision.PDF — the page Drawn names, which need not be the first.
// Its size is not bounded: an opaque appearance over the whole page is
// the server's to draw, and what the holder sees of it is that rendering.
//
// With shown nil (a holder's side that was shown no bytes, only the
// size and hash a page stated), the signed bytes are the server's word:
// the attributes must name SignedRanges and the card, but a server that
// states a document's size and SHA-256 and names other bytes in
// SignedRanges passes Check, and the card signs a PDF signature of those
// bytes — another document, or the document with an update that changes
// what its pages show.
func (r *SignRequest) Check(cert *x509.Certificate, shown []byte) error {
	if cert == nil {
		return fmt.Errorf("%w: no signing certificate to check it against", ErrRequest)
	}
	d := sha256.Sum256(r.SignedAttributes)
	if !bytes.Equal(d[:], r.Digest) {
		return fmt.Errorf("%w: its digest is not that of its signed attributes", ErrRequest)
	}
	if shown != nil {
		if _, err := r.Rebuild(shown); err != nil {
			return err
		}
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
