package agent

import (
	"context"
	"crypto"
	"crypto/sha256"
	"net/http"
	"net/url"
	"testing"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc/piv"
)

// The holder's PIN opens the card for the one operation it was typed for.
// The agent leaves the card in the reader, shared with every program on
// the computer: were the PIN left verified, any of them could sign with the
// authentication key (9A) after a login, as the holder, without a PIN. The
// agent resets the PIN's security status before it lets the card go (NIST
// SP 800-73-4 Part 2 §3.2.1: VERIFY with P1 = FF and no data).
func TestPINNotLeftVerified(t *testing.T) {
	ts, card := setup(t)
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	if _, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "done" {
		t.Fatalf("poll: %v", m)
	}
	// Another program on the computer, with no PIN.
	ctx := context.Background()
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.PINStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Signer(piv.SlotAuthentication, card.AuthCert.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("another program's challenge"))
	if _, err := s.Sign(nil, d[:], crypto.SHA256); err == nil || st.Verified {
		t.Fatalf("after the agent's login another program signs with 9A without the PIN (PIN verified: %v, sign error: %v)", st.Verified, err)
	}
}
