package browsertest

import (
	"bufio"
	"context"
	"encoding/pem"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/puce-id/puce/examples/internal/agent"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// minimalSite is examples/minimal built and running, with a card agent
// over a virtual card and the card CA's OCSP responder.
type minimalSite struct {
	URL    string // the origin the page is served from
	Card   *testcard.Card
	CAFile string
}

// startMinimal builds examples/minimal and runs it as a user would, on a
// SQLite file, with the agent's URL and the card CA.
func startMinimal(t *testing.T) *minimalSite {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "minimal")
	if out, err := exec.Command("go", "build", "-o", bin, "../minimal").CombinedOutput(); err != nil {
		t.Fatalf("go build examples/minimal: %v\n%s", err, out)
	}
	ocspTS, ocspH := listen(t)
	card, err := testcard.New(testcard.Options{Holder: testcard.DefaultHolder(), OCSPURL: ocspTS.URL})
	if err != nil {
		t.Fatal(err)
	}
	ocspH.set(ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil))
	ms := &minimalSite{Card: card, CAFile: filepath.Join(dir, "ca.pem")}
	var pemData []byte
	for _, c := range [][]byte{card.PKI.Root.Raw, card.PKI.Issuing.Raw} {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	if err := os.WriteFile(ms.CAFile, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	agentTS, agentH := listen(t)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "minimal.db"), "-agent", agentTS.URL, "-ca", ms.CAFile)
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		f := strings.Fields(line) // "minimal: serving ORIGIN on ADDR"
		if len(f) != 5 || f[1] != "serving" {
			t.Fatalf("minimal said %q", line)
		}
		ms.URL = f[2]
	case <-time.After(30 * time.Second):
		t.Fatal("examples/minimal did not start")
	}
	a, err := agent.New(agent.Config{Allowed: []string{ms.URL}, Source: &agent.InProcess{Transport: card.Card, Name: "test card"}})
	if err != nil {
		t.Fatal(err)
	}
	a.SetSelf(agentTS.URL)
	agentH.set(a.Handler())
	return ms
}

// openMinimal loads the page; the browser then "blocks" popups, so the
// card agent's prompt comes as a link the test follows.
func (p *page) openMinimal(url, label string) {
	p.b.t.Helper()
	p.open(url, label)
	p.do(chromedp.WaitVisible(chromedp.CSS("#signup")))
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(window.open = () => null, true)")); err != nil {
		p.fail("blocking popups: %v", err)
	}
}

// press clicks a button of the minimal page and waits for #out to say want.
func (p *page) press(button, want, label string) {
	p.b.t.Helper()
	p.clearOut()
	p.do(chromedp.Click(chromedp.CSS(button)))
	p.expect("#out", want)
	p.shot(label)
}

