package browsertest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/puce-id/puce/examples/internal/agent"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
	"github.com/puce-id/puce/webauthn"
)

// clientSite is a site built on httpauth.NewSite alone, with a test page
// that imports the browser client the endpoints serve (/auth/puce.js) and
// nothing else: the module's tests call it from that page.
type clientSite struct {
	URL, Agent string
	Card       *testcard.Card
	Clock      *clock
	Site       *httpauth.Site

	mu   sync.Mutex
	paid []string
	p7s  []byte
	pdf  []byte // the signed PDF the application kept
	// contract is the PDF the application holds for signing, in the
	// document.
	contract *httpauth.Document
}

// clientTestPage exposes the module to the test: lib is the module, puce a
// Client, and run(f) keeps f's outcome in window.outcome, an error as its
// fields, so that the test can wait for an answer that needs the card
// agent's window first.
const clientTestPage = `<!doctype html><html lang="en"><meta charset="utf-8"><title>puce.js test</title>
<input id="user" autocomplete="username webauthn">
<script type="module">
import * as lib from "/auth/puce.js";
window.lib = lib;
window.puce = new lib.Client({ agent: %q });
window.run = (f) => {
  window.outcome = null;
  Promise.resolve().then(f).then((value) => { window.outcome = { ok: true, value: value === undefined ? null : value }; },
    (e) => { window.outcome = { ok: false, error: { name: e.name, message: e.message, status: e.status, retryAfter: e.retryAfter,
      triesLeft: e.triesLeft, reason: e.reason, puce: e instanceof lib.PuceError } }; });
  return true;
};
document.title = "ready";
</script>`

func startClientSite(t *testing.T, agentURL string) *clientSite {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cs := &clientSite{Clock: &clock{}}
	contract, err := os.ReadFile(filepath.Join("..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	cs.contract = &httpauth.Document{ID: "contract-9", Name: "contract.pdf", Data: contract}
	ocspTS, ocspH := listen(t)
	card, err := testcard.New(testcard.Options{Holder: testcard.DefaultHolder(), OCSPURL: ocspTS.URL})
	if err != nil {
		t.Fatal(err)
	}
	cs.Card = card
	ocspH.set(ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil))
	siteTS, siteH := listen(t)
	agentTS, agentH := listen(t)
	cs.URL, cs.Agent = localhost(siteTS), agentTS.URL
	if agentURL != "" {
		cs.Agent = agentURL
	}
	a, err := agent.New(agent.Config{Allowed: []string{cs.URL}, Source: &agent.InProcess{Transport: card.Card, Name: "test card"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a.SetSelf(agentTS.URL)
	agentH.set(a.Handler())

	store := memstore.New()
	sealer, _ := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(card.PKI.Root)
	inter.AddCert(card.PKI.Issuing)
	cs.Site, err = httpauth.NewSite(httpauth.SiteConfig{Store: store, Origin: cs.URL, Development: true, Name: "puce.js test",
		Sealer: sealer, WebAuthn: &webauthn.Config{}, Cards: &cardauth.Config{Roots: roots, Intermediates: inter}, SignUp: true,
		Clock: cs.Clock, Logger: log, Endpoints: httpauth.EndpointsConfig{PendingPayment: cs.pending, PaymentApproved: cs.approved,
			Signing: &httpauth.Signing{Document: cs.document, Signed: cs.signed, SignedPDF: cs.signedPDF}},
		PDF: &pades.CeremonyConfig{Level: pades.LevelBB, Verify: pades.VerifyOptions{Roots: roots, Intermediates: inter}},
		// Two free failures, then a minute's wait: the test sees Retry-After.
		Throttle: &identity.Throttle{Store: store, Free: 2, BaseDelay: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", cs.Site)
	// The application's page puts a payment up for approval, in the session.
	mux.Handle("POST /app/pay", cs.Site.Manager.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := cs.Site.Manager.Load(r)
		if err == nil {
			err = cs.Site.Manager.Authorize(s, "pay")
		}
		var tx identity.Transaction
		if err == nil {
			err = json.NewDecoder(r.Body).Decode(&tx)
		}
		if err == nil {
			b, _ := json.Marshal(tx)
			s.SetValue("payment", string(b))
			err = cs.Site.Manager.Save(r.Context(), s)
		}
		if err != nil {
			cs.Site.Manager.WriteError(w, r, errors.Join(identity.ErrBadInput, err))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})))
	mux.HandleFunc("GET /loan.txt", func(w http.ResponseWriter, r *http.Request) { w.Write(loan.Data) })
	mux.HandleFunc("GET /contract.pdf", func(w http.ResponseWriter, r *http.Request) { w.Write(cs.contract.Data) })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, clientTestPage, cs.Agent)
	})
	siteH.set(mux)
	return cs
}

func (cs *clientSite) pending(r *http.Request, s *httpauth.Session) (*identity.Transaction, error) {
	v := s.Value("payment")
	if v == "" {
		return nil, nil
	}
	var tx identity.Transaction
	return &tx, json.Unmarshal([]byte(v), &tx)
}

func (cs *clientSite) approved(r *http.Request, s *httpauth.Session, tx identity.Transaction, p identity.Proof) error {
	s.SetValue("payment", "") // single: gone before it is paid
	if err := cs.Site.Manager.Save(r.Context(), s); err != nil {
		return err
	}
	cs.mu.Lock()
	cs.paid = append(cs.paid, tx.Amount+" "+tx.Currency+" by "+string(p.Kind))
	cs.mu.Unlock()
	return nil
}

func (cs *clientSite) payments() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return strings.Join(cs.paid, ", ")
}

// loan is the document the application holds for signing.
var loan = &httpauth.Document{ID: "loan-7", Name: "loan.txt", Data: []byte("Loan agreement 7: 10000 EUR over 5 years.\n")}

func (cs *clientSite) document(r *http.Request, s *httpauth.Session, id string) (*httpauth.Document, error) {
	switch id {
	case loan.ID:
		return loan, nil
	case cs.contract.ID:
		return cs.contract, nil
	}
	return nil, nil
}

func (cs *clientSite) signedPDF(r *http.Request, s *httpauth.Session, d *httpauth.Document, signed *pades.Signed) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.pdf = signed.PDF
	return nil
}

