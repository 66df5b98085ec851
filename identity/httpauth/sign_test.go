package httpauth_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// contract is the document the test application offers for signing.
var contract = []byte("Loan agreement 2026-1142: 12,000 EUR over 48 months\n")

// newSignCard is a virtual card whose certificates are valid at the
// harness clock's start.
func newSignCard() *testcard.Card {
	card, err := testcard.New(testcard.Options{Now: identitytest.Epoch().Add(-time.Hour)})
	if err != nil {
		panic(err)
	}
	return card
}

// signing is the application's side of the signing endpoints: one
// document, "contract", which any signed-in user may sign; the .p7s is
// kept per document.
func (s *site) signing(t testing.TB, svc *identity.Services) *httpauth.Signing {
	t.Helper()
	pki := s.signCard.PKI
	ceremony, err := esign.NewCeremony(svc, esign.CeremonyConfig{Cards: s.card,
		Verify: esign.VerifyOptions{Roots: pki.Roots, Intermediates: pki.Intermediates}, Chain: []*x509.Certificate{pki.Issuing}})
	if err != nil {
		t.Fatal(err)
	}
	// PDFs at B-B: the timestamped levels are pcsc/esign/pades's tests.
	pdfCeremony, err := pades.NewCeremony(svc, pades.CeremonyConfig{Cards: s.card, Level: pades.LevelBB,
		Verify: pades.VerifyOptions{Roots: pki.Roots, Intermediates: pki.Intermediates}, Chain: []*x509.Certificate{pki.Issuing}})
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := os.ReadFile(filepath.Join("..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	return &httpauth.Signing{
		Ceremony: ceremony,
		Document: func(r *http.Request, _ *httpauth.Session, id string) (*httpauth.Document, error) {
			switch id {
			case "contract":
				return &httpauth.Document{ID: id, Name: "contract.txt", Data: contract}, nil
			case "contract.pdf":
				return &httpauth.Document{ID: id, Name: id, Data: pdf}, nil
			}
			return nil, nil
		},
		PDF: pdfCeremony,
		SignedPDF: func(r *http.Request, _ *httpauth.Session, doc *httpauth.Document, signed *pades.Signed) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.signed == nil {
				s.signed = map[string][]byte{}
			}
			s.signed[doc.ID] = signed.PDF
			return nil
		},
		Signed: func(r *http.Request, _ *httpauth.Session, doc *httpauth.Document, signed *esign.Signed) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.signed == nil {
				s.signed = map[string][]byte{}
			}
			s.signed[doc.ID] = signed.P7S
			return nil
		},
	}
}

func (s *site) signature(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signed[id]
}

