package emrtd_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// countingCard counts the APDUs that reach the virtual card.
type countingCard struct {
	card  *virtual.Card
	count atomic.Int64
}

func (g *countingCard) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	g.count.Add(1)
	return g.card.Transmit(ctx, cmd)
}

func (g *countingCard) ExtendedLength() bool { return g.card.ExtendedLength() }

// fixture is a personalised card behind an in-process transport.
type fixture struct {
	p   *emrtdapplet.Personalised
	tr  *countingCard
	key emrtd.MRZKey
}

func newFixture(t testing.TB, ext bool, opts *emrtdapplet.Options) *fixture {
	t.Helper()
	prof := emrtdapplet.SampleProfile()
	p, err := emrtdapplet.Personalise(prof, opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := newFixtureFrom(p, ext)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newFixtureFrom(p *emrtdapplet.Personalised, ext bool) (*fixture, error) {
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: ext}, p.Applet)
	if err != nil {
		return nil, err
	}
	key, err := emrtd.MRZKeyFromMRZ(p.MRZ)
	if err != nil {
		return nil, err
	}
	return &fixture{p: p, tr: &countingCard{card: card}, key: key}, nil
}

func checkSample(t *testing.T, r *emrtd.Record, prof emrtdapplet.Profile) {
	t.Helper()
	if _, ok := r.DataGroups[emrtd.DG3]; ok {
		t.Error("DG3 read without Terminal Authentication")
	}
	checkSampleNoDG3(t, r, prof)
}

func checkSampleNoDG3(t *testing.T, r *emrtd.Record, prof emrtdapplet.Profile) {
	t.Helper()
	if !r.Verified() {
		t.Fatalf("verification %v: %v", r.Verification.Status, r.Verification.Err)
	}
	m := r.MRZ
	if m == nil || m.Format != emrtd.TD1 || m.DocumentNumber != prof.DocumentNumber || m.PrimaryID != "ERIKSSON" ||
		m.SecondaryID != "ANNA MARIA" || m.DateOfBirth != "740812" || m.DateOfExpiry != "340415" || m.Sex != "F" {
		t.Errorf("MRZ = %+v", m)
	}
	f := r.Face()
	if f == nil || f.MIMEType != "image/jpeg" || !bytes.Equal(f.Image, prof.Photo) || f.Width != 240 || f.Height != 320 || f.EyeColour != "brown" || f.Gender != "female" {
		t.Errorf("face = %v %dx%d %q %q, %d bytes", f != nil, f.Width, f.Height, f.EyeColour, f.Gender, len(f.Image))
	}
	d := r.Details
	if d == nil || d.FullDateOfBirth != "19740812" || len(d.PlaceOfBirth) != 2 || d.PlaceOfBirth[0] != "ZENITH" ||
		len(d.Address) != 3 || d.Address[0] != "12 MAIN STREET" || d.PersonalNumber != "ZE184226B" {
		t.Errorf("DG11 = %+v", d)
	}
	if p, s := d.Names(); p != "ERIKSSON" || s != "ANNA MARIA" {
		t.Errorf("DG11 names %q %q", p, s)
	}
	if r.Document == nil || r.Document.IssuingAuthority != "CITY OF ZENITH" || r.Document.DateOfIssue != "20240416" {
		t.Errorf("DG12 = %+v", r.Document)
	}
	if r.Optional == nil || r.Optional.Height != "168" || r.Optional.EyeColour != "brown" {
		t.Errorf("DG13 = %+v", r.Optional)
	}
}

