package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
)

type tsaFlags struct{ url, caFile, level string }

func parseLevel(s string) (pades.Level, error) {
	for l := pades.LevelBB; l <= pades.LevelBLTA; l++ {
		if l.String() == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("-pdf-level %q: want B-B, B-T, B-LT or B-LTA", s)
}

// authority is the timestamping authority the signatures use: -tsa, or on a
// development origin a test authority started here; nil otherwise (then
// every document gets a CAdES-B .p7s).
func (f tsaFlags) authority(ctx context.Context, log *slog.Logger, development bool) (*esign.TSA, error) {
	if f.url != "" {
		if f.caFile == "" {
			return nil, fmt.Errorf("-tsa needs -tsa-ca, the authority's CA certificates")
		}
		roots, inter, _, err := web.LoadCAs(f.caFile)
		if err != nil {
			return nil, err
		}
		return &esign.TSA{URL: f.url, Roots: roots, Intermediates: inter}, nil
	}
	if !development {
		log.Warn("no timestamping authority (-tsa): documents, PDFs included, get a CAdES-B .p7s")
		return nil, nil
	}
	url, roots, err := testAuthority(ctx)
	if err != nil {
		return nil, err
	}
	log.Info("development: test timestamping authority (never use it in production)", "url", url)
	return &esign.TSA{URL: url, Roots: roots}, nil
}

// testAuthority serves a test TSA under a throwaway CA on loopback until
// ctx ends.
func testAuthority(ctx context.Context) (string, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "puce example TSA CA (throwaway)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return "", nil, err
	}
	tsa, err := tsaresponder.NewIssued(ca, key, nil, nil)
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: tsa, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	go func() { <-ctx.Done(); srv.Close() }()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return "http://" + l.Addr().String(), roots, nil
}
