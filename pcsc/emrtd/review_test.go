package emrtd_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// rewriter passes commands to a virtual card and lets a test replace the
// answer to chosen commands; it keeps every command header sent.
type rewriter struct {
	f       *fixture
	headers [][4]byte
	answer  func(cmd, resp []byte) []byte
}

func (r *rewriter) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) >= 4 {
		r.headers = append(r.headers, [4]byte(cmd[:4]))
	}
	resp, err := r.f.tr.Transmit(ctx, cmd)
	if err != nil || r.answer == nil {
		return resp, err
	}
	return r.answer(cmd, resp), nil
}

func (r *rewriter) ExtendedLength() bool { return r.f.tr.ExtendedLength() }

func (r *rewriter) sent(ins byte) bool {
	for _, h := range r.headers {
		if h[1] == ins {
			return true
		}
	}
	return false
}

// Once the chip has seen the PACE mutual authentication token, which the
// holder's password keyed, any refusal is a refusal of that password: a
// chip answering 6985 or 6A88 instead of 6300 (BSI TR-03110-3 §B.11.1 lists
// both for GENERAL AUTHENTICATE) must not be asked again with the same MRZ
// through BAC, which would count a second wrong attempt the holder never
// made (ICAO 9303-11 §4.2: BAC only for a chip without usable PACE).
func TestPACERefusedTokenNoBACRetry(t *testing.T) {
	ctx := context.Background()
	for _, sw := range []uint16{0x6985, 0x6A88, 0x6984, 0x6983} {
		f := newFixture(t, true, &emrtdapplet.Options{})
		r := &rewriter{f: f, answer: func(cmd, resp []byte) []byte {
			// The last GENERAL AUTHENTICATE of PACE: class 00, no chaining.
			if cmd[0] == 0x00 && cmd[1] == 0x86 {
				return []byte{byte(sw >> 8), byte(sw)}
			}
			return resp
		}}
		_, err := emrtd.Open(ctx, r, f.key, nil)
		if r.sent(0x82) || r.sent(0x84) {
			t.Errorf("%04X: BAC tried with the same MRZ after PACE's token was refused (%v)", sw, err)
		}
		if !errors.Is(err, emrtd.ErrAccessDenied) {
			t.Errorf("%04X: %v, want ErrAccessDenied", sw, err)
		}
	}
}

// EF.COM is not signed; EF.SOD is. A chip that hides EF.CardAccess (so
// that the reader falls back to BAC) and whose EF.COM no longer lists DG14
// must not escape the downgrade check: the data groups EF.SOD covers are
// read too, DG14 among them, and DG14 announces PACE (ICAO 9303-11 §4.2,
// §9.2.11; ICAO 9303-10 §4.6.2: the security object lists every data group
// present).
func TestCardAccessDowngradeEFCOMAltered(t *testing.T) {
	f := newFixture(t, true, nil)
	if err := f.tr.card.Inject(virtual.Fault{SW: apdu.SWFileNotFound, Match: func(c apdu.Command) bool {
		return c.CLA == 0 && c.INS == 0xB0 && c.P1 == 0x9C
	}}); err != nil {
		t.Fatal(err)
	}
	com, err := emrtd.ParseCOM(f.p.Applet.File(0x011E))
	if err != nil {
		t.Fatal(err)
	}
	var tags []byte
	for _, dg := range com.DataGroups {
		if dg != emrtd.DG14 {
			tags = append(tags, byte(dg.Tag()))
		}
	}
	if len(tags) == len(com.DataGroups) {
		t.Fatal("sample chip has no DG14")
	}
	f.p.Applet.ReplaceFile(0x011E, tlv(0x60, append(tlv(0x5F01, []byte("0107")), tlv(0x5C, tags)...)))
	s, err := emrtd.Open(t.Context(), f.tr, f.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
	if !errors.Is(err, emrtd.ErrCardAccessMismatch) {
		t.Fatalf("downgrade with DG14 left out of EF.COM: %v (record verified: %v)", err, r != nil && r.Verified())
	}
}

// tlv encodes one BER-TLV object with a one- or two-byte tag.
func tlv(tag uint16, v []byte) []byte {
	b, err := apdu.AppendTLV(nil, apdu.Tag(tag), v)
	if err != nil {
		panic(err)
	}
	return b
}

// EF.SOD is signed by a document signer, not by the CSCA itself: the
// document signer certificate profile of ICAO 9303-12 §7.1.1 has key usage
// digitalSignature and no CA basic constraints, the CSCA's keyCertSign and
// cRLSign only. An EF.SOD whose signer is the CSCA certificate, or a
// certificate the CSCA issued without digitalSignature (say a CA or a CRL
// signer's), chains to the CSCA but is not a document signer's: refused as
// ErrUntrustedSigner.
func TestSODSignerNotDocumentSigner(t *testing.T) {
	now := time.Now()
	is, err := emrtdapplet.NewIssuer("UTO", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(77),
		Subject:      pkix.Name{Country: is.CSCA.Subject.Country, CommonName: "puce test CRL signer"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.CSCA, other.Public(), is.CSCAKey)
	if err != nil {
		t.Fatal(err)
	}
	crlSigner, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		key  crypto.Signer
	}{
		{"CSCA", is.CSCA, is.CSCAKey},
		{"CRL signer", crlSigner, other},
	} {
		t.Run(c.name, func(t *testing.T) {
			signer := *is
			signer.DocumentSigner, signer.DocumentSignerKey = c.cert, c.key
			p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{Issuer: &signer})
			if err != nil {
				t.Fatal(err)
			}
			f, err := newFixtureFrom(p, true)
			if err != nil {
				t.Fatal(err)
			}
			s, err := emrtd.Open(t.Context(), f.tr, f.key, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{is.CSCA}})
			if !errors.Is(err, emrtd.ErrUntrustedSigner) {
				t.Fatalf("EF.SOD signed by the %s: %v (verified %v)", c.name, err, r != nil && r.Verified())
			}
		})
	}
}

