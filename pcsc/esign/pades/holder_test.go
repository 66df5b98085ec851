package pades_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestSignOnCard: the holder's one call signs what the ceremony prepared,
// and refuses, before the card is asked, a request whose digest is not that
// of its signed attributes (a server making the card sign 32 bytes of its
// choosing), whose attributes name another certificate or other bytes, or
// that names another document than the one shown.
func TestSignOnCard(t *testing.T) {
	ctx := context.Background()
	card, svc, cards := enrolledCard(t)
	other, _ := testcard.New(testcard.Options{})
	const origin = "https://bank.example"
	ceremony, err := pades.NewCeremony(svc, pades.CeremonyConfig{Cards: cards, Level: pades.LevelBB,
		Verify: pades.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates}})
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	begin := func() *identity.Challenge {
		ch, err := ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: origin}, pdf, card.SignCert)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	edit := func(payload []byte, f func(*pades.SignRequest)) []byte {
		req, err := pades.ParseSignRequest(payload)
		if err != nil {
			t.Fatal(err)
		}
		f(req)
		b, _ := json.Marshal(req)
		return b
	}
	other32 := sha256.Sum256([]byte("puce-approve:1:a payment the holder never saw"))

	for name, c := range map[string]struct {
		payload func([]byte) []byte
		shown   []byte
		want    error
	}{
		"digest of something else":  {func(p []byte) []byte { return edit(p, func(r *pades.SignRequest) { r.Digest = other32[:] }) }, pdf, pades.ErrRequest},
		"attributes of other bytes": {func(p []byte) []byte { return edit(p, func(r *pades.SignRequest) { r.SignedRanges = other32[:] }) }, pdf, esign.ErrDocumentAltered},
		"another document shown":    {func(p []byte) []byte { return p }, append(pdf[:len(pdf):len(pdf)], '\n'), esign.ErrDocumentAltered},
	} {
		t.Run(name, func(t *testing.T) {
			ch := begin()
			_, sig, err := pades.SignOnCard(ctx, card.Card, c.payload(ch.Payload), c.shown, cardauth.PIN{Value: "00000000"})
			if !errors.Is(err, pades.ErrRequest) || !errors.Is(err, c.want) || !errors.Is(err, identity.ErrBadInput) || sig != nil {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// The wrong PIN above was never presented: the card still has 3 tries.
	ch := begin()
	_, _, err = pades.SignOnCard(ctx, card.Card, ch.Payload, pdf, cardauth.PIN{Value: "00000000"})
	var wrong *apdu.WrongPINError
	if !errors.As(err, &wrong) || wrong.TriesLeft != 2 {
		t.Fatalf("first wrong PIN: %v", err)
	}

	req, _ := pades.ParseSignRequest(begin().Payload)
	if err := req.Check(other.SignCert, pdf); !errors.Is(err, pades.ErrRequest) || !errors.Is(err, esign.ErrOtherCertificate) {
		t.Fatalf("another card's certificate: %v", err)
	}

	ch = begin()
	req, sig, err := pades.SignOnCard(ctx, card.Card, ch.Payload, pdf, cardauth.PIN{Value: card.PIN})
	if err != nil || req.Level != "B-B" {
		t.Fatal(err)
	}
	signed, err := ceremony.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: sig}, pdf)
	if err != nil || !signed.Report.Valid() {
		t.Fatalf("finish: %v", err)
	}
}

// enrolledCard is a virtual card enrolled on alice's account.
func enrolledCard(t *testing.T) (*testcard.Card, *identity.Services, *cardauth.Factor) {
	t.Helper()
	ctx := context.Background()
	const origin = "https://bank.example"
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := &identity.Services{Store: memstore.New()}
	cards, _ := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, SkipRevocation: true})
	ch, _ := cards.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	tok, _ := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if _, err := cards.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok}); err != nil {
		t.Fatal(err)
	}
	return card, svc, cards
}

