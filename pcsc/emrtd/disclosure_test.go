package emrtd_test

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// The holder's call reads what the receiver asks for, has the chip sign the
// receiver's challenge, and packs the holder's choice; the receiver's call
// checks it all, the DG15 rule included.
func TestPrepareAndVerifyDisclosure(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, true, &emrtdapplet.Options{ActiveAuthentication: true})
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	challenge := emrtd.DisclosureChallenge("https://bank.example", "nonce-1")
	if other := emrtd.DisclosureChallenge("https://evil.example", "nonce-1"); string(other) == string(challenge) || len(challenge) != emrtd.ActiveChallengeSize {
		t.Fatal("the challenge does not depend on the origin, or has the wrong size")
	}
	req := emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG1}, Optional: []emrtd.DG{emrtd.DG2, emrtd.DG11, emrtd.DG16}, Challenge: challenge}
	start := f.tr.count.Load()
	p, err := s.PrepareDisclosure(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// EF.COM, EF.SOD, DG15, DG14, INTERNAL AUTHENTICATE, DG1, DG2, DG11:
	// each file once.
	if n := f.tr.count.Load() - start; n != 8 {
		t.Errorf("PrepareDisclosure sent %d APDUs, want 8", n)
	}
	if p.Active == nil || !slices.Equal(p.Missing, []emrtd.DG{emrtd.DG16}) || p.Record.MRZ == nil || p.Record.Details == nil ||
		p.Record.DataGroups[emrtd.DG14] == nil || p.Record.DataGroups[emrtd.DG15] == nil {
		t.Fatalf("prepared: proof %v, missing %v, groups %d", p.Active != nil, p.Missing, len(p.Record.DataGroups))
	}
	// The holder sends DG2 but not DG11; DG3 was not asked for and is
	// ignored.
	d, err := p.Disclose(emrtd.DG2, emrtd.DG3)
	if err != nil {
		t.Fatal(err)
	}
	var keys []emrtd.DG
	for dg := range d.DataGroups {
		keys = append(keys, dg)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []emrtd.DG{emrtd.DG1, emrtd.DG2, emrtd.DG14, emrtd.DG15}) || d.Active == nil {
		t.Fatalf("disclosed %v, proof %v", keys, d.Active != nil)
	}
	// Over the wire and back.
	wire, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got emrtd.Disclosure
	if err := json.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	opts := emrtd.DisclosureOptions{DisclosureRequest: req, CSCAs: []*x509.Certificate{f.p.CSCA}}
	rec, err := emrtd.VerifyDisclosure(&got, opts)
	if err != nil || !rec.Verified() || !rec.ActiveAuthenticated || rec.Face() == nil || rec.Details != nil {
		t.Fatalf("genuine disclosure: %v", err)
	}
	if !slices.Contains(rec.Verification.Covered, emrtd.DG15) || !slices.Contains(rec.Verification.Covered, emrtd.DG11) {
		t.Errorf("covered %v", rec.Verification.Covered)
	}

	refused := func(name string, d *emrtd.Disclosure, opts emrtd.DisclosureOptions, want ...error) {
		t.Helper()
		_, err := emrtd.VerifyDisclosure(d, opts)
		for _, w := range want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", name, err, w)
			}
		}
	}
	// The proof answers this exchange only.
	other := opts
	other.Challenge = emrtd.DisclosureChallenge("https://bank.example", "nonce-2")
	refused("proof for another nonce", &got, other, emrtd.ErrNoChipProof, emrtd.ErrActiveAuthentication)
	bad := got
	bad.Active = &emrtd.ActiveProof{Challenge: got.Active.Challenge, Signature: slices.Clone(got.Active.Signature)}
	bad.Active.Signature[3] ^= 1
	refused("altered signature", &bad, opts, emrtd.ErrNoChipProof, emrtd.ErrActiveAuthentication)
	// The DG15 rule: EF.SOD covers DG15, so a disclosure without the
	// proof — a copy of the data — is refused, with or without DG15.
	copied := emrtd.Disclosure{SOD: got.SOD, DataGroups: map[emrtd.DG][]byte{emrtd.DG1: got.DataGroups[emrtd.DG1], emrtd.DG2: got.DataGroups[emrtd.DG2]}}
	refused("copy without the proof", &copied, opts, emrtd.ErrNoChipProof)
	noReq := emrtd.DisclosureOptions{CSCAs: opts.CSCAs}
	refused("copy, receiver asking for nothing in particular", &copied, noReq, emrtd.ErrNoChipProof)
	refused("receiver without a challenge", &got, emrtd.DisclosureOptions{CSCAs: opts.CSCAs, DisclosureRequest: emrtd.DisclosureRequest{Required: req.Required, Optional: req.Optional}}, emrtd.ErrNoChipProof)
	withKeys := got
	withKeys.Active = nil
	refused("DG14 and DG15 without the proof", &withKeys, opts, emrtd.ErrNoChipProof)
	// The request: required groups present, nothing beyond what was asked.
	more := opts
	more.Required = []emrtd.DG{emrtd.DG1, emrtd.DG11}
	refused("required DG11 missing", &got, more, emrtd.ErrMissingDataGroup)
	less := opts
	less.Optional = nil
	refused("DG2 not asked for", &got, less, emrtd.ErrUnrequestedDataGroup)
	refused("altered DG1", func() *emrtd.Disclosure {
		a := got
		a.DataGroups = map[emrtd.DG][]byte{}
		for k, v := range got.DataGroups {
			a.DataGroups[k] = slices.Clone(v)
		}
		a.DataGroups[emrtd.DG1][12] ^= 1
		return &a
	}(), opts, emrtd.ErrHashMismatch)
}

