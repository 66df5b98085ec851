package httpauth_test

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
	"github.com/puce-id/puce/webauthn"
)

// TestNewSitePDFRevokedSigner: the PDF ceremony NewSite makes from
// SiteConfig.PDF refuses a card whose signing certificate is revoked, as
// the detached one does and as a revoked card is refused at login: at B-B
// and B-T no validation data is collected, so only asking the card
// factor's responder at Finish finds the revocation.
func TestNewSitePDFRevokedSigner(t *testing.T) {
	ctx := context.Background()
	const origin = "https://bank.example"
	card, err := testcard.New(testcard.Options{OCSPURL: "http://ocsp.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	responder := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
	pdf, err := os.ReadFile(filepath.Join("..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	site, err := httpauth.NewSite(httpauth.SiteConfig{
		Store: memstore.New(), Origin: origin, Logger: slog.New(slog.DiscardHandler),
		WebAuthn: &webauthn.Config{},
		Cards:    &cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, OCSP: responder},
		PDF:      &pades.CeremonyConfig{Level: pades.LevelBB, Chain: []*x509.Certificate{card.PKI.Issuing}},
		Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{
			Document:  func(*http.Request, *httpauth.Session, string) (*httpauth.Document, error) { return nil, nil },
			SignedPDF: func(*http.Request, *httpauth.Session, *httpauth.Document, *pades.Signed) error { return nil },
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := site.Cards.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := site.Cards.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok}); err != nil {
		t.Fatal(err)
	}
	responder.Revoke(card.SignCert.SerialNumber, time.Now().Add(-time.Minute), 1)
	ch, err = site.PDFSignatures.Begin(ctx, identity.Request{Subject: "alice", Origin: origin}, pdf, card.SignCert)
	if err != nil {
		t.Fatal(err)
	}
	_, sig, err := pades.SignOnCard(ctx, card.Card, ch.Payload, pdf, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	_, err = site.PDFSignatures.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: sig}, pdf)
	if !errors.Is(err, esign.ErrRevoked) {
		t.Fatalf("a revoked signer's PDF signature: %v, want esign.ErrRevoked", err)
	}
}
