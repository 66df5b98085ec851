// Command minimal is the smallest complete puce site: a password, then an
// authenticator app (TOTP), a security key or passkey (WebAuthn), or a smart
// card through the holder's card agent, in one page; and terms signed with the
// card (a .p7s that openssl cms -verify accepts). Its own glue is this
// file and index.html (glue_test.go counts them); identity/httpauth does
// the rest: sessions in the store, CSRF, the JSON endpoints and the browser
// client they serve at /auth/puce.js.
//
//	go run ./examples/minimal -db /tmp/minimal.db -ca cards-ca.pem
//
// Several instances share logins and sessions when they share a PostgreSQL
// database (-db postgres://…), an origin (-origin) and the sealing key
// (PUCE_SEALER_KEY, base64 of 32 bytes). PUCE_AUDIT_KEY (the same) seals the
// audit trail's records and checkpoints, which examples/auditcheck verifies.
package main

import (
	"context"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/webauthn"
)

//go:embed index.html
var index string

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	origin := flag.String("origin", "", "the site's origin, as browsers reach it (default http://localhost:PORT)")
	db := flag.String("db", "minimal.db", "SQLite file, or a postgres:// URL that several instances share")
	agent := flag.String("agent", "http://127.0.0.1:24727", "the card agent's origin")
	ca := flag.String("ca", "", "PEM file of the CAs that issue the cards")
	flag.Parse()
	log.Fatal(run(context.Background(), *addr, *origin, *db, *agent, *ca)) // run returns only on failure
}

func run(ctx context.Context, addr, origin, db, agent, ca string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if origin == "" {
		origin = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	}
	auditKey, err1 := base64.StdEncoding.DecodeString(os.Getenv("PUCE_AUDIT_KEY")) // 32+ bytes: seals the audit trail
	key, err2 := base64.StdEncoding.DecodeString(os.Getenv("PUCE_SEALER_KEY"))
	if err := errors.Join(err1, err2); err != nil { // a key mistyped must not mean no key
		return fmt.Errorf("PUCE_AUDIT_KEY or PUCE_SEALER_KEY is not base64: %w", err)
	}
	store, err := sqlstore.Open(ctx, db, sqlstore.WithAudit(identity.AuditConfig{Key: auditKey}))
	if err != nil {
		return err
	}
	if len(key) == 0 {
		key = identity.GenerateSealerKey() // one instance: codes sealed until it stops
	}
	sealer, err := identity.NewSealer("k1", map[string][]byte{"k1": key})
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if pem, err := os.ReadFile(ca); err == nil {
		roots.AppendCertsFromPEM(pem)
	}
	terms := &httpauth.Document{ID: "terms", Name: "terms.txt", Data: []byte("I accept the terms of the puce minimal bank.\n")}
	site, err := httpauth.NewSite(httpauth.SiteConfig{Store: store, Origin: origin, Development: strings.HasPrefix(origin, "http:"),
		Sealer: sealer, WebAuthn: &webauthn.Config{}, Cards: &cardauth.Config{Roots: roots}, SignUp: true,
		Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{ // the user signs terms with the card
			Document: func(*http.Request, *httpauth.Session, string) (*httpauth.Document, error) { return terms, nil },
			Signed:   func(*http.Request, *httpauth.Session, *httpauth.Document, *esign.Signed) error { return nil }, // keep .P7S here
		}}})
	if err != nil {
		return err
	}
	page := template.Must(template.New("").Parse(index))
	mux := http.NewServeMux()
	mux.Handle("/auth/", site)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { page.Execute(w, agent) })
	mux.HandleFunc("GET /terms.txt", func(w http.ResponseWriter, r *http.Request) { w.Write(terms.Data) })
	fmt.Println("minimal: serving", origin, "on", ln.Addr())
	return http.Serve(ln, mux)
}
