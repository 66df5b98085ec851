// Command virtualcard runs a personalised virtual card on pcscd's virtual
// reader (vsmartcard-vpcd), so that any PC/SC application — puce's card
// agent, OpenSC's pkcs15-tool, a browser's Web eID extension — sees a card
// in "Virtual PCD 00 00". The card carries the two applications of a puce
// card: the services applet (PIV: 9A authentication, 9C e-signature) and the
// sovereign identity applet (ICAO 9303 eMRTD, opened only with the CAN or
// MRZ). It writes the test CA certificates (and the eMRTD's CSCA) to files
// and prints the holder, the PINs, the slots, the CAN and the MRZ, then
// serves until Ctrl-C. With -ocsp-listen it also answers OCSP requests for
// its certificates, so that servers can keep revocation checks on.
//
//	go run ./examples/virtualcard -ca /tmp/puce-ca.pem -ocsp-listen 127.0.0.1:8888
package main

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

func main() {
	addr := flag.String("vpcd", virtual.DefaultVPCDAddr, "address of pcscd's vpcd socket (35963 is reader 00 00, 35964 reader 00 01)")
	caFile := flag.String("ca", "puce-test-ca.pem", "where to write the test root and issuing CA certificates (PEM)")
	given := flag.String("given-name", "ALICE", "holder's given name")
	surname := flag.String("surname", "MARTIN", "holder's surname")
	serial := flag.String("serial", "PNOFR-2900175123456", "holder's personal identifier (certificate serialNumber attribute)")
	authAlg := flag.String("auth-alg", "p256", "algorithm of the 9A authentication key: p256, p384 or rsa2048")
	signAlg := flag.String("sign-alg", "p256", "algorithm of the 9C e-signature key: p256, p384 or rsa2048")
	noSign := flag.Bool("no-signature-key", false, "leave slot 9C empty")
	pin := flag.String("pin", pivapplet.DefaultPIN, "card PIN (6 to 8 characters)")
	puk := flag.String("puk", pivapplet.DefaultPUK, "card PUK (6 to 8 characters)")
	ocsp := flag.String("ocsp", "", "OCSP responder URL to put in the certificates (an outside responder; see -ocsp-listen)")
	ocspListen := flag.String("ocsp-listen", "", "serve the test CA's OCSP responder on this address (host:port) and put its URL in the certificates, so that servers can check revocation")
	cscaFile := flag.String("csca", "puce-test-csca.pem", "where to write the eMRTD's CSCA certificate (PEM), the trust anchor of passive authentication")
	noEMRTD := flag.Bool("no-emrtd", false, "leave the sovereign identity applet (eMRTD) off the card")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if *ocspListen != "" {
		if *ocsp != "" {
			fmt.Fprintln(os.Stderr, "virtualcard: -ocsp and -ocsp-listen exclude each other")
			os.Exit(2)
		}
		// The URL goes into the certificates, so the address is fixed
		// before the card is made.
		*ocsp = "http://" + *ocspListen
	}
	if err := run(log, *addr, *caFile, *cscaFile, *ocspListen, !*noEMRTD, testcard.Options{
		Holder:  testcard.Holder{GivenName: *given, Surname: *surname, SerialNumber: *serial, Country: "FR"},
		AuthAlg: alg(*authAlg), SignAlg: alg(*signAlg), NoSignatureKey: *noSign,
		PIN: *pin, PUK: *puk, OCSPURL: *ocsp,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "virtualcard:", err)
		os.Exit(1)
	}
}

func alg(s string) byte {
	switch strings.ToLower(s) {
	case "p256":
		return pivapplet.AlgECCP256
	case "p384":
		return pivapplet.AlgECCP384
	case "rsa2048":
		return pivapplet.AlgRSA2048
	}
	fmt.Fprintf(os.Stderr, "virtualcard: unknown algorithm %q (p256, p384, rsa2048)\n", s)
	os.Exit(2)
	return 0
}

func run(log *slog.Logger, addr, caFile, cscaFile, ocspListen string, withEMRTD bool, opts testcard.Options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	card, err := testcard.New(opts)
	if err != nil {
		return err
	}
	if ocspListen != "" {
		// The card's issuing CA signs the responses itself (RFC 6960
		// §4.2.2.2), as testcard's PKI keeps its key.
		resp := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
		if _, err := resp.Serve(ctx, ocspListen); err != nil {
			return err
		}
	}
	var passport *emrtdapplet.Personalised
	if withEMRTD {
		prof := emrtdapplet.SampleProfile()
		prof.GivenNames, prof.Surname = opts.Holder.GivenName, opts.Holder.Surname
		if passport, err = emrtdapplet.Personalise(prof, &emrtdapplet.Options{ActiveAuthentication: true}); err != nil {
			return err
		}
		if err := card.Install(passport.Applet); err != nil {
			return err
		}
		csca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: passport.CSCA.Raw})
		if err := os.WriteFile(cscaFile, csca, 0o644); err != nil {
			return err
		}
	}
	var pemData []byte
	for _, c := range [][]byte{card.PKI.Root.Raw, card.PKI.Issuing.Raw} {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	if err := os.WriteFile(caFile, pemData, 0o644); err != nil {
		return err
	}
	fmt.Printf("virtual card of %s %s (%s)\n", card.Holder.GivenName, card.Holder.Surname, card.Holder.SerialNumber)
	fmt.Printf("  slot 9A authentication: CN=%s, issued by %s\n", card.AuthCert.Subject.CommonName, card.AuthCert.Issuer.CommonName)
	if card.SignCert != nil {
		fmt.Printf("  slot 9C e-signature:    CN=%s (PIN asked for every signature)\n", card.SignCert.Subject.CommonName)
	} else {
		fmt.Printf("  slot 9C e-signature:    empty\n")
	}
	fmt.Printf("  PIN %s, PUK %s, management key: the factory default\n", card.PIN, card.PUK)
	fmt.Printf("  test CA certificates written to %s\n", caFile)
	if ocspListen != "" {
		fmt.Printf("  test OCSP responder for the card's certificates: %s\n", opts.OCSPURL)
	}
	if passport != nil {
		fmt.Printf("  sovereign identity applet (eMRTD): CAN %s, CSCA written to %s\n", passport.CAN, cscaFile)
		for _, l := range passport.MRZLines {
			fmt.Printf("    MRZ  %s\n", l)
		}
	}
	fmt.Printf("  attaching to pcscd's virtual reader at %s (Ctrl-C to remove the card)\n", addr)
	bridge := &virtual.Bridge{Card: card.Card, Addr: addr, Logger: log}
	err = bridge.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
