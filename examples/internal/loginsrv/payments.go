package loginsrv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/totp/ocra"
	"github.com/puce-id/puce/webauthn"
)

// Payments: "send money", approved with a factor whose code is linked to
// the amount and the payee (PSD2 dynamic linking): the card's e-signature
// key through the card agent, which shows the holder what it signs; a
// security key or passkey, whose challenge is derived from the payment's
// digest (and which, when registered for payments, answers in the
// browser's own payment dialog: spc.go); an OCRA signing token, whose
// question holds the amount and the payee account's last digits. The
// server keeps the payment being approved in the session and never takes
// it from the page: httpauth's approval endpoints bind the challenge to the
// server's copy, refuse a page that posts another one, and
// identity.Policy.Approve decides. Approved payments are kept as records
// of KindPayment, which the account page lists with the factor and digest.

// KindPayment marks an approved payment's record; it is no factor.
const KindPayment identity.Kind = "payment"

// ocraSuite is the suite of the tokens this bank issues: HMAC-SHA256, 8
// digits, a counter, and a numeric question of up to 12 digits, room for
// the account's last four digits and amounts up to 999,999.99 (RFC 6287 §6).
const ocraSuite = "OCRA-1:HOTP-SHA256-8:C-QN12"

// payment is what a payment record keeps.
type payment struct {
	Transaction identity.Transaction `json:"transaction"`
	Digest      string               `json:"digest"`
	Factor      identity.Kind        `json:"factor"`
	// SPC: approved in the browser's payment dialog (Secure Payment
	// Confirmation), which showed the amount, payee and account.
	SPC      bool      `json:"spc,omitempty"`
	Approved time.Time `json:"approved"`
}

type payData struct {
	Tx            identity.Transaction
	Methods       []method
	Method, Agent string
	Origin        string
	Digest        string
	// SPC: the account has a passkey registered for payments, so the page
	// approves through the browser's payment dialog where it has one.
	SPC bool
	// Plain: the holder chose the plain WebAuthn approval (?plain=1).
	Plain bool
}

// approvalEndpoints serves POST /auth/approve/{kind}/begin|finish for the
// factors that can approve a payment here.
func (s *Server) approvalEndpoints() (*httpauth.Endpoints, error) {
	// OCRA tokens are issued on the account page (enrollOCRAPost), not
	// enrolled through httpauth.
	factors := []identity.Authenticator{httpauth.ApprovalOnly(ocra.Kind, s.ocra)}
	if s.usable(identity.KindCard) {
		factors = append(factors, s.card)
	}
	if s.wa != nil {
		// SPC approvals have a route of their own; their proofs are of
		// kind webauthn, with Claims["spc"].
		factors = append(factors, s.wa.keys,
			httpauth.ApprovalOnly(webauthn.SPCKind, &webauthn.SPCApprover{Factor: s.wa.passkeys, Options: s.spcInstrument}))
	}
	return s.m.Endpoints(httpauth.EndpointsConfig{Factors: factors, RemoteAddr: s.m.ClientAddr,
		PendingPayment: s.pendingPayment, PaymentApproved: s.paymentApproved})
}

// approvers are the methods the account can approve a payment with here.
func (s *Server) approvers(ctx context.Context, subject identity.Subject) ([]method, error) {
	kinds, err := s.kinds(ctx, subject)
	if err != nil {
		return nil, err
	}
	var ms []method
	for _, m := range s.methods(kinds, "stepup") {
		if m.ID == "card" || m.ID == "webauthn" {
			ms = append(ms, m)
		}
	}
	if kinds[ocra.Kind] {
		ms = append(ms, method{"ocra", "Signing token (OCRA)"})
	}
	return ms, nil
}

func (s *Server) payPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	ms, err := s.approvers(r.Context(), sess.Subject())
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Send money", s.fail(r, err), nil)
		return
	}
	s.render(w, r, sess, http.StatusOK, "pay.html", "Send money", "", payData{Tx: identity.Transaction{Currency: "EUR"}, Methods: ms})
}