func (p *page) clearOut() {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById("out").textContent = "", true)`)); err != nil {
		p.fail("clearing #out: %v", err)
	}
}

// pressCard clicks a button that asks the card agent, answers the agent's
// prompt with the PIN, and waits for #out to say want.
func (p *page) pressCard(button, pin, want, label string) {
	p.b.t.Helper()
	p.clearOut()
	p.do(chromedp.Click(chromedp.CSS(button)))
	p.agentLink(pin)
	p.expect("#out", want)
	p.shot(label)
}

// agentSign follows the client's link to the agent's prompt for a
// signature: the holder sees the document, shares the certificate, then
// types the PIN.
func (p *page) agentSign(pin, preview string) {
	p.b.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS("#puce-agent-link")))
	w := p.b.agentTab
	w.do(chromedp.Navigate(p.attr("#puce-agent-link", "href")), chromedp.WaitVisible(chromedp.CSS("#agent-continue")))
	w.expect("#preview", preview)
	w.shot("agent-sign-consent")
	w.do(chromedp.Click(chromedp.CSS("#agent-continue")), chromedp.WaitVisible(chromedp.CSS("#pin")))
	w.fill("#pin", pin)
	w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
}

// TestBrowserMinimal is examples/minimal's Must-show in Chromium: sign up,
// an authenticator app enrolled and used, a wrong code and a replayed one
// refused with the server's public message, a security key, the card
// through the agent, terms signed with the card and verified by OpenSSL, and
// a passkey picked from the user name's autofill.
func TestBrowserMinimal(t *testing.T) {
	p := newBrowser(t)
	ms := startMinimal(t)
	const user, password = "erin", "correct horse battery"
	const failed = "PuceError 401: Sign-in failed: what you entered was not accepted."

	p.openMinimal(ms.URL+"/", "minimal")
	p.fill("#user", user)
	p.fill("#pass", password)
	p.press("#signup", `"subject": "erin"`, "signed-up")
	p.expect("#out", `"totp"`)

	// The authenticator app: the page shows the key (as a QR code and its
	// otpauth URI); the test reads it as a phone would scan it.
	p.press("#add-totp", "otpauth://totp/", "totp-qr")
	if src := p.attr("#qr", "src"); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("the QR code is %.40q", src)
	}
	u, err := url.Parse(strings.Trim(p.text("#out"), `"`))
	if err != nil {
		t.Fatal(err)
	}
	secret := u.Query().Get("secret")
	if !regexp.MustCompile(`^[A-Z2-7]{32,}$`).MatchString(secret) {
		t.Fatalf("secret %q", secret)
	}
	enrolCode := code(t, secret, time.Now())
	p.fill("#code", enrolCode)
	p.press("#confirm-totp", `"kind": "totp"`, "totp-enrolled")
	p.press("#logout", "logged out", "logged-out")

	// Password, then a wrong code, the enrolment's code again (a replay),
	// and the next time step's code.
	p.press("#login", `"next"`, "password")
	wrong := "000000"
	if wrong == enrolCode {
		wrong = "111111"
	}
	p.fill("#code", wrong)
	p.press("#totp", failed, "wrong-code")
	p.fill("#code", enrolCode)
	p.press("#totp", failed, "replayed-code")
	p.fill("#code", code(t, secret, time.Now().Add(30*time.Second)))
	p.press("#totp", `"level": "AAL2"`, "logged-in-totp")
	p.expect("#out", `"complete": true`)

	// A security key (it keeps no passkey), then a login with it.
	call(p, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	key := p.authenticator(cdpwebauthn.AuthenticatorTransportUsb, false)
	p.press("#add-key", `"kind": "webauthn"`, "key-enrolled")
	p.press("#logout", "logged out", "logged-out-2")
	p.press("#login", `"next"`, "password-2")
	p.press("#key", `"level": "AAL2"`, "logged-in-key")

	// The card, through the agent: enrolled, then a login with it.
	p.pressCard("#add-card", ms.Card.PIN, `"kind": "card"`, "card-enrolled")
	p.press("#logout", "logged out", "logged-out-3")
	p.press("#login", `"next"`, "password-3")
	p.pressCard("#card", ms.Card.PIN, `"level": "AAL3"`, "logged-in-card")

	// The terms, signed with the card's signature key: the agent shows
	// them, the PIN is asked for this signature; OpenSSL accepts the .p7s
	// with the terms, trusting the card's CA, and refuses it with other
	// terms.
	p.clearOut()
	p.do(chromedp.Click(chromedp.CSS("#sign")))
	p.agentSign(ms.Card.PIN, "I accept the terms")
	p.expect("#out", `"signed": true`)
	p.expect("#out", ms.Card.SignCert.Subject.CommonName)
	p.shot("signed")
	dir := t.TempDir()
	terms, p7s := filepath.Join(dir, "terms.txt"), filepath.Join(dir, "terms.txt.p7s")
	os.WriteFile(terms, p.fetch(ms.URL+"/terms.txt"), 0o644)
	os.WriteFile(p7s, p.fetch(p.attr("#p7s", "href")), 0o644)
	openssl(t, p7s, terms, ms.CAFile, true)
	other := filepath.Join(dir, "other.txt")
	os.WriteFile(other, []byte("I accept the terms of another bank.\n"), 0o644)
	openssl(t, p7s, other, ms.CAFile, false)

	// A passkey on the laptop; the page then offers it in the user name's
	// autofill (conditional mediation), which Chromium's virtual
	// authenticator picks at once when the page loads.
	laptop := p.authenticator(cdpwebauthn.AuthenticatorTransportInternal, true)
	p.present(key, false)
	p.press("#add-key", `"kind": "webauthn"`, "passkey-enrolled")
	p.press("#logout", "logged out", "logged-out-4")
	p.present(laptop, true)
	p.openMinimal(ms.URL+"/", "reloaded")
	p.expect("#out", `"subject": "erin"`)
	p.expect("#out", `"level": "AAL2"`)
	p.shot("logged-in-passkey")
}
