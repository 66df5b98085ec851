// Command sign is puce's example of document signing with a smart card:
// sign in with the card, upload a document, sign it with the card's
// e-signature key (PIV slot 9C, PIN asked by the card agent for that
// signature), download the signed PDF — PAdES at the level -pdf-level
// chooses, B-LT by default: timestamped, with the chain and OCSP answers in
// the document — or, for other documents, the detached CMS signature
// (.p7s, timestamped), and verify — the verify page names the signer, the
// signing and timestamp times, the certificate's status at signing, the
// level, and says plainly when the document was changed after signing.
// Timestamps come from -tsa; on a development origin (http://) without
// it, the example starts a test authority of its own on loopback
// (pcsc/esign/tsaresponder, under a throwaway CA). Only the card enrolled on the account signs for it:
// accounts and their cards are those of examples/login, whose database it
// shares (-db).
//
//	go run ./examples/sign -ca puce-test-ca.pem -db puce-login.db -agent http://127.0.0.1:24727
//
// The .p7s verifies with OpenSSL too:
//
//	openssl cms -verify -binary -inform DER -in doc.pdf.p7s -content doc.pdf -CAfile puce-test-ca.pem -purpose any
package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/puce-id/puce/examples/internal/signsrv"
	"github.com/puce-id/puce/examples/internal/web"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	origin := flag.String("origin", "", "the site's origin as browsers see it (default http://localhost:PORT)")
	agent := flag.String("agent", "http://127.0.0.1:24727", "URL of the card agent")
	caFile := flag.String("ca", "", "PEM file of the CA certificates that issue signing cards (required)")
	db := flag.String("db", "puce-login.db", "the accounts' database: examples/login's SQLite file, or a postgres:// URL")
	ocspURL := flag.String("ocsp", "", "OCSP responder URL overriding the one the certificates name")
	noOCSP := flag.Bool("no-ocsp", false, "do not ask for the signer certificate's status")
	tlsCert := flag.String("tls-cert", "", "TLS certificate (PEM)")
	tlsKey := flag.String("tls-key", "", "TLS private key (PEM)")
	tsaURL := flag.String("tsa", "", "RFC 3161 timestamping authority URL (default on http:// origins: a test authority started here)")
	tsaCA := flag.String("tsa-ca", "", "PEM file of the CA certificates of the -tsa authority")
	level := flag.String("pdf-level", "B-LT", "PAdES level of PDF signatures: B-B, B-T, B-LT or B-LTA")
	auditKey := flag.String("audit-key", os.Getenv("PUCE_AUDIT_KEY"), "the login server's audit key (env PUCE_AUDIT_KEY), which seals what this server appends to the trail; its development key beside the SQLite file when empty")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ts := tsaFlags{url: *tsaURL, caFile: *tsaCA, level: *level}
	if err := run(log, *addr, *origin, *agent, *caFile, *db, *auditKey, *ocspURL, *noOCSP, *tlsCert, *tlsKey, ts); err != nil {
		fmt.Fprintln(os.Stderr, "sign:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, addr, origin, agent, caFile, db, auditKey, ocspURL string, noOCSP bool, tlsCert, tlsKey string, ts tsaFlags) error {
	if caFile == "" {
		return errors.New("-ca is required: the CA certificates that issue signing cards (examples/virtualcard -ca writes them)")
	}
	roots, inter, all, err := web.LoadCAs(caFile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := web.OpenStore(ctx, db, auditKey, os.Stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	site, err := web.Listen(addr, origin, tlsCert, tlsKey)
	if err != nil {
		return err
	}
	level, err := parseLevel(ts.level)
	if err != nil {
		return err
	}
	tsa, err := ts.authority(ctx, log, strings.HasPrefix(site.Origin, "http://"))
	if err != nil {
		return err
	}
	srv, err := signsrv.New(signsrv.Config{Origin: site.Origin, AgentURL: agent, Store: store, Roots: roots, Intermediates: inter,
		Chain: issuing(all), OCSPURL: ocspURL, NoOCSP: noOCSP, Logger: log, TSA: tsa, PDFLevel: level})
	if err != nil {
		return err
	}
	fmt.Printf("sign example: %s\n", site.Origin)
	// A minute: uploads of documents to sign are larger than login forms.
	return site.Serve(ctx, srv.Handler(), time.Minute)
}

// issuing picks the CA certificates to embed in each .p7s: the issuing
// CAs, not the roots, which a verifier must already trust by itself.
func issuing(all []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range all {
		if !bytes.Equal(c.RawIssuer, c.RawSubject) {
			out = append(out, c)
		}
	}
	return out
}
