package emrtd_test

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// Active Authentication with an ECDSA key: the chip signs a fresh challenge,
// the host verifies it under DG15, and passive authentication covers DG15.
func TestActiveAuthentication(t *testing.T) {
	for _, c := range []struct {
		name string
		opts emrtdapplet.Options
		bac  bool
		ca   bool
	}{
		{"PACE, with Chip Authentication", emrtdapplet.Options{ActiveAuthentication: true}, false, true},
		{"BAC, no Chip Authentication", emrtdapplet.Options{ActiveAuthentication: true, DisablePACE: true, DisableChipAuthentication: true}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, true, &c.opts)
			var key emrtd.AccessKey = emrtd.CAN(f.p.CAN)
			if c.bac {
				key = f.key
			}
			s, err := emrtd.Open(ctx, f.tr, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}, ActiveAuthentication: true, ChipAuthentication: c.ca})
			if err != nil {
				t.Fatal(err)
			}
			if !r.ActiveAuthenticated || !s.ActiveAuthenticated() || r.ChipAuthenticated != c.ca || !slices.Contains(r.Verification.DataGroups, emrtd.DG15) {
				t.Fatalf("AA %v CA %v, verified %v", r.ActiveAuthenticated, r.ChipAuthenticated, r.Verification.DataGroups)
			}
			if r.Security == nil || r.Security.ActiveAuthentication == nil {
				t.Fatal("DG14 lacks ActiveAuthenticationInfo")
			}
		})
	}
}

// A clone with a genuine chip's DG15, DG14 and EF.SOD but its own key fails
// Active Authentication with a typed error.
func TestActiveAuthenticationDetectsClone(t *testing.T) {
	ctx := context.Background()
	genuine := newFixture(t, true, &emrtdapplet.Options{ActiveAuthentication: true})
	clone := newFixture(t, true, &emrtdapplet.Options{ActiveAuthentication: true, Issuer: genuine.p.Issuer})
	for _, dg := range []emrtd.DG{emrtd.DG14, emrtd.DG15} {
		clone.p.Applet.ReplaceFile(uint16(dg.File()), genuine.p.Applet.File(uint16(dg.File())))
	}
	clone.p.Applet.ReplaceFile(uint16(emrtd.FileSOD), genuine.p.Applet.File(uint16(emrtd.FileSOD)))
	s, err := emrtd.Open(ctx, clone.tr, emrtd.CAN(clone.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{genuine.p.CSCA}, ActiveAuthentication: true}); !errors.Is(err, emrtd.ErrActiveAuthentication) {
		t.Fatalf("clone: %v", err)
	}
	s, err = emrtd.Open(ctx, genuine.tr, emrtd.CAN(genuine.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateActive(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Without DG15 there is nothing to authenticate.
	plain := newFixture(t, true, nil)
	s, err = emrtd.Open(ctx, plain.tr, emrtd.CAN(plain.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateActive(ctx, nil); !errors.Is(err, emrtd.ErrUnsupported) || !errors.Is(err, apdu.ErrNotFound) {
		t.Fatalf("no DG15: %v", err)
	}
}
