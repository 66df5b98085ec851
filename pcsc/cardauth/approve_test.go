package cardauth_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
)

func payment(amount string) identity.Transaction {
	return identity.Transaction{Amount: amount, Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}
}

// signingCert issues the holder's e-signature certificate (slot 9C): the
// same holder and issuer as the authentication one, signing purposes.
func (p *testPKI) signingCert(t testing.TB, holder string) (*x509.Certificate, crypto.Signer) {
	return p.card(t, holder, leafOpts{keyUsage: x509.KeyUsageContentCommitment | x509.KeyUsageDigitalSignature,
		extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}})
}

// approve runs an approval of issued, and has key sign — as the holder's
// side does after showing the payment it decoded — the payment it is told
// (signed), answering for answered.
func (e *env) approve(t *testing.T, cert *x509.Certificate, key crypto.Signer, issued, signed, answered identity.Transaction) (*identity.Proof, error) {
	t.Helper()
	ctx := context.Background()
	ch, err := e.factor.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &issued})
	if err != nil {
		t.Fatal(err)
	}
	req, shown, err := cardauth.ParseApprovalRequest(ch.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if shown.Amount != issued.Amount {
		t.Fatalf("the holder is shown %s, the payment is %s", shown.Amount, issued.Amount)
	}
	nonce, err := cardauth.ApprovalNonce(req.Nonce, signed)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cardauth.NewToken(key, cert, origin, nonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.factor.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok, Transaction: &answered})
}

// TestApprove: the holder's e-signature key approves "100.00 EUR to Muster
// GmbH, DE89…"; a signature over 100.01 EUR, an answer for another IBAN, a
// replay, another holder's card, the authentication key and a login token
// are each refused with a typed error; Policy.Approve takes the proof for
// that payment only.
func TestApprove(t *testing.T) {
	e := newEnv(t, nil)
	authCert, authKey := e.pki.card(t, "alice", leafOpts{})
	if _, err := e.enroll(t, "alice", authCert, authKey); err != nil {
		t.Fatal(err)
	}
	signCert, signKey := e.pki.signingCert(t, "alice")
	tx := payment("100.00")

	p, err := e.approve(t, signCert, signKey, tx, tx, tx)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := tx.Digest()
	if string(p.Transaction) != string(d[:]) || p.Assurance != identity.Level3 || p.Claims["revocation"] != "good (OCSP)" {
		t.Fatalf("proof %+v", p)
	}
	pol := &identity.Policy{}
	if err := pol.Approve(&identity.Session{Subject: "alice"}, *p, tx); err != nil {
		t.Fatalf("Policy.Approve: %v", err)
	}

	// The card signed 100.01 while the page claims 100.00.
	if _, err := e.approve(t, signCert, signKey, tx, payment("100.01"), tx); !errors.Is(err, cardauth.ErrBadSignature) {
		t.Errorf("a signature over 100.01 for a 100.00 approval: %v", err)
	}
	// Answered for 100.01 (the page tampered with the amount).
	if _, err := e.approve(t, signCert, signKey, tx, payment("100.01"), payment("100.01")); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("an answer for 100.01: %v", err)
	}
	otherIBAN := tx
	otherIBAN.PayeeAccount = "GB82 WEST 1234 5698 7654 32"
	if _, err := e.approve(t, signCert, signKey, tx, otherIBAN, otherIBAN); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("an answer for another IBAN: %v", err)
	}
	// Another holder's signing card, from the same CA.
	bobCert, bobKey := e.pki.signingCert(t, "bob")
	if _, err := e.approve(t, bobCert, bobKey, tx, tx, tx); !errors.Is(err, cardauth.ErrUnknownCard) {
		t.Errorf("bob's card approving alice's payment: %v", err)
	}
	// The authentication key (clientAuth only) cannot sign a payment.
	if _, err := e.approve(t, authCert, authKey, tx, tx, tx); !errors.Is(err, cardauth.ErrKeyUsage) {
		t.Errorf("the authentication certificate approving: %v", err)
	}

	// Replayed: the same token twice.
	ctx := context.Background()
	ch, _ := e.factor.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
	req, _, _ := cardauth.ParseApprovalRequest(ch.Payload)
	nonce, _ := cardauth.ApprovalNonce(req.Nonce, tx)
	tok, _ := cardauth.NewToken(signKey, signCert, origin, nonce, nil)
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok, Transaction: &tx}
	if _, err := e.factor.FinishApprove(ctx, resp); err != nil {
		t.Fatal(err)
	}
	if _, err := e.factor.FinishApprove(ctx, resp); !errors.Is(err, identity.ErrReplayed) {
		t.Errorf("a replayed approval: %v", err)
	}
	// A login token (the nonce itself signed) does not approve.
	ch, _ = e.factor.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
	req, _, _ = cardauth.ParseApprovalRequest(ch.Payload)
	login, _ := cardauth.NewToken(signKey, signCert, origin, req.Nonce, nil)
	if _, err := e.factor.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: login, Transaction: &tx}); !errors.Is(err, cardauth.ErrBadSignature) {
		t.Errorf("a login-style token approving: %v", err)
	}

	// A revoked signing certificate.
	e.ocsp.Revoke(signCert.SerialNumber, e.clock.Now(), 1)
	if _, err := e.approve(t, signCert, signKey, tx, tx, tx); !errors.Is(err, cardauth.ErrRevoked) {
		t.Errorf("a revoked signing certificate: %v", err)
	}
}

func TestParseApprovalRequest(t *testing.T) {
	for _, bad := range []string{``, `{}`, `{"nonce":"n"}`, `{"nonce":"n","transaction":"AAAA"}`, `[]`} {
		if _, _, err := cardauth.ParseApprovalRequest([]byte(bad)); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("ParseApprovalRequest(%s): %v", bad, err)
		}
	}
}

func FuzzParseApprovalRequest(f *testing.F) {
	tx := payment("100.00")
	canon, _ := tx.Canonical()
	f.Add([]byte(`{"nonce":"bm9uY2U","transaction":"` + base64.StdEncoding.EncodeToString(canon) + `"}`))
	f.Add([]byte(`{"nonce":"n","transaction":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, shown, err := cardauth.ParseApprovalRequest(b)
		if err != nil {
			if !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// What is shown is what is signed: the canonical bytes received.
		again, err := shown.Canonical()
		if err != nil || string(again) != string(req.Transaction) {
			t.Fatalf("shown %+v does not encode to the bytes received: %v", shown, err)
		}
	})
}
