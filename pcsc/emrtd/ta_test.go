package emrtd_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// pkiOptions shape a test terminal PKI.
type pkiOptions struct {
	country           string
	dvRights, isRight emrtd.Rights
	dvRole            emrtd.Role
	dvEffective       time.Time // zero: a day ago
	isExpiry          time.Time // zero: in a month
}

// terminalPKI is a CVCA, a DV it certified and an inspection system the DV
// certified, all ECDSA P-256 (TR-03110-3 Appendix C).
type terminalPKI struct {
	cvca     []byte
	cvcaCert *emrtd.CVCertificate
	dv, is   *emrtd.CVCertificate
	isKey    *ecdsa.PrivateKey
}

func (p *terminalPKI) terminal(withCVCA bool) *emrtd.Terminal {
	chain := []*emrtd.CVCertificate{p.dv, p.is}
	if withCVCA {
		chain = append([]*emrtd.CVCertificate{p.cvcaCert}, chain...)
	}
	return &emrtd.Terminal{Chain: chain, Key: p.isKey}
}

func issueCV(t testing.TB, tmpl *emrtd.CVTemplate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *emrtd.CVCertificate {
	t.Helper()
	raw, err := emrtd.CreateCVCertificate(rand.Reader, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := emrtd.ParseCVCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTerminalPKI(t testing.TB, now time.Time, o pkiOptions) *terminalPKI {
	t.Helper()
	if o.country == "" {
		o.country = "UT"
	}
	if o.dvRole == 0 {
		o.dvRole = emrtd.RoleDVDomestic
	}
	if o.dvEffective.IsZero() {
		o.dvEffective = now.AddDate(0, 0, -1)
	}
	if o.isExpiry.IsZero() {
		o.isExpiry = now.AddDate(0, 1, 0)
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cvcaKey, dvKey, isKey := key(), key(), key()
	cvcaRef, dvRef, isRef := o.country+"CVCA00001", o.country+"DVPUCE00001", o.country+"ISPUCE00001"
	cvca := issueCV(t, &emrtd.CVTemplate{CAR: cvcaRef, CHR: cvcaRef, Role: emrtd.RoleCVCA, Rights: emrtd.ReadDG3 | emrtd.ReadDG4,
		Effective: now.AddDate(-1, 0, 0), Expiration: now.AddDate(3, 0, 0), DomainParameters: true}, &cvcaKey.PublicKey, cvcaKey)
	dv := issueCV(t, &emrtd.CVTemplate{CAR: cvcaRef, CHR: dvRef, Role: o.dvRole, Rights: o.dvRights,
		Effective: o.dvEffective, Expiration: now.AddDate(0, 3, 0)}, &dvKey.PublicKey, cvcaKey)
	isEffective := now.AddDate(0, 0, -1)
	if o.isExpiry.Before(isEffective) {
		isEffective = o.isExpiry.AddDate(0, 0, -5)
	}
	is := issueCV(t, &emrtd.CVTemplate{CAR: dvRef, CHR: isRef, Role: emrtd.RoleIS, Rights: o.isRight,
		Effective: isEffective, Expiration: o.isExpiry}, &isKey.PublicKey, dvKey)
	return &terminalPKI{cvca: cvca.Raw, cvcaCert: cvca, dv: dv, is: is, isKey: isKey}
}

func fullRights(time.Time) pkiOptions {
	return pkiOptions{dvRights: emrtd.ReadDG3 | emrtd.ReadDG4, isRight: emrtd.ReadDG3}
}

// Terminal Authentication after Chip Authentication, after PACE and after
// BAC: DG3 reads, decodes and passes passive authentication.
func TestTerminalAuthentication(t *testing.T) {
	now := time.Now()
	prof := emrtdapplet.SampleProfile()
	prof.Fingerprints = bytes.Repeat([]byte{0x5A, 0xA5}, 300)
	for _, c := range []struct {
		name     string
		ext      bool
		opts     emrtdapplet.Options
		bac      bool
		withCVCA bool
	}{
		{"PACE, CA AES-128", true, emrtdapplet.Options{}, false, false},
		{"PACE short, CVCA in the chain", false, emrtdapplet.Options{}, false, true},
		// ID_IC after PACE with DH is SHA-1 of the chip's y.
		{"PACE DH, CA AES-128", true, emrtdapplet.Options{PACEDH: true}, false, false},
		// After PACE-CAM no Chip Authentication runs: TA signs the
		// terminal's PACE ephemeral key (BSI TR-03110-2 §3.4).
		{"PACE-CAM, no CA", true, emrtdapplet.Options{PACECAM: true}, false, false},
		{"BAC, CA 3DES", true, emrtdapplet.Options{DisablePACE: true, ChipAuthenticationCipher: emrtdapplet.PACE3DES}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pki := newTerminalPKI(t, now, fullRights(now))
			opts := c.opts
			opts.CVCA = pki.cvca
			p, err := emrtdapplet.Personalise(prof, &opts)
			if err != nil {
				t.Fatal(err)
			}
			f := fixtureFor(t, p, c.ext)
			var key emrtd.AccessKey = emrtd.CAN(p.CAN)
			if c.bac {
				key = f.key
			}
			ctx := context.Background()
			s, err := emrtd.Open(ctx, f.tr, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}, Terminal: pki.terminal(c.withCVCA)})
			if err != nil {
				t.Fatal(err)
			}
			if !r.TerminalAuthenticated || !r.ChipAuthenticated || !s.TerminalAuthenticated() {
				t.Fatal("not authenticated")
			}
			if !slices.Contains(r.Verification.DataGroups, emrtd.DG3) || !slices.Contains(r.Verification.DataGroups, emrtd.DG14) {
				t.Fatalf("passive authentication covered %v", r.Verification.DataGroups)
			}
			if len(r.Fingerprints) != 1 || r.Fingerprints[0].Type != 0x08 || r.Fingerprints[0].FormatType != 0x0009 ||
				!bytes.Equal(r.Fingerprints[0].Data, append([]byte("FIR\x00010\x00"), prof.Fingerprints...)) {
				t.Fatalf("fingerprints %+v", r.Fingerprints)
			}
			checkSampleNoDG3(t, r, prof)
			// DG4 is not on this chip; the chain grants no DG4 anyway.
			if _, err := s.ReadDataGroup(ctx, emrtd.DG4); !errors.Is(err, emrtd.ErrNotAuthorised) {
				t.Fatalf("DG4: %v", err)
			}
		})
	}
}

// fixtureFor wraps a personalised card like newFixture.
func fixtureFor(t testing.TB, p *emrtdapplet.Personalised, ext bool) *fixture {
	t.Helper()
	f, err := newFixtureFrom(p, ext)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Every refusal leaves DG3 closed: the host refuses to ask, and the chip
// answers 6982 when asked anyway.
func TestTerminalAuthenticationRefused(t *testing.T) {
	now := time.Now()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		pki  pkiOptions
		// alter returns the terminal presented and the PKI whose CVCA the
		// chip trusts (nil: p's).
		alter  func(p *terminalPKI) (*emrtd.Terminal, *terminalPKI)
		taFail bool
		sw     uint16
	}{
		{"chain without the DG3 right", pkiOptions{dvRights: emrtd.ReadDG4, isRight: emrtd.ReadDG3}, nil, false, 0},
		{"IS certificate without the DG3 right", pkiOptions{dvRights: emrtd.ReadDG3, isRight: emrtd.ReadDG4}, nil, false, 0},
		{"expired IS certificate", pkiOptions{dvRights: 3, isRight: 1, isExpiry: now.AddDate(0, 0, -2)}, nil, true, apdu.SWSecurityStatus},
		{"a DV certificate dated later advances the chip's date past the IS certificate",
			pkiOptions{dvRights: 3, isRight: 1, dvEffective: now.AddDate(0, 0, 20), isExpiry: now.AddDate(0, 0, 10)}, nil, true, apdu.SWSecurityStatus},
		{"foreign DV, expired IS", pkiOptions{dvRole: emrtd.RoleDVForeign, dvRights: 3, isRight: 1, isExpiry: now.AddDate(0, 0, -2)}, nil, true, apdu.SWSecurityStatus},
		{"wrong CVCA", pkiOptions{dvRights: 3, isRight: 1}, func(p *terminalPKI) (*emrtd.Terminal, *terminalPKI) {
			return newTerminalPKI(t, now, pkiOptions{country: "XX", dvRights: 3, isRight: 1}).terminal(false), nil
		}, true, apdu.SWReferencedDataNotFound},
		{"impostor CVCA with the same name", pkiOptions{dvRights: 3, isRight: 1}, func(p *terminalPKI) (*emrtd.Terminal, *terminalPKI) {
			return newTerminalPKI(t, now, pkiOptions{dvRights: 3, isRight: 1}).terminal(false), nil
		}, true, apdu.SWWrongData},
		{"terminal signs with another key", pkiOptions{dvRights: 3, isRight: 1}, func(p *terminalPKI) (*emrtd.Terminal, *terminalPKI) {
			term := p.terminal(false)
			term.Key = newTerminalPKI(t, now, pkiOptions{}).isKey
			return term, p
		}, true, 0x6300},
		{"DV certificate signature altered", pkiOptions{dvRights: 3, isRight: 1}, func(p *terminalPKI) (*emrtd.Terminal, *terminalPKI) {
			term := p.terminal(false)
			dv := *p.dv
			dv.Signature = bytes.Clone(dv.Signature)
			dv.Signature[5] ^= 0x40
			term.Chain[0] = &dv
			return term, p
		}, true, apdu.SWWrongData},
		{"IS certificate presented as issued by the CVCA", pkiOptions{dvRights: 3, isRight: 1}, func(p *terminalPKI) (*emrtd.Terminal, *terminalPKI) {
			return &emrtd.Terminal{Chain: []*emrtd.CVCertificate{p.is}, Key: p.isKey}, p
		}, true, apdu.SWReferencedDataNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			pki := newTerminalPKI(t, now, c.pki)
			trusted, term := pki, pki.terminal(false)
			if c.alter != nil {
				var tp *terminalPKI
				if term, tp = c.alter(pki); tp != nil {
					trusted = tp
				}
			}
			p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{CVCA: trusted.cvca})
			if err != nil {
				t.Fatal(err)
			}
			f, err := newFixtureFrom(p, true)
			if err != nil {
				t.Fatal(err)
			}
			s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(p.CAN), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = s.AuthenticateTerminal(ctx, term)
			if c.taFail {
				sw, _ := apdu.StatusWord(err)
				if !errors.Is(err, emrtd.ErrTerminalAuthentication) || !errors.Is(err, emrtd.ErrNotAuthorised) || sw != c.sw {
					t.Fatalf("AuthenticateTerminal: %v (status %04X, want %04X)", err, sw, c.sw)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			n := f.tr.count.Load()
			if _, err := s.ReadDataGroup(ctx, emrtd.DG3); !errors.Is(err, emrtd.ErrNotAuthorised) || f.tr.count.Load() != n {
				t.Fatalf("ReadDataGroup(DG3): %v", err)
			}
			_, err = s.ReadFile(ctx, emrtd.DG3.File())
			if sw, _ := apdu.StatusWord(err); !errors.Is(err, emrtd.ErrNotAuthorised) || sw != apdu.SWSecurityStatus {
				t.Fatalf("the chip released DG3: %v", err)
			}
			// The session survives the refusal.
			if r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}}); err != nil || !r.Verified() || r.Fingerprints != nil {
				t.Fatalf("read after the refusal: %v", err)
			}
		})
	}
}

