package webauthn_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/webauthn"
)

func payment(amount string) identity.Transaction {
	return identity.Transaction{Amount: amount, Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}
}

// approve runs BeginApprove for issued and answers, with d, for answered.
func (e *testEnv) approve(t *testing.T, d *device, issued, answered identity.Transaction) (*identity.Proof, []byte, error) {
	t.Helper()
	ctx := context.Background()
	e.clock.Advance(time.Second)
	ch, err := e.f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &issued})
	if err != nil {
		t.Fatalf("BeginApprove: %v", err)
	}
	assertion := d.get(t, ch.Payload)
	p, err := e.f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: assertion, Transaction: &answered})
	return p, assertion, err
}

// TestApprove: a security key approves "100.00 EUR to Muster GmbH, DE89…";
// the signed clientDataJSON names the transaction's digest; the same
// approval for 100.01 EUR, for another IBAN, or replayed is refused with
// typed errors; a key that did not verify its user cannot approve; and
// Policy.Approve accepts the proof for that payment only.
func TestApprove(t *testing.T) {
	e := newEnv(t, nil)
	key := newDevice()
	e.enroll(t, "alice", key)
	tx := payment("100.00")

	p, assertion, err := e.approve(t, key, tx, tx)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := tx.Digest()
	if string(p.Transaction) != string(d[:]) || p.Kind != webauthn.Kind || p.Assurance != identity.Level2 {
		t.Fatalf("proof %+v", p)
	}
	// What the key signed names the payment: clientDataJSON's challenge is
	// the digest and a nonce.
	var cred struct {
		Response struct {
			ClientDataJSON string `json:"clientDataJSON"`
		} `json:"response"`
	}
	json.Unmarshal(assertion, &cred)
	cdj, _ := base64.RawURLEncoding.DecodeString(cred.Response.ClientDataJSON)
	var cd struct{ Challenge string }
	json.Unmarshal(cdj, &cd)
	signed, _ := base64.RawURLEncoding.DecodeString(cd.Challenge)
	if len(signed) != 64 || string(signed[:32]) != string(d[:]) {
		t.Fatalf("the signed challenge %x does not start with the digest %x", signed, d)
	}

	pol := &identity.Policy{}
	session := &identity.Session{Subject: "alice"}
	if err := pol.Approve(session, *p, tx); err != nil {
		t.Fatalf("Policy.Approve: %v", err)
	}
	if err := pol.Approve(session, *p, payment("100.01")); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Fatalf("the proof for 100.00 approving 100.01: %v", err)
	}

	if _, _, err := e.approve(t, key, tx, payment("100.01")); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("answered for 100.01: %v", err)
	}
	otherIBAN := tx
	otherIBAN.PayeeAccount = "GB82 WEST 1234 5698 7654 32"
	if _, _, err := e.approve(t, key, tx, otherIBAN); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("answered for another IBAN: %v", err)
	}

	// Replayed: the same assertion for the same challenge again.
	ctx := context.Background()
	ch, _ := e.f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
	a := key.get(t, ch.Payload)
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: a, Transaction: &tx}
	if _, err := e.f.FinishApprove(ctx, resp); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.FinishApprove(ctx, resp); !errors.Is(err, identity.ErrReplayed) {
		t.Errorf("replayed approval: %v", err)
	}
	// An approval's assertion is no login, and a login's no approval.
	login, _ := e.f.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	if _, err := e.f.FinishApprove(ctx, identity.Response{ChallengeID: login.ID, Subject: "alice", Origin: origin,
		Data: key.get(t, login.Payload), Transaction: &tx}); !errors.Is(err, identity.ErrChallengeMismatch) {
		t.Errorf("a login assertion as an approval: %v", err)
	}

	// A key that does not verify its user is one factor: refused.
	lazy := newDevice(withOptions(virtualwebauthn.AuthenticatorOptions{UserNotVerified: true}))
	e.enroll(t, "alice", lazy)
	if _, _, err := e.approve(t, lazy, tx, tx); !errors.Is(err, webauthn.ErrUserNotVerified) || !errors.Is(err, identity.ErrInvalidResponse) {
		t.Errorf("approval without user verification: %v", err)
	}
}
