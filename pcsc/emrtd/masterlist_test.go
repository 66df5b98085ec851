package emrtd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// A CSCA master list (ICAO 9303-12 §8.2) carrying a NIST and a Brainpool
// CSCA, published by a third state: it verifies against the publisher's
// CSCA only, and its CSCAs then authenticate both states' documents.
func TestMasterList(t *testing.T) {
	now := time.Now()
	ctx := context.Background()
	a, err := emrtdapplet.NewIssuer("UTO", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := emrtdapplet.NewBrainpoolIssuer("D", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	publisher, err := emrtdapplet.NewIssuer("SWE", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := publisher.MasterList(now, nil, a.CSCA, b.CSCA)
	if err != nil {
		t.Fatal(err)
	}
	ml, err := emrtd.ParseMasterList(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(ml.CSCAs) != 2 || ml.Signer == nil {
		t.Fatalf("master list of %d CSCAs", len(ml.CSCAs))
	}
	if err := ml.Verify([]*x509.Certificate{publisher.CSCA}, now); err != nil {
		t.Fatal(err)
	}
	if err := ml.Verify([]*x509.Certificate{a.CSCA}, now); !errors.Is(err, emrtd.ErrMasterList) {
		t.Fatalf("master list under the wrong anchor: %v", err)
	}
	// A certificate slipped into the list breaks the signature.
	i := bytes.Index(der, a.CSCA.Raw)
	bad := bytes.Clone(der)
	bad[i+len(a.CSCA.Raw)-3] ^= 1
	ml2, err := emrtd.ParseMasterList(bad)
	if err == nil {
		err = ml2.Verify([]*x509.Certificate{publisher.CSCA}, now)
	}
	if !errors.Is(err, emrtd.ErrMasterList) && !errors.Is(err, emrtd.ErrMalformed) {
		t.Fatalf("altered master list: %v", err)
	}
	// Germany writes D in the MRZ; its certificates say DE.
	for state, is := range map[string]*emrtdapplet.Issuer{"UTO": a, "D": b} {
		prof := emrtdapplet.SampleProfile()
		prof.IssuingState = state
		p, err := emrtdapplet.Personalise(prof, &emrtdapplet.Options{Issuer: is})
		if err != nil {
			t.Fatal(err)
		}
		f, err := newFixtureFrom(p, true)
		if err != nil {
			t.Fatal(err)
		}
		s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: ml.CSCAs}); err != nil || !r.Verified() {
			t.Fatalf("%s: %v", is.CSCA.Subject.CommonName, err)
		}
	}
}

// A document signer on its CSCA's CRL fails passive authentication with
// ErrRevoked; a CRL not signed by the CSCA fails closed.
func TestRevokedDocumentSigner(t *testing.T) {
	now := time.Now()
	ctx := context.Background()
	is, err := emrtdapplet.NewIssuer("UTO", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := emrtdapplet.NewIssuer("UTO", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	crl := func(signer *emrtdapplet.Issuer, serials ...*big.Int) *x509.RevocationList {
		tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.AddDate(0, 1, 0)}
		for _, s := range serials {
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: now.Add(-time.Minute)})
		}
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, signer.CSCA, signer.CSCAKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	f := newFixture(t, true, &emrtdapplet.Options{Issuer: is})
	read := func(crls ...*x509.RevocationList) error {
		s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{is.CSCA}, CRLs: crls})
		return err
	}
	if err := read(crl(is, big.NewInt(7))); err != nil {
		t.Fatalf("CRL without the signer: %v", err)
	}
	if err := read(crl(is, is.DocumentSigner.SerialNumber)); !errors.Is(err, emrtd.ErrRevoked) || !errors.Is(err, emrtd.ErrPassiveAuth) {
		t.Fatalf("revoked: %v", err)
	}
	// Same issuer name, another key: the forged CRL is refused, whatever
	// it lists.
	forged := crl(other, big.NewInt(7))
	if err := read(forged); !errors.Is(err, emrtd.ErrUntrustedSigner) {
		t.Fatalf("forged CRL: %v", err)
	}
}
