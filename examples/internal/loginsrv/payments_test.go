package loginsrv

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
	"github.com/puce-id/puce/totp/ocra"
)

// The payment every test approves: 100.00 EUR to Muster GmbH.
var payForm = url.Values{"amount": {"100.00"}, "payee": {"Muster GmbH"}, "iban": {"DE89 3704 0044 0532 0130 00"}, "reference": {"INV-42"}}

// clone copies a form, which post fills in with a page's tokens.
func clone(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

type approval struct {
	ChallengeID string          `json:"challengeId"`
	Payload     json.RawMessage `json:"payload"`
	Transaction json.RawMessage `json:"transaction"`
	Error       string          `json:"error"`
}

// approveStep posts one step of an approval as pay.js does: JSON, the
// page's CSRF token in a header.
func (c *client) approveStep(page, kind, step string, body any) (int, approval) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.base+"/auth/approve/"+kind+"/"+step, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrfRE.FindStringSubmatch(page)[1])
	req.Header.Set("Origin", c.base)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	var a approval
	json.Unmarshal([]byte(c.read(resp)), &a)
	return resp.StatusCode, a
}

// startPayment types the payment and returns the approval page.
func (c *client) startPayment(form url.Values) string {
	c.t.Helper()
	page := c.post(c.get("/pay"), "/pay", clone(form))
	if c.last != "/pay/approve" {
		c.t.Fatalf("POST /pay landed on %s:\n%s", c.last, page)
	}
	must(c.t, page, "100.00 EUR")
	return page
}

// finishApproval posts the factor's answer with the payment the page
// showed, tampered with when tamper is set.
func (c *client) finishApproval(page, kind string, ch approval, response any, tamper func(m map[string]any)) (int, approval) {
	var tx map[string]any
	json.Unmarshal(ch.Transaction, &tx)
	if tamper != nil {
		tamper(tx)
	}
	return c.approveStep(page, kind, "finish", map[string]any{"challengeId": ch.ChallengeID, "response": response, "transaction": tx})
}

func payments(t *testing.T, store identity.Store, subject identity.Subject) int {
	creds, err := store.Credentials(context.Background(), subject, KindPayment)
	if err != nil {
		t.Fatal(err)
	}
	return len(creds)
}

// paid follows the page to the account and checks the payment is listed.
func paid(t *testing.T, c *client, with string) {
	t.Helper()
	page := c.get("/pay/done")
	must(t, page, "Payment of 100.00 EUR to Muster GmbH approved with "+with)
	must(t, page, `id="payments"`)
	must(t, page, "DE89370400440532013000")
}

