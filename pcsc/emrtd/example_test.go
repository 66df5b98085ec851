package emrtd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// Read a virtual identity card with its CAN and check it against the issuing
// state's CSCA certificate, then disclose the MRZ and the photo only.
func Example() {
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), nil)
	if err != nil {
		panic(err)
	}
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	s, err := emrtd.Open(ctx, card, emrtd.CAN(p.CAN), nil)
	if err != nil {
		panic(err)
	}
	rec, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}})
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Protocol(), rec.Verification.Status)
	fmt.Println(rec.MRZ.PrimaryID, rec.MRZ.SecondaryID, rec.Face().MIMEType)

	d, _ := rec.Disclose(emrtd.DG1, emrtd.DG2)
	got, err := emrtd.VerifyDisclosure(d, emrtd.DisclosureOptions{CSCAs: []*x509.Certificate{p.CSCA}, Time: rec.Verification.Signer.NotBefore})
	fmt.Println(got.Verified(), err, got.Details == nil)
	// Output:
	// PACE verified
	// ERIKSSON ANNA MARIA image/jpeg
	// true <nil> true
}

// An inspection system reads the fingerprints (DG3): its CV certificate
// chain CVCA → DV → IS grants the right, the chip checks the chain against
// the CVCA it was personalised with, then the terminal's signature.
func ExampleSession_AuthenticateTerminal() {
	now := time.Now()
	cvcaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	isKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issue := func(tmpl *emrtd.CVTemplate, pub *ecdsa.PublicKey, by *ecdsa.PrivateKey) *emrtd.CVCertificate {
		tmpl.Effective, tmpl.Expiration = now.AddDate(0, 0, -1), now.AddDate(0, 3, 0)
		raw, err := emrtd.CreateCVCertificate(rand.Reader, tmpl, pub, by)
		if err != nil {
			panic(err)
		}
		c, err := emrtd.ParseCVCertificate(raw)
		if err != nil {
			panic(err)
		}
		return c
	}
	cvca := issue(&emrtd.CVTemplate{CAR: "UTCVCA00001", CHR: "UTCVCA00001", Role: emrtd.RoleCVCA,
		Rights: emrtd.ReadDG3 | emrtd.ReadDG4, DomainParameters: true}, &cvcaKey.PublicKey, cvcaKey)
	dv := issue(&emrtd.CVTemplate{CAR: "UTCVCA00001", CHR: "UTDVBORDER001", Role: emrtd.RoleDVDomestic,
		Rights: emrtd.ReadDG3 | emrtd.ReadDG4}, &dvKey.PublicKey, cvcaKey)
	is := issue(&emrtd.CVTemplate{CAR: "UTDVBORDER001", CHR: "UTISGATE00001", Role: emrtd.RoleIS,
		Rights: emrtd.ReadDG3}, &isKey.PublicKey, dvKey)

	// The issuing state personalises the chip with its CVCA as trust point.
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{CVCA: cvca.Raw})
	if err != nil {
		panic(err)
	}
	card, _ := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	ctx := context.Background()
	s, err := emrtd.Open(ctx, card, emrtd.CAN(p.CAN), nil)
	if err != nil {
		panic(err)
	}
	_, err = s.ReadDataGroup(ctx, emrtd.DG3)
	fmt.Println("before:", errors.Is(err, emrtd.ErrNotAuthorised))

	err = s.AuthenticateTerminal(ctx, &emrtd.Terminal{Chain: []*emrtd.CVCertificate{dv, is}, Key: isKey})
	fmt.Println("terminal authenticated:", err == nil, s.ChipAuthenticated())
	rec, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}})
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.Verification.Status, len(rec.Fingerprints), rec.Verification.DataGroups)
	// Output:
	// before: true
	// terminal authenticated: true true
	// verified 1 [DG1 DG2 DG3 DG11 DG12 DG13 DG14]
}

// A relying party asks for the holder's identity document: it issues a
// single-use nonce, the holder's side has the chip sign a challenge derived
// from it and the site's origin, and sends only the data groups the holder
// keeps, in an Envelope; the site checks it all with one call.
func ExampleVerifyEnvelope() {
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{ActiveAuthentication: true})
	if err != nil {
		panic(err)
	}
	const origin, nonce = "https://bank.example", "a single-use nonce from identity.Services"

	// The holder's side (the card agent).
	card, _ := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	ctx := context.Background()
	s, err := emrtd.Open(ctx, card, emrtd.CAN(p.CAN), nil)
	if err != nil {
		panic(err)
	}
	req := emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG1}, Optional: []emrtd.DG{emrtd.DG2},
		Challenge: emrtd.DisclosureChallenge(origin, nonce)}
	prepared, err := s.PrepareDisclosure(ctx, req)
	if err != nil {
		panic(err)
	}
	d, _ := prepared.Disclose(emrtd.DG1) // the holder keeps the photo
	posted, _ := json.Marshal(emrtd.NewEnvelope(origin, nonce, d))

	// The relying party, with the nonce it issued for this account.
	rec, err := emrtd.VerifyEnvelope(posted, origin, nonce, emrtd.DisclosureOptions{CSCAs: []*x509.Certificate{p.CSCA},
		DisclosureRequest: emrtd.DisclosureRequest{Required: req.Required, Optional: req.Optional}})
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.MRZ.IssuingState, "chip present:", rec.ActiveAuthenticated, "photo:", rec.Face() != nil)
	_, err = emrtd.VerifyEnvelope(posted, "https://other.example", nonce, emrtd.DisclosureOptions{CSCAs: []*x509.Certificate{p.CSCA}})
	fmt.Println("sent to another site:", errors.Is(err, emrtd.ErrWrongExchange))
	// Output:
	// UTO chip present: true photo: false
	// sent to another site: true
}
