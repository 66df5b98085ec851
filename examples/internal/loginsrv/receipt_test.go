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

// signWith begins the ceremony for card's 9C certificate and has the card
// sign; it returns the answer to finish with.
func signWith(t *testing.T, s *Server, card *testcard.Card) (identity.Response, error) {
	t.Helper()
	ctx := context.Background()
	ch, err := s.signing.Begin(ctx, identity.Request{Subject: "alice", Origin: s.cfg.Origin}, s.cfg.UsagePolicy, card.SignCert)
	if err != nil {
		return identity.Response{}, err
	}
	req, err := esign.ParseSignRequest(ch.Payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, _, err := cardauth.SignDigest(ctx, card.Card, req.Digest, crypto.SHA256, card.SignCert, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	return identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: s.cfg.Origin, Data: sig, RemoteAddr: "192.0.2.1"}, nil
}

func TestReceiptSignerMustBeTheEnrolledCard(t *testing.T) {
	s, mine, theirs := receiptFixture(t)
	ctx := context.Background()

	// Another card, whose certificate has the same subject and issuer names
	// but another CA key, is refused before anything is prepared.
	if _, err := signWith(t, s, theirs); !errors.Is(err, esign.ErrNotAccountCard) {
		t.Fatalf("another holder's card: %v", err)
	}
	// An altered signature does not verify, and spends its challenge.
	resp, err := signWith(t, s, mine)
	if err != nil {
		t.Fatal(err)
	}
	good := resp.Data
	resp.Data = append([]byte(nil), good...)
	resp.Data[len(resp.Data)-1] ^= 1
	if _, err := s.keepReceipt(ctx, resp); !errors.Is(err, esign.ErrBadSignature) {
		t.Fatalf("altered signature: %v", err)
	}
	resp.Data = good
	if _, err := s.keepReceipt(ctx, resp); !errors.Is(err, identity.ErrReplayed) && !errors.Is(err, identity.ErrUnknownChallenge) {
		t.Fatalf("the good signature after its challenge was spent: %v", err)
	}
	if creds, _ := s.cfg.Store.Credentials(ctx, "alice", KindPolicyReceipt); len(creds) != 0 {
		t.Fatalf("%d receipts kept after refusals", len(creds))
	}
	// The enrolled card's own e-signature key: kept, verifiable, audited.
	resp, err = signWith(t, s, mine)
	if err != nil {
		t.Fatal(err)
	}
	row, err := s.keepReceipt(ctx, resp)
	if err != nil {
		t.Fatalf("own card: %v", err)
	}
	if _, err := s.keepReceipt(ctx, resp); err == nil {
		t.Fatal("one signature kept twice")
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
	events, err := s.cfg.Store.(identity.AuditLog).AuditEvents(ctx, "alice", 20)
	if err != nil {
		t.Fatal(err)
	}
	var kept, signed, refused int
	for _, e := range events {
		switch {
		case e.Event.Action == "policy-signed" && e.Event.Result == identity.Success:
			kept++
		case e.Event.Kind == esign.Kind && e.Event.Result == identity.Success:
			signed++
		case e.Event.Kind == esign.Kind:
			refused++
		}
	}
	if kept != 1 || signed != 1 || refused < 1 {
		t.Fatalf("audit: %d receipts kept, %d signatures and %d refusals audited; want 1, 1 and at least 1", kept, signed, refused)
	}
}
