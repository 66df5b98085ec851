package agent

import (
	"bytes"
	"crypto/x509"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// syncBuffer collects the agent's log for the test to search.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

// setupIdentity runs the agent over a card carrying both applets, as the
// demo's card does, in-process.
func setupIdentity(t *testing.T) (*httptest.Server, *emrtdapplet.Personalised, *syncBuffer) {
	return setupIdentityWith(t, func(card *testcard.Card) Source { return &InProcess{Transport: card.Card, Name: "test"} })
}

// setupIdentityWith runs the agent over the source that source makes for
// the card (in-process, or through pcscd).
func setupIdentityWith(t *testing.T, source func(*testcard.Card) Source) (*httptest.Server, *emrtdapplet.Personalised, *syncBuffer) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	passport, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{CAN: "428173", ActiveAuthentication: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := card.Install(passport.Applet); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{mu: make(chan struct{}, 1)}
	a, err := New(Config{Allowed: []string{site}, Source: source(card),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	a.SetSelf(ts.URL)
	return ts, passport, logs
}

func getPage(t *testing.T, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const testNonce = "q3Qm0Yt1o3c0Yl1cQ2hhbGxlbmdlLW9mLXRoZS1iYW5rLTEyMzQ1Njc4OTA="

func TestIdentityRequestChecks(t *testing.T) {
	ts, _, _ := setupIdentity(t)
	for _, body := range []string{
		`{"kind":"identity","nonce":"` + testNonce + `","require":[3]}`,                // fingerprints: never
		`{"kind":"identity","nonce":"` + testNonce + `","require":[1,1]}`,              // twice
		`{"kind":"identity","nonce":"` + testNonce + `"}`,                              // nothing
		`{"kind":"identity","nonce":"short","require":[1]}`,                            // no real challenge
		`{"kind":"identity","nonce":"` + testNonce + `","optional":[1,15]}`,            // DG15
		`{"kind":"identity","nonce":"` + testNonce + `","require":[1],"optional":[1]}`, // both
	} {
		if code, m := call(t, "POST", ts.URL+"/v1/requests", site, body); code != http.StatusBadRequest {
			t.Errorf("%s: status %d %v, want 400", body, code, m)
		}
	}
	if code, _ := call(t, "POST", ts.URL+"/v1/requests", "https://evil.example", `{"kind":"identity","nonce":"`+testNonce+`","require":[1]}`); code != http.StatusForbidden {
		t.Errorf("evil origin: status %d", code)
	}
}

func TestIdentityDisclosure(t *testing.T) {
	ts, passport, logs := setupIdentity(t)
	identityDisclosure(t, ts, passport, logs)
}

// identityDisclosure plays a page and the holder through a whole request:
// a wrong CAN, the right one, the review, a choice of groups.
func identityDisclosure(t *testing.T, ts *httptest.Server, passport *emrtdapplet.Personalised, logs *syncBuffer) {
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"identity","nonce":"`+testNonce+`","require":[1],"optional":[2,11]}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)

	_, page, hdr := getPage(t, prompt)
	if !strings.Contains(page, `id="can"`) || !strings.Contains(page, site) || strings.Contains(page, "ERIKSSON") {
		t.Fatalf("first page should ask for the CAN and show nothing of the holder:\n%s", page)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "img-src data:") {
		t.Fatalf("CSP %q", csp)
	}

	// A wrong CAN: refused by the chip, nothing read, the holder may retry.
	page = answer(t, prompt, ts.URL, url.Values{"action": {"read"}, "can": {"000001"}})
	if !strings.Contains(page, "refused this access number") || strings.Contains(page, "ERIKSSON") || strings.Contains(page, "000001") {
		t.Fatalf("wrong CAN page:\n%s", page)
	}
	if _, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "waiting" {
		t.Fatalf("after a wrong CAN the page sees %v", m)
	}

	page = answer(t, prompt, ts.URL, url.Values{"action": {"read"}, "can": {passport.CAN}})
	for _, want := range []string{"ERIKSSON", "ANNA MARIA", "1974-08-12", "T22000129", "12 MAIN STREET", `id="photo"`, "data:image/jpeg;base64,", `id="chip-proof"`, "came from your card just now"} {
		if !strings.Contains(page, want) {
			t.Fatalf("review page lacks %q:\n%s", want, page)
		}
	}
	if _, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "review" || m["result"] != nil {
		t.Fatalf("while the holder reviews, the page sees %v", m)
	}

	// A stale CAN form posted again sends nothing.
	answer(t, prompt, ts.URL, url.Values{"action": {"read"}, "can": {passport.CAN}})
	if _, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "review" {
		t.Fatalf("a second CAN post changed the request: %v", m)
	}
	// The holder keeps the photo and unticks DG11; a page cannot add DG12.
	answer(t, prompt, ts.URL, url.Values{"action": {"disclose"}, "dg": {"2", "12"}})
	_, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	if m["status"] != "done" {
		t.Fatalf("poll: %v", m)
	}
	posted := []byte(m["result"].(map[string]any)["disclosure"].(string))
	env, err := emrtd.ParseEnvelope(posted)
	if err != nil || env.Origin != site || env.Nonce != testNonce {
		t.Fatalf("envelope %+v, %v", env, err)
	}
	// DG14 and DG15 carry the chip's Active Authentication proof.
	got := slices.Sorted(maps.Keys(env.Disclosure.DataGroups))
	if !slices.Equal(got, []emrtd.DG{emrtd.DG1, emrtd.DG2, emrtd.DG14, emrtd.DG15}) {
		t.Fatalf("disclosed %v, want DG1 and DG2, with DG14 and DG15 for the chip's proof", got)
	}
	// What the site runs on it: the envelope for this site and nonce, the
	// chip's proof for them, the document in force.
	rec, err := emrtd.VerifyEnvelope(posted, site, testNonce, emrtd.DisclosureOptions{CSCAs: []*x509.Certificate{passport.CSCA}})
	if err != nil || !rec.ActiveAuthenticated {
		t.Fatalf("the disclosure, with the chip's proof for this site and nonce: %v", err)
	}
	if rec.MRZ.PrimaryID != "ERIKSSON" || rec.Face() == nil || rec.Details != nil {
		t.Fatalf("record %+v", rec)
	}
	// Delivered once.
	if code, _ := call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); code != http.StatusNotFound {
		t.Fatalf("second poll: %d", code)
	}
	if l := logs.String(); strings.Contains(l, passport.CAN) || strings.Contains(l, "000001") || strings.Contains(l, "ERIKSSON") {
		t.Fatalf("the log holds the CAN or the holder's data:\n%s", l)
	}
}

func TestIdentityWrongCANThrice(t *testing.T) {
	ts, _, _ := setupIdentity(t)
	_, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"identity","nonce":"`+testNonce+`","require":[1]}`)
	id, prompt := m["id"].(string), m["prompt"].(string)
	for i := 0; i < 2; i++ {
		answer(t, prompt, ts.URL, url.Values{"action": {"read"}, "can": {"111111"}})
	}
	// The third wrong CAN ends the request; the window closes.
	page := answer(t, prompt, ts.URL, url.Values{"action": {"read"}, "can": {"111111"}})
	if !strings.Contains(page, `id="agent-done"`) {
		t.Fatalf("third wrong CAN:\n%s", page)
	}
	_, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	if m["status"] != "failed" || !strings.Contains(m["error"].(string), "three times") {
		t.Fatalf("poll: %v", m)
	}
}

func TestIdentityCancel(t *testing.T) {
	ts, passport, _ := setupIdentity(t)
	_, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"identity","nonce":"`+testNonce+`","require":[1],"optional":[2]}`)
	id, prompt := m["id"].(string), m["prompt"].(string)
	answer(t, prompt, ts.URL, url.Values{"action": {"read"}, "can": {passport.CAN}})
	answer(t, prompt, ts.URL, url.Values{"action": {"cancel"}})
	_, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	if m["status"] != "cancelled" || m["result"] != nil {
		t.Fatalf("poll: %v", m)
	}
}