// The host checks a chain the way the chip does, and the certificates it
// issues decode to what was asked.
func TestCVChainVerifiesOnHost(t *testing.T) {
	now := time.Now()
	pki := newTerminalPKI(t, now, fullRights(now))
	rights, err := emrtd.VerifyCVChain([]*emrtd.CVCertificate{pki.cvcaCert, pki.dv, pki.is}, now)
	if err != nil || rights != emrtd.ReadDG3 {
		t.Fatalf("rights %v, %v", rights, err)
	}
	if _, err := emrtd.VerifyCVChain([]*emrtd.CVCertificate{pki.cvcaCert, pki.dv, pki.is}, now.AddDate(0, 2, 0)); !errors.Is(err, emrtd.ErrCVCertificate) {
		t.Fatalf("expired chain: %v", err)
	}
	other := newTerminalPKI(t, now, fullRights(now))
	if _, err := emrtd.VerifyCVChain([]*emrtd.CVCertificate{other.cvcaCert, pki.dv, pki.is}, now); !errors.Is(err, emrtd.ErrCVCertificate) {
		t.Fatalf("foreign CVCA: %v", err)
	}
	if _, err := emrtd.VerifyCVChain([]*emrtd.CVCertificate{pki.cvcaCert, pki.is}, now); !errors.Is(err, emrtd.ErrCVCertificate) {
		t.Fatalf("IS under the CVCA: %v", err)
	}
	c := pki.dv
	if c.CAR != "UTCVCA00001" || c.CHR != "UTDVPUCE00001" || c.Role != emrtd.RoleDVDomestic || c.Curve != nil || c.SelfSigned() {
		t.Fatalf("DV certificate %+v", c)
	}
	if pki.cvcaCert.Curve != elliptic.P256() || !pki.cvcaCert.SelfSigned() {
		t.Fatal("CVCA certificate lacks its domain parameters")
	}
}
