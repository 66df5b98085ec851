package emrtd

import (
	"bytes"
	"context"
	"crypto/aes"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

// ICAO Doc 9303 Part 11, Appendix G.2 (the DH worked example of PACE with
// generic mapping, also in the ICAO supplement and BSI TR-03110): the
// 1024-bit MODP group with 160-bit subgroup (parameter ID 0),
// id-PACE-DH-GM-AES-CBC-CMAC-128, MRZ password T22000129 / 640812 / 101031.
const (
	g2EncNonce = "854D8DF5827FA6852D1A4FA701CDDDCA"
	g2Nonce    = "FA5B7E3E49753A0DB9178B7B9BD898C8"
	g2MapSKIFD = "5265030F751F4AD18B08AC565FC7AC952E41618D"
	g2MapPKIFD = "23FB3749EA030D2A25B278D2A562047ADE3F01B74F17A15402CB7352CA7D2B3EB71C343DB13D1DEBCE9A3666DBCFC920B49174A602CB47965CAA73DC702489A44D41DB914DE9613DC5E98C94160551C0DF86274B9359BC0490D01B03AD54022DCB4F57FAD6322497D7A1E28D46710F461AFE710FBBBC5F8BA166F4311975EC6C"
	g2MapPKIC  = "78879F57225AA8080D52ED0FC890A4B25336F699AA89A2D3A189654AF70729E623EA5738B26381E4DA19E004706FACE7B235C2DBF2F38748312F3C98C2DD4882A41947B324AA1259AC22579DB93F7085655AF30889DBB845D9E6783FE42C9F2449400306254C8AE8EE9DD812A804C0B66E8CAFC14F84D8258950A91B44126EE6"
	g2Mapped   = "7C9CBFE98F9FBDDA8D143506FA7D9306F4CB17E3C71707AFF5E1C1A12370249684D64EE37AF44B8DBD9D45BF6023919CBAA027AB97ACC771666C8E98FF483301BFA4872DEDE9034EDFACB70814166B7F360676829B826BEA57291B5AD69FBC84EF1E779032A305803F74341793E869742D401325B37EE8565FFCDEE618342DC5"
	g2EphSKIFD = "89CCD99B0E8D3B1F11E1296DCA68EC53411CF2CA"
	g2EphPKIFD = "907D89E2D425A178AA81AF4A7774EC8E388C115CAE67031E85EECE520BD911551B9AE4D04369F29A02626C86FBC6747CC7BC352645B6161A2A42D44EDA80A08FA8D61B76D3A154AD8A5A51786B0BC07147057871A922212C5F67F43173172236B7747D1671E6D692A3C7D40A0C3C5CE397545D015C175EB5130551EDBC2EE5D4"
	g2EphPKIC  = "075693D9AE941877573E634B6E644F8E60AF17A0076B8B123D9201074D36152BD8B3A213F53820C42ADC79AB5D0AEEC3AEFB91394DA476BD97B9B14D0A65C1FC71A0E019CB08AF55E1F729005FBA7E3FA5DC41899238A250767A6D46DB974064386CD456743585F8E5D90CC8B4004B1F6D866C79CE0584E49687FF61BC29AEA1"
	g2Shared   = "6BABC7B3A72BCD7EA385E4C62DB2625BD8613B24149E146A629311C4CA6698E38B834B6A9E9CD7184BA8834AFF5043D436950C4C1E7832367C10CB8C314D40E5990B0DF7013E64B4549E2270923D06F08CFF6BD3E977DDE6ABE4C31D55C0FA2E465E553E77BDF75E3193D3834FC26E8EB1EE2FA1E4FC97C18C3F6CFFFE2607FD"
	g2KSEnc    = "2F7F46ADCC9E7E521B45D192FAFA9126"
	g2KSMAC    = "805A1D27D45A5116F73C54469462B7D8"
	g2TIFD     = "B46DD9BD4D98381F"
	g2TIC      = "917F37B5C0E6D8D1"
)

func g2Key() MRZKey {
	return MRZKey{DocumentNumber: "T22000129", DateOfBirth: "640812", DateOfExpiry: "101031"}
}

// g2Script is the APDU exchange of Appendix G.2 (with the parameter ID in
// MSE:Set AT, which puce always sends), with the chip's last answer given.
func g2Script(t *testing.T, last string) *script {
	return &script{t: t,
		cmds: []string{
			"0022C1A412 800A04007F00070202040102 830101 840100",
			"10860000027C0000",
			"1086000086 7C8183 818180" + g2MapPKIFD + "00",
			"1086000086 7C8183 838180" + g2EphPKIFD + "00",
			"008600000C 7C0A 8508" + g2TIFD + "00",
		},
		resp: []string{
			"9000",
			"7C12 8010" + g2EncNonce + "9000",
			"7C818382818078879F57225AA8080D52ED0FC890A4B25336F699AA89A2D3A189654AF70729E623EA5738B26381E4DA19E004706FACE7B235C2DBF2F38748312F3C98C2DD4882A41947B324AA1259AC22579DB93F7085655AF30889DBB845D9E6783FE42C9F2449400306254C8AE8EE9DD812A804C0B66E8CAFC14F84D8258950A91B44126EE6 9000",
			"7C8183 848180" + g2EphPKIC + "9000",
			last,
		}}
}

// Every intermediate value of Appendix G.2, then the whole protocol through
// the reader against a chip scripted with the example's APDUs.
func TestICAOAppendixG2PACEDHGenericMapping(t *testing.T) {
	// The PACEInfo of the example: id-PACE-DH-GM-AES-CBC-CMAC-128, version
	// 2, parameter ID 0.
	ca, err := ParseCardAccess(h(t, "31143012060A04007F00070202040102020102020100"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := ca.choose()
	if err != nil || !info.Protocol.Equal(oidPACEDHGMAES128) || info.ParameterID != 0 || info.Version != 2 {
		t.Fatalf("PACEInfo = %+v, %v", info, err)
	}
	secret, _ := g2Key().paceSecret()
	eq(t, "K = f(π)", secret, h(t, "7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD"))
	s, err := decryptNonce(CipherAES128, kdf(CipherAES128, secret, kdfPi), h(t, g2EncNonce))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "s", s, h(t, g2Nonce))

	grp, _ := paceDHGroup(0)
	d := &dhPACE{grp: grp, gen: grp.g}
	sk, pk, err := d.newKey(bytes.NewReader(h(t, g2MapSKIFD)))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "SK_map,IFD", sk, h(t, g2MapSKIFD))
	eq(t, "PK_map,IFD", pk, h(t, g2MapPKIFD))
	if err := d.mapGeneric(s, sk, h(t, g2MapPKIC)); err != nil {
		t.Fatal(err)
	}
	eq(t, "mapped generator g'", d.gen.Bytes(), h(t, g2Mapped))
	sk, pk, err = d.newKey(bytes.NewReader(h(t, g2EphSKIFD)))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "PK_DH,IFD", pk, h(t, g2EphPKIFD))
	shared, err := d.agree(sk, h(t, g2EphPKIC))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "shared secret K", shared, h(t, g2Shared))
	ksEnc, ksMAC := kdf(CipherAES128, shared, kdfEnc), kdf(CipherAES128, shared, kdfMAC)
	eq(t, "KSenc", ksEnc, h(t, g2KSEnc))
	eq(t, "KSmac", ksMAC, h(t, g2KSMAC))
	tIFD, _ := authToken(CipherAES128, ksMAC, oidPACEDHGMAES128, d.keyTag(), h(t, g2EphPKIC))
	eq(t, "T_IFD", tIFD, h(t, g2TIFD))
	tIC, _ := authToken(CipherAES128, ksMAC, oidPACEDHGMAES128, d.keyTag(), h(t, g2EphPKIFD))
	eq(t, "T_IC", tIC, h(t, g2TIC))

	// The whole run through the reader, byte for byte.
	sc := g2Script(t, "7C0A 8608"+g2TIC+"9000")
	rnd := bytes.NewReader(h(t, g2MapSKIFD+g2EphSKIFD))
	ch, idIC, err := pace(context.Background(), sc, g2Key(), info, rnd)
	if err != nil {
		t.Fatal(err)
	}
	sc.done()
	eq(t, "SSC", ch.ssc, make([]byte, 16))
	probe, want := make([]byte, 16), make([]byte, 16)
	ref, _ := aes.NewCipher(h(t, g2KSEnc))
	ch.enc.Encrypt(probe, probe)
	ref.Encrypt(want, want)
	eq(t, "channel KSenc", probe, want)
	// ID_IC for Terminal Authentication: Comp(PK_IC) = SHA-1(y).
	if len(idIC) != 20 {
		t.Errorf("ID_IC of %d bytes", len(idIC))
	}
}

