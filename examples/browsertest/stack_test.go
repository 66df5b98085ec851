package browsertest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/puce-id/puce/examples/internal/agent"
	"github.com/puce-id/puce/examples/internal/loginsrv"
	"github.com/puce-id/puce/examples/internal/signsrv"
	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// clock lets the test reach the next TOTP time step without waiting.
type clock = identitytest.RunningClock

// stack is everything the browser talks to.
type stack struct {
	Login, Sign, Agent string // origins
	Card               *testcard.Card
	OCSP               *ocspresponder.Responder
	CAFile             string
	Clock              *clock
	Store              *sqlstore.Store

	// Passport is the card's sovereign identity applet (eMRTD), whose CSCA
	// the login server trusts.
	Passport *emrtdapplet.Personalised
}

// lateHandler lets a server listen (and so know its URL) before the
// handler that needs every URL exists.
type lateHandler struct {
	mu sync.Mutex
	h  http.Handler
}

func (l *lateHandler) set(h http.Handler) { l.mu.Lock(); l.h = h; l.mu.Unlock() }
func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	h := l.h
	l.mu.Unlock()
	h.ServeHTTP(w, r)
}

func listen(t *testing.T) (*httptest.Server, *lateHandler) {
	l := &lateHandler{h: http.NotFoundHandler()}
	ts := httptest.NewServer(l)
	t.Cleanup(ts.Close)
	return ts, l
}

// localhost names a loopback test server by "localhost", as the examples
// do: WebAuthn allows plain http only there, and it keeps the sites'
// cookies apart from the agent's host.
func localhost(ts *httptest.Server) string {
	return strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
}

// stackOptions vary the stack.
type stackOptions struct {
	// PCSCD puts the virtual card into pcscd's vpcd reader and gives the
	// agent its PC/SC source, as on a holder's machine with a reader;
	// otherwise the agent holds the card in-process.
	PCSCD bool
	// UsagePolicy turns on usage-policy receipts on the login server.
	UsagePolicy []byte
}

func startStack(t *testing.T) *stack { return startStackWith(t, stackOptions{}) }

func startStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st := &stack{Clock: &clock{}}

	ocspTS, ocspH := listen(t)
	card, err := testcard.New(testcard.Options{Holder: testcard.DefaultHolder(), OCSPURL: ocspTS.URL})
	if err != nil {
		t.Fatal(err)
	}
	st.Card = card
	if st.Passport, err = emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{ActiveAuthentication: true}); err != nil {
		t.Fatal(err)
	}
	if err := card.Install(st.Passport.Applet); err != nil {
		t.Fatal(err)
	}
	st.OCSP = ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
	ocspH.set(st.OCSP)
	st.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	var pemData []byte
	for _, c := range [][]byte{card.PKI.Root.Raw, card.PKI.Issuing.Raw} {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	if err := os.WriteFile(st.CAFile, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	roots, inter, all, err := web.LoadCAs(st.CAFile)
	if err != nil {
		t.Fatal(err)
	}

	loginTS, loginH := listen(t)
	signTS, signH := listen(t)
	agentTS, agentH := listen(t)
	st.Login, st.Sign, st.Agent = localhost(loginTS), localhost(signTS), agentTS.URL

	var src agent.Source = &agent.InProcess{Transport: card.Card, Name: "test card"}
	if o.PCSCD {
		src = pcscdSource(t, card)
	}
	a, err := agent.New(agent.Config{Allowed: []string{st.Login, st.Sign}, Source: src, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a.SetSelf(st.Agent)
	agentH.set(a.Handler())

	st.Store, err = sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "login.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Store.Close() })
	sealer, _ := identity.NewSealer("test", map[string][]byte{"test": identity.GenerateSealerKey()})
	ls, err := loginsrv.New(loginsrv.Config{Store: st.Store, Sealer: sealer, Origin: st.Login, AgentURL: st.Agent, Clock: st.Clock, Logger: log,
		Card: &cardauth.Config{Roots: roots, Intermediates: inter}, UsagePolicy: o.UsagePolicy, UsagePolicyName: "terms of use", CSCAs: []*x509.Certificate{st.Passport.CSCA}})
	if err != nil {
		t.Fatal(err)
	}
	loginH.set(ls.Handler())

	// The signing desk timestamps with a test authority under the card's
	// CA: PDFs are signed at B-LT, .p7s at CAdES-T.
	tsa, err := tsaresponder.NewIssued(card.PKI.Issuing, card.PKI.IssuingKey, []*x509.Certificate{card.PKI.Issuing}, st.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	tsaTS, tsaH := listen(t)
	tsaH.set(tsa)
	ss, err := signsrv.New(signsrv.Config{Origin: st.Sign, AgentURL: st.Agent, Store: st.Store, Clock: st.Clock, Roots: roots, Intermediates: inter, Chain: all[1:], Logger: log,
		TSA: &esign.TSA{URL: tsaTS.URL, Roots: roots, Intermediates: inter}})
	if err != nil {
		t.Fatal(err)
	}
	signH.set(ss.Handler())
	return st
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
