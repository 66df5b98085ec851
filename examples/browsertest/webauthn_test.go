package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// call runs one DevTools command on the page's target.
func call[P, R any](p *page, c cdp.Command[P, R], params P) R {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	r, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (R, error) {
		return cdp.Call(ctx, t, c, params)
	})
	if err != nil {
		p.fail("%s: %v", c.Method, err)
	}
	return r
}

// authenticator plugs a DevTools virtual authenticator into the page's
// tab: Chromium then answers WebAuthn requests with it instead of real
// devices, touching it at once (user presence) and passing its user
// verification (PIN or biometric).
func (p *page) authenticator(transport cdpwebauthn.AuthenticatorTransport, residentKeys bool) cdpwebauthn.AuthenticatorID {
	p.b.t.Helper()
	r := call(p, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
		Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                cdpwebauthn.Ctap2versionCtap21,
		Transport:                   transport,
		HasResidentKey:              residentKeys,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}})
	return r.AuthenticatorID
}

// present makes an authenticator answer (or ignore) requests: a person
// touching one key and not the other.
func (p *page) present(id cdpwebauthn.AuthenticatorID, on bool) {
	p.b.t.Helper()
	call(p, cdpwebauthn.SetAutomaticPresenceSimulation, cdpwebauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: id, Enabled: on})
}

// clickFactorForm presses a button of the account page's row for the
// factor named name.
func (p *page) clickFactorForm(name, action, label string) {
	p.b.t.Helper()
	p.mark()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	js := fmt.Sprintf(`(() => {
		const row = [...document.querySelectorAll("#factors tr.factor")].find(tr => tr.querySelector("input[name=name]").value === %q);
		if (!row) return false;
		row.querySelector('form[action=%q] button').click();
		return true;
	})()`, name, action)
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil || !ok {
		p.fail("no factor %q with a %s form (err %v)", name, action, err)
	}
	p.waitNewDocument()
	p.shot(label)
}

// factorNames lists the names of the account page's factors, in order.
func (p *page) factorNames() string {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#factors tr.factor input[name=name]")].map(i => i.value).join(", ")`))
	if err != nil {
		p.fail("reading the factor names: %v", err)
	}
	return s
}