// enrollSignCard enrols the virtual card (its 9A certificate) on the
// client's signed-in account through the endpoints.
func enrollSignCard(t *testing.T, s *site, c *client) {
	t.Helper()
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/enroll/card/begin", nil, &ch)
	tok, err := cardauth.LoginToken(context.Background(), s.signCard.Card, origin, unquote(t, ch.Payload), cardauth.PIN{Value: s.signCard.PIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.must(s, 200, "POST", "/auth/enroll/card/finish", map[string]any{"challengeId": ch.ChallengeID, "response": tok, "name": "card"}, nil)
}

type signChallengeAnswer struct {
	ChallengeID string             `json:"challengeId"`
	Payload     json.RawMessage    `json:"payload"`
	Document    map[string]any     `json:"document"`
	Kind        identity.Kind      `json:"kind"`
	Request     *esign.SignRequest `json:"-"`
}

// beginSign begins signing the contract with the card through s.
func beginSign(t *testing.T, s *site, c *client) signChallengeAnswer {
	t.Helper()
	cert, err := cardauth.SigningCertificate(context.Background(), s.signCard.Card)
	if err != nil {
		t.Fatal(err)
	}
	var ch signChallengeAnswer
	c.must(s, 200, "POST", "/auth/sign/begin", map[string]any{"documentId": "contract", "certificate": cert.Raw}, &ch)
	if ch.Request, err = esign.ParseSignRequest(ch.Payload); err != nil {
		t.Fatalf("payload %s: %v", ch.Payload, err)
	}
	return ch
}

// cardSigns is the holder's side: the card signs the request's digest.
func cardSigns(t *testing.T, card *testcard.Card, ch signChallengeAnswer) []byte {
	t.Helper()
	sig, _, err := cardauth.SignDigest(context.Background(), card.Card, ch.Request.Digest, crypto.SHA256, nil, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// A document signed with the account's card over the endpoints: begun on
// one instance and finished on another, verified by the library as a
// receiver would; a replay, another document, an anonymous session and a
// card not on the account are refused.
func TestEndpointsSign(t *testing.T) {
	s := memSite(t)
	c := &client{t: t}
	signUpWithKey(t, s, c, "dave", newDevice())

	// The card is not on dave's account yet: refused before any PIN.
	cert := s.signCard.SignCert
	status, _, raw := c.call(s, "POST", "/auth/sign/begin", map[string]any{"documentId": "contract", "certificate": cert.Raw})
	if want, msg := httpauth.Public(esign.ErrNotAccountCard); status != want || !json.Valid(raw) || string(raw) != mustJSON(t, map[string]string{"error": msg}) {
		t.Fatalf("a card not on the account: %d %s", status, raw)
	}
	enrollSignCard(t, s, c)

	ch := beginSign(t, s, c)
	if ch.Kind != esign.Kind || ch.Document["sha256"] == "" || ch.Document["name"] != "contract.txt" {
		t.Fatalf("challenge %+v", ch)
	}
	sig := cardSigns(t, s.signCard, ch)
	other := newSite(t, s.shared) // another instance over the same store
	var done struct {
		Signed       bool   `json:"signed"`
		Signer       string `json:"signer"`
		CredentialID string `json:"credentialId"`
	}
	c.must(other, 200, "POST", "/auth/sign/finish", map[string]any{"challengeId": ch.ChallengeID, "documentId": "contract", "signature": sig}, &done)
	if !done.Signed || done.Signer != cert.Subject.CommonName || done.CredentialID == "" {
		t.Fatalf("signed %+v", done)
	}
	p7s := other.signature("contract")
	if _, err := esign.Verify(contract, p7s, esign.VerifyOptions{Roots: s.signCard.PKI.Roots}); err != nil {
		t.Fatalf("the kept signature: %v", err)
	}
	if status, _, raw := c.call(s, "POST", "/auth/sign/finish", map[string]any{"challengeId": ch.ChallengeID, "documentId": "contract", "signature": sig}); status != http.StatusUnauthorized {
		t.Fatalf("replay: %d %s", status, raw)
	}

	// No document by that name.
	if status, _, _ := c.call(s, "POST", "/auth/sign/begin", map[string]any{"documentId": "nope", "certificate": cert.Raw}); status != http.StatusBadRequest {
		t.Fatalf("unknown document: %d", status)
	}
	// Not signed in.
	anon := &client{t: t}
	anon.must(s, 200, "GET", "/auth/session", nil, nil)
	if status, _, _ := anon.call(s, "POST", "/auth/sign/begin", map[string]any{"documentId": "contract", "certificate": cert.Raw}); status != http.StatusForbidden {
		t.Fatalf("anonymous: %d", status)
	}
}

// A PDF is signed in the document over the same endpoints: the challenge is
// a pades one whose payload names the PDF (size, hash, pages) without it,
// the finish answers the level, and the application keeps a signed PDF
// that verifies; the .p7s path stays for other documents.
func TestEndpointsSignPDF(t *testing.T) {
	s := memSite(t)
	c := &client{t: t}
	signUpWithKey(t, s, c, "erin", newDevice())
	enrollSignCard(t, s, c)
	cert := s.signCard.SignCert
	var ch struct {
		ChallengeID string          `json:"challengeId"`
		Kind        identity.Kind   `json:"kind"`
		Payload     json.RawMessage `json:"payload"`
		Document    map[string]any  `json:"document"`
	}
	c.must(s, 200, "POST", "/auth/sign/begin", map[string]any{"documentId": "contract.pdf", "certificate": cert.Raw}, &ch)
	req, err := pades.ParseSignRequest(ch.Payload)
	if err != nil || ch.Kind != pades.Kind || req.Pages != 1 || req.Level != "B-B" || float64(req.Size) != ch.Document["size"] {
		t.Fatalf("challenge %+v, request %+v, %v", ch, req, err)
	}
	sig, _, err := cardauth.SignDigest(context.Background(), s.signCard.Card, req.Digest, crypto.SHA256, nil, cardauth.PIN{Value: s.signCard.PIN})
	if err != nil {
		t.Fatal(err)
	}
	var done struct {
		Signed bool   `json:"signed"`
		Level  string `json:"level"`
		P7S    []byte `json:"p7s"`
	}
	c.must(s, 200, "POST", "/auth/sign/finish", map[string]any{"challengeId": ch.ChallengeID, "documentId": "contract.pdf", "signature": sig}, &done)
	if !done.Signed || done.Level != "B-B" || done.P7S != nil {
		t.Fatalf("signed %+v", done)
	}
	rep, err := pades.Verify(context.Background(), s.signature("contract.pdf"), pades.VerifyOptions{Roots: s.signCard.PKI.Roots})
	if err != nil || !rep.Signatures[0].Valid() || !rep.Signatures[0].Signer.Equal(cert) {
		t.Fatalf("the kept PDF: %v %+v", err, rep)
	}
	// A .p7s challenge's answer does not finish a PDF, nor the reverse.
	p7s := beginSign(t, s, c)
	if status, _, raw := c.call(s, "POST", "/auth/sign/finish", map[string]any{"challengeId": p7s.ChallengeID, "documentId": "contract.pdf", "signature": sig}); status == http.StatusOK {
		t.Fatalf("a .p7s challenge finished a PDF: %s", raw)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}
