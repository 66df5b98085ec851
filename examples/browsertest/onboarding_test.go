package browsertest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// signUpTOTP makes an account with an authenticator app and logs it in
// with two factors, as a person does on the pages.
func signUpTOTP(t *testing.T, p *page, st *stack, user string) {
	t.Helper()
	const password = "correct horse battery"
	signUp(p, st, user, password)
	p.do(chromedp.Click(chromedp.CSS("#add-totp")), chromedp.WaitVisible(chromedp.CSS("#qr")))
	secret := p.text("#secret")
	if !regexp.MustCompile(`^[A-Z2-7]{32,}$`).MatchString(secret) {
		t.Fatalf("secret on the page looks wrong: %q", secret)
	}
	p.fill("#code", code(t, secret, st.Clock.Now()))
	p.submit("#verify", "totp-enrolled")
	p.fill("#code", code(t, secret, st.Clock.Now().Add(30*time.Second)))
	p.submit("#verify", "account")
	p.expect("#notice", "Logged in with two factors")
}

// wrongCAN is a CAN that is not the card's.
func wrongCAN(can string) string {
	if can == "000000" {
		return "000001"
	}
	return "000000"
}

// TestBrowserOnboarding: a logged-in user verifies the identity document of
// the virtual card. The agent's window asks for the CAN (a wrong one reads
// nothing), shows every field that would be sent and to whom, the holder
// accepts, and the server shows the document verified by passive
// authentication.
func TestBrowserOnboarding(t *testing.T) {
	p := newBrowser(t)
	st := startStack(t)
	onboarding(t, p, st)
}

// TestBrowserOnboardingThroughPCSCD is the same with the card in pcscd's
// virtual reader and the agent's PC/SC source, as on a holder's machine.
func TestBrowserOnboardingThroughPCSCD(t *testing.T) {
	st := startStackWith(t, stackOptions{PCSCD: true})
	p := newBrowser(t)
	onboarding(t, p, st)
}

func onboarding(t *testing.T, p *page, st *stack) {
	signUpTOTP(t, p, st, "olivia")
	p.expect("#id-document", "No identity document verified")

	p.do(chromedp.Click(chromedp.CSS("#verify-document")), chromedp.WaitVisible(chromedp.CSS("#idoc-go")))
	p.shot("onboarding")
	p.expect("#asked", "DG1")
	p.agentWindow("#idoc-go", func(w *page) {
		w.do(chromedp.WaitVisible(chromedp.CSS("#can")))
		w.shot("agent-can-prompt")
		if got := w.text("#origin"); got != st.Login {
			t.Fatalf("the agent shows origin %q, want %q", got, st.Login)
		}
		w.expect("#asked", "DG2")

		// A wrong CAN: the chip refuses it, nothing is read or shown.
		w.fill("#can", wrongCAN(st.Passport.CAN))
		w.do(chromedp.Click(chromedp.CSS("#agent-read")))
		w.expect("#agent-notice", "refused this access number")
		w.shot("agent-wrong-can")
		if body := w.body(); strings.Contains(body, "ERIKSSON") || w.exists("#review") {
			t.Fatalf("a wrong CAN showed the holder's data:\n%s", body)
		}

		w.fill("#can", st.Passport.CAN)
		w.do(chromedp.Click(chromedp.CSS("#agent-read")), chromedp.WaitVisible(chromedp.CSS("#agent-disclose")))
		w.expect("#group-dg1", "ERIKSSON")
		w.expect("#group-dg1", "1974-08-12")
		w.expect("#group-dg1", "T22000129")
		w.expect("#agent-disclose", "Send to "+st.Login)
		w.expect("#chip-proof", "Active Authentication")
		w.do(chromedp.WaitVisible(chromedp.CSS("#photo")))
		w.shot("agent-review")
		w.do(chromedp.Click(chromedp.CSS("#agent-disclose")))
		w.expect("#agent-done", "Sent")
	})
	p.expect("#verified", "its chip signed this request")
	p.expect("#verified-fields", "ERIKSSON")
	p.expect("#stored", "keyed fingerprint")
	p.do(chromedp.WaitVisible(chromedp.CSS("#verified-photo")))
	p.shot("onboarding-verified")

	p.open(st.Login+"/account", "account-verified")
	p.expect("#id-document", "Identity document verified on")
	p.expect("#id-document", "identity card issued by UTO; DG1, DG2; chip present")
	p.expect("#audit", "identity-document")
}

// body is the page's text.
func (p *page) body() string {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	if err != nil {
		p.fail("reading the page: %v", err)
	}
	return s
}

// exists reports whether an element matches sel now.
func (p *page) exists(sel string) bool {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("document.querySelector("+jsString(sel)+") !== null"))
	if err != nil {
		p.fail("looking for %s: %v", sel, err)
	}
	return ok
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