func TestReadVirtualCard(t *testing.T) {
	prof := emrtdapplet.SampleProfile()
	for _, c := range []struct {
		name  string
		ext   bool
		copts emrtdapplet.Options
		oopts emrtd.Options
		can   bool
		want  emrtd.Protocol
	}{
		{"PACE CAN extended", true, emrtdapplet.Options{}, emrtd.Options{}, true, emrtd.ProtocolPACE},
		{"PACE MRZ short", false, emrtdapplet.Options{}, emrtd.Options{}, false, emrtd.ProtocolPACE},
		{"PACE CAN extended card, short reads", true, emrtdapplet.Options{}, emrtd.Options{ShortReads: true}, true, emrtd.ProtocolPACE},
		{"BAC only chip", true, emrtdapplet.Options{DisablePACE: true}, emrtd.Options{}, false, emrtd.ProtocolBAC},
		{"BAC by choice", false, emrtdapplet.Options{}, emrtd.Options{DisablePACE: true}, false, emrtd.ProtocolBAC},
		{"PACE NIST P-256 AES-256", true, emrtdapplet.Options{PACEParameterID: 12, PACECipher: emrtdapplet.PACEAES256}, emrtd.Options{}, true, emrtd.ProtocolPACE},
		{"PACE 3DES", false, emrtdapplet.Options{PACECipher: emrtdapplet.PACE3DES}, emrtd.Options{}, true, emrtd.ProtocolPACE},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.ext, &c.copts)
			var key emrtd.AccessKey = f.key
			if c.can {
				key = emrtd.CAN(f.p.CAN)
			}
			ctx := context.Background()
			s, err := emrtd.Open(ctx, f.tr, key, &c.oopts)
			if err != nil {
				t.Fatal(err)
			}
			if s.Protocol() != c.want {
				t.Errorf("protocol %v, want %v", s.Protocol(), c.want)
			}
			r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
			if err != nil {
				t.Fatal(err)
			}
			if r.Protocol != c.want {
				t.Errorf("record protocol %v", r.Protocol)
			}
			checkSample(t, r, prof)
			t.Logf("%s: %v, %v, %d APDUs", c.name, s.Protocol(), s.Cipher(), f.tr.count.Load())
		})
	}
}

// Every curve of ICAO 9303-11 Table 6 with AES-128, and brainpoolP256r1
// with every cipher: host and chip agree on the keys.
func TestPACEEveryCurveAndCipher(t *testing.T) {
	type variant struct {
		param  int
		cipher emrtdapplet.PACECipher
	}
	var vs []variant
	for id := 8; id <= 18; id++ {
		vs = append(vs, variant{id, emrtdapplet.PACEAES128})
	}
	for c := emrtdapplet.PACE3DES; c <= emrtdapplet.PACEAES256; c++ {
		vs = append(vs, variant{13, c})
	}
	for _, v := range vs {
		f := newFixture(t, true, &emrtdapplet.Options{PACEParameterID: v.param, PACECipher: v.cipher})
		s, err := emrtd.Open(context.Background(), f.tr, emrtd.CAN(f.p.CAN), nil)
		if err != nil {
			t.Errorf("parameter %d, cipher %d: %v", v.param, v.cipher, err)
			continue
		}
		if _, err := s.ReadDataGroup(context.Background(), emrtd.DG1); err != nil || s.Protocol() != emrtd.ProtocolPACE {
			t.Errorf("parameter %d, cipher %d: read DG1: %v (%v)", v.param, v.cipher, err, s.Protocol())
		}
	}
}

// A wrong CAN or MRZ fails with ErrAccessDenied, and the chip gives nothing
// afterwards without a key.
func TestWrongAccessKey(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		opts  emrtdapplet.Options
		key   func(f *fixture) emrtd.AccessKey
		oopts emrtd.Options
	}{
		{"wrong CAN", emrtdapplet.Options{CAN: "123456"}, func(*fixture) emrtd.AccessKey { return emrtd.CAN("654321") }, emrtd.Options{}},
		{"wrong MRZ over PACE", emrtdapplet.Options{}, func(f *fixture) emrtd.AccessKey {
			k := f.key
			k.DateOfBirth = "740813"
			return k
		}, emrtd.Options{}},
		{"wrong MRZ over BAC", emrtdapplet.Options{DisablePACE: true}, func(f *fixture) emrtd.AccessKey {
			k := f.key
			k.DocumentNumber = "T22000130"
			return k
		}, emrtd.Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, true, &c.opts)
			_, err := emrtd.Open(ctx, f.tr, c.key(f), &c.oopts)
			if !errors.Is(err, emrtd.ErrAccessDenied) {
				t.Fatalf("Open: %v, want ErrAccessDenied", err)
			}
			// Nothing is readable without a key: the chip answers 6982.
			cl := &apdu.Client{Transport: f.tr}
			if _, err := cl.Do(ctx, apdu.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: emrtd.LDS1AID()}); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Do(ctx, apdu.Command{INS: 0xB0, P1: 0x81, Ne: 256}); !errors.Is(err, apdu.ErrSecurityStatus) {
				t.Fatalf("plain READ BINARY of DG1: %v, want 6982", err)
			}
		})
	}
	// A CAN cannot open a BAC-only chip.
	f := newFixture(t, true, &emrtdapplet.Options{DisablePACE: true})
	if _, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil); !errors.Is(err, emrtd.ErrUnsupported) {
		t.Fatalf("CAN on a BAC chip: %v, want ErrUnsupported", err)
	}
	// A malformed key is refused before anything is sent.
	n := f.tr.count.Load()
	if _, err := emrtd.Open(ctx, f.tr, emrtd.MRZKey{DocumentNumber: "X", DateOfBirth: "7408", DateOfExpiry: "340415"}, nil); !errors.Is(err, emrtd.ErrInvalidKey) || f.tr.count.Load() != n {
		t.Fatalf("malformed key: %v after %d APDUs", err, f.tr.count.Load()-n)
	}
}

