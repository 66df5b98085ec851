package agent

import (
	"context"
	"net/http"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
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

// approvePayment has the card sign the payment with the e-signature key
// (PIN for this signature), as a Web eID token over the origin and the
// approval nonce, which names the payment's digest.
func (a *Agent) approvePayment(ctx context.Context, q *request, pin cardauth.PIN) error {
	if pin.Value == "" && !pin.PINPad {
		return errEmptyPIN
	}
	var token []byte
	err := a.withCard(ctx, cardWait, func(ctx context.Context, t apdu.Transport) (err error) {
		token, err = cardauth.ApprovalToken(ctx, t, q.origin, q.approval.nonce, q.approval.tx, pin)
		return err
	})
	if err != nil {
		return err
	}
	a.finish(q, stDone, map[string]string{"token": string(token)}, "")
	a.log.Info("payment approved", "id", q.id, "origin", q.origin)
	return nil
}
