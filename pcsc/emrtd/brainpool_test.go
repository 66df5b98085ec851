package emrtd_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/osanderson/brainpool"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// A state whose CSCA and document signer hold brainpoolP256r1 keys: crypto/x509
// rejects the certificates, passive authentication still verifies them, and
// every kind of tampering fails with its typed error.
func TestBrainpoolPassiveAuthentication(t *testing.T) {
	ctx := context.Background()
	is, err := emrtdapplet.NewBrainpoolIssuer("UTO", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificate(is.CSCA.Raw); err == nil {
		t.Fatal("crypto/x509 parsed a Brainpool certificate: this test no longer shows anything")
	}
	// The verifier parses the CSCA from its DER, not from the card's struct.
	csca, err := emrtd.ParseCertificate(is.CSCA.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := csca.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != brainpool.P256r1() || !csca.IsCA ||
		csca.KeyUsage&x509.KeyUsageCertSign == 0 || csca.Subject.CommonName != "puce test CSCA UTO brainpool" {
		t.Fatalf("CSCA parsed as %+v", csca)
	}
	cscas := []*x509.Certificate{csca}
	read := func(f *fixture, cscas []*x509.Certificate) (*emrtd.Record, error) {
		s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s.Read(ctx, &emrtd.ReadOptions{CSCAs: cscas, ChipAuthentication: true})
	}

	f := newFixture(t, true, &emrtdapplet.Options{Issuer: is})
	r, err := read(f, cscas)
	if err != nil || !r.Verified() {
		t.Fatalf("Brainpool passive authentication: %v", err)
	}
	if r.Verification.CSCA != csca || r.Verification.Signer.Subject.CommonName != "puce test document signer UTO brainpool" {
		t.Fatalf("verification %+v", r.Verification)
	}
	// A CSCA pool mixing NIST and Brainpool anchors.
	other := newFixture(t, true, nil)
	if r, err := read(f, []*x509.Certificate{other.p.CSCA, csca}); err != nil || !r.Verified() {
		t.Fatalf("mixed pool: %v", err)
	}
	if r, err := read(other, []*x509.Certificate{csca, other.p.CSCA}); err != nil || !r.Verified() {
		t.Fatalf("NIST card with a mixed pool: %v", err)
	}
	// Disclosure: the receiver checks it the same way.
	d, _ := r.Disclose(emrtd.DG1)
	if _, err := emrtd.VerifyDisclosure(d, emrtd.DisclosureOptions{CSCAs: cscas}); err != nil {
		t.Fatalf("disclosure: %v", err)
	}

	// Another Brainpool CSCA of the same name is not trusted.
	is2, _ := emrtdapplet.NewBrainpoolIssuer("UTO", time.Now(), nil)
	csca2, _ := emrtd.ParseCertificate(is2.CSCA.Raw)
	if _, err := read(f, []*x509.Certificate{csca2}); !errors.Is(err, emrtd.ErrUntrustedSigner) {
		t.Fatalf("foreign CSCA: %v", err)
	}
	// Outside the validity of the document signer.
	s, _ := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if _, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: cscas, Time: time.Now().AddDate(11, 0, 0)}); !errors.Is(err, emrtd.ErrUntrustedSigner) {
		t.Fatalf("expired: %v", err)
	}

	sod := f.p.Applet.File(uint16(emrtd.FileSOD))
	dsAt := bytes.Index(sod, is.DocumentSigner.Raw)
	for name, c := range map[string]struct {
		alter func() (uint16, []byte)
		want  error
	}{
		"data group altered": {func() (uint16, []byte) {
			b := f.p.Applet.File(uint16(emrtd.DG13.File()))
			b[len(b)-1] ^= 1
			return uint16(emrtd.DG13.File()), b
		}, emrtd.ErrHashMismatch},
		"EF.SOD signature altered": {func() (uint16, []byte) {
			b := bytes.Clone(sod)
			b[len(b)-3] ^= 1 // inside the ECDSA s value, the last field
			return uint16(emrtd.FileSOD), b
		}, emrtd.ErrSignature},
		"document signer certificate altered": {func() (uint16, []byte) {
			b := bytes.Clone(sod)
			b[dsAt+len(is.DocumentSigner.Raw)-3] ^= 1 // its signature by the CSCA
			return uint16(emrtd.FileSOD), b
		}, emrtd.ErrUntrustedSigner},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, true, &emrtdapplet.Options{Issuer: is})
			fid, b := c.alter()
			f.p.Applet.ReplaceFile(fid, b)
			if _, err := read(f, cscas); !errors.Is(err, c.want) || !errors.Is(err, emrtd.ErrPassiveAuth) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}
