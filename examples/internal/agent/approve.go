package agent

import (
	"context"
	"crypto/x509"
	"net/http"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/piv"
)

// kindApprove is a payment approval: the site sends the approval challenge's
// payload (cardauth.ApprovalRequest); the holder's window shows the payment
// as decoded from the very bytes that are signed — what you see is what you
// sign — and the e-signature key (slot 9C, PIN for every signature) signs
// it.
const kindApprove = "approve"

// approval is an approval request's own part.
type approval struct {
	nonce string
	tx    identity.Transaction
}

// newApproval decodes the site's approval payload into q; a payload that is
// not a canonical payment is refused before the holder sees anything.
func newApproval(q *request, b createBody) (int, any) {
	req, tx, err := cardauth.ParseApprovalRequest(b.Approval)
	if err != nil {
		return http.StatusBadRequest, apiErr("The payment to approve is missing or malformed.")
	}
	q.approval = &approval{nonce: req.Nonce, tx: *tx}
	return 0, nil
}

// approvePayment verifies the PIN and signs the payment with the
// e-signature key, as a Web eID token over the origin and the approval
// nonce, which names the payment's digest.
func (a *Agent) approvePayment(ctx context.Context, q *request, pin pinEntry, allowLast bool) error {
	if pin.typed == "" && !pin.pad {
		return errEmptyPIN
	}
	nonce, err := cardauth.ApprovalNonce(q.approval.nonce, q.approval.tx)
	if err != nil {
		return err
	}
	var token []byte
	err = a.cfg.Source.Do(ctx, func(ctx context.Context, t apdu.Transport) error {
		card, err := piv.Open(ctx, t, nil)
		if err != nil {
			return err
		}
		cert, err := card.Certificate(ctx, piv.SlotSignature)
		if err != nil {
			return err
		}
		signer, err := signatureKey(card, cert, pin, allowLast)
		if err != nil {
			return err
		}
		token, err = cardauth.NewToken(signer, cert, q.origin, nonce, nil)
		return err
	})
	if err != nil {
		return err
	}
	a.finish(q, stDone, map[string]string{"token": string(token)}, "")
	a.log.Info("payment approved", "id", q.id, "origin", q.origin)
	return nil
}

// signatureKey is the e-signature key (slot 9C), which takes the PIN for
// each signature (SP 800-73-4: PIN always), on the PIN pad when the holder
// uses one: documents and payments sign through it alike.
func signatureKey(card *piv.Card, cert *x509.Certificate, pin pinEntry, allowLast bool) (*piv.Signer, error) {
	return card.Signer(piv.SlotSignature, cert.PublicKey, &piv.SignerOptions{
		PIN:           func(context.Context) (string, error) { return pin.typed, nil },
		PINPad:        pin.pad,
		PINPadTimeout: pinPadTimeout,
		AllowLastTry:  allowLast,
	})
}
