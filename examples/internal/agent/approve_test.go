package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/piv"
)

// TestApprovePayment: the site's approval payload reaches the holder's
// window, which shows the amount, payee and account decoded from the bytes
// the card signs; the PIN is asked for this one signature; the token the
// site collects approves that payment, and not one cent more. A payload
// that is not a canonical payment is refused before the holder sees it.
func TestApprovePayment(t *testing.T) {
	ts, card := setup(t)
	f := cardFactor(t, card)
	ctx := context.Background()
	// The account's card is enrolled by its authentication certificate, as
	// at login.
	enrol, _ := f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: site})
	c, _ := piv.Open(ctx, card.Card, nil)
	c.VerifyPIN(ctx, card.PIN, nil)
	signer, _ := c.Signer(piv.SlotAuthentication, card.AuthCert.PublicKey, nil)
	tok, _ := cardauth.NewToken(signer, card.AuthCert, site, string(enrol.Payload), nil)
	if _, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: enrol.ID, Subject: "alice", Origin: site, Data: tok}); err != nil {
		t.Fatal(err)
	}

	tx := identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}
	ch, err := f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: site, Transaction: &tx})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"kind": "approve", "approval": json.RawMessage(ch.Payload)})
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, string(body))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	resp, _ := http.Get(prompt)
	page := readAll(resp)
	for _, want := range []string{"approve a payment", "100.00 EUR", "Muster GmbH", "DE89370400440532013000", "INV-2026-0042", `id="pin"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the holder's window does not show %q:\n%s", want, page)
		}
	}
	page = answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	_, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	if m["status"] != "done" {
		t.Fatalf("poll: %v\n%s", m, page)
	}
	token := m["result"].(map[string]any)["token"].(string)
	more := tx
	more.Amount = "100.01"
	if _, err := f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: site, Data: []byte(token), Transaction: &more}); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Fatalf("the approval of 100.00 taken for 100.01: %v", err)
	}
	// That attempt used the challenge up; a new one with the same token is
	// a replay of another challenge's signature.
	ch2, _ := f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: site, Transaction: &tx})
	if _, err := f.FinishApprove(ctx, identity.Response{ChallengeID: ch2.ID, Subject: "alice", Origin: site, Data: []byte(token), Transaction: &tx}); !errors.Is(err, cardauth.ErrBadSignature) {
		t.Fatalf("the token for another challenge: %v", err)
	}

	// A fresh approval goes through end to end.
	ch3, _ := f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: site, Transaction: &tx})
	body, _ = json.Marshal(map[string]any{"kind": "approve", "approval": json.RawMessage(ch3.Payload)})
	_, m = call(t, "POST", ts.URL+"/v1/requests", site, string(body))
	answer(t, m["prompt"].(string), ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	_, m = call(t, "GET", ts.URL+"/v1/requests/"+m["id"].(string), site, "")
	token = m["result"].(map[string]any)["token"].(string)
	p, err := f.FinishApprove(ctx, identity.Response{ChallengeID: ch3.ID, Subject: "alice", Origin: site, Data: []byte(token), Transaction: &tx})
	if err != nil || p.Assurance != identity.Level3 {
		t.Fatalf("approval: %+v, %v", p, err)
	}

	for _, bad := range []string{`{"kind":"approve"}`, `{"kind":"approve","approval":{"nonce":"n","transaction":"AAAA"}}`} {
		if code, _ := call(t, "POST", ts.URL+"/v1/requests", site, bad); code != http.StatusBadRequest {
			t.Errorf("create %s: %d, want 400", bad, code)
		}
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
