package emrtdapplet

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/virtual"
)

// ICAO Doc 9303 Part 11, Appendix G.2 (PACE, generic mapping over DH on the
// 1024-bit MODP group, parameter ID 0, AES-128), the chip's side.
const (
	g2MapPKPCD = "23FB3749EA030D2A25B278D2A562047ADE3F01B74F17A15402CB7352CA7D2B3EB71C343DB13D1DEBCE9A3666DBCFC920B49174A602CB47965CAA73DC702489A44D41DB914DE9613DC5E98C94160551C0DF86274B9359BC0490D01B03AD54022DCB4F57FAD6322497D7A1E28D46710F461AFE710FBBBC5F8BA166F4311975EC6C"
	g2MapPKIC  = "78879F57225AA8080D52ED0FC890A4B25336F699AA89A2D3A189654AF70729E623EA5738B26381E4DA19E004706FACE7B235C2DBF2F38748312F3C98C2DD4882A41947B324AA1259AC22579DB93F7085655AF30889DBB845D9E6783FE42C9F2449400306254C8AE8EE9DD812A804C0B66E8CAFC14F84D8258950A91B44126EE6"
	g2EphPKPCD = "907D89E2D425A178AA81AF4A7774EC8E388C115CAE67031E85EECE520BD911551B9AE4D04369F29A02626C86FBC6747CC7BC352645B6161A2A42D44EDA80A08FA8D61B76D3A154AD8A5A51786B0BC07147057871A922212C5F67F43173172236B7747D1671E6D692A3C7D40A0C3C5CE397545D015C175EB5130551EDBC2EE5D4"
	g2EphPKIC  = "075693D9AE941877573E634B6E644F8E60AF17A0076B8B123D9201074D36152BD8B3A213F53820C42ADC79AB5D0AEEC3AEFB91394DA476BD97B9B14D0A65C1FC71A0E019CB08AF55E1F729005FBA7E3FA5DC41899238A250767A6D46DB974064386CD456743585F8E5D90CC8B4004B1F6D866C79CE0584E49687FF61BC29AEA1"
	// The chip's nonce s, SK_map,IC and SK_DH,IC of the example.
	g2ChipRand = "FA5B7E3E49753A0DB9178B7B9BD898C8" + "66DDAFEAC1609CB5B963BB0CB3FF8B3E047F336C" + "A5B780126B7C980E9FCEA1D4539DA1D27C342DFA"
)

func g2Chip(t *testing.T) *virtual.Card {
	t.Helper()
	prof := SampleProfile()
	prof.DocumentCode, prof.DocumentNumber = "P", "T22000129"
	prof.BirthDate = time.Date(1964, 8, 12, 0, 0, 0, 0, time.UTC)
	prof.ExpiryDate = time.Date(2010, 10, 31, 0, 0, 0, 0, time.UTC)
	p, err := Personalise(prof, &Options{CAN: "123456", Issuer: testIssuer(t), PACEDH: true, PACEParameterID: 0, PACECipher: PACEAES128})
	if err != nil {
		t.Fatal(err)
	}
	// EF.CardAccess: one PACEInfo, id-PACE-DH-GM-AES-CBC-CMAC-128, version
	// 2, parameter ID 0 (ICAO 9303-11 §9.2.1).
	if got := p.Applet.File(fidCardAccess); !bytes.Equal(got, hx(t, "31143012060A04007F00070202040102020102020100")) {
		t.Fatalf("EF.CardAccess %X", got)
	}
	p.Applet.rand = bytes.NewReader(hx(t, g2ChipRand))
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	return card
}

// Every answer of the chip in Appendix G.2, byte for byte, from the
// example's nonce and private keys.
func TestICAOAppendixG2ChipSide(t *testing.T) {
	card := g2Chip(t)
	exchange(t, card, [][2]string{
		{"00A4040C07A0000002471001", "9000"},
		{"0022C1A412800A04007F00070202040102830101840100", "9000"},
		{"10860000027C0000", "7C128010854D8DF5827FA6852D1A4FA701CDDDCA9000"},
		{"10860000867C8183818180" + g2MapPKPCD + "00", "7C8183828180" + g2MapPKIC + "9000"},
		{"10860000867C8183838180" + g2EphPKPCD + "00", "7C8183848180" + g2EphPKIC + "9000"},
		{"008600000C7C0A8508B46DD9BD4D98381F00", "7C0A8608917F37B5C0E6D8D19000"},
	})
}

// The chip validates the reader's DH keys (BSI TR-03110-3 §A.4.2): 0, 1,
// p-1, p and a value outside the order-q subgroup, as mapping or as
// ephemeral key, end the run with 6A80; the next step finds no run (6985).
func TestPACEDHTerminalKeyChecks(t *testing.T) {
	grp := dhDomainParameters(0)
	enc := func(n *big.Int) string { return strings.ToUpper(hex.EncodeToString(grp.bytes(n))) }
	one := big.NewInt(1)
	for name, y := range map[string]*big.Int{
		"zero":             new(big.Int),
		"one":              one,
		"p-1":              new(big.Int).Sub(grp.p, one),
		"two, order not q": big.NewInt(2),
	} {
		for _, step := range []string{"mapping", "ephemeral"} {
			t.Run(name+" "+step, func(t *testing.T) {
				card := g2Chip(t)
				all := [][2]string{
					{"00A4040C07A0000002471001", "9000"},
					{"0022C1A412800A04007F00070202040102830101840100", "9000"},
					{"10860000027C0000", "7C128010854D8DF5827FA6852D1A4FA701CDDDCA9000"},
				}
				if step == "mapping" {
					all = append(all, [2]string{"10860000867C8183818180" + enc(y) + "00", "6A80"})
				} else {
					all = append(all, [2]string{"10860000867C8183818180" + g2MapPKPCD + "00", "7C8183828180" + g2MapPKIC + "9000"},
						[2]string{"10860000867C8183838180" + enc(y) + "00", "6A80"})
				}
				all = append(all, [2]string{"008600000C7C0A8508B46DD9BD4D98381F00", "6985"}, [2]string{"00B0810004", "6982"})
				exchange(t, card, all)
			})
		}
	}
}
