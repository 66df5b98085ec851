package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	otptotp "github.com/pquerna/otp/totp"
)

// chromium finds the browser: $PUCE_CHROMIUM, or Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PUCE_CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed and CI=true: install it (apt install chromium)")
	}
	t.Skip("SKIPPED: browser tests need Debian's chromium (apt install chromium); it is not installed")
	return ""
}

// artifacts is where screenshots go.
func artifacts(t *testing.T) string {
	dir := os.Getenv("PUCE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
		t.Logf("screenshots go to %s, removed after the test: set PUCE_ARTIFACTS to keep them", dir)
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type browser struct {
	// agentTab is where the test answers the card agent's prompts.
	agentTab *page
	t        *testing.T
	dir      string
	n        int
}

// page is one tab (or the card agent's window) of the browser.
type page struct {
	b    *browser
	ctx  context.Context
	name string
}

func newBrowser(t *testing.T) *page { return newBrowserWith(t) }

// newBrowserWith starts Chromium with extra command-line options (features
// a test needs switched on).
func newBrowserWith(t *testing.T, extra ...chromedp.ExecAllocatorOption) *page {
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The page waiting for the card agent sits behind the agent's
		// window: its timers must keep running there.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.WindowSize(1000, 900),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium leaves its singleton socket's directory
		// (org.chromium.Chromium.*) in TMPDIR when it is stopped: in the
		// test's own directory, removed with it.
		chromedp.Env("TMPDIR=" + t.TempDir()),
	}
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b := &browser{t: t, dir: artifacts(t)}
	tabCtx, _ := chromedp.NewContext(ctx)
	if err := chromedp.Do(tabCtx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("opening a second tab: %v", err)
	}
	b.agentTab = &page{b: b, ctx: tabCtx, name: "agent window"}
	return &page{b: b, ctx: ctx, name: "main"}
}

// shot saves a screenshot of the page.
func (p *page) shot(label string) {
	p.b.n++
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	// Headless Chromium paints only the tab in front: a screenshot of a
	// tab behind another (the page behind the agent's window) never comes.
	bring := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdppage.BringToFront, cdp.Empty{})
		return err
	})
	if err := chromedp.Do(ctx, bring); err != nil {
		p.b.t.Logf("screenshot %s: %v", label, err)
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.b.t.Logf("screenshot %s: %v", label, err)
		return
	}
	file := filepath.Join(p.b.dir, fmt.Sprintf("%02d-%s.png", p.b.n, label))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.b.t.Fatal(err)
	}
	p.b.t.Logf("screenshot: %s", file)
}

// do runs the steps in order, each tried again (a few times) when DevTools
// no longer knows the node it found: a page whose script navigates
// (location.href after a fetch) can show the next document's text before
// chromedp has let go of node IDs it resolved on the previous one, and
// SetUploadFiles or Click then fails with "Could not find node with given
// id" (seen once in three CI runs, right after a card login's redirect).
// Such a step had no effect, since a node is resolved before any input or
// file is given to it, so trying it again on the new document is safe;
// a list is not retried as a whole, which could repeat a click that
// already happened.
func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	for _, step := range steps {
		for try := 1; ; try++ {
			err := chromedp.Do(ctx, step)
			if err == nil {
				break
			}
			if try < 5 && staleNode(err) {
				p.b.t.Logf("%s: %v; trying again on the new document", p.name, err)
				time.Sleep(200 * time.Millisecond)
				continue
			}
			p.fail("%v", err)
		}
	}
}

func (p *page) fail(format string, args ...any) {
	p.b.t.Helper()
	p.shot("FAILED")
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	p.b.t.Fatalf("%s: "+format+"\n  at %s\n  page says:\n%s", append([]any{p.name}, append(args, loc, body)...)...)
}

func (p *page) text(sel string) string {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	for try := 1; ; try++ {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err == nil {
			return s
		}
		if try < 5 && staleNode(err) { // see do
			time.Sleep(200 * time.Millisecond)
			continue
		}
		p.fail("reading %s: %v", sel, err)
	}
}

