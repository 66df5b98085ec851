package esign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
)

// ErrRequest: the holder's side refuses a signing request: it is not a
// signature of the document shown with this card (its attributes name
// other bytes or another certificate, or its digest is not theirs). Wraps
// identity.ErrBadInput, and the check's own error when there is one.
var ErrRequest = fmt.Errorf("%w: esign: the signing request is not a signature of the document shown with this card", identity.ErrBadInput)

// SignOnCard is the holder's half of a detached signature in one call: it
// decodes payload (a signing challenge's Payload, as /auth/sign/begin
// answers it), reads the card's signing certificate (slot 9C), checks that
// the signed attributes name document — the one shown to the holder — and
// that certificate (CheckSignedAttributes) and that the request's digest is
// theirs, and only then has the card sign it after the PIN, which that key
// asks for every signature. It returns the request (SigningTime, for the
// holder to see) and the signature that goes to Ceremony.Finish. A refused
// request is ErrRequest and spends no PIN try; PIN errors are those of
// cardauth.LoginToken.
func SignOnCard(ctx context.Context, t apdu.Transport, payload, document []byte, pin cardauth.PIN) (*SignRequest, []byte, error) {
	req, err := ParseSignRequest(payload)
	if err != nil {
		return nil, nil, err
	}
	cert, err := cardauth.SigningCertificate(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	at, err := CheckSignedAttributes(req.SignedAttributes, document, cert)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	// The card signs the digest computed here; a request stating another
	// one is a server asking for 32 bytes of its choosing.
	d := sha256.Sum256(req.SignedAttributes)
	if !bytes.Equal(d[:], req.Digest) {
		return nil, nil, fmt.Errorf("%w: its digest is not that of its signed attributes", ErrRequest)
	}
	if !req.SigningTime.IsZero() && !req.SigningTime.Equal(at) {
		return nil, nil, fmt.Errorf("%w: it states another signing time (%s) than its attributes (%s)", ErrRequest, req.SigningTime.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	req.SigningTime = at
	sig, _, err := cardauth.SignDigest(ctx, t, d[:], crypto.SHA256, cert, pin)
	if err != nil {
		return nil, nil, err
	}
	return req, sig, nil
}