// The chip's token of G.2 with one bit flipped, or a refusal of the
// reader's token: ErrAccessDenied.
func TestPACEDHBadToken(t *testing.T) {
	info := PACEInfo{Protocol: oidPACEDHGMAES128, Version: 2, ParameterID: 0}
	for _, last := range []string{"7C0A 8608 917F37B5C0E6D8D0 9000", "6300"} {
		sc := g2Script(t, last)
		rnd := bytes.NewReader(h(t, g2MapSKIFD+g2EphSKIFD))
		if _, err := PACE(context.Background(), sc, g2Key(), info, rnd); !errors.Is(err, ErrAccessDenied) {
			t.Errorf("last answer %s: err = %v, want ErrAccessDenied", last, err)
		}
	}
}

// dhChip answers the G.2 exchange up to the mapping or key agreement step
// with a public key the test picks.
type dhChip struct {
	t       *testing.T
	mapping []byte // PK_map,IC, or nil for the example's
	agree   func(pkIFD []byte) []byte
	n       int
}

func (c *dhChip) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	c.n++
	answer := func(tag apdu.Tag, v []byte) []byte {
		b, _ := apdu.AppendTLV(nil, tag, v)
		b, _ = apdu.AppendTLV(nil, 0x7C, b)
		return append(b, 0x90, 0x00)
	}
	switch c.n {
	case 1:
		return []byte{0x90, 0x00}, nil
	case 2:
		return answer(0x80, h(c.t, g2EncNonce)), nil
	case 3:
		if c.mapping != nil {
			return answer(0x82, c.mapping), nil
		}
		return answer(0x82, h(c.t, g2MapPKIC)), nil
	case 4:
		parsed, _, err := apdu.ParseCommand(cmd)
		if err != nil {
			c.t.Fatal(err)
		}
		v, err := apdu.FindPath(parsed.Data, 0x7C, 0x83)
		if err != nil {
			c.t.Fatal(err)
		}
		return answer(0x84, c.agree(v.Value)), nil
	}
	c.t.Fatalf("command %d after a bad chip answer: %X", c.n, cmd)
	return nil, nil
}

