package browsertest

import (
	"encoding/base64"
	"encoding/hex"
	"testing"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/totp/ocra"
)

// payment types "100.00 EUR to Muster GmbH" on the payment page and waits
// on the approval page until its script holds the challenge.
func payment(p *page, st *stack, label string) {
	p.b.t.Helper()
	p.open(st.Login+"/pay", label)
	p.fill("#amount", "100.00")
	p.fill("#payee", "Muster GmbH")
	p.fill("#iban", "DE89 3704 0044 0532 0130 00")
	p.fill("#reference", "INV-42")
	p.submit("#pay-go", label+"-approve")
	p.ready()
}

// ready waits until the approval page's script has its challenge.
func (p *page) ready() {
	p.b.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(`#approve[data-ready="1"]`)))
}

// tamper runs script on the approval page: the page (or a script injected
// into it) changes what it holds before the holder acts.
func (p *page) tamper(script string) {
	p.b.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const box = document.getElementById("approve"); `+script+`; return true; })()`)); err != nil {
		p.fail("tampering with the page: %v", err)
	}
}

// TestBrowserPayment: "send money" approved with the card (PSD2 dynamic
// linking). The agent's own window shows the amount, payee and account it
// signs; the account page lists the approved payment. A page that tampers
// with what it hands the agent (1000.00 instead of 100.00) gets a card
// signature over the tampered payment — which the holder sees in the
// agent's window — and the server, which checks it against its own copy,
// refuses it and makes no payment.
func TestBrowserPayment(t *testing.T) {
	p := newBrowser(t)
	st := startStack(t)
	signUp(p, st, "alice", "correct horse battery")
	enrolCard(p, st)
	cardSecondStep(p, st, false)

	approve := func(amount string) {
		p.agentWindow("#card-go", func(w *page) {
			w.do(chromedp.WaitVisible(chromedp.CSS("#pin")))
			w.expect("#origin", st.Login)
			w.expect("#pay-amount", amount+" EUR")
			w.expect("#pay-payee", "Muster GmbH")
			w.expect("#pay-account", "DE89370400440532013000")
			w.shot("agent-payment")
			w.fill("#pin", st.Card.PIN)
			w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
		})
	}

	// The tampering page.
	payment(p, st, "pay-tampered")
	evil := identity.Transaction{Amount: "1000.00", Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89370400440532013000", Reference: "INV-42"}
	canon, err := evil.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	p.tamper(`const a = JSON.parse(box.dataset.payload); a.transaction = "` + base64.StdEncoding.EncodeToString(canon) + `";
		box.dataset.payload = JSON.stringify(a)`)
	approve("1000.00")
	p.expect("#approve-status", "The payment was not made")
	p.shot("payment-refused")

	payment(p, st, "pay")
	approve("100.00")
	p.expect("#notice", "Payment of 100.00 EUR to Muster GmbH approved with your card")
	p.expect("#payments", "DE89370400440532013000")
	p.expect("#audit", "payment-approved")
	p.shot("payment-approved")
}

// TestBrowserPaymentKeyAndToken: the payment approved with a security key
// (Chromium's DevTools virtual authenticator) and with an OCRA signing
// token issued on the account page, whose answers the test computes from
// the key the page showed, as the token would. A page that posts 100.01
// EUR beside a key's signature over 100.00 is refused by the server; so
// are a wrong token answer and a replayed one.
func TestBrowserPaymentKeyAndToken(t *testing.T) {
	p := newBrowser(t)
	st := startStack(t)
	call(p, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	p.authenticator(cdpwebauthn.AuthenticatorTransportUsb, false)
	signUp(p, st, "erin", "correct horse battery")
	p.do(chromedp.Click(chromedp.CSS("#add-key")), chromedp.WaitVisible(chromedp.CSS("#webauthn-go")))
	p.submit("#webauthn-go", "key-enrolled")
	p.submit("#webauthn-go", "account")
	p.expect("#notice", "Logged in with two factors")

	// The key: the page posts another amount than the one the key signed.
	payment(p, st, "key-tampered")
	p.tamper(`const tx = JSON.parse(box.dataset.transaction); tx.amount = "100.01"; box.dataset.transaction = JSON.stringify(tx)`)
	p.do(chromedp.Click(chromedp.CSS("#key-go")))
	p.expect("#approve-status", "The payment was not made")
	p.shot("key-tampered-refused")
	p.submit("#approve-again a", "key-again")
	p.ready()
	p.submit("#key-go", "key-approved")
	p.expect("#notice", "Payment of 100.00 EUR to Muster GmbH approved with your security key or passkey")
	p.expect("#payments", "webauthn")

	// The token: issued on the account page, its first answer computed
	// from the key shown.
	p.open(st.Login+"/account", "account")
	p.submit("#add-ocra", "ocra-enrol")
	suite, err := ocra.ParseSuite(p.text("#ocra-suite"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(p.text("#ocra-key"))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(question string, counter uint64) string {
		r, err := suite.Response(key, ocra.Input{Question: question, Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	p.fill("#code", answer(p.text("#ocra-first"), 0))
	p.fill("#name", "bank token")
	p.submit("#verify", "ocra-enrolled")
	p.expect("#notice", "Signing token added")
	p.expect("#factors", "Signing token (OCRA)")

	payment(p, st, "token")
	p.submit("#method-ocra", "token-approve")
	p.ready()
	question := p.text("#ocra-question")
	if question != "300010000" {
		t.Fatalf("the token's question is %q, want the account's last digits 3000 and 10000 cents", question)
	}
	p.fill("#ocra-code", "00000000")
	p.do(chromedp.Click(chromedp.CSS("#ocra-go")))
	p.expect("#approve-status", "The payment was not made")
	p.shot("token-wrong")
	code := answer(question, 1)
	p.submit("#approve-again a", "token-again")
	p.ready()
	p.fill("#ocra-code", code)
	p.submit("#ocra-go", "token-approved")
	p.expect("#notice", "Payment of 100.00 EUR to Muster GmbH approved with your signing token")
	p.expect("#payments", "ocra")

	// The same payment again: the answer seen before is refused.
	payment(p, st, "token-replay")
	p.submit("#method-ocra", "token-replay-approve")
	p.ready()
	p.fill("#ocra-code", code)
	p.do(chromedp.Click(chromedp.CSS("#ocra-go")))
	p.expect("#approve-status", "The payment was not made")
	p.shot("token-replay-refused")
}
