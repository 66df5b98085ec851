//go:build cgo

package emrtd_test

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// OpenPACE as the inspection system through the real stack: its APDUs go
// through pcscd and the vpcd driver to the virtual chip — PACE, secure
// messaging, Chip Authentication and Terminal Authentication, DG3. The
// chip's ATR announces extended length, which the certificates under
// secure messaging take (the peer does not chain commands). Skipped, saying
// why, without PUCE_PCSCD or without the peer's build tools.
func TestPCSCDOpenPACETerminal(t *testing.T) {
	pc := pcscdtest.Require(t)
	bin := buildOpenPACEPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	extATR := []byte{0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x00, 0x00, 0x40, 0x00}
	for _, b := range extATR[1 : len(extATR)-1] {
		extATR[len(extATR)-1] ^= b
	}
	now := time.Now()
	pki := newTerminalPKI(t, now, fullRights(now))
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{CVCA: pki.cvca, ChipAuthenticationParameterID: 13})
	if err != nil {
		t.Fatal(err)
	}
	card, _ := attachChip(t, pc, p, extATR, true)
	start := time.Now()
	peer := startOpenPACEPeer(t, bin, append([]string{"terminal", "can", p.CAN, "ext"}, openPACEEACArgs(t, p, pki, 13)...)...)
	if err := peer.relay(ctx, card); err != nil {
		t.Fatalf("OpenPACE terminal through pcscd: %v", err)
	}
	for _, step := range []string{"OK PACE", "OK CA", "OK CVC", "OK TA", "OK DONE"} {
		if _, ok := peer.result(step); !ok {
			t.Fatalf("no %q: %q", step, peer.results)
		}
	}
	for sfi, fid := range map[string]uint16{"1E": 0x011E, "01": 0x0101, "03": 0x0103} {
		got, _ := peer.result("OK FILE " + sfi + " ")
		if want := hex.EncodeToString(p.Applet.File(fid)); got == "" || !strings.EqualFold(got, want) {
			t.Errorf("file %s through pcscd under OpenPACE's secure messaging: %s, want %s", sfi, got, want)
		}
	}
	t.Logf("OpenPACE: PACE, CA, TA and DG3 with the virtual eMRTD through pcscd (%s) in %v", card.Reader(), time.Since(start).Round(time.Millisecond))
}

// PACE-CAM through the real stack, both readers on the same chip: OpenPACE
// (with the peer's CAM step) and then puce's emrtd.Open, each checking the
// chip's A_IC against EF.CardSecurity's key, through pcscd and vpcd.
func TestPCSCDPACECAM(t *testing.T) {
	pc := pcscdtest.Require(t)
	bin := buildOpenPACEPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{PACECAM: true, ExplicitDomainParameters: true})
	if err != nil {
		t.Fatal(err)
	}
	card, key := attachChip(t, pc, p, nil, true)
	peer := startOpenPACEPeer(t, bin, "terminal", "can", p.CAN, "cam=1")
	if err := peer.relay(ctx, card); err != nil {
		t.Fatalf("OpenPACE terminal through pcscd: %v", err)
	}
	for _, step := range []string{"OK PACE", "OK CAM", "OK DONE"} {
		if _, ok := peer.result(step); !ok {
			t.Fatalf("no %q: %q", step, peer.results)
		}
	}
	s, err := emrtd.Open(ctx, card, key, &emrtd.Options{RequirePACE: true})
	if err != nil {
		t.Fatalf("Open through pcscd: %v", err)
	}
	r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}, DataGroups: []emrtd.DG{emrtd.DG1}})
	if err != nil || !r.Verified() || !r.ChipAuthenticated {
		t.Fatalf("Read through pcscd: %v", err)
	}
}