// payPost checks the payment typed and keeps it as the session's pending
// payment, which the approval page then approves.
func (s *Server) payPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	tx := identity.Transaction{Amount: strings.TrimSpace(r.PostFormValue("amount")), Currency: "EUR",
		PayeeName: r.PostFormValue("payee"), PayeeAccount: r.PostFormValue("iban"), Reference: r.PostFormValue("reference")}
	d := payData{Tx: tx}
	var err error
	if d.Methods, err = s.approvers(r.Context(), sess.Subject()); err != nil {
		s.render(w, r, sess, 500, "pay.html", "Send money", s.fail(r, err), d)
		return
	}
	if len(d.Methods) == 0 {
		s.render(w, r, sess, http.StatusForbidden, "pay.html", "Send money", "Payments are approved with a smart card, a security key or passkey, or a signing token. Add one on your account page first.", d)
		return
	}
	if _, err := tx.Digest(); err != nil {
		s.render(w, r, sess, http.StatusBadRequest, "pay.html", "Send money", payProblem(err), d)
		return
	}
	js, _ := json.Marshal(tx)
	if err := s.set(r.Context(), sess, valPayment, string(js)); err != nil {
		s.sessionFault(w, r, sess, err)
		return
	}
	s.redirect(w, r, "/pay/approve", "")
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

// payApprovePage shows the pending payment and the method chosen; its
// script runs the approval against httpauth's endpoints.
func (s *Server) payApprovePage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	tx, err := s.pendingPayment(r, sess)
	if err != nil || tx == nil {
		s.redirect(w, r, "/pay", "")
		return
	}
	d := payData{Tx: *tx, Agent: s.cfg.AgentURL, Origin: s.cfg.Origin}
	if d.Methods, err = s.approvers(r.Context(), sess.Subject()); err != nil || len(d.Methods) == 0 {
		s.redirect(w, r, "/pay", "")
		return
	}
	d.Method = d.Methods[0].ID
	for _, m := range d.Methods {
		if m.ID == r.URL.Query().Get("method") {
			d.Method = m.ID
		}
	}
	digest, _ := tx.Digest()
	d.Digest = hex.EncodeToString(digest[:])
	// ?plain=1 is the page's way out of the payment dialog (a browser that
	// offers SPC on a device without the passkey).
	d.Plain = d.Method == "webauthn" && r.URL.Query().Get("plain") != ""
	if d.Method == "webauthn" && !d.Plain {
		if d.SPC, err = s.hasPaymentPasskey(r.Context(), sess.Subject()); err != nil {
			s.render(w, r, sess, 500, "message.html", "Approve the payment", s.fail(r, err), nil)
			return
		}
	}
	s.render(w, r, sess, http.StatusOK, "pay_approve.html", "Approve the payment", "", d)
}

// pendingPayment is the session's payment awaiting approval, nil when none.
func (s *Server) pendingPayment(_ *http.Request, sess *httpauth.Session) (*identity.Transaction, error) {
	v := sess.Value(valPayment)
	if v == "" {
		return nil, nil
	}
	var tx identity.Transaction
	if err := json.Unmarshal([]byte(v), &tx); err != nil {
		return nil, fmt.Errorf("loginsrv: pending payment: %w", err)
	}
	return &tx, nil
}

// paymentApproved makes the payment httpauth's endpoints approved. The
// pending payment leaves the session first, so that a second approval
// finds none: a payment is made once.
func (s *Server) paymentApproved(r *http.Request, sess *httpauth.Session, tx identity.Transaction, proof identity.Proof) error {
	with := map[identity.Kind]string{identity.KindCard: "your card", identity.KindWebAuthn: "your security key or passkey", ocra.Kind: "your signing token"}[proof.Kind]
	if viaSPC(&proof) {
		with = "your passkey in your browser's payment dialog (Secure Payment Confirmation)"
	}
	notice := fmt.Sprintf("Payment of %s %s to %s approved with %s.", tx.Amount, tx.Currency, tx.PayeeName, with)
	if err := s.set(r.Context(), sess, valPayment, "", valPaid, notice); err != nil {
		return err
	}
	return s.keepPayment(r.Context(), sess.Subject(), tx, &proof)
}

// payDone shows the account with the approved payment's notice.
func (s *Server) payDone(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	notice := sess.Value(valPaid)
	if notice != "" {
		if err := s.set(r.Context(), sess, valPaid, ""); err != nil {
			s.sessionFault(w, r, sess, err)
			return
		}
	}
	s.redirect(w, r, "/account", notice)
}

