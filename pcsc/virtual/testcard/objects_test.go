package testcard_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

var (
	oidPIVContentSigning = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 6, 7}
	oidPIVCardAuth       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 6, 8}
)

func hasEKU(cert *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, o := range cert.UnknownExtKeyUsage {
		if o.Equal(oid) {
			return true
		}
	}
	return false
}

// TestCardAuthentication: the card carries the mandatory card
// authentication key 9E and its certificate (SP 800-73-4 Part 1 §3.1.4):
// it chains to the test PKI, asserts id-PIV-cardAuth (FIPS 201-3 Table
// B-3), carries the card UUID as a urn:uuid: URI (Part 1 §3.4.1) and no
// data about the holder, and the key signs without the PIN.
func TestCardAuthentication(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.Certificate(ctx, piv.SlotCardAuthentication)
	if err != nil || !cert.Equal(card.CardAuthCert) {
		t.Fatalf("9E certificate: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("9E certificate chain: %v", err)
	}
	if !hasEKU(cert, oidPIVCardAuth) || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("9E certificate usage: %v %v", cert.UnknownExtKeyUsage, cert.KeyUsage)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != "urn:uuid:"+card.CardUUID.String() {
		t.Errorf("9E certificate URIs %v, want urn:uuid:%s", cert.URIs, card.CardUUID)
	}
	// The pivFASC-N otherName (FIPS 201-3 §4.2.2.2) holds the CHUID's
	// FASC-N.
	ch, err := c.CHUID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	otherName, _ := asn1.Marshal(struct {
		Type  asn1.ObjectIdentifier
		Value []byte `asn1:"explicit,tag:0"`
	}{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 6, 6}, ch.FASCN})
	found := false
	for _, e := range cert.Extensions {
		// otherName is [0] IMPLICIT: the SEQUENCE's body under tag A0.
		found = found || e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) && bytes.Contains(e.Value, otherName[2:])
	}
	if !found {
		t.Errorf("9E certificate has no pivFASC-N %X", ch.FASCN)
	}
	// The PIV authentication certificate carries both as well (FIPS 201-3
	// §4.2.2.1), and keeps the holder's email.
	auth := card.AuthCert
	if len(auth.URIs) != 1 || auth.URIs[0].String() != "urn:uuid:"+card.CardUUID.String() ||
		len(auth.EmailAddresses) != 1 || auth.EmailAddresses[0] != card.Holder.Email {
		t.Errorf("9A certificate URIs %v, emails %v", auth.URIs, auth.EmailAddresses)
	}
	found = false
	for _, e := range auth.Extensions {
		found = found || e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) && bytes.Contains(e.Value, otherName[2:])
	}
	if !found {
		t.Errorf("9A certificate has no pivFASC-N %X", ch.FASCN)
	}
	h := card.Holder
	for _, private := range []string{h.Surname, h.GivenName, h.SerialNumber, h.Email} {
		if strings.Contains(string(cert.RawSubject), private) || strings.Contains(fmt.Sprint(cert.EmailAddresses), private) {
			t.Errorf("9E certificate names the holder (%q): %s", private, cert.Subject)
		}
	}
	s, err := c.Signer(piv.SlotCardAuthentication, cert.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("door 7"))
	sig, err := s.SignContext(ctx, d[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("9E without the PIN: %v", err)
	}
	if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), d[:], sig) || card.Applet.PINTriesLeft() != 3 {
		t.Fatalf("9E signature does not verify (%d PIN tries left)", card.Applet.PINTriesLeft())
	}
}

// TestIssuerObjects: the CHUID's GUID is the card's UUID, version 4 (SP
// 800-73-4 Part 1 §3.4.1); the content signer asserts id-PIV-content-signing
// and outlives the card authentication certificate (§3.1.2.1); the Security
// Object maps only the objects the card holds (§3.1.7), never a biometric
// one, which the PIV applet refuses (package pivapplet), and a new object
// joins it on UpdateSecurityObject.
func TestIssuerObjects(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.CHUID(ctx)
	if err != nil || ch.GUID != [16]byte(card.CardUUID) || card.CardUUID.Version() != 4 {
		t.Fatalf("CHUID %+v, %v; card UUID %s", ch, err, card.CardUUID)
	}
	cs := card.PKI.ContentSigning
	if !hasEKU(cs, oidPIVContentSigning) || cs.NotAfter.Before(card.CardAuthCert.NotAfter) || cs.CheckSignatureFrom(card.PKI.Issuing) != nil {
		t.Errorf("content signer: EKU %v, until %s (card authentication until %s)", cs.UnknownExtKeyUsage, cs.NotAfter, card.CardAuthCert.NotAfter)
	}
	mapping := func() []byte {
		so, held := card.Applet.Object([]byte{0x5F, 0xC1, 0x06})
		if !held {
			t.Fatal("no Security Object")
		}
		m, err := apdu.Find(so, 0xBA)
		if err != nil {
			t.Fatal(err)
		}
		return m.Value
	}
	if got, want := mapping(), []byte{1, 0xDB, 0x00, 2, 0x30, 0x00}; !bytes.Equal(got, want) {
		t.Fatalf("mapping % X, want % X (CCC, CHUID)", got, want)
	}
	for _, id := range [][]byte{{0x5F, 0xC1, 0x03}, {0x5F, 0xC1, 0x08}} {
		if err := card.Applet.SetObject(id, []byte{0xBC, 0x00, 0xFE, 0x00}); !errors.Is(err, pivapplet.ErrBiometric) {
			t.Fatalf("SetObject(%X): %v, want ErrBiometric", id, err)
		}
	}
	if err := card.Applet.SetObject([]byte{0x5F, 0xC1, 0x09}, []byte{0x01, 0x05, 'A', 'L', 'I', 'C', 'E', 0xFE, 0x00}); err != nil {
		t.Fatal(err)
	}
	if err := card.UpdateSecurityObject(); err != nil {
		t.Fatal(err)
	}
	if got, want := mapping(), []byte{1, 0xDB, 0x00, 2, 0x30, 0x00, 3, 0x30, 0x01}; !bytes.Equal(got, want) {
		t.Fatalf("mapping % X, want % X (CCC, CHUID, printed information)", got, want)
	}
}

// A test that writes an unsigned object after personalisation (here the
// printed information) has the Security Object cover it, as SP 800-73-4
// Part 1 §3.1.7 requires: the 0xBA mapping then names the CCC (DB00), the
// CHUID (3000) and the printed information (3001).
func ExampleCard_UpdateSecurityObject() {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		panic(err)
	}
	printed := []byte{0x01, 0x0C, 'M', 'A', 'R', 'T', 'I', 'N', ' ', 'A', 'L', 'I', 'C', 'E', 0xFE, 0x00}
	if err := card.Applet.SetObject([]byte{0x5F, 0xC1, 0x09}, printed); err != nil {
		panic(err)
	}
	if err := card.UpdateSecurityObject(); err != nil {
		panic(err)
	}
	so, _ := card.Applet.Object([]byte{0x5F, 0xC1, 0x06})
	mapping, _ := apdu.Find(so, 0xBA)
	fmt.Printf("% X\n", mapping.Value)
	// Output: 01 DB 00 02 30 00 03 30 01
}
