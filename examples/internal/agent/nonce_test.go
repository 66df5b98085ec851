package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
)

// A login nonce is the base64 of random bytes (Web eID: at least 32 bytes
// in base64). Approval nonces ("puce-approve:1:…:digest") are kept apart
// from login nonces by their ':' (cardauth.ApprovalNonce): were the agent
// to sign any string as a login, a page could have the holder "log in"
// and get the card's signature over an approval nonce, for a payment the
// holder never saw — accepted wherever the authentication certificate also
// passes as a signing one (PSD2 RTS on SCA Art. 5(1)). The agent signs as a
// login only a nonce in the base64 alphabet.
func TestLoginNonceIsNotAnApproval(t *testing.T) {
	ts, card := setup(t)
	f := cardFactor(t, card)
	ctx := context.Background()
	tx := identity.Transaction{Amount: "9999.00", Currency: "EUR", PayeeName: "Mallory", PayeeAccount: "DE89 3704 0044 0532 0130 00"}
	nonce, err := cardauth.ApprovalNonce("bm9uY2Utb2YtdGhlLWFwcHJvdmFsLWNoYWxsZW5nZQ", tx)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"kind": "authenticate", "nonce": nonce})
	if code, m := call(t, "POST", ts.URL+"/v1/requests", site, string(body)); code != http.StatusBadRequest {
		t.Fatalf("a login request carrying an approval nonce: %d %v", code, m)
	}
	// The nonces the card factor issues still pass.
	ch, err := f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: site})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = json.Marshal(map[string]string{"kind": "authenticate", "nonce": string(ch.Payload)})
	if code, m := call(t, "POST", ts.URL+"/v1/requests", site, string(body)); code != http.StatusCreated {
		t.Fatalf("a login nonce of the card factor: %d %v", code, m)
	}
}
