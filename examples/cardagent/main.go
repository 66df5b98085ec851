// Command cardagent is the local bridge between a web page and the smart
// card, on 127.0.0.1 only. Pages of the allow-listed origins ask it to log
// in with the card (a Web eID token signed by PIV key 9A, bound to the
// page's origin) or to sign a document (PIV key 9C, PIN asked for that
// signature), or to disclose data groups of the holder's identity document
// (the card's eMRTD applet, opened with the CAN). For each request the agent
// opens a window of its own that shows which site asks and for what, and
// takes the PIN or CAN there: the site's page never sees it, and no server
// receives it. Before an identity disclosure the holder sees every field
// that would be sent and may untick the optional ones.
//
//	go run ./examples/cardagent -allow http://localhost:8080,http://localhost:8081
//	go run ./examples/cardagent -testcard -testcard-ca /tmp/ca.pem -testcard-csca /tmp/csca.pem   # no reader, no pcscd
//
// By default it reaches the card through PC/SC (pcscd on Linux): a real
// reader, or examples/virtualcard on pcscd's virtual reader.
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

	"github.com/puce-id/puce/examples/internal/agent"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:24727", "loopback address to listen on")
	allow := flag.String("allow", "http://localhost:8080,http://localhost:8081", "comma-separated origins whose pages may use the card")
	reader := flag.String("reader", "", "PC/SC reader to use (default: the first one holding a card)")
	test := flag.Bool("testcard", false, "use an in-process virtual test card instead of PC/SC (development and tests)")
	testCA := flag.String("testcard-ca", "", "with -testcard: write the test CA certificates here (PEM), for the servers' -ca")
	testOCSP := flag.String("testcard-ocsp", "", "with -testcard: serve an OCSP responder for the test CA on this loopback address (e.g. 127.0.0.1:8888)")
	testCSCA := flag.String("testcard-csca", "", "with -testcard: write the test card's eMRTD CSCA certificate here (PEM), for the login server's -csca")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *addr, *allow, *reader, *test, *testCA, *testOCSP, *testCSCA); err != nil {
		fmt.Fprintln(os.Stderr, "cardagent:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, addr, allow, reader string, test bool, testCA, testOCSP, testCSCA string) error {
	var origins []string
	for _, o := range strings.Split(allow, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	var src agent.Source
	if test {
		s, err := testSource(ctx, testCA, testOCSP, testCSCA)
		if err != nil {
			return err
		}
		src = s
	} else {
		if !agent.PCSCAvailable {
			return fmt.Errorf("built without cgo: PC/SC is unavailable; rebuild with cgo or use -testcard")
		}
		p := &agent.PCSC{Reader: reader}
		defer p.Close()
		src = p
	}
	a, err := agent.New(agent.Config{Allowed: origins, Source: src, Logger: log})
	if err != nil {
		return err
	}
	return a.Serve(ctx, addr, func(url string) {
		fmt.Printf("card agent: %s (card: %s)\n  allowed origins: %s\n", url, src.Describe(), strings.Join(origins, ", "))
	})
}

// testSource personalises a virtual card in this process, with the PIV
// applet and the eMRTD applet, as examples/virtualcard does. Its test CA can
// be written out for the servers to trust, and answered for by an OCSP
// responder, since only this process holds the CA key; the eMRTD's CSCA can
// be written out for the login server's passive authentication.
func testSource(ctx context.Context, caFile, ocspAddr, cscaFile string) (agent.Source, error) {
	opts := testcard.Options{Holder: testcard.DefaultHolder()}
	var ocspURL string
	if ocspAddr != "" {
		// The URL goes into the certificates, so it must be known before
		// the card is made: listen on the fixed address given.
		ocspURL = "http://" + ocspAddr
		opts.OCSPURL = ocspURL
	}
	card, err := testcard.New(opts)
	if err != nil {
		return nil, err
	}
	prof := emrtdapplet.SampleProfile()
	prof.GivenNames, prof.Surname = opts.Holder.GivenName, opts.Holder.Surname
	passport, err := emrtdapplet.Personalise(prof, &emrtdapplet.Options{ActiveAuthentication: true})
	if err != nil {
		return nil, err
	}
	if err := card.Install(passport.Applet); err != nil {
		return nil, err
	}
	if cscaFile != "" {
		if err := os.WriteFile(cscaFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: passport.CSCA.Raw}), 0o644); err != nil {
			return nil, err
		}
	}
	if ocspAddr != "" {
		resp := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
		if _, err := resp.Serve(ctx, ocspAddr); err != nil {
			return nil, err
		}
		fmt.Printf("test OCSP responder: %s\n", ocspURL)
	}
	if caFile != "" {
		var data []byte
		for _, c := range [][]byte{card.PKI.Root.Raw, card.PKI.Issuing.Raw} {
			data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
		}
		if err := os.WriteFile(caFile, data, 0o644); err != nil {
			return nil, err
		}
	}
	fmt.Printf("in-process test card: %s, PIN %s (test CA in %s)\n", card.AuthCert.Subject.CommonName, card.PIN, caFile)
	fmt.Printf("  sovereign identity applet (eMRTD): CAN %s (CSCA in %s)\n", passport.CAN, cscaFile)
	for _, l := range passport.MRZLines {
		fmt.Printf("    MRZ  %s\n", l)
	}
	return &agent.InProcess{Transport: card.Card, Name: "in-process virtual test card (" + card.AuthCert.Subject.CommonName + ")"}, nil
}
