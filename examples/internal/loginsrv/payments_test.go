package loginsrv

import (
	"context"
	"crypto/x509"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

var approvalRE = regexp.MustCompile(`data-approval="([^"]+)"`)

// TestPayment: "send money" approved with the card: the page hands the
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
	sign := func(page string, tamper func(*identity.Transaction)) string {
		m := approvalRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no approval payload on the page:\n%s", page)
		}
		req, tx, err := cardauth.ParseApprovalRequest([]byte(html.UnescapeString(m[1])))
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
		return string(tok)
	}
	form := url.Values{"amount": {"100.00"}, "payee": {"Muster GmbH"}, "iban": {"DE89 3704 0044 0532 0130 00"}, "reference": {"INV-42"}}

	page := alice.c.post(alice.c.get("/pay"), "/pay", form)
	must(t, page, "100.00 EUR")
	page = alice.c.post(page, "/pay/approve", url.Values{"token": {sign(page, func(tx *identity.Transaction) { tx.Amount = "1000.00" })}})
	must(t, page, "The payment was not made")
	creds, _ := store.Credentials(ctx, "alice", KindPayment)
	if len(creds) != 0 {
		t.Fatalf("a refused approval made %d payments", len(creds))
	}

	page = alice.c.post(alice.c.get("/pay"), "/pay", form)
	page = alice.c.post(page, "/pay/approve", url.Values{"token": {sign(page, nil)}})
	must(t, page, "Payment of 100.00 EUR to Muster GmbH approved")
	must(t, page, `id="payments"`)
	must(t, page, "DE89370400440532013000")
	if creds, _ = store.Credentials(ctx, "alice", KindPayment); len(creds) != 1 {
		t.Fatalf("%d payments recorded, want 1", len(creds))
	}

	bad := url.Values{"amount": {"100.00"}, "payee": {"Muster GmbH"}, "iban": {"DE88 3704 0044 0532 0130 00"}}
	page = alice.c.post(alice.c.get("/pay"), "/pay", bad)
	must(t, page, "This IBAN is not valid")
	if strings.Contains(page, "data-approval") {
		t.Fatal("a bad IBAN reached the card step")
	}

	anon := newClient(t, ts.URL)
	anon.get("/pay")
	if anon.last != "/login" {
		t.Fatalf("a visitor not logged in reached %s", anon.last)
	}
}
