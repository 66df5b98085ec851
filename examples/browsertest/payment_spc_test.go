package browsertest

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// addCredential is WebAuthn.addCredential with only the members given.
var addCredential = cdp.Command[map[string]any, struct{}]{Method: cdpwebauthn.CommandAddCredential}

// TestBrowserPaymentSPC: "send money" approved through Secure Payment
// Confirmation on the login example's pages, in Chromium with SPC switched
// on (spcFeatures). The holder registers this device for payments on the
// account page (a passkey with SPC's payment extension, on a DevTools
// virtual platform authenticator); the approval page then uses the
// browser's payment dialog, accepted by DevTools (Page.setSPCTransactionMode
// autoAccept), and the account lists the payment as approved by SPC. A
// page that posts 100.01 EUR beside the passkey's answer for 100.00, and a
// page that has the dialog show 100.01 EUR, are refused by the server and
// no payment is made. The same passkey, copied into a Chromium without
// SPC, logs in and approves a payment through plain WebAuthn.
func TestBrowserPaymentSPC(t *testing.T) {
	p := newBrowserWith(t, spcFeatures...)
	st := startStack(t)
	call(p, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	laptop := p.authenticator(cdpwebauthn.AuthenticatorTransportInternal, true)
	call(p, cdppage.SetSPCTransactionMode, cdppage.SetSPCTransactionModeParams{Mode: cdppage.SetSPCTransactionModeModeAutoAccept})
	signUpTOTP(t, p, st, "dora")

	p.open(st.Login+"/account", "account")
	p.submit("#add-payment-key", "payment-key-enrol")
	p.fill("#name", "laptop")
	p.submit("#webauthn-go", "payment-key-enrolled")
	p.expect("#notice", "Passkey for payments added")
	p.expect("#factors", "Passkey for payments")
	p.expect("#factors", "Secure Payment Confirmation")

	again := func(label string) {
		p.b.t.Helper()
		p.submit("#approve-again a", label)
		p.ready()
	}
	// The page posts another amount than the one the dialog showed and
	// the passkey signed.
	payment(p, st, "spc-tampered-post")
	if route := p.attr("#approve", "data-route"); route != "webauthn-spc" {
		t.Fatalf("the approval page took the route %q, want webauthn-spc (the payment dialog)", route)
	}
	p.expect("#key-go", "Approve in the payment window")
	p.tamper(`const tx = JSON.parse(box.dataset.transaction); tx.amount = "100.01"; box.dataset.transaction = JSON.stringify(tx)`)
	p.do(chromedp.Click(chromedp.CSS("#key-go")))
	p.expect("#approve-status", "The payment was not made")
	p.shot("spc-tampered-post-refused")

	// The page has the dialog show 100.01 EUR: the passkey signs what the
	// dialog showed, which is not the payment.
	again("spc-again")
	p.tamper(`const r = JSON.parse(box.dataset.payload); r.details.total.amount.value = "100.01"; box.dataset.payload = JSON.stringify(r)`)
	p.do(chromedp.Click(chromedp.CSS("#key-go")))
	p.expect("#approve-status", "The payment was not made")
	p.shot("spc-tampered-dialog-refused")

	again("spc-again-2")
	p.submit("#key-go", "spc-approved")
	p.expect("#notice", "Payment of 100.00 EUR to Muster GmbH approved with your passkey in your browser's payment dialog (Secure Payment Confirmation)")
	p.expect("#payments", "webauthn (passkey, SPC)")
	p.expect("#payments", "DE89370400440532013000")
	// The two refusals, each for its reason (the example's audit table
	// shows the library's reasons).
	p.expect("#audit", "not the payment shown: total")
	p.expect("#audit", "another transaction")
	p.expect("#audit", "confirmed in the browser's payment dialog (SPC)")
	p.shot("spc-approved")
	if rows := p.text("#payments"); strings.Count(rows, "100.00 EUR") != 1 {
		t.Fatalf("payments listed:\n%s", rows)
	}

	// A browser without SPC: the same passkey (copied to its virtual
	// authenticator) logs in alone and approves through plain WebAuthn.
	creds := call(p, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: laptop})
	if len(creds.Credentials) != 1 {
		t.Fatalf("the laptop holds %d credentials, want the payment passkey", len(creds.Credentials))
	}
	q := newBrowser(t)
	call(q, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	other := q.authenticator(cdpwebauthn.AuthenticatorTransportInternal, true)
	// The key, its user handle and counter only: Chromium 156 refuses an
	// addCredential that names CMTG members at all, and cdproto's
	// Credential always sends one.
	c := creds.Credentials[0]
	call(q, addCredential, map[string]any{"authenticatorId": other, "credential": map[string]any{
		"credentialId": c.CredentialID, "isResidentCredential": c.IsResidentCredential, "rpId": c.RpID,
		"privateKey": c.PrivateKey, "userHandle": c.UserHandle, "signCount": c.SignCount}})
	// Untouched until the button is pressed, as in TestBrowserWebAuthn:
	// the login page's passkey autofill would log in by itself otherwise.
	q.present(other, false)
	q.open(st.Login+"/login", "plain-login")
	q.do(chromedp.WaitVisible(chromedp.CSS("#passkey-go")))
	q.present(other, true)
	q.submit("#passkey-go", "plain-logged-in")
	q.expect("#notice", "Logged in with a passkey")
	payment(q, st, "plain")
	if route := q.attr("#approve", "data-route"); route != "webauthn" {
		t.Fatalf("without SPC the approval page took the route %q, want webauthn", route)
	}
	q.submit("#key-go", "plain-approved")
	q.expect("#notice", "Payment of 100.00 EUR to Muster GmbH approved with your security key or passkey.")
}
