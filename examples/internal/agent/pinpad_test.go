package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// padReader is a reader with a PIN pad: the holder's keys fill the PIN
// block of the template, and the host sees only the card's answer.
type padReader struct {
	apdu.Transport
	typed string
	asked int
}

func (r *padReader) HasPINPad(context.Context) bool { return true }

func (r *padReader) VerifyOnPINPad(ctx context.Context, req apdu.PINPadRequest) error {
	r.asked++
	cmd := append([]byte(nil), req.Template...)
	copy(cmd[5+req.Offset:], r.typed)
	c, _, err := apdu.ParseCommand(cmd)
	if err != nil {
		return err
	}
	_, err = apdu.Do(ctx, r.Transport, c)
	return err
}

// TestLoginOnPINPad: with a PIN pad the agent's window shows no PIN field
// and asks the holder to type on the reader; a wrong PIN there reports the
// tries left, the right one gives a token the server accepts, and no PIN
// ever passes through the agent.
func TestLoginOnPINPad(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reader := &padReader{Transport: card.Card, typed: "999999"}
	a, err := New(Config{Allowed: []string{site}, Source: &InProcess{Transport: reader, Name: "reader with PIN pad"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	a.SetSelf(srv.URL)
	ts := srv.URL
	f := cardFactor(t, card)
	ctx := context.Background()
	ch, err := f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: site})
	if err != nil {
		t.Fatal(err)
	}
	code, m := call(t, "POST", ts+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+string(ch.Payload)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	resp, err := http.Get(prompt)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if !strings.Contains(page, `id="pinpad"`) || strings.Contains(page, `name="pin"`) {
		t.Fatalf("the prompt does not send the holder to the PIN pad:\n%s", page)
	}
	page = answer(t, prompt, ts, url.Values{"action": {"approve"}, "pinpad": {"yes"}})
	if !strings.Contains(page, "Wrong PIN. 2 tries left") || !strings.Contains(page, `id="pinpad"`) {
		t.Fatalf("wrong PIN on the pad:\n%s", page)
	}
	reader.typed = card.PIN
	answer(t, prompt, ts, url.Values{"action": {"approve"}, "pinpad": {"yes"}})
	if reader.asked != 2 {
		t.Fatalf("the PIN pad was asked %d times, want 2", reader.asked)
	}
	_, m = call(t, "GET", ts+"/v1/requests/"+id, site, "")
	if m["status"] != "done" {
		t.Fatalf("poll: %v", m)
	}
	token := m["result"].(map[string]any)["token"].(string)
	if _, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: site, Data: []byte(token)}); err != nil {
		t.Fatalf("the server refuses the token signed after the PIN pad: %v", err)
	}
}