func (cs *clientSite) signed(r *http.Request, s *httpauth.Session, d *httpauth.Document, sig *esign.Signed) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.p7s = sig.P7S
	return nil
}

// outcome is what window.run kept.
type outcome struct {
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error *struct {
		Name       string `json:"name"`
		Message    string `json:"message"`
		Status     int    `json:"status"`
		RetryAfter int    `json:"retryAfter"`
		TriesLeft  *int   `json:"triesLeft"`
		Reason     string `json:"reason"`
		Puce       bool   `json:"puce"`
	} `json:"error"`
}

// userGesture runs an evaluation as if the user had clicked: WebAuthn and
// window.open want one.
func userGesture(p *runtime.EvaluateParams) { t := true; p.UserGesture = &t }

// start calls expr (a JavaScript expression giving a promise) through
// window.run, without waiting for it.
func (p *page) start(expr string) {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("run(() => "+expr+")", userGesture)); err != nil {
		p.fail("calling %s: %v", expr, err)
	}
}

// result waits for the outcome of the call start made.
func (p *page) result() outcome {
	p.b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("window.outcome ? JSON.stringify(window.outcome) : ''"))
		cancel()
		if err == nil && s != "" {
			var o outcome
			if err := json.Unmarshal([]byte(s), &o); err != nil {
				p.fail("outcome %s: %v", s, err)
			}
			return o
		}
		if time.Now().After(deadline) {
			p.fail("no outcome (err %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// js calls expr and returns its outcome.
func (p *page) js(expr string) outcome {
	p.b.t.Helper()
	p.start(expr)
	return p.result()
}

// ok calls expr, which must succeed, and decodes its value into v.
func (p *page) ok(expr string, v any) {
	p.b.t.Helper()
	o := p.js(expr)
	if !o.OK {
		p.fail("%s failed: %+v", expr, *o.Error)
	}
	if v != nil {
		if err := json.Unmarshal(o.Value, v); err != nil {
			p.fail("%s: value %s: %v", expr, o.Value, err)
		}
	}
}

// refused calls expr, which must fail with a PuceError of the given name
// and status carrying the public message of want.
func (p *page) refused(expr, name string, want error) outcome {
	p.b.t.Helper()
	o := p.js(expr)
	if o.OK || o.Error == nil {
		p.fail("%s succeeded: %s", expr, o.Value)
	}
	e := o.Error
	if !e.Puce || e.Name != name {
		p.fail("%s: error %+v, want a %s (a PuceError)", expr, *e, name)
	}
	if want != nil {
		status, msg := httpauth.Public(want)
		if e.Status != status || e.Message != msg {
			p.fail("%s: %d %q, want %d %q", expr, e.Status, e.Message, status, msg)
		}
	}
	return o
}

// openClientPage loads the test page and waits for the module.
func (p *page) openClientPage(url string) {
	p.b.t.Helper()
	p.do(chromedp.Navigate(url))
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("document.title === 'ready'")); err != nil {
		p.fail("the module did not load: %v", err)
	}
	// A blocked popup: the client offers a link to the agent's window,
	// which the test follows (see agentWindow).
	p.ok("(window.open = () => null, true)", nil)
}

// agentLink waits for the client's link to the agent's prompt and answers
// it there with pin.
func (p *page) agentLink(pin string) {
	p.b.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS("#puce-agent-link")))
	href := p.attr("#puce-agent-link", "href")
	if !strings.Contains(href, "/prompt/") {
		p.fail("the agent link %q is not a prompt", href)
	}
	w := p.b.agentTab
	w.do(chromedp.Navigate(href), chromedp.WaitVisible(chromedp.CSS("#pin")))
	w.fill("#pin", pin)
	w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
}

