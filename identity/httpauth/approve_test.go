package httpauth_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/totp/ocra"
	"github.com/puce-id/puce/webauthn"
)

func payment(amount string) txAnswer {
	return txAnswer{Amount: amount, Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}
}

// signUpWithKey signs subject up over the endpoints, enrols key as its
// first second factor and logs in with it: a complete login at AAL2 (the
// key's attestation is not checked, so it is not known to be hardware).
func signUpWithKey(t *testing.T, s *site, c *client, subject string, key *device) {
	t.Helper()
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	c.must(s, 200, "POST", "/auth/signup", map[string]string{"username": subject, "password": "correct horse battery"}, nil)
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/enroll/webauthn/begin", nil, &ch)
	if len(ch.Payload) == 0 || ch.Payload[0] != '{' || ch.QRCode != "" {
		t.Fatalf("creation options are not JSON: %s", ch.Payload)
	}
	c.must(s, 200, "POST", "/auth/enroll/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID, "response": key.create(t, ch.Payload), "name": "key"}, nil)
	c.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, &ch)
	var st stateAnswer
	c.must(s, 200, "POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID, "response": key.get(t, ch.Payload)}, &st)
	if !st.Complete || st.Level != "AAL2" {
		t.Fatalf("login with the key: %+v", st)
	}
}

// A payment approved with a security key over the endpoints. The payment
// is the one the application put up; a client that posts another amount
// is refused and nothing is paid; a factor that cannot link its code to
// the payment (TOTP) cannot approve.
func TestEndpointsApproveWithWebAuthn(t *testing.T) {
	s := memSite(t)
	c := &client{t: t}
	key := newDevice()
	signUpWithKey(t, s, c, "carol", key)

	// Nothing pending yet.
	if status, _, raw := c.call(s, "POST", "/auth/approve/webauthn/begin", nil); status != http.StatusBadRequest {
		t.Fatalf("approval with no payment pending: %d %s", status, raw)
	}
	// The begin step takes no transaction from the client.
	if status, _, _ := c.call(s, "POST", "/auth/approve/webauthn/begin", map[string]any{"transaction": payment("1.00")}); status != http.StatusBadRequest {
		t.Fatalf("a transaction posted to begin: %d", status)
	}

	c.must(s, http.StatusAccepted, "POST", "/app/pay", identity.Transaction{Amount: "100.00", Currency: "EUR",
		PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}, nil)

	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/approve/webauthn/begin", nil, &ch)
	if ch.Transaction == nil || *ch.Transaction != payment("100.00") {
		t.Fatalf("the approval shows %+v", ch.Transaction)
	}
	// The client's device signs this challenge, but the page posts 1000.00.
	status, _, raw := c.call(s, "POST", "/auth/approve/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID,
		"response": key.get(t, ch.Payload), "transaction": payment("1000.00")})
	var refused errorAnswer
	json.Unmarshal(raw, &refused)
	if want, msg := publicMessage(identity.ErrTransactionMismatch); status != want || refused.Error != msg {
		t.Fatalf("another amount: %d %s", status, raw)
	}
	if got := s.payments(); len(got) != 0 {
		t.Fatalf("paid after a refused approval: %+v", got)
	}
	// The refused attempt spent its challenge: the right transaction on it
	// is refused too.
	status, _, _ = c.call(s, "POST", "/auth/approve/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID,
		"response": key.get(t, ch.Payload), "transaction": payment("100.00")})
	if status == 200 {
		t.Fatal("a challenge answered twice")
	}

	// TOTP cannot approve: its code says nothing of the payment.
	if status, _, raw := c.call(s, "POST", "/auth/approve/totp/begin", nil); status != http.StatusForbidden {
		t.Fatalf("approval with TOTP: %d %s", status, raw)
	}

	c.must(s, 200, "POST", "/auth/approve/webauthn/begin", nil, &ch)
	var ok struct {
		Approved     bool
		Kind         string
		CredentialID string
		Transaction  txAnswer
	}
	// "100.0" is the same payment as "100.00": compared by digest.
	shown := payment("100.0")
	c.must(s, 200, "POST", "/auth/approve/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID,
		"response": key.get(t, ch.Payload), "transaction": shown}, &ok)
	if !ok.Approved || ok.Kind != string(webauthn.Kind) || ok.CredentialID == "" || ok.Transaction != payment("100.00") {
		t.Fatalf("approval: %+v", ok)
	}
	got := s.payments()
	if len(got) != 1 || got[0].Amount != "100.00" || got[0].PayeeAccount != "DE89 3704 0044 0532 0130 00" {
		t.Fatalf("paid: %+v", got)
	}
	// Paid once: the application took the payment off the session.
	if status, _, _ := c.call(s, "POST", "/auth/approve/webauthn/begin", nil); status != http.StatusBadRequest {
		t.Fatalf("a second approval of a paid payment: %d", status)
	}
}

// Before any proof, a login names no account: the WebAuthn options list no
// credential (nothing to learn about carol's keys), and the key itself
// names carol at finish (a username-less login).
func TestEndpointsUsernamelessLogin(t *testing.T) {
	s := memSite(t)
	key := newDevice()
	signUpWithKey(t, s, &client{t: t}, "carol", key)

	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, &ch)
	var opts struct {
		PublicKey struct {
			AllowCredentials []any `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(ch.Payload, &opts); err != nil || len(opts.PublicKey.AllowCredentials) != 0 {
		t.Fatalf("anonymous options %s (%v)", ch.Payload, err)
	}
	var st stateAnswer
	c.must(s, 200, "POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID, "response": key.get(t, ch.Payload)}, &st)
	if st.Subject != "carol" || !st.Complete || st.Level != "AAL2" {
		t.Fatalf("username-less login: %+v", st)
	}
}

// The factors that link their answer to a payment are Approvers.
var (
	_ httpauth.Approver = (*webauthn.Factor)(nil)
	_ httpauth.Approver = (*ocra.Factor)(nil)
)
