package emrtd_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// camChip personalises a chip offering PACE-CAM (and GM) on the curve of
// param with cipher c.
func camChip(t testing.TB, is *emrtdapplet.Issuer, param int, c emrtdapplet.PACECipher) *emrtdapplet.Personalised {
	t.Helper()
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{Issuer: is, PACEParameterID: param, PACECipher: c, PACECAM: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tamper is a transport that lets a test see commands and alter answers.
type tamper struct {
	card *virtual.Card
	// answer rewrites the answer to cmd; nil keeps it.
	answer func(cmd, resp []byte) []byte
	cmds   [][]byte
}

func (m *tamper) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	m.cmds = append(m.cmds, bytes.Clone(cmd))
	resp, err := m.card.Transmit(ctx, cmd)
	if err == nil && m.answer != nil {
		resp = m.answer(cmd, resp)
	}
	return resp, err
}

func (m *tamper) ExtendedLength() bool { return m.card.ExtendedLength() }

func newTamper(t testing.TB, p *emrtdapplet.Personalised) *tamper {
	t.Helper()
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	return &tamper{card: card}
}

// isLastGA is the last, unprotected, GENERAL AUTHENTICATE of PACE (class
// 00, not 10 of the chained steps, not 0C of secure messaging).
func isLastGA(cmd []byte) bool { return len(cmd) > 4 && cmd[0] == 0x00 && cmd[1] == 0x86 }

// The reader prefers PACE-CAM over generic mapping when EF.CardAccess
// offers both, and the chip's encrypted chip authentication data proves
// it holds the key of EF.CardSecurity: Open reports the chip
// authenticated, no Chip Authentication APDU follows, and Read verifies
// EF.CardSecurity with the CSCA (ICAO 9303-11 §4.4.3.5).
func TestPACECAM(t *testing.T) {
	is := sharedIssuer(t)
	for _, c := range []struct {
		name   string
		param  int
		cipher emrtdapplet.PACECipher
		oid    string // the last arc of the CAM OID sent in MSE:Set AT
	}{
		{"brainpoolP256r1 AES-128", 13, emrtdapplet.PACEAES128, "0402"},
		{"P-256 AES-128", 12, emrtdapplet.PACEAES128, "0402"},
		{"brainpoolP384r1 AES-256", 16, emrtdapplet.PACEAES256, "0404"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := camChip(t, is, c.param, c.cipher)
			m := newTamper(t, p)
			var aIC []byte
			m.answer = func(cmd, resp []byte) []byte {
				if isLastGA(cmd) {
					if v, err := apdu.FindPath(resp[:len(resp)-2], 0x7C, 0x8A); err == nil {
						aIC = v.Value
					}
				}
				return resp
			}
			s, err := emrtd.Open(t.Context(), m, emrtd.CAN(p.CAN), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !s.ChipAuthenticated() {
				t.Fatal("PACE-CAM session not chip-authenticated")
			}
			// MSE:Set AT named id-PACE-ECDH-CAM-*: 80 0A 04007F00070202040 6 xx.
			if mse := m.cmds[1]; mse[1] != 0x22 || !strings.Contains(hexOf(mse), "800A04007F000702020406"+c.oid[2:]) {
				t.Fatalf("MSE:Set AT %X does not name PACE-CAM", mse)
			}
			if len(aIC) == 0 || len(aIC)%16 != 0 {
				t.Fatalf("A_IC of %d bytes", len(aIC))
			}
			n := len(m.cmds)
			r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}, ChipAuthentication: true})
			if err != nil || !r.Verified() || !r.ChipAuthenticated {
				t.Fatalf("read: %v (chip authenticated %v)", err, r != nil && r.ChipAuthenticated)
			}
			for _, cmd := range m.cmds[n:] {
				if cmd[1] == 0x22 || cmd[1] == 0x86 {
					t.Fatalf("Chip Authentication ran after PACE-CAM: %X", cmd[:4])
				}
			}
			if !bytes.Equal(r.CardSecurity, p.Applet.CardSecurity()) {
				t.Error("Record.CardSecurity is not the chip's")
			}
		})
	}
}

// A clone: a chip with its own key carrying a genuine chip's
// EF.CardSecurity (validly signed, same EF.CardAccess) cannot produce
// CA_IC for the genuine key; Open refuses it with ErrPACECAM, which matches
// ErrChipAuthentication.
func TestPACECAMClone(t *testing.T) {
	is := sharedIssuer(t)
	genuine, clone := camChip(t, is, 12, emrtdapplet.PACEAES128), camChip(t, is, 12, emrtdapplet.PACEAES128)
	clone.Applet.ReplaceCardSecurity(genuine.Applet.CardSecurity())
	_, err := emrtd.Open(t.Context(), newTamper(t, clone), emrtd.CAN(clone.CAN), nil)
	if !errors.Is(err, emrtd.ErrPACECAM) || !errors.Is(err, emrtd.ErrChipAuthentication) || errors.Is(err, emrtd.ErrAccessDenied) {
		t.Fatalf("clone: %v", err)
	}
	t.Log(err)
	// With the MRZ, which BAC could use, Open does not fall back to BAC:
	// the chip ran PACE and failed to prove itself.
	mrz, err := emrtd.MRZKeyFromMRZ(clone.MRZ)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emrtd.Open(t.Context(), newTamper(t, clone), mrz, nil); !errors.Is(err, emrtd.ErrPACECAM) {
		t.Fatalf("clone opened with the MRZ: %v", err)
	}
	// The same chip without EF.CardSecurity cannot show its key either.
	clone.Applet.ReplaceCardSecurity(nil)
	if _, err := emrtd.Open(t.Context(), newTamper(t, clone), emrtd.CAN(clone.CAN), nil); !errors.Is(err, emrtd.ErrPACECAM) {
		t.Fatalf("no EF.CardSecurity: %v", err)
	}
}

