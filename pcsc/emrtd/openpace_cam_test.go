package emrtd_test

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osanderson/brainpool"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// PACE with Chip Authentication Mapping against OpenPACE. OpenPACE has no
// CAM (no id-PACE-ECDH-CAM-* object, no chip authentication data step,
// libeac 1.1.2 and its sources to date): the peer runs OpenPACE's generic
// mapping, has OpenPACE compute and check the tokens over the CAM OID, takes
// PK_IC from OpenPACE's parse of EF.CardSecurity and adds the CAM step with
// OpenSSL from the standard (testdata/openpace/cam.c). What interoperates is
// therefore OpenPACE's PACE, tokens and EF.CardSecurity parsing with puce's
// CAM, and puce's CAM with an independent CAM step written from ICAO 9303-11
// §4.4.3.5 over OpenSSL.

// TestOpenPACECAM runs the CAM tests with the peer compiled once.
func TestOpenPACECAM(t *testing.T) {
	bin := buildOpenPACEPeer(t)
	t.Run("terminal", func(t *testing.T) { testOpenPACECAMTerminal(t, bin) })
	t.Run("terminal-clone", func(t *testing.T) { testOpenPACECAMTerminalClone(t, bin) })
	t.Run("chip", func(t *testing.T) { testOpenPACECAMChip(t, bin) })
	t.Run("chip-wrong-key", func(t *testing.T) { testOpenPACECAMChipWrongKey(t, bin) })
}

// camVariants are the curves and ciphers CAM runs with both ways.
var camVariants = []struct {
	name   string
	param  int
	cipher emrtdapplet.PACECipher
}{
	{"brainpoolP256r1-AES128", 13, emrtdapplet.PACEAES128},
	{"P256-AES128", 12, emrtdapplet.PACEAES128},
	{"P384-AES256", 15, emrtdapplet.PACEAES256},
}

// camChipExplicit is a CAM chip whose Chip Authentication key carries its
// curve explicitly: OpenPACE decodes a key's domain parameters only as
// ECParameters (eac_asn1.c, ecpkparameters2eckey), not as a named curve
// (RFC 5480 §2.1.1, namedCurve), which puce reads either way.
func camChipExplicit(t *testing.T, param int, c emrtdapplet.PACECipher) *fixture {
	t.Helper()
	return newFixture(t, true, &emrtdapplet.Options{PACEParameterID: param, PACECipher: c, PACECAM: true, ExplicitDomainParameters: true})
}

// OpenPACE as the terminal against the virtual chip: the chip's A_IC
// checks against the key OpenPACE finds in EF.CardSecurity, and the files
// read under the session keys are the chip's.
func testOpenPACECAMTerminal(t *testing.T, bin string) {
	for _, v := range camVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			f := camChipExplicit(t, v.param, v.cipher)
			p := startOpenPACEPeer(t, bin, "terminal", "can", f.p.CAN, "cam=1")
			if err := p.relay(context.Background(), f.tr); err != nil {
				t.Fatalf("OpenPACE terminal: %v", err)
			}
			for _, step := range []string{"OK PACE", "OK CAM", "OK DONE"} {
				if _, ok := p.result(step); !ok {
					t.Fatalf("no %q: %q", step, p.results)
				}
			}
			for sfi, want := range map[string][]byte{"1D": f.p.Applet.CardSecurity(), "1E": f.p.Applet.File(0x011E), "01": f.p.Applet.File(0x0101)} {
				if got, ok := p.result("OK FILE " + sfi + " "); !ok || !strings.EqualFold(got, hex.EncodeToString(want)) {
					t.Errorf("file %s through OpenPACE: %v", sfi, ok)
				}
			}
		})
	}
}