// keepPayment records an approved payment.
func (s *Server) keepPayment(ctx context.Context, subject identity.Subject, tx identity.Transaction, proof *identity.Proof) error {
	canon, err := tx.Canonical()
	if err != nil {
		return err
	}
	parsed, _ := identity.ParseTransaction(canon)
	rec, _ := json.Marshal(payment{Transaction: *parsed, Digest: hex.EncodeToString(proof.Transaction), Factor: proof.Kind, SPC: viaSPC(proof), Approved: proof.Time})
	c := &identity.Credential{Subject: subject, Kind: KindPayment, ID: hex.EncodeToString(proof.Transaction[:12]) + "-" + web.Token(6),
		Name: parsed.PayeeName, Public: rec, CreatedAt: proof.Time}
	return s.svc.Record(ctx, identity.Event{Subject: subject, Kind: KindPayment, CredentialID: c.ID, Action: "payment-approved",
		Reason: fmt.Sprintf("%s %s to %s, digest %x%s", parsed.Amount, parsed.Currency, parsed.PayeeAccount, proof.Transaction[:8], spcNote(proof))},
		s.cfg.Store.CreateCredential(ctx, c))
}

// viaSPC reports whether a proof was made through Secure Payment
// Confirmation (webauthn.FinishSPC marks it).
func viaSPC(p *identity.Proof) bool {
	return p.Kind == identity.KindWebAuthn && p.Claims["spc"] == "true"
}

// spcNote is the audit note's mention of SPC.
func spcNote(p *identity.Proof) string {
	if viaSPC(p) {
		return ", confirmed in the browser's payment dialog (SPC)"
	}
	return ""
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

// ---- OCRA tokens -----------------------------------------------------------

// The bank issues a signing token: here a software one, whose key the page
// shows once (as a bank prints it on the token's letter). The holder
// proves the token holds it by answering a first question; the key waits
// in the session, sealed, until then.

type ocraData struct {
	Suite, Key, Serial, Question, Name string
}

func (s *Server) enrollOCRAPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	key := make([]byte, 32)
	rand.Read(key)
	serial, question := fmt.Sprintf("PUCE%08d", randomInt(1e8)), fmt.Sprintf("%012d", randomInt(1e12))
	if err := s.set(r.Context(), sess, valOCRA, s.sealed(sess, valOCRA, serial+"-"+question, key)); err != nil {
		s.sessionFault(w, r, sess, err)
		return
	}
	s.render(w, r, sess, http.StatusOK, "enroll_ocra.html", "Add a signing token", "",
		ocraData{Suite: ocraSuite, Key: hex.EncodeToString(key), Serial: serial, Question: question})
}

func (s *Server) enrollOCRAPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	tag, key, ok := s.unseal(sess, valOCRA)
	serial, question, _ := strings.Cut(tag, "-")
	if !ok {
		s.redirect(w, r, "/enroll/ocra", "")
		return
	}
	// One answer per key shown: right or wrong, the next try gets a new one.
	if err := s.set(r.Context(), sess, valOCRA, ""); err != nil {
		s.sessionFault(w, r, sess, err)
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len(name) > 64 {
		name = "Signing token"
	}
	suite, _ := ocra.ParseSuite(ocraSuite)
	good, err := suite.Verify(key, ocra.Input{Question: question, Counter: 0}, strings.TrimSpace(r.PostFormValue("code")))
	if err == nil && !good {
		err = fmt.Errorf("%w: ocra: wrong first answer", identity.ErrInvalidResponse)
	}
	if err == nil {
		_, err = s.ocra.Import(r.Context(), sess.Subject(), serial, name, ocraSuite, key, nil, s.m.ClientAddr(r))
	}
	if err != nil {
		s.render(w, r, sess, http.StatusUnauthorized, "message.html", "Add a signing token",
			s.fail(r, err)+" The token was not added: start again with a new key.", map[string]string{"Link": "/enroll/ocra", "LinkText": "Start again"})
		return
	}
	s.redirect(w, r, "/account", "Signing token added: use it to approve payments.")
}

// randomInt is a uniform random number in [0, n).
func randomInt(n int64) int64 {
	v, _ := rand.Int(rand.Reader, big.NewInt(n))
	return v.Int64()
}
