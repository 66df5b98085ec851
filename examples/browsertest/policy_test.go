package browsertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserUsagePolicyReceipt: a deployment that asks card holders to
// sign its usage policy at each login. After a card login every page leads
// to the policy; the agent's window shows the text and takes the PIN for
// that one signature; the account page then lists the receipt, which
// OpenSSL verifies against the policy text (and refuses for another text).
// The next login asks again.
func TestBrowserUsagePolicyReceipt(t *testing.T) {
	policy := []byte("Terms of use of the example bank, version 3.\nYou keep your card and PIN to yourself.\n")
	st := startStackWith(t, stackOptions{UsagePolicy: policy})
	p := newBrowser(t)
	const password = "correct horse battery"
	signUp(p, st, "alice", password)
	enrolCard(p, st)
	cardSecondStep(p, st, false)
	signPolicy := func(label string) {
		p.b.t.Helper()
		// Any page leads to the policy until it is signed.
		p.open(st.Login+"/account", label)
		p.expect("#policy-text", "You keep your card and PIN to yourself.")
		p.agentWindow("#sign-go", func(w *page) {
			w.do(chromedp.WaitVisible(chromedp.CSS("#agent-continue")))
			w.expect("#origin", st.Login)
			w.expect("#preview", "Terms of use of the example bank")
			w.do(chromedp.Click(chromedp.CSS("#agent-continue")))
			w.do(chromedp.WaitVisible(chromedp.CSS("#pin")))
			w.shot("agent-policy-pin")
			w.fill("#pin", st.Card.PIN)
			w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
		})
		p.expect("#notice", "your signature of the terms of use is kept")
		p.shot(label + "-signed")
	}
	signPolicy("policy")
	p.expect("#receipts", "terms of use")
	p.expect("#audit", "policy-signed")

	dir := t.TempDir()
	receipt := filepath.Join(dir, "receipt.p7s")
	os.WriteFile(receipt, p.fetch(st.Login+p.attr("#receipts a", "href")), 0o644)
	text := filepath.Join(dir, "policy.txt")
	os.WriteFile(text, policy, 0o644)
	other := filepath.Join(dir, "policy-v4.txt")
	os.WriteFile(other, []byte(strings.Replace(string(policy), "version 3", "version 4", 1)), 0o644)
	openssl(t, receipt, text, st.CAFile, true)
	openssl(t, receipt, other, st.CAFile, false)

	// A new login asks again; the account then holds two receipts.
	logout(p)
	cardLogin(p, st, password, false)
	signPolicy("policy-again")
	if n := strings.Count(p.text("#receipts"), "signed with your card"); n != 2 {
		t.Fatalf("the account lists %d receipts, want 2", n)
	}
}