// An altered A_IC, and an answer without DO'8A' from a chip that announced
// CAM, are refused with ErrPACECAM; the password was right (ErrAccessDenied
// would make a caller ask the holder again).
func TestPACECAMTampered(t *testing.T) {
	p := camChip(t, sharedIssuer(t), 13, emrtdapplet.PACEAES128)
	for _, c := range []struct {
		name string
		edit func(aIC []byte) []byte // nil drops DO'8A'
	}{
		{"A_IC bit flipped", func(b []byte) []byte { b[len(b)-17] ^= 0x01; return b }},
		{"A_IC first block flipped", func(b []byte) []byte { b[0] ^= 0x01; return b }},
		{"A_IC last block flipped", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
		{"A_IC truncated", func(b []byte) []byte { return b[:len(b)-16] }},
		{"A_IC not whole blocks", func(b []byte) []byte { return b[:len(b)-1] }},
		{"no DO'8A'", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newTamper(t, p)
			m.answer = func(cmd, resp []byte) []byte {
				if !isLastGA(cmd) {
					return resp
				}
				tIC, err := apdu.FindPath(resp[:len(resp)-2], 0x7C, 0x86)
				if err != nil {
					t.Fatalf("chip answer %X", resp)
				}
				aIC, err := apdu.FindPath(resp[:len(resp)-2], 0x7C, 0x8A)
				if err != nil {
					t.Fatalf("chip sent no DO'8A': %X", resp)
				}
				var b apdu.TLVBuilder
				b.AddConstructed(0x7C, func(b *apdu.TLVBuilder) {
					b.Add(0x86, tIC.Value)
					if c.edit != nil {
						b.Add(0x8A, c.edit(bytes.Clone(aIC.Value)))
					}
				})
				out, _ := b.Bytes()
				return append(out, 0x90, 0x00)
			}
			_, err := emrtd.Open(t.Context(), m, emrtd.CAN(p.CAN), nil)
			if !errors.Is(err, emrtd.ErrPACECAM) || errors.Is(err, emrtd.ErrAccessDenied) {
				t.Fatalf("Open: %v", err)
			}
			t.Log(err)
		})
	}
}

// Someone who strips the CAM PACEInfo from EF.CardAccess makes the reader
// run generic mapping and lose the chip's authentication; Read finds the
// CAM variant in the signed EF.CardSecurity and refuses the session with
// ErrCardAccessMismatch (ICAO 9303-11 §4.2, §9.2.11).
func TestPACECAMDowngrade(t *testing.T) {
	p := camChip(t, sharedIssuer(t), 12, emrtdapplet.PACEAES128)
	m := stripCAM(t, p)
	s, err := emrtd.Open(t.Context(), m, emrtd.CAN(p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.ChipAuthenticated() {
		t.Fatal("generic mapping reported as chip authentication")
	}
	if _, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}}); !errors.Is(err, emrtd.ErrCardAccessMismatch) {
		t.Fatalf("Read after a downgrade to GM: %v", err)
	}
}

// A second Open on the same card without reset, the application still
// selected by the first session (the virtual chip serves EF.CardAccess
// there too): EF.CardSecurity is found in the MF all the same, not EF.SOD
// under its SFI in the application.
func TestPACECAMSecondSession(t *testing.T) {
	p := camChip(t, sharedIssuer(t), 12, emrtdapplet.PACEAES128)
	m := newTamper(t, p)
	for i := range 2 {
		s, err := emrtd.Open(t.Context(), m, emrtd.CAN(p.CAN), nil)
		if err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
		r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}, DataGroups: []emrtd.DG{emrtd.DG1}})
		if err != nil || !r.ChipAuthenticated || !bytes.Equal(r.CardSecurity, p.Applet.CardSecurity()) {
			t.Fatalf("session %d: read: %v", i+1, err)
		}
	}
}

// Without CSCAs the session says the chip ran CAM, but the record does not
// claim chip authentication: passive authentication, which alone makes
// EF.CardSecurity's key the issuer's, did not run.
func TestPACECAMNoCSCA(t *testing.T) {
	p := camChip(t, sharedIssuer(t), 12, emrtdapplet.PACEAES128)
	s, err := emrtd.Open(t.Context(), newTamper(t, p), emrtd.CAN(p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(t.Context(), nil)
	if err != nil || r.ChipAuthenticated || !s.ChipAuthenticated() || r.Verification.Status != emrtd.NotChecked {
		t.Fatalf("read: %v, %+v", err, r)
	}
}

// The virtual chip refuses profiles CAM cannot run with.
func TestPACECAMProfile(t *testing.T) {
	for _, o := range []emrtdapplet.Options{
		{PACECAM: true, PACECipher: emrtdapplet.PACE3DES},
		{PACECAM: true, PACEDH: true},
		{PACECAM: true, DisableChipAuthentication: true},
		{PACECAM: true, PACEParameterID: 12, ChipAuthenticationParameterID: 13},
	} {
		if _, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &o); !errors.Is(err, emrtdapplet.ErrProfile) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// sharedIssuer is one issuer for a test's chips: its keys are the slow
// part of personalisation.
func sharedIssuer(t testing.TB) *emrtdapplet.Issuer {
	t.Helper()
	is, err := emrtdapplet.NewIssuer("UTO", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func hexOf(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