// staleNode reports DevTools' answer about a node of a document the page
// has just replaced (see do).
func staleNode(err error) bool {
	return strings.Contains(err.Error(), "Could not find node with given id")
}

// expect waits for sel to show, and to say want.
func (p *page) expect(sel, want string) {
	p.b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil && strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			p.fail("%s does not say %q (it says %q, err %v)", sel, want, s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *page) open(url, label string) {
	p.b.t.Helper()
	p.do(chromedp.Navigate(url))
	p.shot(label)
}

func (p *page) fill(sel, value string) {
	p.b.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("(document.querySelector(%q).value = '', true)", sel))); err != nil {
		p.fail("clearing %s: %v", sel, err)
	}
	p.do(chromedp.SendKeys(chromedp.CSS(sel), value))
}

// submit clicks a button and waits for the next page to load.
func (p *page) submit(button, label string) {
	p.b.t.Helper()
	p.mark()
	p.do(chromedp.Click(chromedp.CSS(button)))
	p.waitNewDocument()
	p.shot(label)
}

// mark tags the current document, so waitNewDocument can tell when the
// browser has replaced it with the next page.
func (p *page) mark() {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(window.__puceOld = true)")); err != nil {
		p.fail("marking the page: %v", err)
	}
}

func (p *page) waitNewDocument() {
	p.b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!window.__puceOld && document.readyState === 'complete'"))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.fail("the next page did not load")
}

// agentWindow clicks a button that makes the page ask the card agent, and
// hands the agent's own page, where the holder answers, to fn.
//
// For a person the page opens the agent's prompt in a popup window. Under
// chromedp v0.23 and headless Chromium a popup that navigates to another
// site stops answering DevTools commands, and its opener's scripts stall
// with it; so the test plays a browser whose popup blocker refused the
// window: the page then offers a link to the agent's prompt, which the test
// follows in a tab of its own. The request, the prompt, the origin shown and
// the PIN path are the same.
func (p *page) agentWindow(button string, fn func(w *page)) {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(window.open = () => null, true)"))
	cancel()
	if err != nil {
		p.fail("blocking popups: %v", err)
	}
	p.do(chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS("#agent-link")))
	p.shot("agent-link")
	url := p.attr("#agent-link", "href")
	if !strings.Contains(url, "/prompt/") {
		p.fail("the agent link %q is not a prompt", url)
	}
	w := p.b.agentTab
	w.do(chromedp.Navigate(url))
	fn(w)
}