// Hostile public keys from the chip, at the mapping and at the key
// agreement: 0, 1, p-1, p, a value outside the order-q subgroup, an empty
// and an overlong value, and the reader's own key echoed back. Each gives
// ErrProtocol and ends the protocol there, never a panic.
func TestPACEDHHostileKeys(t *testing.T) {
	grp, _ := paceDHGroup(0)
	size := grp.size()
	pad := func(n *big.Int) []byte { return n.FillBytes(make([]byte, size)) }
	pm1 := new(big.Int).Sub(grp.p, big.NewInt(1))
	// 2 lies outside the order-q subgroup: 2^q ≠ 1 mod p.
	bad := map[string][]byte{
		"zero":          pad(big.NewInt(0)),
		"one":           pad(big.NewInt(1)),
		"p-1":           pad(pm1),
		"p":             pad(grp.p),
		"not in <g>":    pad(big.NewInt(2)),
		"empty":         {},
		"longer than p": append([]byte{1}, pad(big.NewInt(5))...),
	}
	info := PACEInfo{Protocol: oidPACEDHGMAES128, Version: 2, ParameterID: 0}
	for name, pk := range bad {
		chip := &dhChip{t: t, mapping: pk}
		_, err := PACE(context.Background(), chip, g2Key(), info, nil)
		if !errors.Is(err, ErrProtocol) || chip.n != 3 {
			t.Errorf("mapping key %s: err = %v after %d commands, want ErrProtocol after 3", name, err, chip.n)
		}
		chip = &dhChip{t: t, agree: func([]byte) []byte { return pk }}
		_, err = PACE(context.Background(), chip, g2Key(), info, nil)
		if !errors.Is(err, ErrProtocol) || chip.n != 4 {
			t.Errorf("agreement key %s: err = %v after %d commands, want ErrProtocol after 4", name, err, chip.n)
		}
	}
	// ICAO 9303-11 §4.4.3.3.2: the chip's ephemeral key must differ from
	// the reader's.
	chip := &dhChip{t: t, agree: func(pkIFD []byte) []byte { return bytes.Clone(pkIFD) }}
	_, err := PACE(context.Background(), chip, g2Key(), info, nil)
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "echoed") {
		t.Errorf("echoed key: %v", err)
	}
}

// The 2048-bit groups need extended-length APDUs; a reader without them is
// told so before any command.
func TestPACEDH2048NeedsExtendedLength(t *testing.T) {
	chip := &dhChip{t: t}
	for _, id := range []int{1, 2} {
		info := PACEInfo{Protocol: oidPACEDHGMAES256, Version: 2, ParameterID: id}
		if !info.Supported() {
			t.Errorf("parameter %d unsupported", id)
		}
		if _, err := PACE(context.Background(), chip, g2Key(), info, nil); !errors.Is(err, ErrUnsupported) || chip.n != 0 {
			t.Errorf("parameter %d over a short-APDU reader: %v after %d commands", id, err, chip.n)
		}
	}
	for _, info := range []PACEInfo{
		{Protocol: oidPACEDHGMAES128, Version: 2, ParameterID: 3},  // no such MODP group
		{Protocol: oidPACEDHGMAES128, Version: 2, ParameterID: 13}, // a curve under a DH OID
		{Protocol: oidPACEECDHGMAES128, Version: 2, ParameterID: 0},
	} {
		if info.Supported() {
			t.Errorf("%+v supported", info)
		}
	}
}

