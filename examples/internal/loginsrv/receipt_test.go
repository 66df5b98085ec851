package loginsrv

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// receiptFixture is a login server asking for receipts, trusting the CAs of
// two cards, with card "mine" enrolled on alice's account.
func receiptFixture(t *testing.T) (*Server, *testcard.Card, *testcard.Card) {
	t.Helper()
	mine, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Another holder's card under another CA with the same names as mine.
	theirs, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range []*testcard.Card{mine, theirs} {
		roots.AddCert(c.PKI.Root)
		inter.AddCert(c.PKI.Issuing)
	}
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	const origin = "http://localhost:8080"
	s, err := New(Config{Store: memstore.New(), Sealer: sealer, Origin: origin, AgentURL: "http://127.0.0.1:24727",
		Card:        &cardauth.Config{Roots: roots, Intermediates: inter, SkipRevocation: true},
		UsagePolicy: []byte("terms v1\n"), UsagePolicyName: "terms of use"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch, err := s.card.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	c, err := piv.Open(ctx, mine.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyPIN(ctx, mine.PIN, nil); err != nil {
		t.Fatal(err)
	}
	signer, err := c.Signer(piv.SlotAuthentication, mine.AuthCert.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	token, err := cardauth.NewToken(signer, mine.AuthCert, origin, string(ch.Payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.card.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: token}); err != nil {
		t.Fatal(err)
	}
	return s, mine, theirs
}

// signWith prepares the policy for card's 9C certificate and has the card
// sign it.
func signWith(t *testing.T, s *Server, card *testcard.Card) (*pendingReceipt, []byte) {
	t.Helper()
	ctx := context.Background()
	p, err := esign.Prepare(s.cfg.UsagePolicy, card.SignCert, s.now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := c.Signer(piv.SlotSignature, card.SignCert.PublicKey, &piv.SignerOptions{PIN: func(context.Context) (string, error) { return card.PIN, nil }})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.SignContext(ctx, p.Digest, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &pendingReceipt{p: p, cert: card.SignCert}, sig
}

func TestReceiptSignerMustBeTheEnrolledCard(t *testing.T) {
	s, mine, theirs := receiptFixture(t)
	ctx := context.Background()

	// Another card, whose certificate has the same subject and issuer names
	// but another CA key, is refused and nothing is kept.
	p, sig := signWith(t, s, theirs)
	if _, err := s.keepReceipt(ctx, "alice", p, sig, "192.0.2.1"); !errors.Is(err, ErrReceiptSigner) {
		t.Fatalf("another holder's card: %v", err)
	}
	// An altered signature does not assemble.
	p, sig = signWith(t, s, mine)
	bad := append([]byte(nil), sig...)
	bad[len(bad)-1] ^= 1
	if _, err := s.keepReceipt(ctx, "alice", p, bad, "192.0.2.1"); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("altered signature: %v", err)
	}
	if creds, _ := s.cfg.Store.Credentials(ctx, "alice", KindPolicyReceipt); len(creds) != 0 {
		t.Fatalf("%d receipts kept after refusals", len(creds))
	}
	// The enrolled card's own e-signature key: kept, verifiable, audited.
	row, err := s.keepReceipt(ctx, "alice", p, sig, "192.0.2.1")
	if err != nil {
		t.Fatalf("own card: %v", err)
	}
	creds, err := s.cfg.Store.Credentials(ctx, "alice", KindPolicyReceipt)
	if err != nil || len(creds) != 1 || creds[0].ID != row.ID {
		t.Fatalf("kept receipts %v, %v", creds, err)
	}
	if _, err := esign.Verify(s.cfg.UsagePolicy, creds[0].Public, esign.VerifyOptions{Roots: s.cfg.Card.Roots, Intermediates: s.cfg.Card.Intermediates}); err != nil {
		t.Fatalf("the kept receipt does not verify: %v", err)
	}
	if _, err := esign.Verify([]byte("terms v2\n"), creds[0].Public, esign.VerifyOptions{Roots: s.cfg.Card.Roots, Intermediates: s.cfg.Card.Intermediates}); !errors.Is(err, esign.ErrDocumentAltered) {
		t.Fatalf("the receipt verifies for another text: %v", err)
	}
	events, err := s.cfg.Store.(identity.AuditLog).AuditEvents(ctx, "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ok, refused int
	for _, e := range events {
		if e.Event.Action == "policy-signed" {
			if e.Event.Result == identity.Success {
				ok++
			} else {
				refused++
			}
		}
	}
	if ok != 1 || refused != 2 {
		t.Fatalf("audit: %d policy-signed successes and %d failures, want 1 and 2", ok, refused)
	}
}
