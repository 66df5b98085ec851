package pades_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// fixture is a signer, a timestamping authority and an OCSP responder
// under one test PKI, their clocks at signedAt.
type fixture struct {
	pki      testcard.PKI
	key      *ecdsa.PrivateKey
	cert     *x509.Certificate
	ocsp     *ocspresponder.Responder
	tsa      *esign.TSA
	tsaCert  *x509.Certificate
	signedAt time.Time
}

func newFixture(t testing.TB, signedAt time.Time, validity time.Duration) *fixture {
	t.Helper()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{pki: card.PKI, signedAt: signedAt}
	issue := func(tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, f.pki.Issuing, pub, f.pki.IssuingKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	// The OCSP responder serves on loopback too, so that pdfsig's NSS can
	// ask it about the signer's certificate.
	f.ocsp = ocspresponder.New(f.pki.Issuing, f.pki.IssuingKey, nil, func() time.Time { return signedAt.Add(time.Second) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ocspURL, err := f.ocsp.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	f.cert = issue(&x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Alice Martin", Organization: []string{"puce test"}},
		NotBefore: signedAt.Add(-time.Hour), NotAfter: signedAt.Add(validity),
		KeyUsage:   x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		OCSPServer: []string{ocspURL}}, &f.key.PublicKey)
	tsaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	f.tsaCert = issue(&x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "puce test TSA"},
		NotBefore: signedAt.Add(-24 * time.Hour), NotAfter: signedAt.Add(10 * 365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}, &tsaKey.PublicKey)
	srv := httptest.NewServer(tsaresponder.New(f.tsaCert, tsaKey, []*x509.Certificate{f.pki.Issuing}, func() time.Time { return signedAt }))
	t.Cleanup(srv.Close)
	f.tsa = &esign.TSA{URL: srv.URL, Roots: f.pki.Roots}
	return f
}

func (f *fixture) services() pades.Services {
	return pades.Services{TSA: f.tsa, OCSP: f.ocsp, Roots: f.pki.Roots, Now: func() time.Time { return f.signedAt.Add(time.Second) }}
}

func (f *fixture) verifyOptions() pades.VerifyOptions {
	return pades.VerifyOptions{Roots: f.pki.Roots, TSARoots: f.pki.Roots}
}

// sign signs pdf at level with the software key, as the card would.
func (f *fixture) sign(t testing.TB, pdf []byte, level pades.Level) []byte {
	t.Helper()
	p, err := pades.Prepare(pdf, pades.SignOptions{Certificate: f.cert, Level: level, Time: f.signedAt, Reason: "Loan agreement", Location: "Lyon"})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := f.key.Sign(rand.Reader, p.Digest, p.SignerOpts())
	if err != nil {
		t.Fatal(err)
	}
	out, err := pades.Finish(context.Background(), p, sig, []*x509.Certificate{f.pki.Issuing}, f.services())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inputs are PDFs made by real tools: qpdf with a classic cross-reference
// table and with object and cross-reference streams, Ghostscript, and
// qpdf --linearize of Ghostscript's (first-page cross-reference at the
// start, with and without object streams), and cairo's (poppler's
// pdftocairo -pdf of contract.pdf: PDF 1.5, the writer behind many Linux
// applications' "print to PDF").
func inputs(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range []string{"contract.pdf", "contract-objstm.pdf", "contract-gs.pdf", "contract-linearized.pdf", "contract-linearized-objstm.pdf", "contract-cairo.pdf"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}