// TestPayment: "send money" approved with the card. The page hands the
// agent the server's payload; the card's signature over the payment the
// agent decoded approves it, and the account lists it with its digest. A
// token signed over another amount (a page that tampered with what the
// agent was given) is refused and no payment is made; a bad IBAN never
// reaches the card; a visitor not logged in cannot pay.
func TestPayment(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(card.PKI.Root)
	inter.AddCert(card.PKI.Issuing)
	clk := &clock{}
	ts, store, srv := startServer(t, clk, func(cfg *Config) {
		cfg.AgentURL = "http://127.0.0.1:24727"
		cfg.Card = &cardauth.Config{Roots: roots, Intermediates: inter, SkipRevocation: true}
	})
	alice := newAccount(t, ts.URL, clk, "alice")
	ctx := context.Background()
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The card is enrolled by its authentication certificate.
	ch, _ := srv.card.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: ts.URL})
	c.VerifyPIN(ctx, card.PIN, nil)
	auth, _ := c.Signer(piv.SlotAuthentication, card.AuthCert.PublicKey, nil)
	tok, _ := cardauth.NewToken(auth, card.AuthCert, ts.URL, string(ch.Payload), nil)
	if _, err := srv.card.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: ts.URL, Data: tok}); err != nil {
		t.Fatal(err)
	}
	// sign plays the agent: decode the payload, sign with 9C what it shows
	// (or, tampering, another payment).
	sign := func(payload []byte, tamper func(*identity.Transaction)) json.RawMessage {
		req, tx, err := cardauth.ParseApprovalRequest(payload)
		if err != nil {
			t.Fatal(err)
		}
		if tamper != nil {
			tamper(tx)
		}
		nonce, _ := cardauth.ApprovalNonce(req.Nonce, *tx)
		signer, _ := c.Signer(piv.SlotSignature, card.SignCert.PublicKey, &piv.SignerOptions{
			PIN: func(context.Context) (string, error) { return card.PIN, nil }})
		tok, err := cardauth.NewToken(signer, card.SignCert, ts.URL, nonce, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	page := alice.c.startPayment(payForm)
	must(t, page, `data-kind="card"`)
	status, a := alice.c.approveStep(page, "card", "begin", struct{}{})
	if status != 200 {
		t.Fatalf("begin: %d %s", status, a.Error)
	}
	if status, a = alice.c.finishApproval(page, "card", a, sign(a.Payload, func(tx *identity.Transaction) { tx.Amount = "1000.00" }), nil); status == 200 {
		t.Fatal("a card signature over 1000.00 EUR approved the payment of 100.00")
	}
	if n := payments(t, store, "alice"); n != 0 {
		t.Fatalf("a refused approval made %d payments", n)
	}

	page = alice.c.get("/pay/approve")
	status, a = alice.c.approveStep(page, "card", "begin", struct{}{})
	token := sign(a.Payload, nil)
	if status, a := alice.c.finishApproval(page, "card", a, token, nil); status != 200 {
		t.Fatalf("finish: %d %s", status, a.Error)
	}
	paid(t, alice.c, "your card")
	if n := payments(t, store, "alice"); n != 1 {
		t.Fatalf("%d payments recorded, want 1", n)
	}
	// The same token again: the payment is no longer pending, the
	// challenge is spent.
	if status, _ := alice.c.finishApproval(page, "card", a, token, nil); status == 200 || payments(t, store, "alice") != 1 {
		t.Fatalf("a replayed card approval: %d", status)
	}

	bad := url.Values{"amount": {"100.00"}, "payee": {"Muster GmbH"}, "iban": {"DE88 3704 0044 0532 0130 00"}}
	page = alice.c.post(alice.c.get("/pay"), "/pay", bad)
	must(t, page, "This IBAN is not valid")
	if strings.Contains(page, `id="approve"`) {
		t.Fatal("a bad IBAN reached the approval step")
	}

	anon := newClient(t, ts.URL)
	anon.get("/pay")
	if anon.last != "/login" {
		t.Fatalf("a visitor not logged in reached %s", anon.last)
	}
}

// TestPaymentWebAuthn: a security key approves the payment; an assertion
// posted with 100.01 EUR, or replayed, is refused; a TOTP-only account
// cannot approve at all.
func TestPaymentWebAuthn(t *testing.T) {
	clk := &clock{}
	var store identity.Store
	var origin string
	_, store, _ = startServer(t, clk, func(cfg *Config) {
		origin = strings.Replace(cfg.Origin, "127.0.0.1", "localhost", 1)
		cfg.Origin = origin
	})
	alice := newAccount(t, origin, clk, "alice")

	// TOTP only: no approval.
	page := alice.c.post(alice.c.get("/pay"), "/pay", clone(payForm))
	must(t, page, "on your account page first")
	if status, _ := alice.c.approveStep(page, "totp", "begin", struct{}{}); status == 200 {
		t.Fatal("TOTP began an approval")
	}

	key := newDevice(origin, virtualwebauthn.AuthenticatorOptions{})
	page = alice.c.get("/enroll/key")
	page = alice.c.post(page, "/enroll/key", url.Values{"credential": {key.create(t, options(t, page))}, "name": {"usb key"}})
	must(t, page, "Security key added")

	page = alice.c.startPayment(payForm)
	must(t, page, `data-kind="webauthn"`)
	status, a := alice.c.approveStep(page, "webauthn", "begin", struct{}{})
	if status != 200 {
		t.Fatalf("begin: %d %s", status, a.Error)
	}
	assertion := json.RawMessage(key.get(t, string(a.Payload)))
	if status, _ := alice.c.finishApproval(page, "webauthn", a, assertion, func(tx map[string]any) { tx["amount"] = "100.01" }); status == 200 {
		t.Fatal("the page's 100.01 EUR was approved")
	}
	if n := payments(t, store, "alice"); n != 0 {
		t.Fatalf("a tampered approval made %d payments", n)
	}
	status, a = alice.c.approveStep(page, "webauthn", "begin", struct{}{})
	assertion = json.RawMessage(key.get(t, string(a.Payload)))
	if status, e := alice.c.finishApproval(page, "webauthn", a, assertion, nil); status != 200 {
		t.Fatalf("finish: %d %s", status, e.Error)
	}
	paid(t, alice.c, "your security key or passkey")
	// Replayed, for a new payment of the same amount.
	page = alice.c.startPayment(payForm)
	alice.c.approveStep(page, "webauthn", "begin", struct{}{})
	if status, _ := alice.c.finishApproval(page, "webauthn", a, assertion, nil); status == 200 {
		t.Fatal("a replayed assertion approved a second payment")
	}
	if n := payments(t, store, "alice"); n != 1 {
		t.Fatalf("%d payments, want 1", n)
	}
}

var ocraKeyRE = regexp.MustCompile(`<code id="ocra-key">([0-9a-f]+)</code>`)
var ocraFirstRE = regexp.MustCompile(`<code id="ocra-first">([0-9]+)</code>`)

// TestPaymentOCRA: a signing token issued on the account page approves
// the payment with the answer to a question made of the account's last
// digits and the amount; a wrong answer and a replayed one are refused.
func TestPaymentOCRA(t *testing.T) {
	clk := &clock{}
	ts, store, _ := startServer(t, clk, nil)
	alice := newAccount(t, ts.URL, clk, "alice")
	suite, _ := ocra.ParseSuite(ocraSuite)
	answer := func(key []byte, q string, counter uint64) string {
		r, err := suite.Response(key, ocra.Input{Question: q, Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	page := alice.c.get("/enroll/ocra")
	keyHex, first := ocraKeyRE.FindStringSubmatch(page), ocraFirstRE.FindStringSubmatch(page)
	if keyHex == nil || first == nil {
		t.Fatalf("no token key on the page:\n%s", page)
	}
	key, _ := hex.DecodeString(keyHex[1])
	// A wrong first answer adds nothing.
	page = alice.c.post(page, "/enroll/ocra", url.Values{"code": {"12345678"}})
	must(t, page, "The token was not added")
	page = alice.c.get("/enroll/ocra")
	keyHex, first = ocraKeyRE.FindStringSubmatch(page), ocraFirstRE.FindStringSubmatch(page)
	key, _ = hex.DecodeString(keyHex[1])
	page = alice.c.post(page, "/enroll/ocra", url.Values{"code": {answer(key, first[1], 0)}, "name": {"bank token"}})
	must(t, page, "Signing token added")
	must(t, page, "Signing token (OCRA)")

	page = alice.c.startPayment(payForm)
	must(t, page, `data-kind="ocra"`)
	status, a := alice.c.approveStep(page, "ocra", "begin", struct{}{})
	var question string
	json.Unmarshal(a.Payload, &question)
	if status != 200 || question != "300010000" {
		t.Fatalf("begin: %d, question %q (want the account's last digits 3000 and 10000 cents)", status, question)
	}
	if status, _ := alice.c.finishApproval(page, "ocra", a, "00000000", nil); status != http.StatusUnauthorized {
		t.Fatalf("a wrong answer: %d", status)
	}
	_, a = alice.c.approveStep(page, "ocra", "begin", struct{}{})
	code := answer(key, question, 1)
	if status, e := alice.c.finishApproval(page, "ocra", a, code, nil); status != 200 {
		t.Fatalf("finish: %d %s", status, e.Error)
	}
	paid(t, alice.c, "your signing token")

	// The same payment again: the question is the same, the answer seen
	// before is refused; the token's next one is accepted.
	page = alice.c.startPayment(payForm)
	_, a = alice.c.approveStep(page, "ocra", "begin", struct{}{})
	if status, _ := alice.c.finishApproval(page, "ocra", a, code, nil); status == 200 {
		t.Fatal("a replayed token answer approved a second payment")
	}
	_, a = alice.c.approveStep(page, "ocra", "begin", struct{}{})
	if status, e := alice.c.finishApproval(page, "ocra", a, answer(key, question, 2), nil); status != 200 {
		t.Fatalf("the next answer: %d %s", status, e.Error)
	}
	if n := payments(t, store, "alice"); n != 2 {
		t.Fatalf("%d payments, want 2", n)
	}
}