// TestCeremonyTSARootsDefault: the timestamping authority's CAs are given
// once, with the authority (esign.TSA.Roots); the ceremony checks its
// signatures' timestamps against them.
func TestCeremonyTSARootsDefault(t *testing.T) {
	ctx := context.Background()
	const origin = "https://bank.example"
	card, svc, cards := enrolledCard(t)
	tsa, _ := tsaresponder.NewIssued(card.PKI.Issuing, card.PKI.IssuingKey, []*x509.Certificate{card.PKI.Issuing}, nil)
	srv := httptest.NewServer(tsa)
	defer srv.Close()
	ceremony, err := pades.NewCeremony(svc, pades.CeremonyConfig{Cards: cards, Level: pades.LevelBT,
		Services: pades.Services{TSA: &esign.TSA{URL: srv.URL, Roots: card.PKI.Roots}},
		Verify:   pades.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates}})
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := os.ReadFile("testdata/contract.pdf")
	ch, err := ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: origin}, pdf, card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	_, sig, err := pades.SignOnCard(ctx, card.Card, ch.Payload, pdf, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ceremony.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: sig}, pdf)
	if err != nil || signed.Report.Level != pades.LevelBT || signed.Report.Timestamp == nil {
		t.Fatalf("finish: %v", err)
	}
	// Without any CA for the authority, the error names both places.
	_, err = pades.NewCeremony(svc, pades.CeremonyConfig{Cards: cards, Level: pades.LevelBT,
		Services: pades.Services{TSA: &esign.TSA{URL: srv.URL}}, Verify: pades.VerifyOptions{Roots: card.PKI.Roots}})
	if !errors.Is(err, identity.ErrBadInput) || !strings.Contains(err.Error(), "Services.TSA.Roots") {
		t.Fatalf("no TSA roots: %v", err)
	}
	// Nor without its URL: found at start, not after the holder's PIN.
	for _, u := range []string{"", "tsa.example/stamp", "ftp://tsa.example/"} {
		_, err = pades.NewCeremony(svc, pades.CeremonyConfig{Cards: cards, Level: pades.LevelBLT,
			Services: pades.Services{TSA: &esign.TSA{URL: u, Roots: card.PKI.Roots}}, Verify: pades.VerifyOptions{Roots: card.PKI.Roots}})
		if !errors.Is(err, identity.ErrBadInput) || !strings.Contains(err.Error(), "Services.TSA.URL") {
			t.Fatalf("TSA URL %q: %v", u, err)
		}
	}
}

// TestCeremonyOCSPDefault: the OCSP client the card factor was given
// (cardauth.Config.OCSP) collects the validation data of B-LT signatures
// when the ceremony names none: the certificates' responder URL leads
// nowhere, only the configured client answers.
func TestCeremonyOCSPDefault(t *testing.T) {
	ctx := context.Background()
	const origin = "https://bank.example"
	card, err := testcard.New(testcard.Options{OCSPURL: "http://ocsp.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	responder := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
	svc := &identity.Services{Store: memstore.New()}
	cards, _ := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, OCSP: responder})
	ch, _ := cards.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	tok, _ := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if _, err := cards.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok}); err != nil {
		t.Fatal(err)
	}
	tsa, _ := tsaresponder.NewIssued(card.PKI.Issuing, card.PKI.IssuingKey, []*x509.Certificate{card.PKI.Issuing}, nil)
	srv := httptest.NewServer(tsa)
	defer srv.Close()
	ceremony, err := pades.NewCeremony(svc, pades.CeremonyConfig{Cards: cards, Level: pades.LevelBLT,
		Services: pades.Services{TSA: &esign.TSA{URL: srv.URL, Roots: card.PKI.Roots}},
		Verify:   pades.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates},
		Chain:    []*x509.Certificate{card.PKI.Issuing}})
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := os.ReadFile("testdata/contract.pdf")
	ch, err = ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: origin}, pdf, card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	_, sig, err := pades.SignOnCard(ctx, card.Card, ch.Payload, pdf, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ceremony.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: sig}, pdf)
	if err != nil || signed.Report.Level != pades.LevelBLT {
		t.Fatalf("finish: %v", err)
	}
}
