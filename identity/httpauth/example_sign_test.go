package httpauth_test

import (
	"crypto/x509"
	"log"
	"net/http"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
)

// Document signing with the account's card: an esign.Ceremony over the
// card factor, the application's documents, and where to keep the
// signatures. The page's script sends the card's 9C certificate to
// /auth/sign/begin, hands the answer's payload.digest to the card agent
// (cardauth.SignDigest on the holder's side) and posts the card's signature
// to /auth/sign/finish. The library refuses a card not enrolled on the
// account, a replay, an expired or another document.
func ExampleEndpointsConfig_signing() {
	store := memstore.New() // sqlstore for several instances
	svc := &identity.Services{Store: store}
	roots := x509.NewCertPool() // the CAs of the cards
	cards, _ := cardauth.New(svc, cardauth.Config{Roots: roots})
	ceremony, _ := esign.NewCeremony(svc, esign.CeremonyConfig{Cards: cards, Verify: esign.VerifyOptions{Roots: roots}})

	documents := map[string][]byte{"loan-1142": []byte("Loan agreement 2026-1142\n")} // the application's own
	m, _ := httpauth.New(httpauth.Config{Store: store, Origin: "https://bank.example"})
	api, err := m.Endpoints(httpauth.EndpointsConfig{
		Factors: []identity.Authenticator{cards},
		Signing: &httpauth.Signing{
			Ceremony: ceremony,
			Document: func(r *http.Request, s *httpauth.Session, id string) (*httpauth.Document, error) {
				data, ok := documents[id] // and check that s.Subject() may sign it
				if !ok {
					return nil, nil // answered as "start again"
				}
				return &httpauth.Document{ID: id, Name: id + ".txt", Data: data}, nil
			},
			Signed: func(r *http.Request, s *httpauth.Session, doc *httpauth.Document, signed *esign.Signed) error {
				// Keep signed.P7S beside the document.
				return nil
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", api) // POST /auth/sign/begin, /auth/sign/finish
}
