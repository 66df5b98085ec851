//go:build cgo

package browsertest

import (
	"testing"

	"github.com/puce-id/puce/examples/internal/agent"
	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// pcscdSource puts the card into pcscd's virtual reader for the test and
// returns the agent's PC/SC source on that reader: the path a holder with a
// real reader takes. It skips without PUCE_PCSCD (make test sets it).
func pcscdSource(t *testing.T, card *testcard.Card) agent.Source {
	t.Helper()
	pc := pcscdtest.Require(t)
	pcscdtest.Attach(t, pc, card.Card, nil)
	src := &agent.PCSC{Reader: pcscdtest.Reader}
	t.Cleanup(func() { src.Close() })
	t.Logf("puce: the agent reaches the card through pcscd, reader %q", pcscdtest.Reader)
	return src
}

// TestBrowserCardThroughPCSCD runs the card's part of the demo as a holder
// with a reader meets it: the page talks to the agent, the agent to pcscd,
// pcscd to the card in its reader. Card enrolment, a login with a wrong PIN
// first, a signature with the PIN asked again, verification (revocation on,
// through the card CA's OCSP responder), and OpenSSL's opinion.
func TestBrowserCardThroughPCSCD(t *testing.T) {
	st := startStackWith(t, stackOptions{PCSCD: true})
	p := newBrowser(t)
	const password = "correct horse battery"
	signUp(p, st, "alice", password)
	before := st.OCSP.Queries()
	enrolCard(p, st)
	// The card is the account's first second factor: the login the
	// sign-up began finishes with it.
	cardSecondStep(p, st, false)
	p.expect("#factors", "Smart card")
	logout(p)
	cardLogin(p, st, password, true)
	if st.OCSP.Queries() == before {
		t.Fatal("the login server never asked the OCSP responder about the card's certificate")
	}
	signAndVerify(p, st)
}
