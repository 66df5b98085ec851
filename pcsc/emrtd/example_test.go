package emrtd_test

import (
	"context"
	"crypto/x509"
	"fmt"

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
	got, err := emrtd.VerifyDisclosure(d, []*x509.Certificate{p.CSCA}, rec.Verification.Signer.NotBefore)
	fmt.Println(got.Verified(), err, got.Details == nil)
	// Output:
	// PACE verified
	// ERIKSSON ANNA MARIA image/jpeg
	// true <nil> true
}
