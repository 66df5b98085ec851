// Command cardsign is a bank's server written from puce's documentation
// alone: a password, then the PIV authentication key (slot 9A) of a smart card
// as the second factor; then the holder signs a PDF the bank keeps with the
// card's e-signature key (slot 9C, PIN for that signature), as a PAdES
// signature with an RFC 3161 timestamp and the validation data (B-LT or
// B-LTA). State and the sealed audit trail are in one SQLite file.
//
//	go run ./examples/cardsign -db bank.db -ca cards-root.pem -issuing cards-ca.pem \
//	    -tsa http://tsa.example/ -tsa-ca tsa-root.pem
//
// with BANK_AUDIT_KEY the base64 of 32 random bytes. The test drives it with
// puce's virtual card, an `openssl ts` timestamping authority and poppler's
// pdfsig and qpdf.
package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

func main() {
	db := flag.String("db", "bank.db", "SQLite file")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	origin := flag.String("origin", "http://127.0.0.1:8080", "the site's origin (https:// in production)")
	caFile := flag.String("ca", "", "PEM: the root CAs of the cards")
	issuingFile := flag.String("issuing", "", "PEM: the CAs that issue the cards")
	tsaURL := flag.String("tsa", "", "RFC 3161 timestamping authority URL")
	tsaCA := flag.String("tsa-ca", "", "PEM: the timestamping authority's root CAs")
	lta := flag.Bool("lta", false, "sign at B-LTA (a document timestamp) instead of B-LT")
	flag.Parse()

	auditKey, err := base64.StdEncoding.DecodeString(os.Getenv("BANK_AUDIT_KEY"))
	if err != nil || len(auditKey) < 32 {
		log.Fatal("BANK_AUDIT_KEY must be the base64 of 32 random bytes")
	}
	roots, _ := readPool(*caFile)
	issuing, chain := readPool(*issuingFile)
	tsaRoots, _ := readPool(*tsaCA)
	cfg := Config{DB: *db, AuditKey: auditKey, Origin: *origin, Development: true,
		Roots: roots, Intermediates: issuing, Chain: chain,
		TSA: &esign.TSA{URL: *tsaURL, Roots: tsaRoots}, Level: pades.LevelBLT}
	if *lta {
		cfg.Level = pades.LevelBLTA
	}
	app, err := New(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer app.Close()
	log.Fatal(http.ListenAndServe(*addr, app))
}

// readPool reads the PEM certificates of file.
func readPool(file string) (*x509.CertPool, []*x509.Certificate) {
	pool := x509.NewCertPool()
	data, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	var certs []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			log.Fatal(fmt.Errorf("%s: %w", file, err))
		}
		pool.AddCert(c)
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		log.Fatal(errors.Join(identity.ErrBadInput, fmt.Errorf("%s: no certificate", file)))
	}
	return pool, certs
}