// A clone carrying another chip's EF.CardSecurity: OpenPACE's terminal,
// with the peer's CAM check, refuses it.
func testOpenPACECAMTerminalClone(t *testing.T, bin string) {
	t.Parallel()
	f := camChipExplicit(t, 13, emrtdapplet.PACEAES128)
	other := camChipExplicit(t, 13, emrtdapplet.PACEAES128)
	f.p.Applet.ReplaceCardSecurity(other.p.Applet.CardSecurity())
	p := startOpenPACEPeer(t, bin, "terminal", "can", f.p.CAN, "cam=1")
	// The peer ends with status 1 after its ERR line.
	if err := p.relay(context.Background(), f.tr); err == nil {
		t.Fatal("OpenPACE's terminal ended well with a clone")
	}
	if r, ok := p.result("ERR CAM "); !ok || !strings.Contains(r, "PK_Map,IC") {
		t.Fatalf("OpenPACE accepted a clone: %q", p.results)
	}
}

// camPeerChip starts OpenPACE as a CAM chip on the curve of param: its
// EF.CardAccess is a virtual chip's (GM and CAM), its Chip Authentication
// key a fresh one, which EF.CardSecurity carries (signed by the virtual
// chip's document signer), or with otherKey another (a clone).
func camPeerChip(t *testing.T, bin string, param int, c emrtdapplet.PACECipher, pki *terminalPKI, otherKey bool) (*openPACEPeer, *emrtdapplet.Personalised) {
	t.Helper()
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{PACEParameterID: param, PACECipher: c, PACECAM: true})
	if err != nil {
		t.Fatal(err)
	}
	curve, curveOID := camCurve(t, param)
	d, x, y := camKey(t, curve)
	if otherKey {
		_, x, y = camKey(t, curve)
	}
	cs := camCardSecurity(t, p, curve, curveOID, x, y, int(c))
	args := []string{"chip", hex.EncodeToString(p.Applet.File(0x011C)), "can", p.CAN, hex.EncodeToString(p.Applet.File(0x011E)),
		"cam=1", "cardsecurity=" + hex.EncodeToString(cs),
		fmt.Sprintf("ca_oid=04007F000702020302%02X", int(c)), "ca_curve=" + strconv.Itoa(param),
		"ca_key=" + hex.EncodeToString(d)}
	args = append(args, "cvca="+hex.EncodeToString(pki.cvca), "dg3="+hex.EncodeToString(p.Applet.File(0x0103)))
	return startOpenPACEPeer(t, bin, args...), p
}

func camCurve(t *testing.T, param int) (elliptic.Curve, asn1.ObjectIdentifier) {
	t.Helper()
	switch param {
	case 12:
		return elliptic.P256(), asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	case 13:
		return brainpool.P256r1(), asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}
	case 15:
		return elliptic.P384(), asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	}
	t.Fatalf("no curve %d", param)
	return nil, nil
}

// camKey draws a key pair: the scalar on the length of n, the point.
func camKey(t *testing.T, c elliptic.Curve) ([]byte, *big.Int, *big.Int) {
	t.Helper()
	n := c.Params().N
	k, err := rand.Int(rand.Reader, new(big.Int).Sub(n, big.NewInt(1)))
	if err != nil {
		t.Fatal(err)
	}
	d := k.Add(k, big.NewInt(1)).FillBytes(make([]byte, (n.BitLen()+7)/8))
	x, y := c.ScalarBaseMult(d)
	return d, x, y
}

