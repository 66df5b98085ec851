package emrtd_test

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

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
		{"BAC, no DG14", emrtdapplet.Options{ActiveAuthentication: true, DisablePACE: true, DisableChipAuthentication: true}, true, false},
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
			if c.ca && (r.Security == nil || r.Security.ActiveAuthentication == nil) {
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

// A disclosure can carry an Active Authentication proof over a challenge
// derived from the receiver's origin and nonce: the receiver checks it
// after passive authentication; a proof for another exchange, an altered
// signature, or one made by a clone's chip fails with a typed error.
func TestDisclosureActiveProof(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true, &emrtdapplet.Options{ActiveAuthentication: true})
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Read(ctx, &emrtd.ReadOptions{DataGroups: []emrtd.DG{emrtd.DG1, emrtd.DG14, emrtd.DG15}})
	if err != nil {
		t.Fatal(err)
	}
	challenge := emrtd.DisclosureChallenge("https://bank.example", "nonce-1")
	if other := emrtd.DisclosureChallenge("https://evil.example", "nonce-1"); string(other) == string(challenge) || len(challenge) != emrtd.ActiveChallengeSize {
		t.Fatal("the challenge does not depend on the origin, or has the wrong size")
	}
	proof, dg15, dg14, err := s.ProveActive(ctx, challenge)
	if err != nil {
		t.Fatal(err)
	}
	if string(dg15) != string(rec.DataGroups[emrtd.DG15]) || string(dg14) != string(rec.DataGroups[emrtd.DG14]) {
		t.Fatal("ProveActive returned other DG14/DG15 bytes than the read")
	}
	d, err := rec.Disclose(emrtd.DG1, emrtd.DG14, emrtd.DG15)
	if err != nil {
		t.Fatal(err)
	}
	d.Active = proof
	verify := func(d *emrtd.Disclosure, challenge []byte) error {
		got, err := emrtd.VerifyDisclosure(d, []*x509.Certificate{f.p.CSCA}, time.Now())
		if err != nil {
			return err
		}
		if err := emrtd.VerifyActiveProof(got, challenge, d.Active); err != nil {
			return err
		}
		if !got.ActiveAuthenticated {
			t.Fatal("VerifyActiveProof passed but the record is not marked")
		}
		return nil
	}
	if err := verify(d, challenge); err != nil {
		t.Fatalf("genuine proof: %v", err)
	}
	if err := verify(d, emrtd.DisclosureChallenge("https://bank.example", "nonce-2")); !errors.Is(err, emrtd.ErrActiveAuthentication) {
		t.Fatalf("proof replayed for another nonce: %v", err)
	}
	bad := *d
	bad.Active = &emrtd.ActiveProof{Challenge: proof.Challenge, Signature: slices.Clone(proof.Signature)}
	bad.Active.Signature[3] ^= 1
	if err := verify(&bad, challenge); !errors.Is(err, emrtd.ErrActiveAuthentication) {
		t.Fatalf("altered signature: %v", err)
	}
	noDG15 := *d
	noDG15.DataGroups = map[emrtd.DG][]byte{emrtd.DG1: d.DataGroups[emrtd.DG1]}
	if err := verify(&noDG15, challenge); !errors.Is(err, emrtd.ErrUnsupported) {
		t.Fatalf("proof without DG15: %v", err)
	}
	// A clone carrying the genuine chip's files signs with its own key.
	clone := newFixture(t, true, &emrtdapplet.Options{ActiveAuthentication: true, Issuer: f.p.Issuer})
	for _, dg := range []emrtd.DG{emrtd.DG14, emrtd.DG15} {
		clone.p.Applet.ReplaceFile(uint16(dg.File()), f.p.Applet.File(uint16(dg.File())))
	}
	cs, err := emrtd.Open(ctx, clone.tr, emrtd.CAN(clone.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := cs.ProveActive(ctx, challenge); !errors.Is(err, emrtd.ErrActiveAuthentication) {
		t.Fatalf("clone proving: %v", err)
	}
	if _, _, _, err := s.ProveActive(ctx, challenge[:4]); err == nil {
		t.Fatal("a 4-byte challenge was accepted")
	}
}
