package browsertest

import (
	"encoding/base64"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/puce-id/puce/identity"
)

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

	pay := func(label string) {
		p.open(st.Login+"/pay", label)
		p.fill("#amount", "100.00")
		p.fill("#payee", "Muster GmbH")
		p.fill("#iban", "DE89 3704 0044 0532 0130 00")
		p.fill("#reference", "INV-42")
		p.submit("#pay-go", label+"-card")
	}
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
	pay("pay-tampered")
	evil := identity.Transaction{Amount: "1000.00", Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89370400440532013000", Reference: "INV-42"}
	canon, err := evil.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`(() => { const f = document.getElementById("card-form");
		const a = JSON.parse(f.dataset.approval); a.transaction = "`+base64.StdEncoding.EncodeToString(canon)+`";
		f.dataset.approval = JSON.stringify(a); return true; })()`)); err != nil {
		t.Fatalf("tampering with the page: %v", err)
	}
	approve("1000.00")
	p.expect("#error", "The payment was not made")
	p.shot("payment-refused")

	pay("pay")
	approve("100.00")
	p.expect("#notice", "Payment of 100.00 EUR to Muster GmbH approved")
	p.expect("#payments", "DE89370400440532013000")
	p.expect("#audit", "payment-approved")
	p.shot("payment-approved")
}
