package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/webauthn"
)

// spcFeatures switch Secure Payment Confirmation on in Debian's Chromium
// 156, where it is off on Linux. Without it,
// PaymentRequest.securePaymentConfirmationAvailability() answers
// "unavailable-feature-not-enabled", canMakePayment() false, and show()
// fails with "NotSupportedError: The payment method
// "secure-payment-confirmation" is not supported" (registration with the
// payment extension goes through, the extension ignored). With only the
// Blink side (--enable-blink-features=SecurePaymentConfirmation) both the
// availability check and a registration with the payment extension fail
// with "NotSupportedError: Error connecting to Secure Payment Confirmation
// service". The browser feature below is enough, headless included.
var spcFeatures = []chromedp.ExecAllocatorOption{
	chromedp.Flag("enable-features", "SecurePaymentConfirmationBrowser"),
}

const spcIBAN = "DE89 3704 0044 0532 0130 00"

// spcServer is a bank's payment approval on the webauthn factor alone, the
// few handlers SPC needs: register a payment credential, begin and finish
// an approval. Its answers name the sentinel an error matched, so that the
// test can tell a mismatch from a replay.
func spcServer(t *testing.T) *httptest.Server {
	t.Helper()
	var origin string
	var f *webauthn.Factor
	mux := http.NewServeMux()
	ts := httptest.NewUnstartedServer(mux)
	ts.Start()
	t.Cleanup(ts.Close)
	// localhost, not 127.0.0.1: an IP address is no RP ID.
	origin = "http://localhost" + ts.URL[strings.LastIndex(ts.URL, ":"):]
	svc := &identity.Services{Store: memstore.New()}
	f, err := webauthn.New(svc, webauthn.Config{RPID: "localhost", RPDisplayName: "Example Bank", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	tx := func(amount, iban string) *identity.Transaction {
		return &identity.Transaction{Amount: amount, Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: iban, Reference: "INV-2026-0042"}
	}
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	type body struct {
		ID         identity.ChallengeID `json:"id"`
		Credential json.RawMessage      `json:"credential"`
		Amount     string               `json:"amount"`
		IBAN       string               `json:"iban"`
	}
	read := func(r *http.Request) body {
		var b body
		json.NewDecoder(r.Body).Decode(&b)
		return b
	}
	outcome := func(err error) string {
		for _, s := range []struct {
			name string
			err  error
		}{
			{"ErrPaymentMismatch", webauthn.ErrPaymentMismatch},
			{"ErrNotPayment", webauthn.ErrNotPayment},
			{"ErrTransactionMismatch", identity.ErrTransactionMismatch},
			{"ErrReplayed", identity.ErrReplayed},
			{"ErrInvalidResponse", identity.ErrInvalidResponse},
		} {
			if errors.Is(err, s.err) {
				return s.name
			}
		}
		if err != nil {
			return "error: " + err.Error()
		}
		return "approved"
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, spcPage) })
	mux.HandleFunc("POST /enroll/begin", func(w http.ResponseWriter, r *http.Request) {
		ch, err := f.BeginEnrollPayment(r.Context(), identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		reply(w, map[string]any{"id": ch.ID, "options": json.RawMessage(ch.Payload)})
	})
	mux.HandleFunc("POST /enroll/finish", func(w http.ResponseWriter, r *http.Request) {
		b := read(r)
		_, err := f.FinishEnroll(r.Context(), identity.Response{ChallengeID: b.ID, Subject: "alice", Origin: origin, Data: b.Credential, Name: "laptop"})
		reply(w, map[string]string{"result": outcome(err)})
	})
	mux.HandleFunc("POST /spc/begin", func(w http.ResponseWriter, r *http.Request) {
		ch, err := f.BeginSPC(r.Context(), identity.Request{Subject: "alice", Origin: origin, Transaction: tx("100.00", spcIBAN)},
			webauthn.SPCOptions{Instrument: webauthn.PaymentInstrument{DisplayName: "Current account ****3000", Icon: spcIcon}})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		reply(w, map[string]any{"id": ch.ID, "payload": json.RawMessage(ch.Payload)})
	})
	mux.HandleFunc("POST /spc/finish", func(w http.ResponseWriter, r *http.Request) {
		b := read(r)
		p, err := f.FinishSPC(r.Context(), identity.Response{ChallengeID: b.ID, Subject: "alice", Origin: origin, Data: b.Credential, Transaction: tx(b.Amount, b.IBAN)})
		res := outcome(err)
		if err == nil && p.Claims["spc"] != "true" {
			res = "approved without SPC"
		}
		reply(w, map[string]string{"result": res})
	})
	ts.URL = origin
	return ts
}

// spcIcon is a 1×1 PNG: SPC's dialog must show the instrument's icon
// (iconMustBeShown defaults to true), and a data: URL signs the image
// itself.
const spcIcon = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

// spcPage registers a payment credential and approves payments with
// PaymentRequest's secure-payment-confirmation method. window.spcCase says
// how a tampering page alters the request or the answer it posts.
const spcPage = `<!doctype html><html><head><title>SPC</title></head><body>
<button id=enroll>Register this device for payments</button>
<button id=approve>Approve 100.00 EUR to Muster GmbH</button>
<p id=status></p>
<script>
const b64u = s => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), c => c.charCodeAt(0));
const post = async (path, body) => (await fetch(path, {method: "POST", body: JSON.stringify(body || {})})).json();
const status = document.getElementById("status");
const done = s => { status.textContent = s; };
document.getElementById("enroll").onclick = async () => {
  try {
    const b = await post("/enroll/begin");
    const o = b.options.publicKey;
    o.challenge = b64u(o.challenge);
    o.user.id = b64u(o.user.id);
    (o.excludeCredentials || []).forEach(c => c.id = b64u(c.id));
    const cred = await navigator.credentials.create({publicKey: o});
    done("enrolled: " + (await post("/enroll/finish", {id: b.id, credential: cred.toJSON()})).result);
  } catch (e) { done("enrol failed: " + e.name + ": " + e.message); }
};
document.getElementById("approve").onclick = async () => {
  const c = window.spcCase || {};
  try {
    const b = await post("/spc/begin");
    const p = b.payload, d = p.methodData[0].data;
    d.challenge = b64u(d.challenge);
    d.credentialIds = d.credentialIds.map(b64u);
    if (c.showAmount) p.details.total.amount.value = c.showAmount;
    if (c.showPayee) d.payeeName = c.showPayee;
    const resp = await new PaymentRequest(p.methodData, p.details).show();
    await resp.complete("success");
    const answer = {id: b.id, credential: resp.details.toJSON(), amount: c.postAmount || "100.00", iban: c.postIBAN || "` + spcIBAN + `"};
    let out = (await post("/spc/finish", answer)).result;
    if (c.replay) out += ", replayed: " + (await post("/spc/finish", answer)).result;
    done("approval: " + out);
  } catch (e) { done("approval failed: " + e.name + ": " + e.message); }
};
</script></body></html>`

// TestBrowserSPC approves a payment with Secure Payment Confirmation in
// Chromium: a credential registered with the payment extension on a
// DevTools virtual platform authenticator, the payment dialog accepted by
// DevTools (Page.setSPCTransactionMode autoAccept), the signed payment.get
// client data verified by the server. "100.00 EUR to Muster GmbH, DE89…"
// is approved; a page that shows 100.01 EUR or another payee in the dialog,
// or posts the answer for 100.01 EUR or another IBAN, and a replayed
// answer are refused with typed errors.
func TestBrowserSPC(t *testing.T) {
	p := newBrowserWith(t, spcFeatures...)
	ts := spcServer(t)

	call(p, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	p.authenticator(cdpwebauthn.AuthenticatorTransportInternal, true)
	call(p, cdppage.SetSPCTransactionMode, cdppage.SetSPCTransactionModeParams{Mode: cdppage.SetSPCTransactionModeModeAutoAccept})

	p.open(ts.URL, "spc")
	if avail, err := chromedp.Run(p.ctx, chromedp.Evaluate[string]("PaymentRequest.securePaymentConfirmationAvailability()", chromedp.EvalAwaitPromise)); err != nil || avail != "available" {
		t.Fatalf("SPC availability: %q (%v)", avail, err)
	}
	p.click("#enroll")
	p.expect("#status", "enrolled: approved")

	for _, c := range []struct {
		name, spcCase, want string
	}{
		{"100.00 EUR", `{}`, "approval: approved"},
		{"dialog shows 100.01 EUR", `{showAmount: "100.01"}`, "approval: ErrPaymentMismatch"},
		{"dialog shows another payee", `{showPayee: "Evil Ltd, GB82 WEST 1234 5698 7654 32"}`, "approval: ErrPaymentMismatch"},
		{"answer posted for 100.01 EUR", `{postAmount: "100.01"}`, "approval: ErrTransactionMismatch"},
		{"answer posted for another IBAN", `{postIBAN: "GB82 WEST 1234 5698 7654 32"}`, "approval: ErrTransactionMismatch"},
		{"replayed", `{replay: true}`, "approval: approved, replayed: ErrReplayed"},
	} {
		p.eval(fmt.Sprintf("(window.spcCase = %s, document.getElementById('status').textContent = '', true)", c.spcCase))
		p.click("#approve")
		p.expect("#status", c.want)
		p.shot(strings.ReplaceAll(c.name, " ", "-"))
	}
}

// click clicks a button of the page (a user gesture, which
// PaymentRequest.show and WebAuthn ask for).
func (p *page) click(sel string) {
	p.b.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(sel)))
}

// eval runs a script for its effect.
func (p *page) eval(js string) {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
		p.fail("%s: %v", js, err)
	}
}
