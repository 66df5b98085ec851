package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

const site = "http://localhost:8080"

func setup(t *testing.T) (*httptest.Server, *testcard.Card) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Allowed: []string{site}, Source: &InProcess{Transport: card.Card, Name: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	a.SetSelf(ts.URL)
	return ts, card
}

func call(t *testing.T, method, u, origin, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// cardFactor is the login server's side: the card factor on a fresh store,
// trusting the test card's PKI.
func cardFactor(t *testing.T, card *testcard.Card) *cardauth.Factor {
	t.Helper()
	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	f, err := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, SkipRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// answer plays the holder in the agent's own window.
func answer(t *testing.T, prompt, self string, vals url.Values) string {
	t.Helper()
	resp, err := http.Get(prompt)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no form on the prompt:\n%s", page)
	}
	vals.Set("csrf", m[1])
	req, _ := http.NewRequest("POST", prompt, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", self)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(page)
}

func TestLoginTokenBoundToOrigin(t *testing.T) {
	ts, card := setup(t)
	f := cardFactor(t, card)
	ctx := context.Background()
	ch, err := f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: site})
	if err != nil {
		t.Fatal(err)
	}

	// Another origin is refused outright.
	if code, _ := call(t, "POST", ts.URL+"/v1/requests", "https://evil.example", `{"kind":"authenticate","nonce":"`+string(ch.Payload)+`"}`); code != http.StatusForbidden {
		t.Fatalf("evil origin: status %d", code)
	}
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+string(ch.Payload)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	// The page cannot answer for the holder: a forged answer is refused.
	req, _ := http.NewRequest("POST", prompt, strings.NewReader("action=approve&pin=123456&csrf=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", site)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged answer: status %d", resp.StatusCode)
	}
	page := answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {"000000"}})
	if !strings.Contains(page, "Wrong PIN. 2 tries left") {
		t.Fatalf("wrong PIN page:\n%s", page)
	}
	if strings.Contains(page, "000000") {
		t.Fatal("the PIN is echoed back into the page")
	}
	answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	_, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	if m["status"] != "done" {
		t.Fatalf("poll: %v", m)
	}
	token := m["result"].(map[string]any)["token"].(string)
	if _, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: site, Data: []byte(token)}); err != nil {
		t.Fatalf("the server refuses the agent's token: %v", err)
	}
	// The token names the requesting origin: it is useless for another.
	ch2, _ := f.Begin(ctx, identity.Request{Subject: "alice", Origin: "https://other.example"})
	if _, err := f.Finish(ctx, identity.Response{ChallengeID: ch2.ID, Subject: "alice", Origin: "https://other.example", Data: []byte(token)}); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("token replayed for another origin: %v", err)
	}
}

func TestHostCheck(t *testing.T) {
	ts, _ := setup(t)
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.Host = "rebound.example:24727"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("DNS-rebound host answered with %d", resp.StatusCode)
	}
}

// The site's poll and the holder's window race after the holder answers: the
// window, reloaded after the site collected the outcome, still says how the
// request ended, and nothing posted to it afterwards changes that.
func TestOutcomeShownAfterTheSiteCollects(t *testing.T) {
	ts, card := setup(t)
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	get := func() string {
		t.Helper()
		resp, err := http.Get(prompt)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		return string(page)
	}
	form := get()
	answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	if _, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "done" || m["result"] == nil {
		t.Fatalf("poll: %v", m)
	}
	// The window reloads only now, after the site has the token.
	if page := get(); !strings.Contains(page, `id="agent-done"`) || !strings.Contains(page, "Done.") {
		t.Fatalf("window after the site collected:\n%s", page)
	}
	// The site collects once.
	if code, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); code != http.StatusNotFound {
		t.Fatalf("second poll: %d %v", code, m)
	}
	// The old form posted again (the back button) cancels nothing.
	csrf := csrfRE.FindStringSubmatch(form)[1]
	req, _ := http.NewRequest("POST", prompt, strings.NewReader(url.Values{"action": {"cancel"}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Done.") || strings.Contains(string(page), "Cancelled") {
		t.Fatalf("window after a stale cancel:\n%s", page)
	}
}