// A passport whose DG15 holds an RSA key (ISO/IEC 9796-2 Active
// Authentication, ICAO 9303-11 §6.1): Read authenticates it, a clone with
// its files but another key fails, and the holder can disclose to a
// receiver, who requires the chip's signature because EF.SOD covers DG15
// (VerifyDisclosure's DG15 rule): such a document could not be disclosed
// at all while RSA gave ErrUnsupported.
func TestActiveAuthenticationRSAChip(t *testing.T) {
	ctx := t.Context()
	genuine := newFixture(t, true, &emrtdapplet.Options{ActiveAuthenticationRSA: true})
	s, err := emrtd.Open(ctx, genuine.tr, emrtd.CAN(genuine.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{genuine.p.CSCA}, ActiveAuthentication: true})
	if err != nil || !r.ActiveAuthenticated || !r.Verified() {
		t.Fatalf("RSA Active Authentication: %v", err)
	}
	if k, err := emrtd.ParseDG15(r.DataGroups[emrtd.DG15]); err != nil || k.RSA == nil {
		t.Fatalf("DG15: %+v, %v", k, err)
	}

	// The holder discloses DG1 to a receiver with a challenge.
	origin, nonce := "https://bank.example", "n-1"
	s, err = emrtd.Open(ctx, genuine.tr, emrtd.CAN(genuine.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG1}, Challenge: emrtd.DisclosureChallenge(origin, nonce)}
	prep, err := s.PrepareDisclosure(ctx, req)
	if err != nil {
		t.Fatalf("PrepareDisclosure: %v", err)
	}
	d, err := prep.Disclose()
	if err != nil {
		t.Fatal(err)
	}
	got, err := emrtd.VerifyDisclosure(d, emrtd.DisclosureOptions{DisclosureRequest: req, CSCAs: []*x509.Certificate{genuine.p.CSCA}})
	if err != nil || !got.ActiveAuthenticated {
		t.Fatalf("VerifyDisclosure: %v", err)
	}
	// Another exchange's challenge: refused.
	req.Challenge = emrtd.DisclosureChallenge(origin, "n-2")
	if _, err := emrtd.VerifyDisclosure(d, emrtd.DisclosureOptions{DisclosureRequest: req, CSCAs: []*x509.Certificate{genuine.p.CSCA}}); !errors.Is(err, emrtd.ErrNoChipProof) {
		t.Fatalf("replayed proof: %v", err)
	}

	// A clone: the genuine chip's DG15, DG14 and EF.SOD, its own key.
	clone := newFixture(t, true, &emrtdapplet.Options{ActiveAuthenticationRSA: true, Issuer: genuine.p.Issuer})
	for _, fid := range []uint16{0x010E, 0x010F, 0x011D} {
		clone.p.Applet.ReplaceFile(fid, genuine.p.Applet.File(fid))
	}
	s, err = emrtd.Open(ctx, clone.tr, emrtd.CAN(clone.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{genuine.p.CSCA}, ActiveAuthentication: true}); !errors.Is(err, emrtd.ErrActiveAuthentication) {
		t.Fatalf("clone: %v", err)
	}
}