// camCardSecurity signs, with the document signer of p's issuer, the
// SecurityInfos of p's EF.CardAccess, id-CA-ECDH-AES-* version 1 and
// id-PK-ECDH with (x, y) on a named curve (ICAO 9303-11 §9.2.5, §9.2.6,
// §9.2.11).
func camCardSecurity(t *testing.T, p *emrtdapplet.Personalised, c elliptic.Curve, curveOID asn1.ObjectIdentifier, x, y *big.Int, cipher int) []byte {
	t.Helper()
	size := (c.Params().BitSize + 7) / 8
	point := append([]byte{4}, append(x.FillBytes(make([]byte, size)), y.FillBytes(make([]byte, size))...)...)
	spki, err := asn1.Marshal(struct {
		Alg struct {
			OID   asn1.ObjectIdentifier
			Curve asn1.ObjectIdentifier
		}
		Key asn1.BitString
	}{struct {
		OID   asn1.ObjectIdentifier
		Curve asn1.ObjectIdentifier
	}{asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, curveOID}, asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
	if err != nil {
		t.Fatal(err)
	}
	version, _ := asn1.Marshal(1)
	type securityInfo struct {
		Protocol asn1.ObjectIdentifier
		Required asn1.RawValue
	}
	var list [][]byte
	for _, si := range []securityInfo{
		{asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 2}, asn1.RawValue{FullBytes: spki}},
		{asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, cipher}, asn1.RawValue{FullBytes: version}},
	} {
		b, err := asn1.Marshal(si)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, b)
	}
	var access asn1.RawValue
	if _, err := asn1.Unmarshal(p.Applet.File(0x011C), &access); err != nil {
		t.Fatal(err)
	}
	for b := access.Bytes; len(b) > 0; {
		var el asn1.RawValue
		rest, err := asn1.Unmarshal(b, &el)
		if err != nil {
			t.Fatal(err)
		}
		list, b = append(list, el.FullBytes), rest
	}
	// DER SET OF: elements in ascending order of their encodings (X.690
	// §11.6).
	for i := range list {
		for j := i + 1; j < len(list); j++ {
			if bytes.Compare(list[j], list[i]) < 0 {
				list[i], list[j] = list[j], list[i]
			}
		}
	}
	set, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(list, nil)})
	cs, err := p.Issuer.SignCardSecurity(set, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// puce's reader against OpenPACE as a CAM chip: Open prefers CAM, checks
// the peer's A_IC against EF.CardSecurity's key (which verifies with the
// CSCA), reads EF.COM under the session keys; then Terminal Authentication
// signs the terminal's PACE key, which OpenPACE's TA_STEP6_verify accepts
// as Comp(PK_PCD), and DG3 reads.
func testOpenPACECAMChip(t *testing.T, bin string) {
	now := time.Now()
	for _, v := range camVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			pki := newTerminalPKI(t, now, fullRights(now))
			peer, p := camPeerChip(t, bin, v.param, v.cipher, pki, false)
			ctx := context.Background()
			s, err := emrtd.Open(ctx, openPACEChip{peer, true}, emrtd.CAN(p.CAN), &emrtd.Options{RequirePACE: true})
			if err != nil {
				t.Fatalf("Open against OpenPACE-CAM: %v", err)
			}
			if !s.ChipAuthenticated() {
				t.Fatal("CAM session not chip-authenticated")
			}
			if com, err := s.ReadFile(ctx, emrtd.FileCOM); err != nil || !bytes.Equal(com, p.Applet.File(0x011E)) {
				t.Fatalf("EF.COM: %v", err)
			}
			if err := s.AuthenticateTerminal(ctx, pki.terminal(false)); err != nil {
				t.Fatalf("Terminal Authentication after CAM: %v", err)
			}
			if dg3, err := s.ReadDataGroup(ctx, emrtd.DG3); err != nil || !bytes.Equal(dg3, p.Applet.File(0x0103)) {
				t.Fatalf("DG3: %v", err)
			}
			if err := peer.finish(); err != nil {
				t.Fatalf("peer: %v", err)
			}
			for _, step := range []string{"OK PACE", "OK CAM", "OK TA"} {
				if _, ok := peer.result(step); !ok {
					t.Errorf("no %q: %q", step, peer.results)
				}
			}
			if slices.Contains(peer.results, "OK CA") {
				t.Error("Chip Authentication ran after CAM")
			}
		})
	}
}

// OpenPACE as a chip whose key is not EF.CardSecurity's (a clone): Open
// refuses it with ErrPACECAM.
func testOpenPACECAMChipWrongKey(t *testing.T, bin string) {
	t.Parallel()
	now := time.Now()
	peer, p := camPeerChip(t, bin, 13, emrtdapplet.PACEAES128, newTerminalPKI(t, now, fullRights(now)), true)
	_, err := emrtd.Open(context.Background(), openPACEChip{peer, true}, emrtd.CAN(p.CAN), nil)
	if !errors.Is(err, emrtd.ErrPACECAM) {
		t.Fatalf("Open against a clone: %v", err)
	}
}
