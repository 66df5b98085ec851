package httpauth_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/webauthn"
)

// A site that signs PDFs only, built by NewSite from SiteConfig.PDF over its
// own card factor: no second card factor, throttle or CA list to set up,
// and no Signed callback for detached signatures it does not make. The
// holder's side signs with pades.SignOnCard; the kept PDF verifies; another
// document is refused at begin, before any card signs.
func TestNewSitePDFOnly(t *testing.T) {
	ctx := context.Background()
	card := newSignCard()
	pdf, err := os.ReadFile(filepath.Join("..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []byte
	site, err := httpauth.NewSite(httpauth.SiteConfig{
		Store: memstore.New(), Origin: "https://bank.example", SignUp: true,
		Clock: identitytest.NewClock(identitytest.Epoch()), Logger: slog.New(slog.DiscardHandler),
		WebAuthn: &webauthn.Config{},
		Cards:    &cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, SkipRevocation: true},
		// B-B: the timestamped levels are pcsc/esign/pades's tests.
		PDF: &pades.CeremonyConfig{Level: pades.LevelBB, Chain: []*x509.Certificate{card.PKI.Issuing}},
		Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{
			Document: func(_ *http.Request, _ *httpauth.Session, id string) (*httpauth.Document, error) {
				switch id {
				case "contract.pdf":
					return &httpauth.Document{ID: id, Name: id, Data: pdf}, nil
				case "notes.txt":
					return &httpauth.Document{ID: id, Name: id, Data: contract}, nil
				}
				return nil, nil
			},
			SignedPDF: func(_ *http.Request, _ *httpauth.Session, _ *httpauth.Document, signed *pades.Signed) error {
				kept = signed.PDF
				return nil
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if site.PDFSignatures == nil || site.Signatures != nil {
		t.Fatalf("ceremonies: PDF %v, detached %v", site.PDFSignatures, site.Signatures)
	}
	site.Passwords.Params = cheapArgon2
	b := &pageScript{h: site, cookie: site.Manager.CookieName()}
	signUpAndSignIn(t, b)
	ch := b.call("POST", "/auth/enroll/card/begin", nil)
	nonce, _ := ch["payload"].(string)
	tok, err := cardauth.LoginToken(ctx, card.Card, "https://bank.example", nonce, cardauth.PIN{Value: card.PIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out := b.call("POST", "/auth/enroll/card/finish", map[string]any{"challengeId": ch["challengeId"], "response": tok, "name": "card"}); b.status != http.StatusOK {
		t.Fatalf("card enrolment: %d %v (begin %v)", b.status, out, ch)
	}

	sign := func(id string) (map[string]any, int) {
		return b.call("POST", "/auth/sign/begin", map[string]any{"documentId": id, "certificate": card.SignCert.Raw}), b.status
	}
	if out, status := sign("notes.txt"); status != http.StatusBadRequest || out["challengeId"] != nil {
		t.Fatalf("a text document on a PDF-only site: %d %v", status, out)
	}
	ch, status := sign("contract.pdf")
	if status != http.StatusOK || ch["kind"] != string(pades.Kind) {
		t.Fatalf("begin: %d %v", status, ch)
	}
	payload, _ := json.Marshal(ch["payload"])
	_, sig, err := pades.SignOnCard(ctx, card.Card, payload, pdf, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	if done := b.call("POST", "/auth/sign/finish", map[string]any{"challengeId": ch["challengeId"], "documentId": "contract.pdf", "signature": sig}); b.status != http.StatusOK || done["level"] != "B-B" {
		t.Fatalf("finish: %d %v", b.status, done)
	}
	rep, err := pades.Verify(ctx, kept, pades.VerifyOptions{Roots: card.PKI.Roots})
	if err != nil || !rep.Signatures[0].Valid() || !rep.Signatures[0].Signer.Equal(card.SignCert) {
		t.Fatalf("the kept PDF: %v %+v", err, rep)
	}
}

// What a Signing or SiteConfig.PDF lacks is named at start.
func TestSigningRefused(t *testing.T) {
	doc := func(*http.Request, *httpauth.Session, string) (*httpauth.Document, error) { return nil, nil }
	keep := func(*http.Request, *httpauth.Session, *httpauth.Document, *pades.Signed) error { return nil }
	for name, cfg := range map[string]httpauth.SiteConfig{
		"PDF without Signing":          {PDF: &pades.CeremonyConfig{}},
		"Signing keeping nothing":      {Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{Document: doc}}},
		"SignedPDF without a ceremony": {Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{Document: doc, SignedPDF: keep}}},
		"PDF twice":                    {PDF: &pades.CeremonyConfig{}, Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{Document: doc, PDF: &pades.Ceremony{}, SignedPDF: keep}}},
		"PDF without cards":            {PDF: &pades.CeremonyConfig{}, Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{Document: doc, SignedPDF: keep}}},
	} {
		cfg.Store, cfg.Origin, cfg.WebAuthn = memstore.New(), "https://bank.example", &webauthn.Config{}
		if _, err := httpauth.NewSite(cfg); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