// DG3 needs Terminal Authentication: the host refuses without sending, the
// chip refuses too, and the session survives.
func TestDG3NotAuthorised(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true, nil)
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := f.tr.count.Load()
	_, err = s.ReadDataGroup(ctx, emrtd.DG3)
	var dge *emrtd.DataGroupError
	if !errors.Is(err, emrtd.ErrNotAuthorised) || !errors.Is(err, apdu.ErrSecurityStatus) || !errors.As(err, &dge) || dge.DG != emrtd.DG3 {
		t.Fatalf("ReadDataGroup(DG3): %v", err)
	}
	if f.tr.count.Load() != n {
		t.Fatal("the host sent a command for DG3")
	}
	// The chip's own refusal, under secure messaging.
	if _, err := s.ReadFile(ctx, emrtd.DG3.File()); !errors.Is(err, emrtd.ErrNotAuthorised) || !errors.Is(err, apdu.ErrSecurityStatus) {
		t.Fatalf("ReadFile(DG3): %v", err)
	}
	if _, err := s.ReadDataGroup(ctx, emrtd.DG1); err != nil {
		t.Fatalf("DG1 after the refusal: %v", err)
	}
	if _, err := s.Read(ctx, &emrtd.ReadOptions{DataGroups: []emrtd.DG{emrtd.DG1, emrtd.DG3}}); !errors.Is(err, emrtd.ErrNotAuthorised) {
		t.Fatalf("Read with DG3: %v", err)
	}
}

// A changed byte in any data group fails passive authentication with
// ErrHashMismatch naming the group.
func TestTamperedDataGroup(t *testing.T) {
	ctx := context.Background()
	for _, dg := range []emrtd.DG{emrtd.DG1, emrtd.DG2, emrtd.DG11, emrtd.DG12, emrtd.DG13} {
		f := newFixture(t, true, nil)
		fid := uint16(dg.File())
		b := f.p.Applet.File(fid)
		b[len(b)-1] ^= 0x01 // the last byte: inside the value, structure intact
		if dg == emrtd.DG1 {
			// Keep DG1 parseable: swap two letters of the name.
			b[len(b)-1] ^= 0x01
			i := bytes.Index(b, []byte("ERIKSSON"))
			b[i], b[i+1] = 'R', 'E'
		}
		f.p.Applet.ReplaceFile(fid, b)
		s, err := emrtd.Open(ctx, f.tr, f.key, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
		var dge *emrtd.DataGroupError
		if !errors.Is(err, emrtd.ErrHashMismatch) || !errors.Is(err, emrtd.ErrPassiveAuth) || !errors.As(err, &dge) || dge.DG != dg {
			t.Errorf("%v altered: %v", dg, err)
			continue
		}
		if r == nil || r.Verified() || r.Verification.Status != emrtd.Failed {
			t.Errorf("%v altered: record %+v", dg, r)
		}
	}
}

// A data group the chip holds but EF.SOD does not list is rejected.
func TestDataGroupMissingFromSOD(t *testing.T) {
	f := newFixture(t, true, &emrtdapplet.Options{UnsignedDataGroups: []int{11}})
	s, err := emrtd.Open(context.Background(), f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(context.Background(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
	var dge *emrtd.DataGroupError
	if !errors.Is(err, emrtd.ErrHashMissing) || !errors.As(err, &dge) || dge.DG != emrtd.DG11 {
		t.Fatalf("DG11 absent from EF.SOD: %v", err)
	}
}

// A document signer under another CSCA is untrusted; without CSCAs the
// record is not checked.
func TestUntrustedCSCA(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true, nil)
	other, err := emrtdapplet.NewIssuer("UTO", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{other.CSCA}}); !errors.Is(err, emrtd.ErrUntrustedSigner) {
		t.Fatalf("foreign CSCA: %v", err)
	}
	r, err := s.Read(ctx, nil)
	if err != nil || r.Verification.Status != emrtd.NotChecked {
		t.Fatalf("no CSCA: %v, %v", err, r.Verification.Status)
	}
	// Expired at the time given.
	if _, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}, Time: time.Now().AddDate(20, 0, 0)}); !errors.Is(err, emrtd.ErrUntrustedSigner) {
		t.Fatalf("DS expired: %v", err)
	}
}