func code(t *testing.T, secret string, at time.Time) string {
	c, err := otptotp.GenerateCodeCustom(secret, at, otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBrowserLoginAndSigning is the Must-show list of issue 9, in one
// browser session, as a person would go through it.
func TestBrowserLoginAndSigning(t *testing.T) {
	p := newBrowser(t)
	st := startStack(t)
	const password = "correct horse battery"

	// Sign up and enrol an authenticator app; the test reads the key from
	// the page, as a person would scan it.
	signUp(p, st, "alice", password)
	p.do(chromedp.Click(chromedp.CSS("#add-totp")), chromedp.WaitVisible(chromedp.CSS("#qr")))
	p.shot("totp-enrol")
	secret := p.text("#secret")
	if !regexp.MustCompile(`^[A-Z2-7]{32,}$`).MatchString(secret) {
		t.Fatalf("secret on the page looks wrong: %q", secret)
	}
	p.fill("#code", code(t, secret, st.Clock.Now()))
	p.fill("#name", "my phone")
	p.submit("#verify", "totp-enrolled")
	p.expect("#notice", "Authenticator app added")
	next := code(t, secret, st.Clock.Now().Add(30*time.Second))
	p.fill("#code", next)
	p.submit("#verify", "account")
	p.expect("#notice", "Logged in with two factors (AAL2")
	p.expect("#factors", "Authenticator app")
	if v := p.attr("#factors input[name=name]", "value"); v != "my phone" {
		t.Fatalf("factor name is %q, want %q", v, "my phone")
	}
	p.expect("#chain", "Audit chain verified")

	// Log out; log in again: a wrong code and a replayed one are refused.
	p.submit("#logout", "logged-out")
	p.expect("#notice", "You are logged out")
	p.fill("#username", "alice")
	p.fill("#password", password)
	p.submit("#login", "second-step")
	p.fill("#code", "000000")
	p.submit("#verify", "wrong-code")
	p.expect("#error", "That was not right")
	p.fill("#code", next)
	p.submit("#verify", "replayed-code")
	p.expect("#error", "already used")
	st.Clock.Advance(60 * time.Second)
	p.fill("#code", code(t, secret, st.Clock.Now()))
	p.submit("#verify", "logged-in-totp")
	p.expect("#notice", "Logged in with two factors")

	enrolCard(p, st)
	p.expect("#factors", "Smart card")
	logout(p)
	cardLogin(p, st, password, true)
	p.expect("#audit", "card")
	signAndVerify(p, st)
}

// signUp creates the account with the password; the browser is then on
// the setup page, logged in with the password alone.
func signUp(p *page, st *stack, user, password string) {
	p.b.t.Helper()
	p.open(st.Login+"/signup", "signup")
	p.fill("#username", user)
	p.fill("#password", password)
	p.fill("#password2", password)
	p.submit("#signup", "setup")
	p.expect("#notice", "Account created")
}

// enrolCard registers the card through the agent on a logged-in page: the
// agent's window shows this site's origin and takes the PIN.
func enrolCard(p *page, st *stack) {
	t := p.b.t
	t.Helper()
	p.open(st.Login+"/enroll/card", "card-enrol")
	p.agentWindow("#card-go", func(w *page) {
		w.do(chromedp.WaitVisible(chromedp.CSS("#pin")))
		w.shot("agent-pin-prompt")
		if got := w.text("#origin"); got != st.Login {
			t.Fatalf("the agent shows origin %q, want %q", got, st.Login)
		}
		w.fill("#pin", st.Card.PIN)
		w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
	})
	p.expect("#notice", "Smart card added")
	p.shot("card-enrolled")
}

func logout(p *page) {
	p.submit("#logout", "logged-out-again")
	p.expect("#notice", "You are logged out")
}

// cardLogin logs in with the password and the card, typing a wrong PIN
// first when wrongFirst is set (the agent must say how many tries are left).
func cardLogin(p *page, st *stack, password string, wrongFirst bool) {
	p.b.t.Helper()
	p.fill("#username", "alice")
	p.fill("#password", password)
	p.submit("#login", "second-step-card")
	cardSecondStep(p, st, wrongFirst)
}

// cardSecondStep answers the login's second step with the card, choosing
// the card first when the account has other second factors.
func cardSecondStep(p *page, st *stack, wrongFirst bool) {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	choice, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("document.querySelector('#method-card') !== null"))
	cancel()
	if err != nil {
		p.fail("looking for the factor choice: %v", err)
	}
	if choice {
		p.do(chromedp.Click(chromedp.CSS("#method-card")))
	}
	p.do(chromedp.WaitVisible(chromedp.CSS("#card-go")))
	p.shot("card-login")
	p.agentWindow("#card-go", func(w *page) {
		w.do(chromedp.WaitVisible(chromedp.CSS("#pin")))
		if wrongFirst {
			w.fill("#pin", "99999999")
			w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
			w.expect("#agent-notice", "Wrong PIN. 2 tries left")
			w.shot("agent-wrong-pin")
		}
		w.fill("#pin", st.Card.PIN)
		w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
	})
	p.expect("#notice", "Logged in with two factors (AAL3")
	p.shot("logged-in-card")
}

// signAndVerify signs a document with the card's e-signature key, verifies
// it, finds an altered copy reported as altered, and has OpenSSL agree.
func signAndVerify(p *page, st *stack) {
	t := p.b.t
	t.Helper()
	dir := t.TempDir()
	doc := []byte("Contract between Alice Martin and the example bank.\nAmount: 1000 EUR.\n")
	docFile := filepath.Join(dir, "contract.txt")
	os.WriteFile(docFile, doc, 0o644)
	// The desk shares the login site's accounts: the card signs in alone
	// (PIN: two factors), and only the account's own card may sign.
	p.open(st.Sign+"/", "sign-home")
	p.agentWindow("#card-go", func(w *page) {
		w.do(chromedp.WaitVisible(chromedp.CSS("#pin")))
		w.expect("#origin", st.Sign)
		w.fill("#pin", st.Card.PIN)
		w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
	})
	p.expect("#notice", "Signed in with your card")
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#document"), []string{docFile}))
	p.submit("#upload", "sign-page")
	p.agentWindow("#sign-go", func(w *page) {
		w.do(chromedp.WaitVisible(chromedp.CSS("#agent-continue")))
		w.expect("#origin", st.Sign)
		w.expect("#preview", "Amount: 1000 EUR")
		w.shot("agent-sign-consent")
		w.do(chromedp.Click(chromedp.CSS("#agent-continue")))
		w.do(chromedp.WaitVisible(chromedp.CSS("#pin")))
		w.expect("#doc-name", "contract.txt")
		w.shot("agent-sign-pin")
		w.fill("#pin", st.Card.PIN)
		w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
	})
	p.expect("#signed", "Signed by")
	p.shot("signed")
	p7s := p.fetch(st.Sign + p.attr("#download-p7s", "href"))
	p7sFile := filepath.Join(dir, "contract.txt.p7s")
	os.WriteFile(p7sFile, p7s, 0o644)

	p.open(st.Sign+"/verify", "verify")
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#document"), []string{docFile}), chromedp.SetUploadFiles(chromedp.CSS("#signature"), []string{p7sFile}))
	p.submit("#verify", "verified")
	p.expect("#verdict", "Valid signature")
	p.expect("#signer", st.Card.SignCert.Subject.CommonName)
	p.expect("#cert-status", "valid now")
	p.expect("#p7s-timestamp", "puce test TSA") // CAdES-T: the desk has a timestamping authority

	altered := filepath.Join(dir, "contract-altered.txt")
	os.WriteFile(altered, bytes.Replace(doc, []byte("1000"), []byte("9000"), 1), 0o644)
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#document"), []string{altered}), chromedp.SetUploadFiles(chromedp.CSS("#signature"), []string{p7sFile}))
	p.submit("#verify", "altered")
	p.expect("#verdict", "ALTERED")

	// OpenSSL agrees, both ways.
	openssl(t, p7sFile, docFile, st.CAFile, true)
	openssl(t, p7sFile, altered, st.CAFile, false)
}

// attr reads an attribute of an element.
func (p *page) attr(sel, name string) string {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf("document.querySelector(%q).getAttribute(%q)", sel, name)))
	if err != nil {
		p.fail("attribute %s of %s: %v", name, sel, err)
	}
	return v
}

// fetch downloads a file with the page's own session, as its link would.
func (p *page) fetch(url string) []byte {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	js := fmt.Sprintf(`fetch(%q).then(r => r.arrayBuffer()).then(b => { let s = ""; for (const c of new Uint8Array(b)) s += String.fromCharCode(c); return btoa(s); })`, url)
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("fetching %s: %v", url, err)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) == 0 {
		p.fail("fetching %s: got %q", url, v)
	}
	return b
}

// openssl checks the .p7s with `openssl cms -verify`, as a receiver
// without puce would.
func openssl(t *testing.T, p7s, doc, ca string, want bool) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed and CI=true")
		}
		t.Log("SKIPPED the openssl cross-check: openssl is not installed")
		return
	}
	out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", doc,
		"-CAfile", ca, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if (err == nil) != want {
		t.Fatalf("openssl cms -verify on %s: success %v, want %v:\n%s", filepath.Base(doc), err == nil, want, out)
	}
	t.Logf("openssl cms -verify %s: %s", filepath.Base(doc), strings.TrimSpace(string(out)))
}
