package emrtd_test

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"testing"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// Chip Authentication with every cipher, after PACE and after BAC, with the
// key on a named and on an explicitly given curve: the session continues
// under the new keys, the whole record reads, and passive authentication
// covers DG14, the key that was used.
func TestChipAuthentication(t *testing.T) {
	prof := emrtdapplet.SampleProfile()
	for _, c := range []struct {
		name string
		ext  bool
		opts emrtdapplet.Options
		bac  bool
	}{
		{"PACE brainpoolP256r1, CA AES-128", true, emrtdapplet.Options{}, false},
		{"PACE, CA 3DES (MSE:Set KAT)", false, emrtdapplet.Options{ChipAuthenticationCipher: emrtdapplet.PACE3DES}, false},
		{"BAC, CA 3DES, short reads", false, emrtdapplet.Options{DisablePACE: true, ChipAuthenticationCipher: emrtdapplet.PACE3DES}, true},
		{"BAC, CA AES-256 on P-384", true, emrtdapplet.Options{DisablePACE: true, ChipAuthenticationParameterID: 15, ChipAuthenticationCipher: emrtdapplet.PACEAES256}, true},
		{"PACE P-256, CA AES-192, explicit parameters", true, emrtdapplet.Options{PACEParameterID: 12, ChipAuthenticationCipher: emrtdapplet.PACEAES192, ExplicitDomainParameters: true}, false},
		{"CA explicit brainpoolP256r1", false, emrtdapplet.Options{ExplicitDomainParameters: true}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.ext, &c.opts)
			var key emrtd.AccessKey = emrtd.CAN(f.p.CAN)
			if c.bac {
				key = f.key
			}
			ctx := context.Background()
			s, err := emrtd.Open(ctx, f.tr, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}, ChipAuthentication: true})
			if err != nil {
				t.Fatal(err)
			}
			if !r.ChipAuthenticated || !s.ChipAuthenticated() {
				t.Fatal("not chip authenticated")
			}
			checkSample(t, r, prof)
			if !slices.Contains(r.Verification.DataGroups, emrtd.DG14) {
				t.Fatalf("DG14 not covered by passive authentication: %v", r.Verification.DataGroups)
			}
			if r.Security == nil || len(r.Security.ChipAuthenticationPK) != 1 || r.Security.TerminalAuthentication != 1 {
				t.Fatalf("DG14 = %+v", r.Security)
			}
			// A second call is a no-op; the session stays usable.
			if err := s.AuthenticateChip(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ReadDataGroup(ctx, emrtd.DG1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A clone: a chip carrying a genuine chip's DG14 and EF.SOD, so passive
// authentication succeeds, but its own key agreement key. Chip
// Authentication unmasks it with ErrChipAuthentication.
func TestChipAuthenticationDetectsClone(t *testing.T) {
	ctx := context.Background()
	genuine := newFixture(t, true, nil)
	clone := newFixture(t, true, &emrtdapplet.Options{Issuer: genuine.p.Issuer, CAN: genuine.p.CAN})
	for _, fid := range []uint16{uint16(emrtd.DG14.File()), uint16(emrtd.FileSOD)} {
		clone.p.Applet.ReplaceFile(fid, genuine.p.Applet.File(fid))
	}
	cscas := []*x509.Certificate{genuine.p.CSCA}

	// Passive authentication alone is fooled: the files are genuine.
	s, err := emrtd.Open(ctx, clone.tr, emrtd.CAN(clone.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: cscas}); err != nil || !r.Verified() {
		t.Fatalf("passive authentication of the clone: %v", err)
	}

	s, err = emrtd.Open(ctx, clone.tr, emrtd.CAN(clone.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(ctx, &emrtd.ReadOptions{CSCAs: cscas, ChipAuthentication: true})
	if !errors.Is(err, emrtd.ErrChipAuthentication) || !errors.Is(err, emrtd.ErrSecureMessaging) {
		t.Fatalf("clone: %v", err)
	}
	if _, err := s.ReadDataGroup(ctx, emrtd.DG1); !errors.Is(err, emrtd.ErrClosed) {
		t.Fatalf("session after failed Chip Authentication: %v", err)
	}
	// The genuine chip passes.
	s, err = emrtd.Open(ctx, genuine.tr, emrtd.CAN(genuine.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AuthenticateChip(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// A chip without a Chip Authentication key cannot do Chip Authentication:
// ErrUnsupported, and the session stays usable. Its DG14 still carries the
// PACEInfo of EF.CardAccess (ICAO 9303-11 §9.2.11), which Read checks.
func TestChipAuthenticationUnsupported(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true, &emrtdapplet.Options{DisableChipAuthentication: true})
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AuthenticateChip(ctx, nil); !errors.Is(err, emrtd.ErrUnsupported) {
		t.Fatalf("AuthenticateChip without a key: %v", err)
	}
	r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
	if err != nil || !r.Verified() || r.ChipAuthenticated {
		t.Fatalf("read: %v", err)
	}
	if r.Security == nil || len(r.Security.ChipAuthenticationPK) != 0 || len(r.Security.Infos) != 1 ||
		!r.Security.Infos[0].Protocol.Equal(s.CardAccess().PACE[0].Protocol) {
		t.Fatalf("DG14 without Chip Authentication: %+v", r.Security)
	}
}