// A chip that answers READ BINARY with more bytes than Le asked for (ISO/IEC
// 7816-4 §5.1: Ne is the most it may send) does not make the reader keep
// them: a file ends where its outer TLV says, so EF.CardAccess, read plain,
// still matches the signed copy in DG14 and the read is verified.
func TestReadMoreThanLe(t *testing.T) {
	f := newFixture(t, true, nil)
	r := &rewriter{f: f, answer: func(cmd, resp []byte) []byte {
		if cmd[0] == 0x00 && cmd[1] == 0xB0 && cmd[2] == 0x9C && len(resp) > 2 {
			// Le was DF (223 bytes): answer 22 + 224.
			return append(append(bytes.Clone(resp[:len(resp)-2]), bytes.Repeat([]byte{0x31}, 0xE0)...), resp[len(resp)-2:]...)
		}
		return resp
	}}
	s, err := emrtd.Open(t.Context(), r, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
	if err != nil || !rec.Verified() {
		t.Fatalf("read: %v", err)
	}
}

// Disclosing a data group that was not read is a typed error naming it,
// not a bare message (Record.Disclose).
func TestDiscloseUnreadDataGroup(t *testing.T) {
	f := newFixture(t, true, nil)
	s, err := emrtd.Open(t.Context(), f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Read(t.Context(), &emrtd.ReadOptions{DataGroups: []emrtd.DG{emrtd.DG1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rec.Disclose(emrtd.DG1, emrtd.DG2)
	var dge *emrtd.DataGroupError
	if !errors.Is(err, emrtd.ErrMissingDataGroup) || !errors.As(err, &dge) || dge.DG != emrtd.DG2 {
		t.Fatalf("Disclose of an unread DG2: %v", err)
	}
}

// PrepareDisclosure judges what the document carries as Read does: a data
// group left out of the unsigned EF.COM but covered by the signed EF.SOD
// is on the document (ICAO 9303-10 §4.6.2.2). Before, a required one gave
// ErrNotOnDocument and an optional one was reported missing.
func TestDisclosureEFCOMAltered(t *testing.T) {
	f := newFixture(t, true, nil)
	com, err := emrtd.ParseCOM(f.p.Applet.File(0x011E))
	if err != nil {
		t.Fatal(err)
	}
	var tags []byte
	for _, dg := range com.DataGroups {
		if dg != emrtd.DG2 && dg != emrtd.DG11 {
			tags = append(tags, byte(dg.Tag()))
		}
	}
	if len(tags) != len(com.DataGroups)-2 {
		t.Fatal("sample chip lacks DG2 or DG11")
	}
	f.p.Applet.ReplaceFile(0x011E, tlv(0x60, append(tlv(0x5F01, []byte("0107")), tlv(0x5C, tags)...)))
	s, err := emrtd.Open(t.Context(), f.tr, f.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.PrepareDisclosure(t.Context(), emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG1, emrtd.DG2}, Optional: []emrtd.DG{emrtd.DG11}})
	if err != nil {
		t.Fatalf("DG2 left out of EF.COM, covered by EF.SOD: %v", err)
	}
	if p.Record.DataGroups[emrtd.DG2] == nil || p.Record.DataGroups[emrtd.DG11] == nil || len(p.Missing) != 0 {
		t.Fatalf("prepared: DG2 %v, DG11 %v, missing %v", p.Record.DataGroups[emrtd.DG2] != nil, p.Record.DataGroups[emrtd.DG11] != nil, p.Missing)
	}
}