// The holder discloses DG1 and DG2; the receiver checks them by passive
// authentication alone, and notices any change.
func TestDisclosure(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true, nil)
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Disclose(emrtd.DG1, emrtd.DG2)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	cscas := []*x509.Certificate{f.p.CSCA}
	var got emrtd.Disclosure
	if err := json.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	rr, err := emrtd.VerifyDisclosure(&got, emrtd.DisclosureOptions{CSCAs: cscas})
	if err != nil {
		t.Fatal(err)
	}
	if !rr.Verified() || rr.MRZ.PrimaryID != "ERIKSSON" || rr.Face() == nil || rr.Details != nil {
		t.Fatalf("disclosed record %+v", rr)
	}
	tampered := got
	tampered.DataGroups = map[emrtd.DG][]byte{emrtd.DG1: bytes.Clone(got.DataGroups[emrtd.DG1]), emrtd.DG2: got.DataGroups[emrtd.DG2]}
	tampered.DataGroups[emrtd.DG1][10] ^= 1
	if _, err := emrtd.VerifyDisclosure(&tampered, emrtd.DisclosureOptions{CSCAs: cscas}); !errors.Is(err, emrtd.ErrHashMismatch) {
		t.Fatalf("tampered disclosure: %v", err)
	}
	extra := got
	extra.DataGroups = map[emrtd.DG][]byte{emrtd.DG1: got.DataGroups[emrtd.DG1], emrtd.DG5: {0x65, 0x00}}
	if _, err := emrtd.VerifyDisclosure(&extra, emrtd.DisclosureOptions{CSCAs: cscas}); !errors.Is(err, emrtd.ErrHashMissing) {
		t.Fatalf("disclosure with a group EF.SOD lacks: %v", err)
	}
	if _, err := r.Disclose(emrtd.DG3); err == nil {
		t.Fatal("disclosed DG3, which was never read")
	}
}

// Files beyond the 15-bit offset of READ BINARY come through B1 with DO'54',
// with extended length and without.
func TestLargeFile(t *testing.T) {
	for _, ext := range []bool{true, false} {
		f := newFixture(t, ext, nil)
		big := make([]byte, 70000)
		for i := range big {
			big[i] = byte(i * 7)
		}
		v, _ := apdu.AppendTLV(nil, 0x5F2E, big)
		dg, _ := apdu.AppendTLV(nil, 0x75, v)
		f.p.Applet.ReplaceFile(uint16(emrtd.DG2.File()), dg)
		s, err := emrtd.Open(context.Background(), f.tr, emrtd.CAN(f.p.CAN), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadDataGroup(context.Background(), emrtd.DG2)
		if err != nil || !bytes.Equal(got, dg) {
			t.Fatalf("extended %v: %d bytes, %v", ext, len(got), err)
		}
	}
}

// The card forgets the session on reset: the host must open a new one.
func TestSessionLostOnReset(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true, nil)
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.tr.card.Reset()
	if _, err := s.ReadDataGroup(ctx, emrtd.DG1); !errors.Is(err, emrtd.ErrSecureMessaging) && !errors.Is(err, apdu.ErrConditions) {
		t.Fatalf("read after reset: %v", err)
	}
	if _, err := s.ReadDataGroup(ctx, emrtd.DG1); !errors.Is(err, emrtd.ErrClosed) {
		t.Fatalf("read on a broken session: %v", err)
	}
}
