package emrtd_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// readWith personalises the sample holder with an issuing state and an
// issuer, and reads DG1 with passive authentication against the issuer's
// CSCA.
func readWith(t *testing.T, state string, is *emrtdapplet.Issuer) (*emrtd.Record, error) {
	t.Helper()
	prof := emrtdapplet.SampleProfile()
	prof.IssuingState, prof.Nationality = state, state
	p, err := emrtdapplet.Personalise(prof, &emrtdapplet.Options{Issuer: is, PACEParameterID: 12})
	if err != nil {
		t.Fatal(err)
	}
	f, err := newFixtureFrom(p, true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := emrtd.Open(t.Context(), f.tr, emrtd.CAN(p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{is.CSCA}, DataGroups: []emrtd.DG{emrtd.DG1}})
}

// The test PKI names Austria AT (not AU, Australia, as truncating AUT
// gave), and passive authentication refuses a document whose issuing state
// is not the document signer's country (ICAO 9303-12 §7.1.1).
func TestDocumentSignerCountry(t *testing.T) {
	now := time.Now()
	aut, err := emrtdapplet.NewIssuer("AUT", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := aut.DocumentSigner.Subject.Country; len(c) != 1 || c[0] != "AT" || aut.CSCA.Subject.Country[0] != "AT" {
		t.Fatalf("AUT certificates name %v / %v", c, aut.CSCA.Subject.Country)
	}
	swe, err := emrtdapplet.NewBrainpoolIssuer("SWE", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := swe.DocumentSigner.Subject.Country; len(c) != 1 || c[0] != "SE" {
		t.Fatalf("SWE brainpool document signer names %v", c)
	}
	if r, err := readWith(t, "AUT", aut); err != nil || !r.Verified() {
		t.Fatalf("Austrian document, Austrian signer: %v", err)
	}
	// Australia's document signed by Austria's document signer: the CSCA
	// is trusted, the hashes match, and yet the state is wrong.
	r, err := readWith(t, "AUS", aut)
	if !errors.Is(err, emrtd.ErrCountryMismatch) || !errors.Is(err, emrtd.ErrPassiveAuth) || r == nil || r.Verified() {
		t.Fatalf("Australian document under an Austrian signer: %v", err)
	}
	if _, err := readWith(t, "SWE", aut); !errors.Is(err, emrtd.ErrCountryMismatch) {
		t.Fatalf("Swedish document under an Austrian signer: %v", err)
	}
}

// A document signer whose own countryName differs from its CSCA's is
// refused, whatever DG1 says.
func TestDocumentSignerCountryDiffersFromCSCA(t *testing.T) {
	now := time.Now()
	is, err := emrtdapplet.NewIssuer("UTO", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{Country: []string{"FR"}, CommonName: "stray document signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.CSCA, &key.PublicKey, is.CSCAKey)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	stray := &emrtdapplet.Issuer{CSCA: is.CSCA, CSCAKey: is.CSCAKey, DocumentSigner: ds, DocumentSignerKey: key}
	if _, err := readWith(t, "UTO", stray); !errors.Is(err, emrtd.ErrCountryMismatch) {
		t.Fatalf("FR document signer under the UTO (XU) CSCA: %v", err)
	}
}
