package loginsrv

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
)

// Payments: "send money", approved with the card's e-signature key through
// the card agent, which shows the holder the amount and payee it signs
// (PSD2 dynamic linking). The server keeps the payment being approved in
// the session and never takes it back from the page: what the card signed
// is checked against the server's copy (identity.Services.Approve), and
// identity.Policy.Approve decides. Approved payments are kept as records
// of KindPayment, which the account page lists with the factor and digest.

// KindPayment marks an approved payment's record; it is no factor.
const KindPayment identity.Kind = "payment"

// payment is what a payment record keeps.
type payment struct {
	Transaction identity.Transaction `json:"transaction"`
	Digest      string               `json:"digest"`
	Factor      identity.Kind        `json:"factor"`
	Approved    time.Time            `json:"approved"`
}

// pendingPayment is the payment of this session that awaits approval.
type pendingPayment struct {
	Tx        identity.Transaction
	Challenge identity.ChallengeID
}

type payData struct {
	Tx                         identity.Transaction
	Challenge, Approval, Agent string
	Origin, Digest             string
	Card                       bool
}

func (s *Server) payPage(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	s.render(w, r, sess, http.StatusOK, "pay.html", "Send money", "", payData{Tx: identity.Transaction{Currency: "EUR"}, Card: s.usable(identity.KindCard)})
}

// payPost checks the payment typed and starts its approval with the card.
func (s *Server) payPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	tx := identity.Transaction{Amount: strings.TrimSpace(r.PostFormValue("amount")), Currency: "EUR",
		PayeeName: r.PostFormValue("payee"), PayeeAccount: r.PostFormValue("iban"), Reference: r.PostFormValue("reference")}
	d := payData{Tx: tx, Card: s.usable(identity.KindCard)}
	if !d.Card {
		s.render(w, r, sess, http.StatusServiceUnavailable, "pay.html", "Send money", "Payments are approved with your smart card, which this server cannot use now.", d)
		return
	}
	digest, err := tx.Digest()
	if err != nil {
		s.render(w, r, sess, http.StatusBadRequest, "pay.html", "Send money", payProblem(err), d)
		return
	}
	st := s.snapshot(sess)
	ch, err := s.card.BeginApprove(r.Context(), identity.Request{Subject: st.Subject, Origin: s.cfg.Origin, RemoteAddr: web.ClientIP(r), Transaction: &tx})
	if err != nil {
		s.render(w, r, sess, status(w, err, http.StatusInternalServerError), "pay.html", "Send money", s.fail(r, err), d)
		return
	}
	sess.With(func(st *state) { st.Payment = &pendingPayment{Tx: tx, Challenge: ch.ID} })
	d.Challenge, d.Approval, d.Agent, d.Origin, d.Digest = ch.ID.String(), string(ch.Payload), s.cfg.AgentURL, s.cfg.Origin, hex.EncodeToString(digest[:])
	s.render(w, r, sess, http.StatusOK, "pay_card.html", "Approve the payment with your card", "", d)
}

// payProblem says what is wrong with a payment typed, without internals.
func payProblem(err error) string {
	switch {
	case errors.Is(err, identity.ErrIBAN):
		return "This IBAN is not valid: check its digits."
	case errors.Is(err, identity.ErrAmount):
		return "Type the amount in euros, such as 100.00."
	}
	return "Fill in the payee's name and account."
}

// payApprove checks the card's approval of the session's pending payment.
func (s *Server) payApprove(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if st.Payment == nil {
		s.redirect(w, r, "/pay", "")
		return
	}
	sess.With(func(st *state) { st.Payment = nil }) // one try per approval
	pending := st.Payment
	id, err := identity.ParseChallengeID(r.PostFormValue("challenge"))
	if err == nil && id != pending.Challenge {
		err = fmt.Errorf("%w: not this session's payment", identity.ErrChallengeMismatch)
	}
	var proof *identity.Proof
	if err == nil {
		proof, err = s.card.FinishApprove(r.Context(), identity.Response{ChallengeID: id, Subject: st.Subject, Origin: s.cfg.Origin,
			Data: []byte(r.PostFormValue("token")), RemoteAddr: web.ClientIP(r), Transaction: &pending.Tx})
	}
	if err == nil {
		sess.With(func(d *state) { err = s.policy.Approve(d.Session, *proof, pending.Tx) })
	}
	if err == nil {
		err = s.keepPayment(r.Context(), st.Subject, pending.Tx, proof)
	}
	if err != nil {
		s.render(w, r, sess, status(w, err, http.StatusUnauthorized), "pay.html", "Send money",
			s.fail(r, err)+" The payment was not made.", payData{Tx: pending.Tx, Card: true})
		return
	}
	s.redirect(w, r, "/account", fmt.Sprintf("Payment of %s %s to %s approved with your card.", pending.Tx.Amount, pending.Tx.Currency, pending.Tx.PayeeName))
}

// keepPayment records an approved payment.
func (s *Server) keepPayment(ctx context.Context, subject identity.Subject, tx identity.Transaction, proof *identity.Proof) error {
	canon, err := tx.Canonical()
	if err != nil {
		return err
	}
	parsed, _ := identity.ParseTransaction(canon)
	rec, _ := json.Marshal(payment{Transaction: *parsed, Digest: hex.EncodeToString(proof.Transaction), Factor: proof.Kind, Approved: proof.Time})
	c := &identity.Credential{Subject: subject, Kind: KindPayment, ID: hex.EncodeToString(proof.Transaction[:12]) + "-" + web.Token(6),
		Name: parsed.PayeeName, Public: rec, CreatedAt: proof.Time}
	return s.svc.Record(ctx, identity.Event{Subject: subject, Kind: KindPayment, CredentialID: c.ID, Action: "payment-approved",
		Reason: fmt.Sprintf("%s %s to %s, digest %x", parsed.Amount, parsed.Currency, parsed.PayeeAccount, proof.Transaction[:8])},
		s.cfg.Store.CreateCredential(ctx, c))
}

// paymentRows are the account's approved payments, newest first.
func paymentRows(creds []identity.Credential) []payment {
	var out []payment
	for _, c := range creds {
		var p payment
		if c.Kind == KindPayment && json.Unmarshal(c.Public, &p) == nil {
			out = append(out, p)
		}
	}
	slices.Reverse(out)
	return out
}