type stateJSON struct {
	Subject  string   `json:"subject"`
	Level    string   `json:"level"`
	Complete bool     `json:"complete"`
	Next     []string `json:"next"`
	Enroll   []string `json:"enroll"`
}

type challengeJSON struct {
	ChallengeID string          `json:"challengeId"`
	Kind        string          `json:"kind"`
	Payload     json.RawMessage `json:"payload"`
	QRCode      string          `json:"qrCode"`
}

// TestClientModule runs identity/httpauth's browser client (puce.js) in
// Chromium against httpauth.NewSite: base64url, the password step, TOTP
// enrolment and login with a wrong and a replayed code (typed errors with
// the server's public message and status, Retry-After once throttled),
// WebAuthn enrolment and login with a security key, a passkey through
// autofill (conditional mediation), the card through the agent, payments
// approved with the key and the card, a document signed with the card (and
// refused by the agent when the page shows other bytes than the server
// signs), a PDF signed in the document (the agent checking the signed
// bytes against the PDF it showed), and a missing agent as a
// CardAgentError.
func TestClientModule(t *testing.T) {
	p := newBrowser(t)
	cs := startClientSite(t, "")
	p.openClientPage(cs.URL + "/")

	// The module as served: a JavaScript module, base64url both ways.
	var round string
	p.ok(`Promise.resolve(lib.toBase64url(lib.fromBase64url("AP-_a7c")))`, &round)
	if round != "AP-_a7c" {
		t.Fatalf("base64url round trip gave %q", round)
	}
	p.refused(`Promise.resolve().then(() => lib.fromBase64url("a+b/"))`, "PuceError", nil)
	p.refused(`Promise.resolve().then(() => lib.fromBase64url("abcde"))`, "PuceError", nil)
	var lens string
	p.ok(`Promise.resolve(["", "AA", "AAA", "AAAA", "AAAAAA"].map((s) => lib.fromBase64url(s).byteLength).join(","))`, &lens)
	if lens != "0,1,2,3,4" {
		t.Fatalf("decoded lengths %q, want 0,1,2,3,4", lens)
	}
	var ctype string
	p.ok(`fetch("/auth/puce.js").then(r => r.headers.get("Content-Type"))`, &ctype)
	if !strings.HasPrefix(ctype, "text/javascript") {
		t.Fatalf("puce.js served as %q", ctype)
	}
	// Nothing the endpoints serve can be framed, not even by the site's own
	// page (CSP frame-ancestors 'none', OWASP ASVS 5.0 V3.4.6): Chromium
	// puts its error page in the frame, which the page cannot read.
	var framed string
	p.ok(`new Promise((ok) => {
	  const f = document.createElement("iframe");
	  f.onload = () => { let d = null; try { d = f.contentDocument; } catch (e) {}
	    ok(d && d.body ? "read: " + d.body.textContent.slice(0, 20) : "blocked"); f.remove(); };
	  f.src = "/auth/puce.js"; document.body.appendChild(f);
	})`, &framed)
	if framed != "blocked" {
		t.Fatalf("the site's page framed puce.js: %s", framed)
	}

	// A stale CSRF token (another tab renewed the session) is refused
	// once; the client then reads the session again.
	p.ok(`puce.session()`, nil)
	p.ok(`(puce.csrf = "stale", true)`, nil)
	p.refused(`puce.begin("login", "webauthn")`, "PuceError", httpauth.ErrCSRF)
	p.ok(`puce.begin("login", "webauthn")`, nil)

	// Sign up, enrol an authenticator app with begin and finish.
	const password = "correct horse battery"
	var st stateJSON
	p.ok(fmt.Sprintf("puce.signUp(%q, %q)", "dana", password), &st)
	if st.Subject != "dana" || st.Complete || !contains(st.Enroll, "totp") {
		t.Fatalf("after sign-up: %+v", st)
	}
	var ch challengeJSON
	p.ok(`puce.begin("enroll", "totp").then(c => (window.ch = c))`, &ch)
	var uri string
	json.Unmarshal(ch.Payload, &uri)
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || !strings.HasPrefix(ch.QRCode, "data:image/png;base64,") {
		t.Fatalf("TOTP enrolment challenge: %q, QR %.30q", uri, ch.QRCode)
	}
	secret := u.Query().Get("secret")
	enrolCode := code(t, secret, cs.Clock.Now())
	p.ok(fmt.Sprintf(`puce.finish("enroll", ch, %q, {name: "phone"})`, enrolCode), nil)
	p.ok("puce.logout()", nil)

	// A wrong password and a wrong code read the same; the code used to
	// enrol is spent (a replay reads the same too).
	if o := p.refused(fmt.Sprintf("puce.password(%q, %q)", "dana", "wrong horse"), "PuceError", identity.ErrInvalidResponse); o.Error.TriesLeft != nil {
		t.Fatalf("a wrong password told the tries left: %d", *o.Error.TriesLeft)
	}
	p.ok(fmt.Sprintf("puce.password(%q, %q)", "dana", password), &st)
	if st.Complete || !contains(st.Next, "totp") {
		t.Fatalf("after the password: %+v", st)
	}
	wrong := "000000"
	if wrong == enrolCode {
		wrong = "111111"
	}
	// The password proven, a wrong code tells how many tries remain
	// before the lock (the throttle's LockAfter, 10 by default); the
	// wrong password above told none.
	if o := p.refused(fmt.Sprintf("puce.login(%q, %q)", "totp", wrong), "PuceError", identity.ErrInvalidResponse); o.Error.TriesLeft == nil || *o.Error.TriesLeft != 9 {
		t.Fatalf("a wrong code: triesLeft %v, want 9", o.Error.TriesLeft)
	}
	p.refused(fmt.Sprintf("puce.login(%q, %q)", "totp", enrolCode), "PuceError", identity.ErrReplayed)
	// Soon throttled: 429, with the wait the server gave.
	var o outcome
	for i := 0; i < 4; i++ {
		if o = p.refused(fmt.Sprintf("puce.login(%q, %q)", "totp", wrong), "PuceError", nil); o.Error.Status != http.StatusUnauthorized {
			break
		}
	}
	if o.Error.Status != http.StatusTooManyRequests || o.Error.RetryAfter <= 0 {
		t.Fatalf("repeated failures: %+v", *o.Error)
	}
	t.Logf("throttled: %d, retry after %d s: %s", o.Error.Status, o.Error.RetryAfter, o.Error.Message)
	cs.Clock.Advance(2 * time.Minute)
	p.ok(fmt.Sprintf("puce.login(%q, %q)", "totp", code(t, secret, cs.Clock.Now())), &st)
	if !st.Complete || st.Level != "AAL2" {
		t.Fatalf("after the code: %+v", st)
	}

	// A security key (no passkeys on it), then a passkey on the laptop.
	call(p, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	key := p.authenticator(cdpwebauthn.AuthenticatorTransportUsb, false)
	var cred struct{ Kind, Name string }
	p.ok(`puce.enroll("webauthn", {name: "blue key"})`, &cred)
	if cred.Kind != "webauthn" || cred.Name != "blue key" {
		t.Fatalf("enrolled %+v", cred)
	}
	p.ok("puce.logout()", nil)
	p.ok(fmt.Sprintf("puce.password(%q, %q)", "dana", password), nil)
	p.ok(`puce.login("webauthn")`, &st)
	if !st.Complete || st.Level != "AAL2" {
		t.Fatalf("after the key: %+v", st)
	}
	laptop := p.authenticator(cdpwebauthn.AuthenticatorTransportInternal, true)
	p.present(key, false) // the key holds a credential of dana's: it would refuse
	p.ok(`puce.enroll("webauthn", {name: "laptop"})`, nil)
	p.present(key, true)
	p.ok("puce.logout()", nil)
	// Autofill: the virtual laptop offers its passkey in the user name
	// field's suggestions and picks it at once.
	p.present(key, false)
	p.ok(`puce.passkey({mediation: "conditional"})`, &st)
	if !st.Complete || st.Subject != "dana" || st.Level != "AAL2" {
		t.Fatalf("after the passkey: %+v", st)
	}
	// A pending conditional request (no passkey to offer: the laptop is
	// gone) gives way to another ceremony, and then resolves to null rather
	// than failing.
	p.ok("puce.logout()", nil)
	call(p, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: laptop})
	p.present(key, true)
	p.ok(`(window.cond = puce.passkey({mediation: "conditional"}), true)`, nil)
	p.ok(fmt.Sprintf("puce.password(%q, %q)", "dana", password), nil)
	p.ok(`puce.login("webauthn")`, &st)
	if !st.Complete || st.Subject != "dana" {
		t.Fatalf("after the key: %+v", st)
	}
	var cond json.RawMessage
	p.ok("window.cond", &cond)
	if string(cond) != "null" {
		t.Fatalf("the cancelled conditional request gave %s", cond)
	}
	// No authenticator answers: a WebAuthnError that says why.
	p.present(key, false)
	p.ok("puce.logout()", nil)
	p.ok(fmt.Sprintf("puce.password(%q, %q)", "dana", password), nil)
	p.ok(`(window.abort = new AbortController(), setTimeout(() => abort.abort(), 300), true)`, nil)
	o = p.refused(`puce.login("webauthn", undefined, {signal: abort.signal})`, "WebAuthnError", nil)
	if o.Error.Reason != "AbortError" {
		t.Fatalf("aborted ceremony: %+v", *o.Error)
	}
	p.present(key, true)
	p.ok(`puce.login("webauthn")`, nil)

	// The card through the agent: enrolment, then a login with it.
	p.start(`puce.enroll("card", {name: "card"})`)
	p.agentLink(cs.Card.PIN)
	if o := p.result(); !o.OK {
		p.fail("card enrolment: %+v", *o.Error)
	}
	p.ok("puce.logout()", nil)
	p.ok(fmt.Sprintf("puce.password(%q, %q)", "dana", password), nil)
	p.start(`puce.login("card")`)
	p.agentLink(cs.Card.PIN)
	o = p.result()
	if !o.OK {
		p.fail("card login: %+v", *o.Error)
	}
	json.Unmarshal(o.Value, &st)
	if !st.Complete || st.Level != "AAL3" {
		t.Fatalf("after the card: %+v", st)
	}
	p.shot("card-login")

	// A payment, approved with the security key: the page sees the
	// payment the server holds before the key is asked, and may stop there.
	pay := func(amount string) {
		p.ok(fmt.Sprintf(`fetch("/app/pay", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": puce.csrf},
			body: JSON.stringify({Amount: %q, Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: "DE89370400440532013000"})}).then(r => r.status)`, amount), nil)
	}
	pay("100.00")
	p.refused(`puce.approve("webauthn", {confirm: (tx) => { window.shown = tx; return false; }})`, "PuceError", nil)
	var shown struct{ Amount, PayeeName string }
	p.ok("window.shown", &shown)
	if shown.Amount != "100.00" || shown.PayeeName != "Muster GmbH" || cs.payments() != "" {
		t.Fatalf("the page was shown %+v; paid: %q", shown, cs.payments())
	}
	var approval struct {
		Approved bool
		Kind     string
	}
	p.ok(`puce.approve("webauthn", {confirm: (tx) => tx.amount === "100.00"})`, &approval)
	if !approval.Approved || approval.Kind != "webauthn" || cs.payments() != "100.00 EUR by webauthn" {
		t.Fatalf("approval %+v; paid: %q", approval, cs.payments())
	}
	// Another, approved with the card through the agent.
	pay("250.00")
	p.start(`puce.approve("card")`)
	p.agentLink(cs.Card.PIN)
	if o := p.result(); !o.OK {
		p.fail("card approval: %+v", *o.Error)
	}
	if got := cs.payments(); got != "100.00 EUR by webauthn, 250.00 EUR by card" {
		t.Fatalf("paid: %q", got)
	}

	// A document signed with the card: the page hands the agent other
	// bytes than the server holds for the id, and the agent refuses what
	// the server prepared (it names another document); then the right
	// bytes, fetched from a URL, are signed.
	p.start(`puce.sign("loan-7", {document: new Blob(["Loan agreement 7: 100 EUR.\n"])})`)
	p.do(chromedp.WaitVisible(chromedp.CSS("#puce-agent-link")))
	w := p.b.agentTab
	w.do(chromedp.Navigate(p.attr("#puce-agent-link", "href")), chromedp.WaitVisible(chromedp.CSS("#agent-continue")))
	w.expect("#preview", "100 EUR")
	w.do(chromedp.Click(chromedp.CSS("#agent-continue")))
	o = p.result()
	if o.OK || o.Error.Name != "CardAgentError" || !strings.Contains(o.Error.Message, "other than the document shown") {
		t.Fatalf("signing other bytes than the server's: %+v", o)
	}
	p.start(`puce.sign("loan-7", {document: "/loan.txt"})`)
	p.agentSign(cs.Card.PIN, "10000 EUR")
	o = p.result()
	if !o.OK {
		p.fail("signing: %+v", *o.Error)
	}
	var signed struct {
		Signed   bool
		Signer   string
		P7S      []byte
		Document struct{ ID, SHA256 string }
	}
	json.Unmarshal(o.Value, &signed)
	cs.mu.Lock()
	kept := cs.p7s
	cs.mu.Unlock()
	if !signed.Signed || signed.Document.ID != "loan-7" || signed.Signer != cs.Card.SignCert.Subject.CommonName ||
		len(signed.P7S) == 0 || !bytes.Equal(signed.P7S, kept) {
		t.Fatalf("signed: %+v (the application kept %d bytes)", signed, len(kept))
	}

	// A PDF, which the site signs in the document (PAdES): puce.js hands
	// the agent the PDF and the site's request whole; the agent rebuilds
	// the bytes the card signs from the PDF it showed and the request's
	// update, and the card signs.
	p.start(`puce.sign("contract-9", {document: "/contract.pdf"})`)
	p.do(chromedp.WaitVisible(chromedp.CSS("#puce-agent-link")))
	w.do(chromedp.Navigate(p.attr("#puce-agent-link", "href")), chromedp.WaitVisible(chromedp.CSS("#agent-continue")))
	w.do(chromedp.Click(chromedp.CSS("#agent-continue")), chromedp.WaitVisible(chromedp.CSS("#pin")))
	w.expect("#doc-level", "B-B")
	w.fill("#pin", cs.Card.PIN)
	w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
	o = p.result()
	if !o.OK {
		p.fail("signing a PDF: %+v", *o.Error)
	}
	var signedPDF struct {
		Signed bool
		Level  string
	}
	json.Unmarshal(o.Value, &signedPDF)
	cs.mu.Lock()
	keptPDF := cs.pdf
	cs.mu.Unlock()
	rep, err := pades.Verify(context.Background(), keptPDF, pades.VerifyOptions{Roots: cs.Card.PKI.Roots, Intermediates: cs.Card.PKI.Intermediates})
	if !signedPDF.Signed || signedPDF.Level != "B-B" || err != nil || len(rep.Signatures) != 1 || !rep.Signatures[0].Valid() {
		t.Fatalf("signed PDF: %+v, %v %+v", signedPDF, err, rep)
	}

	// No agent running: a CardAgentError that says so.
	p.ok(`(window.noAgent = new lib.Client({agent: "http://127.0.0.1:9"}), true)`, nil)
	p.ok("puce.logout()", nil)
	p.ok(fmt.Sprintf("noAgent.password(%q, %q)", "dana", password), nil)
	o = p.refused(`noAgent.login("card")`, "CardAgentError", nil)
	if !strings.Contains(o.Error.Message, "not running") {
		t.Fatalf("no agent: %+v", *o.Error)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
