package emrtdapplet

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var testIssuer = func() func(t testing.TB) *Issuer {
	var is *Issuer
	return func(t testing.TB) *Issuer {
		t.Helper()
		if is == nil {
			var err error
			if is, err = NewIssuer("UTO", time.Now(), nil); err != nil {
				t.Fatal(err)
			}
		}
		return is
	}
}()

// exchange sends raw APDUs to the card and compares the answers; GENERAL
// AUTHENTICATE goes with the chaining bit cleared (pcsc/virtual's runtime
// reassembles chained commands, see Applet.HandlesChain).
func exchange(t *testing.T, card *virtual.Card, steps [][2]string) {
	t.Helper()
	for i, s := range steps {
		cmd := hx(t, s[0])
		if cmd[1] == 0x86 {
			cmd[0] &^= 0x10
		}
		got, err := card.Transmit(context.Background(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		if want := hx(t, s[1]); !bytes.Equal(got, want) {
			t.Fatalf("step %d: %s\n answer %X\n want   %X", i, s[0], got, want)
		}
	}
}

// The chip's side of ICAO Doc 9303 Part 11, Appendix D.3 and D.4: BAC with
// RND.IC = 4608F91988702212 and K.IC = 0B4F80323EB3191CB04970CB4052790B,
// then secure messaging: every answer byte for byte as in the example.
func TestICAOAppendixDChipSide(t *testing.T) {
	prof := SampleProfile()
	prof.DocumentCode, prof.DocumentNumber = "P", "L898902C"
	prof.BirthDate = time.Date(1969, 8, 6, 0, 0, 0, 0, time.UTC)
	prof.ExpiryDate = time.Date(1994, 6, 23, 0, 0, 0, 0, time.UTC)
	p, err := Personalise(prof, &Options{CAN: "123456", Issuer: testIssuer(t), DisablePACE: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(mrzInformation(p.MRZLines)); got != "L898902C<369080619406236" {
		t.Fatalf("MRZ information %s", got)
	}
	p.Applet.rand = bytes.NewReader(hx(t, "4608F91988702212 0B4F80323EB3191CB04970CB4052790B"))
	// EF.COM of the example: LDS 1.6, Unicode 4.0.0, DG1 and DG2.
	p.Applet.ReplaceFile(fidCOM, hx(t, "60145F0104303130365F36063034303030305C026175"))
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, card, [][2]string{
		{"00A4040C07A0000002471001", "9000"},
		{"0084000008", "4608F919887022129000"},
		{"0082000028 72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2 5F1448EEA8AD90A7 28",
			"46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D7449 9000"},
		{"0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800", "990290008E08FA855A5D4C50A8ED9000"},
		{"0CB000000D9701048E08ED6705417E96BA5500", "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000"},
		{"0CB000040D9701128E082EA28A70F3C7B53500", "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000"},
	})
}

// The chip's side of ICAO Doc 9303 Part 11, Appendix G.1: PACE, generic
// mapping, ECDH on brainpoolP256r1, AES-128, MRZ password, with the chip's
// nonce s = 3F00C4D39D153F2B2A214A078D899B22 and private keys SK_map,IC =
// 498FF497…8560 and SK_DH,IC = 107CF586…974A of the example: every answer byte
// for byte.
func TestICAOAppendixG1ChipSide(t *testing.T) {
	prof := SampleProfile()
	prof.DocumentCode, prof.DocumentNumber = "P", "T22000129"
	prof.BirthDate = time.Date(1964, 8, 12, 0, 0, 0, 0, time.UTC)
	prof.ExpiryDate = time.Date(2010, 10, 31, 0, 0, 0, 0, time.UTC)
	p, err := Personalise(prof, &Options{CAN: "123456", Issuer: testIssuer(t), PACEParameterID: 13, PACECipher: PACEAES128})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Applet.File(fidCardAccess); !bytes.Equal(got, hx(t, "31143012060A04007F0007020204020202010202010D")) {
		t.Fatalf("EF.CardAccess %X", got)
	}
	p.Applet.rand = bytes.NewReader(hx(t, "3F00C4D39D153F2B2A214A078D899B22"+
		"498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560"+
		"107CF58696EF6155053340FD633392BA81909DF7B9706F226F32086C7AFF974A"))
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, card, [][2]string{
		{"00A4040C07A0000002471001", "9000"},
		{"0022C1A412800A04007F0007020204020283010184010D", "9000"},
		{"10860000027C0000", "7C12801095A3A016522EE98D01E76CB6B98B42C39000"},
		{"10860000457C438141047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D00",
			"7C43824104824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C549000"},
		{"10860000457C438341042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB3646200",
			"7C438441049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F0949000"},
		{"008600000C7C0A8508C2B0BD78D94BA86600", "7C0A86083ABB9674BCE93C089000"},
	})
	if p.Applet.level != accessPACE {
		t.Fatal("PACE did not open the application")
	}
}

// A wrong PACE token (wrong password on the host side) is refused with 6300
// and opens nothing.
func TestPACEWrongToken(t *testing.T) {
	prof := SampleProfile()
	prof.DocumentCode, prof.DocumentNumber = "P", "T22000129"
	prof.BirthDate = time.Date(1964, 8, 12, 0, 0, 0, 0, time.UTC)
	prof.ExpiryDate = time.Date(2010, 10, 31, 0, 0, 0, 0, time.UTC)
	p, err := Personalise(prof, &Options{CAN: "123456", Issuer: testIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	p.Applet.rand = bytes.NewReader(hx(t, "3F00C4D39D153F2B2A214A078D899B22"+
		"498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560"+
		"107CF58696EF6155053340FD633392BA81909DF7B9706F226F32086C7AFF974A"))
	card, _ := virtual.NewCard(virtual.Config{}, p.Applet)
	exchange(t, card, [][2]string{
		{"00A4040C07A0000002471001", "9000"},
		{"0022C1A412800A04007F0007020204020283010184010D", "9000"},
		{"10860000027C0000", "7C12801095A3A016522EE98D01E76CB6B98B42C39000"},
		{"10860000457C438141047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D00",
			"7C43824104824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C549000"},
		{"10860000457C438341042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB3646200",
			"7C438441049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F0949000"},
		{"008600000C7C0A8508C2B0BD78D94BA86700", "6300"},
		{"00B0810004", "6982"},
	})
}

// Nothing but EF.CardAccess without an access key; DG3 never.
func TestAccessRules(t *testing.T) {
	p, err := Personalise(SampleProfile(), &Options{Issuer: testIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	card, _ := virtual.NewCard(virtual.Config{}, p.Applet)
	c := &apdu.Client{Transport: card}
	ctx := context.Background()
	if _, err := c.Do(ctx, apdu.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AID()}); err != nil {
		t.Fatal(err)
	}
	// 256 bytes asked of a shorter file: the file and 6282 (ISO/IEC 7816-4
	// (2020) §11.2.3, Table 6).
	if r, err := c.Send(ctx, apdu.Command{INS: 0xB0, P1: 0x9C, Ne: 256}); err != nil || r.SW != swEndOfFile || !bytes.Equal(r.Data, p.Applet.File(fidCardAccess)) {
		t.Fatalf("EF.CardAccess: %X %04X, %v", r.Data, r.SW, err)
	}
	for _, sfi := range []byte{0x01, 0x02, 0x03, 0x0B, 0x1D, 0x1E} {
		if _, err := c.Do(ctx, apdu.Command{INS: 0xB0, P1: 0x80 | sfi, Ne: 256}); err == nil || !strings.Contains(err.Error(), "security status") {
			t.Errorf("SFI %02X without access: %v", sfi, err)
		}
	}
	// DG3 stays refused after BAC.
	p.Applet.level = accessBAC
	if r := p.Applet.readBinary(apdu.Command{INS: 0xB0, P1: 0x83, Ne: 256}); r.SW != apdu.SWSecurityStatus {
		t.Errorf("DG3 after BAC: %04X", r.SW)
	}
}

// The MRZ the card prints carries correct check digits (ICAO 9303-3 §4.9),
// checked against the TD3 and TD1 specimens of ICAO 9303-4 and 9303-5.
func TestMRZSpecimens(t *testing.T) {
	prof := SampleProfile()
	prof.DocumentCode, prof.DocumentNumber, prof.PersonalNumber = "P", "L898902C3", "ZE184226B"
	prof.BirthDate = time.Date(1974, 8, 12, 0, 0, 0, 0, time.UTC)
	prof.ExpiryDate = time.Date(2012, 4, 15, 0, 0, 0, 0, time.UTC)
	lines, err := buildMRZ(&prof)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("TD3\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	prof.DocumentCode, prof.DocumentNumber, prof.PersonalNumber = "I", "D23145890", ""
	lines, _ = buildMRZ(&prof)
	want = []string{"I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("TD1\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// OpenSSL, an independent CMS implementation, verifies EF.SOD against the
// CSCA and returns the LDS security object: with the NIST P-256 issuer, and
// with the Brainpool issuer whose certificates the card encodes by hand.
func TestOpenSSLVerifiesSOD(t *testing.T) {
	bp, err := NewBrainpoolIssuer("UTO", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, is := range map[string]*Issuer{"P-256": testIssuer(t), "brainpoolP256r1": bp} {
		t.Run(name, func(t *testing.T) { opensslVerifiesSOD(t, is) })
	}
}

func opensslVerifiesSOD(t *testing.T, is *Issuer) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skipf("SKIPPING %s: no openssl in PATH", t.Name())
	}
	p, err := Personalise(SampleProfile(), &Options{Issuer: is})
	if err != nil {
		t.Fatal(err)
	}
	sod := p.Applet.File(fidSOD)
	o, _, err := apdu.DecodeTLV(sod)
	if err != nil || o.Tag != 0x77 {
		t.Fatalf("EF.SOD: %v", err)
	}
	dir := t.TempDir()
	in, ca, out := filepath.Join(dir, "sod.der"), filepath.Join(dir, "csca.pem"), filepath.Join(dir, "lso.der")
	if err := os.WriteFile(in, o.Value, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CSCA.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", ca, "-binary", "-out", out, "-purpose", "any")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, msg)
	}
	lso, err := os.ReadFile(out)
	if err != nil || len(lso) < 50 || lso[0] != 0x30 {
		t.Fatalf("LDS security object from openssl: %X, %v", lso, err)
	}
}

// Before BAC or PACE a reader learns nothing of the application, not even
// which data groups the chip holds: SELECT and READ BINARY of a present and
// of an absent EF get the same 6982 (ICAO 9303-11 §4.1: access to the LDS1
// application's data only after access control; ISO/IEC 7816-4 §5.6).
func TestNoFileExistenceBeforeAccess(t *testing.T) {
	p, err := Personalise(SampleProfile(), &Options{Issuer: testIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	p.Applet.ReplaceFile(0x0110, nil) // DG16 absent
	if p.Applet.File(0x0101) == nil {
		t.Fatal("no DG1")
	}
	card, _ := virtual.NewCard(virtual.Config{}, p.Applet)
	ctx := context.Background()
	send := func(s string) string {
		r, err := card.Transmit(ctx, hx(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(r)
	}
	send("00A4040C07A0000002471001")
	for _, pair := range [][2]string{
		{"00A4020C020101", "00A4020C020110"},         // SELECT EF DG1, DG16
		{"00A4090C020101", "00A4090C020110"},         // by path from the DF
		{"00B0810004", "00B0900004"},                 // READ BINARY by SFI
		{"00B100010354010008", "00B100100354010008"}, // odd INS, SFI in P2
	} {
		present, absent := send(pair[0]), send(pair[1])
		if present != absent || present != "6982" {
			t.Errorf("%s -> %s, %s -> %s; want 6982 both", pair[0], present, pair[1], absent)
		}
	}
	// EF.CardAccess stays public.
	if r := send("00B09C0004"); !strings.HasSuffix(r, "9000") {
		t.Errorf("EF.CardAccess: %s", r)
	}
}

// The chip's checks of the terminal's PACE keys (ICAO 9303-11 §4.4.3.3,
// BSI TR-03111 §4.3.2.2): a mapping or ephemeral key that is no point of
// the curve ends the PACE run with 6A80, and the next step finds no run
// (6985); the G.1 worked example's first steps lead there.
func TestPACETerminalKeyChecks(t *testing.T) {
	prof := SampleProfile()
	prof.DocumentCode, prof.DocumentNumber = "P", "T22000129"
	prof.BirthDate = time.Date(1964, 8, 12, 0, 0, 0, 0, time.UTC)
	prof.ExpiryDate = time.Date(2010, 10, 31, 0, 0, 0, 0, time.UTC)
	mapKey := "047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D"
	offCurve := mapKey[:len(mapKey)-2] + "2C"
	for name, steps := range map[string][][2]string{
		"mapping key off the curve": {
			{"10860000457C4381 41" + offCurve + "00", "6A80"},
		},
		"mapping key compressed": {
			{"10860000257C238121 02" + mapKey[2:66] + "00", "6A80"},
		},
		"ephemeral key off the curve": {
			{"10860000457C4381 41" + mapKey + "00", "7C43824104824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C549000"},
			{"10860000457C4383 41" + offCurve + "00", "6A80"},
		},
		"ephemeral key all zero": {
			{"10860000457C4381 41" + mapKey + "00", "7C43824104824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C549000"},
			{"10860000457C4383 41 04" + strings.Repeat("00", 64) + "00", "6A80"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := Personalise(prof, &Options{CAN: "123456", Issuer: testIssuer(t)})
			if err != nil {
				t.Fatal(err)
			}
			p.Applet.rand = bytes.NewReader(hx(t, "3F00C4D39D153F2B2A214A078D899B22"+
				"498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560"+
				"107CF58696EF6155053340FD633392BA81909DF7B9706F226F32086C7AFF974A"))
			card, _ := virtual.NewCard(virtual.Config{}, p.Applet)
			all := [][2]string{
				{"00A4040C07A0000002471001", "9000"},
				{"0022C1A412800A04007F0007020204020283010184010D", "9000"},
				{"10860000027C0000", "7C12801095A3A016522EE98D01E76CB6B98B42C39000"},
			}
			all = append(all, steps...)
			all = append(all, [2]string{"008600000C7C0A8508C2B0BD78D94BA86700", "6985"}, [2]string{"00B0810004", "6982"})
			exchange(t, card, all)
		})
	}
}