// The MODP groups of parameter IDs 0-2 are groups with a prime-order
// subgroup: p and q prime, q | p-1, g ≠ 1 of order q.
func TestDHGroups(t *testing.T) {
	for id, bits := range map[int][2]int{0: {1024, 160}, 1: {2048, 224}, 2: {2048, 256}} {
		g, ok := paceDHGroup(id)
		if !ok {
			t.Fatalf("group %d missing", id)
		}
		if g.p.BitLen() != bits[0] || g.q.BitLen() != bits[1] || !g.p.ProbablyPrime(32) || !g.q.ProbablyPrime(32) {
			t.Errorf("group %d: p %d bits, q %d bits", id, g.p.BitLen(), g.q.BitLen())
		}
		if new(big.Int).Mod(new(big.Int).Sub(g.p, big.NewInt(1)), g.q).Sign() != 0 {
			t.Errorf("group %d: q does not divide p-1", id)
		}
		if g.g.Cmp(big.NewInt(1)) <= 0 || new(big.Int).Exp(g.g, g.q, g.p).Cmp(big.NewInt(1)) != 0 {
			t.Errorf("group %d: g not of order q", id)
		}
	}
}

// The groups match OpenSSL's RFC 5114 parameters (openssl genpkey
// -genparam -algorithm DHX -pkeyopt dh_rfc5114:N, X9.42 DomainParameters
// SEQUENCE { p, g, q }), an implementation nobody here wrote. Skipped
// without openssl outside CI.
func TestDHGroupsMatchOpenSSL(t *testing.T) {
	tool, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not installed under CI")
		}
		t.Skip("openssl not installed")
	}
	for id := range 3 {
		gen := exec.Command(tool, "genpkey", "-genparam", "-algorithm", "DHX", "-pkeyopt", "dh_rfc5114:"+string(rune('1'+id)))
		out, err := gen.Output()
		if err != nil {
			t.Fatalf("openssl group %d: %v", id+1, err)
		}
		blk, _ := pem.Decode(out)
		if blk == nil || blk.Type != "X9.42 DH PARAMETERS" {
			t.Fatalf("openssl group %d: no X9.42 DH PARAMETERS in %q", id+1, out)
		}
		der := blk.Bytes
		var params struct{ P, G, Q *big.Int }
		if _, err := asn1UnmarshalPartial(der, &params); err != nil {
			t.Fatal(err)
		}
		g, _ := paceDHGroup(id)
		if params.P.Cmp(g.p) != 0 || params.G.Cmp(g.g) != 0 || params.Q.Cmp(g.q) != 0 {
			t.Errorf("group %d differs from openssl's dh_rfc5114:%d", id, id+1)
		}
	}
}

// asn1UnmarshalPartial decodes the leading elements of a SEQUENCE into v,
// ignoring the optional elements after them.
func asn1UnmarshalPartial(der []byte, v *struct{ P, G, Q *big.Int }) ([]byte, error) {
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return nil, err
	}
	in := raw.Bytes
	for _, dst := range []**big.Int{&v.P, &v.G, &v.Q} {
		n := new(big.Int)
		if in, err = asn1.Unmarshal(in, &n); err != nil {
			return nil, err
		}
		*dst = n
	}
	return rest, nil
}

// A DH key whose y starts with a zero byte would read differently as len(p)
// bytes and as an unsigned integer without leading zeros: the reader draws
// another one. A chip's y sent without its leading zero byte is accepted.
func TestPACEDHKeyWithoutLeadingZero(t *testing.T) {
	grp, _ := paceDHGroup(0)
	var x *big.Int
	for i := int64(1); ; i++ {
		if new(big.Int).Exp(grp.g, big.NewInt(i), grp.p).BitLen() <= 8*(grp.size()-1) {
			x = big.NewInt(i)
			break
		}
	}
	d := &dhPACE{grp: grp, gen: grp.g}
	sk, pk, err := d.newKey(bytes.NewReader(append(x.FillBytes(make([]byte, 20)), h(t, g2MapSKIFD)...)))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "redrawn SK_map,IFD", sk, h(t, g2MapSKIFD))
	eq(t, "redrawn PK_map,IFD", pk, h(t, g2MapPKIFD))
	short := new(big.Int).Exp(grp.g, x, grp.p).Bytes()
	if len(short) >= grp.size() {
		t.Fatalf("y of %d bytes", len(short))
	}
	if y, err := grp.decodeDHKey(short); err != nil || !bytes.Equal(y.Bytes(), short) {
		t.Fatalf("y without its leading zero: %v", err)
	}
}