// TestBrowserWebAuthn enrols a security key and a passkey from the pages,
// as a person would, with Chromium's DevTools virtual authenticators standing
// in for a USB key and a laptop's built-in authenticator; logs in with the
// password and the key, steps up with the key before a password change, logs
// in with the passkey alone; and checks that a revoked passkey and an
// unplugged key fail with a clear message on the page.
func TestBrowserWebAuthn(t *testing.T) {
	p := newBrowser(t)
	st := startStack(t)
	const password = "correct horse battery"

	call(p, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	key := p.authenticator(cdpwebauthn.AuthenticatorTransportUsb, false)
	laptop := p.authenticator(cdpwebauthn.AuthenticatorTransportInternal, true)

	// Sign up; the first factor is the security key, used at once to end
	// the sign-up's login.
	p.open(st.Login+"/signup", "signup")
	p.fill("#username", "carol")
	p.fill("#password", password)
	p.fill("#password2", password)
	p.submit("#signup", "setup")
	p.do(chromedp.Click(chromedp.CSS("#add-key")), chromedp.WaitVisible(chromedp.CSS("#webauthn-go")))
	p.shot("key-enrol")
	p.fill("#name", "blue key")
	p.submit("#webauthn-go", "key-enrolled")
	p.expect("#notice", "Security key added")
	p.submit("#webauthn-go", "account")
	p.expect("#notice", "Logged in with two factors (AAL2")
	p.expect("#factors", "Security key")
	p.expect("#factors", "bound to its device")

	// A passkey on the laptop's built-in authenticator.
	p.do(chromedp.Click(chromedp.CSS("#add-passkey")), chromedp.WaitVisible(chromedp.CSS("#webauthn-go")))
	p.shot("passkey-enrol")
	p.fill("#name", "my laptop")
	// The person confirms on the laptop, not on the key: a key holding one
	// of the account's credentials would refuse (excludeCredentials) and
	// end the request.
	p.present(key, false)
	p.submit("#webauthn-go", "passkey-enrolled")
	p.present(key, true)
	p.expect("#notice", "Passkey added")
	p.expect("#factors", "Passkey")
	p.expect("#factors", "internal")
	// Registering the same key twice is refused by the authenticator
	// itself (excludeCredentials), and the page says so.
	p.open(st.Login+"/enroll/key", "key-again")
	p.do(chromedp.Click(chromedp.CSS("#webauthn-go")))
	p.expect("#webauthn-status", "already registered")
	p.shot("key-again-refused")

	// Log out; log in with the password and the key. The laptop stays
	// untouched, so the key answers.
	p.open(st.Login+"/account", "account-2")
	p.submit("#logout", "logged-out")
	p.expect("#notice", "You are logged out")
	p.present(laptop, false)
	p.fill("#username", "carol")
	p.fill("#password", password)
	p.submit("#login", "second-step")
	p.submit("#webauthn-go", "logged-in-key")
	p.expect("#notice", "Logged in with two factors (AAL2")
	p.expect("#level", "AAL2")

	// Three minutes later, a password change asks for a fresh factor: the
	// key again.
	st.Clock.Advance(3 * time.Minute)
	p.open(st.Login+"/password", "stepup")
	p.expect("h1", "Confirm it is you")
	p.submit("#webauthn-go", "stepped-up")
	p.expect("#notice", "Confirmed")
	const password2 = "a new long password"
	p.fill("#password", password2)
	p.fill("#password2", password2)
	p.submit("#change", "password-changed")
	p.expect("#notice", "Password changed")

	// Log out; log in with the passkey alone: no user name, no password.
	// The person confirms on the laptop, not on the key, which holds no
	// passkey (touching it would end the request). First through autofill
	// (conditional mediation): Chromium's virtual authenticator picks the
	// passkey from the user name field's suggestions at once, as a person
	// would pick it there.
	p.present(key, false)
	p.present(laptop, true)
	p.submit("#logout", "logged-out-2")
	p.expect("#notice", "Logged in with a passkey (AAL2, eIDAS substantial)")
	p.shot("logged-in-passkey-autofill")
	// Then with the button: the laptop ignores the autofill request, which
	// the button then replaces.
	p.present(laptop, false)
	p.submit("#logout", "logged-out-3")
	p.do(chromedp.WaitVisible(chromedp.CSS("#passkey-go")))
	p.present(laptop, true)
	p.submit("#passkey-go", "logged-in-passkey")
	p.expect("#notice", "Logged in with a passkey (AAL2, eIDAS substantial)")
	p.expect("#user", "carol")
	p.expect("#level", "AAL2")
	if got := p.factorNames(); got != "blue key, my laptop" {
		t.Fatalf("the account lists the factors %q, want %q", got, "blue key, my laptop")
	}
	p.expect("#audit", "webauthn")

	// Rename the passkey, then revoke it: it still sits on the laptop, but
	// no longer opens the account.
	p.fill(`#factors tr.factor input[value="my laptop"]`, "old laptop")
	p.clickFactorForm("old laptop", "/factor/rename", "renamed")
	p.expect("#notice", "Renamed")
	p.clickFactorForm("old laptop", "/factor/revoke", "revoked")
	p.expect("#notice", "removed")
	p.submit("#logout", "logged-out-4")
	p.expect("#error", "This passkey is not registered here")
	p.shot("revoked-passkey")

	// Unplug the key and plug in another one, never registered here: the
	// second step fails on the page, not silently. (With no key at all the
	// browser would wait for one until the challenge expires, and then fail
	// the same way.)
	call(p, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: key})
	p.authenticator(cdpwebauthn.AuthenticatorTransportUsb, false)
	p.fill("#username", "carol")
	p.fill("#password", password2)
	p.submit("#login", "second-step-other-key")
	p.do(chromedp.Click(chromedp.CSS("#webauthn-go")))
	p.expect("#webauthn-status", "No security key or passkey answered")
	p.shot("other-key-refused")
}