// Without DG15 the chip cannot prove its presence: the disclosure carries
// no proof and verifies on passive authentication alone.
func TestDisclosureWithoutActiveAuthentication(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, true, nil)
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := emrtd.DisclosureRequest{Optional: []emrtd.DG{emrtd.DG1, emrtd.DG2}, Challenge: emrtd.DisclosureChallenge("o", "n")}
	p, err := s.PrepareDisclosure(ctx, req)
	if err != nil || p.Active != nil {
		t.Fatalf("prepare: %v, proof %v", err, p != nil && p.Active != nil)
	}
	if _, err := p.Disclose(); !errors.Is(err, emrtd.ErrNothingToDisclose) {
		t.Fatalf("nothing chosen: %v", err)
	}
	d, err := p.Disclose(emrtd.DG1)
	if err != nil || len(d.DataGroups) != 1 || d.Active != nil {
		t.Fatalf("disclose DG1: %v", err)
	}
	rec, err := emrtd.VerifyDisclosure(d, emrtd.DisclosureOptions{DisclosureRequest: req, CSCAs: []*x509.Certificate{f.p.CSCA}})
	if err != nil || rec.ActiveAuthenticated || rec.MRZ == nil {
		t.Fatalf("verify: %v", err)
	}
	// DG14 passes with a proof only.
	withDG14, err := p.Record.Disclose(emrtd.DG1, emrtd.DG14)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emrtd.VerifyDisclosure(withDG14, emrtd.DisclosureOptions{DisclosureRequest: req, CSCAs: []*x509.Certificate{f.p.CSCA}}); !errors.Is(err, emrtd.ErrUnrequestedDataGroup) {
		t.Fatalf("DG14 without a proof: %v", err)
	}
}

// The holder's side refuses what it cannot give: a required data group the
// document lacks, fingerprints, a malformed challenge; a clone's chip
// cannot sign.
func TestPrepareDisclosureRefusals(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, true, &emrtdapplet.Options{ActiveAuthentication: true})
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	var dge *emrtd.DataGroupError
	if _, err := s.PrepareDisclosure(ctx, emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG1, emrtd.DG5}}); !errors.Is(err, emrtd.ErrNotOnDocument) || !errors.As(err, &dge) || dge.DG != emrtd.DG5 {
		t.Errorf("required DG5 not on the document: %v", err)
	}
	if _, err := s.PrepareDisclosure(ctx, emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG3}}); !errors.Is(err, emrtd.ErrNotAuthorised) {
		t.Errorf("DG3: %v", err)
	}
	if _, err := s.PrepareDisclosure(ctx, emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG1}, Challenge: []byte{1, 2, 3, 4}}); !errors.Is(err, emrtd.ErrInvalidKey) {
		t.Errorf("4-byte challenge: %v", err)
	}
	if _, err := s.ProveActive(ctx, []byte{1, 2, 3, 4}); !errors.Is(err, emrtd.ErrInvalidKey) {
		t.Errorf("ProveActive with a 4-byte challenge: %v", err)
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
	challenge := emrtd.DisclosureChallenge("https://bank.example", "nonce-1")
	if _, err := cs.ProveActive(ctx, challenge); !errors.Is(err, emrtd.ErrActiveAuthentication) {
		t.Errorf("clone proving: %v", err)
	}
	if _, err := cs.PrepareDisclosure(ctx, emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG1}, Challenge: challenge}); !errors.Is(err, emrtd.ErrActiveAuthentication) {
		t.Errorf("clone preparing: %v", err)
	}
}
