package emrtd

import (
	"bytes"
	"context"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

func h(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func eq(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %X, want %X", name, got, want)
	}
}

// script is a Transport that expects exact commands and plays back answers.
type script struct {
	t    *testing.T
	cmds []string
	resp []string
	i    int
}

func (s *script) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	s.t.Helper()
	if s.i >= len(s.cmds) {
		s.t.Fatalf("unexpected command %X", cmd)
	}
	want := h(s.t, s.cmds[s.i])
	if !bytes.Equal(cmd, want) {
		s.t.Fatalf("command %d = %X, want %X", s.i, cmd, want)
	}
	r := h(s.t, s.resp[s.i])
	s.i++
	return r, nil
}

func (s *script) done() {
	s.t.Helper()
	if s.i != len(s.cmds) {
		s.t.Errorf("%d of %d scripted commands sent", s.i, len(s.cmds))
	}
}

// ICAO Doc 9303 Part 11 (8th ed., 2021), Appendix D.2: computing the keys
// from the MRZ information.
func TestICAOAppendixD2BACKeys(t *testing.T) {
	k := MRZKey{DocumentNumber: "L898902C", DateOfBirth: "690806", DateOfExpiry: "940623"}
	info, err := k.information()
	if err != nil {
		t.Fatal(err)
	}
	if string(info) != "L898902C<369080619406236" {
		t.Errorf("MRZ information = %s", info)
	}
	seed, _ := k.bacSeed()
	eq(t, "Kseed", seed, h(t, "239AB9CB282DAF66231DC5A4DF6BFBAE"))
	eq(t, "KEnc", kdf(Cipher3DES, seed, kdfEnc), h(t, "AB94FDECF2674FDFB9B391F85D7F76F2"))
	eq(t, "KMAC", kdf(Cipher3DES, seed, kdfMAC), h(t, "7962D9ECE03D1ACD4C76089DCE131543"))

	// Appendix D.2, document number of more than nine characters.
	long := MRZKey{DocumentNumber: "D23145890734", DateOfBirth: "340712", DateOfExpiry: "950712"}
	if info, _ := long.information(); string(info) != "D23145890734934071279507122" {
		t.Errorf("long MRZ information = %s", info)
	}
}

// ICAO Doc 9303 Part 11, Appendix D.3 (authentication and establishment of
// session keys) and D.4 (secure messaging), run through BAC and the
// SecureChannel against the APDUs of the worked example.
func TestICAOAppendixD3D4BACAndSecureMessaging(t *testing.T) {
	// D.3: E.IFD and M.IFD from RND.IFD, RND.IC and K.IFD.
	kEnc, kMAC := h(t, "AB94FDECF2674FDFB9B391F85D7F76F2"), h(t, "7962D9ECE03D1ACD4C76089DCE131543")
	e, m, err := bacCryptogram(kEnc, kMAC, h(t, "781723860C06C226"), h(t, "4608F91988702212"), h(t, "0B795240CB7049B01C19B33E32804F0B"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "E.IFD", e, h(t, "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2"))
	eq(t, "M.IFD", m, h(t, "5F1448EEA8AD90A7"))
	// D.3: session keys from Kseed = K.IFD xor K.IC.
	ks := h(t, "0036D272F5C350ACAC50C3F572D23600")
	eq(t, "KSEnc", kdf(Cipher3DES, ks, kdfEnc), h(t, "979EC13B1CBFE9DCD01AB0FED307EAE5"))
	eq(t, "KSMAC", kdf(Cipher3DES, ks, kdfMAC), h(t, "F1CB1F1FB5ADF208806B89DC579DC1F8"))

	s := &script{t: t,
		cmds: []string{
			"0084000008",
			"0082000028 72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2 5F1448EEA8AD90A7 28",
			// D.4: SELECT EF.COM, READ BINARY of 4 bytes, READ BINARY of
			// the remaining 18 bytes.
			"0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
			"0CB000000D9701048E08ED6705417E96BA5500",
			"0CB000040D9701128E082EA28A70F3C7B53500",
		},
		resp: []string{
			"4608F91988702212 9000",
			"46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D7449 9000",
			"990290008E08FA855A5D4C50A8ED9000",
			"8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000",
			"871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000",
		}}
	key := MRZKey{DocumentNumber: "L898902C", DateOfBirth: "690806", DateOfExpiry: "940623"}
	rnd := bytes.NewReader(h(t, "781723860C06C226 0B795240CB7049B01C19B33E32804F0B"))
	ctx := context.Background()
	sc, err := BAC(ctx, s, key, rnd)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "SSC", sc.ssc, h(t, "887022120C06C226"))
	c := &apdu.Client{Transport: sc}
	if _, err := c.Do(ctx, apdu.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: h(t, "011E")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.Do(ctx, apdu.Command{INS: 0xB0, Ne: 4})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "EF.COM header", d, h(t, "60145F01"))
	d, err = c.Do(ctx, apdu.Command{INS: 0xB0, P2: 0x04, Ne: 0x12})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "EF.COM rest", d, h(t, "04303130365F36063034303030305C026175"))
	s.done()
}

// ICAO Doc 9303 Part 11, Appendix G.1: PACE with generic mapping over ECDH on
// brainpoolP256r1 (parameter ID 13), id-PACE-ECDH-GM-AES-CBC-CMAC-128, MRZ
// password, every APDU of the example and every intermediate value.
func TestICAOAppendixG1PACEECDHGenericMapping(t *testing.T) {
	// EF.CardAccess of the example: one PACEInfo, version 2, parameter 13.
	ca, err := ParseCardAccess(h(t, "31143012060A04007F0007020204020202010202010D"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := ca.choose()
	if err != nil || !info.Protocol.Equal(oidPACEECDHGMAES128) || info.ParameterID != 13 || info.Version != 2 {
		t.Fatalf("PACEInfo = %+v, %v", info, err)
	}
	key := MRZKey{DocumentNumber: "T22000129", DateOfBirth: "640812", DateOfExpiry: "101031"}
	secret, _ := key.paceSecret()
	eq(t, "K = f(π)", secret, h(t, "7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD"))
	kpi := kdf(CipherAES128, secret, kdfPi)
	eq(t, "Kπ", kpi, h(t, "89DED1B26624EC1E634C1989302849DD"))
	s, err := decryptNonce(CipherAES128, kpi, h(t, "95A3A016522EE98D01E76CB6B98B42C3"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "s", s, h(t, "3F00C4D39D153F2B2A214A078D899B22"))

	curve, _ := paceCurve(13)
	skMap := h(t, "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99")
	pkMapIC := h(t, "04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F57 30D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54")
	px, py, _ := decodePoint(curve, pkMapIC)
	hx, hy := curve.ScalarMult(px, py, skMap)
	eq(t, "H", encodePoint(hx, hy, 32), h(t, "0460332EF2450B5D247EF6D3868397D398852ED6E8CAF6FFEEF6BF85CA57057FD5 0840CA7415BAF3E43BD414D35AA4608B93A2CAF3A4E3EA4E82C9C13D03EB7181"))
	gx, gy, err := mapGeneric(curve, s, skMap, pkMapIC)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "mapped generator", encodePoint(gx, gy, 32), h(t, "048CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E2 8C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522"))

	sc := &script{t: t,
		cmds: []string{
			"0022C1A412 800A04007F00070202040202 830101 84010D",
			"10860000027C0000",
			"1086000045 7C43 8141 047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D 00",
			"1086000045 7C43 8341 042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462 00",
			"008600000C 7C0A 8508 C2B0BD78D94BA866 00",
		},
		resp: []string{
			"9000",
			"7C12 8010 95A3A016522EE98D01E76CB6B98B42C3 9000",
			"7C43 8241 04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54 9000",
			"7C43 8441 049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094 9000",
			"7C0A 8608 3ABB9674BCE93C08 9000",
		}}
	rnd := bytes.NewReader(h(t, "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99 A73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595"))
	ch, err := PACE(context.Background(), sc, key, info, rnd)
	if err != nil {
		t.Fatal(err)
	}
	sc.done()
	// Session keys of G.1 from the shared secret
	// 28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925.
	shared := h(t, "28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925")
	eq(t, "KSEnc", kdf(CipherAES128, shared, kdfEnc), h(t, "F5F0E35C0D7161EE6724EE513A0D9A7F"))
	eq(t, "KSMAC", kdf(CipherAES128, shared, kdfMAC), h(t, "FE251C7858B356B24514B3BD5F4297D1"))
	eq(t, "SSC", ch.ssc, make([]byte, 16))
	probe := make([]byte, 16)
	ref, _ := aes.NewCipher(h(t, "F5F0E35C0D7161EE6724EE513A0D9A7F"))
	want := make([]byte, 16)
	ch.enc.Encrypt(probe, probe)
	ref.Encrypt(want, want)
	eq(t, "channel KSEnc", probe, want)
}

// A chip that refuses the PACE token of the worked example: ErrAccessDenied.
func TestPACEWrongPassword(t *testing.T) {
	info := PACEInfo{Protocol: oidPACEECDHGMAES128, Version: 2, ParameterID: 13}
	key := MRZKey{DocumentNumber: "T22000129", DateOfBirth: "640812", DateOfExpiry: "101031"}
	sc := &script{t: t,
		cmds: []string{
			"0022C1A412 800A04007F00070202040202 830101 84010D",
			"10860000027C0000",
			"1086000045 7C43 8141 047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D 00",
			"1086000045 7C43 8341 042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462 00",
			"008600000C 7C0A 8508 C2B0BD78D94BA866 00",
		},
		resp: []string{
			"9000",
			"7C12 8010 95A3A016522EE98D01E76CB6B98B42C3 9000",
			"7C43 8241 04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54 9000",
			"7C43 8441 049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094 9000",
			"6300",
		}}
	rnd := bytes.NewReader(h(t, "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99 A73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595"))
	_, err := PACE(context.Background(), sc, key, info, rnd)
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
}

// RFC 4493 §4 test vectors for AES-CMAC.
func TestCMACRFC4493(t *testing.T) {
	blk, _ := aes.NewCipher(h(t, "2b7e151628aed2a6abf7158809cf4f3c"))
	msg := h(t, "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710")
	for _, c := range []struct {
		n   int
		mac string
	}{{0, "bb1d6929e95937287fa37d129b756746"}, {16, "070a16b46b4d4144f79bdd9dd04a287c"}, {40, "dfa66747de9ae63030ca32611497c827"}, {64, "51f0bebf7e3b9d92fc49741779363cfe"}} {
		eq(t, "CMAC", cmac(blk, msg[:c.n]), h(t, c.mac))
	}
}

// Every curve of ICAO 9303-11 §9.5.1 Table 6 that PACE supports: the base
// point lies on the curve and has order n — a check of the brainpool module
// and of the P-192 constants.
func TestPACECurves(t *testing.T) {
	for id := 8; id <= 18; id++ {
		c, ok := paceCurve(id)
		if !ok {
			t.Errorf("parameter %d unsupported", id)
			continue
		}
		p := c.Params()
		if !c.IsOnCurve(p.Gx, p.Gy) {
			t.Errorf("parameter %d: G not on curve", id)
		}
		x, y := c.ScalarBaseMult(new(big.Int).Sub(p.N, big.NewInt(1)).Bytes())
		// (n-1)·G = -G: same x, y = p - Gy.
		if x.Cmp(p.Gx) != 0 || new(big.Int).Add(y, p.Gy).Cmp(p.P) != 0 {
			t.Errorf("parameter %d: (n-1)·G != -G", id)
		}
	}
}

// The specimen MRZs of ICAO 9303-4 (TD3, Appendix B) and 9303-5 (TD1).
func TestParseMRZSpecimens(t *testing.T) {
	td3 := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
	m, err := ParseMRZ(td3)
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != TD3 || m.DocumentNumber != "L898902C3" || m.DateOfBirth != "740812" || m.DateOfExpiry != "120415" ||
		m.PrimaryID != "ERIKSSON" || m.SecondaryID != "ANNA MARIA" || m.Sex != "F" || m.Nationality != "UTO" || m.OptionalData1 != "ZE184226B" {
		t.Errorf("TD3 = %+v", m)
	}
	td1 := "I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
	m, err = ParseMRZ(td1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != TD1 || m.DocumentNumber != "D23145890" || m.DocumentCode != "I" || m.SecondaryID != "ANNA MARIA" {
		t.Errorf("TD1 = %+v", m)
	}
	bad := strings.Replace(td3, "7408122", "7408123", 1)
	if _, err := ParseMRZ(bad); !errors.Is(err, ErrCheckDigit) || !errors.Is(err, ErrMalformed) {
		t.Errorf("altered birth date check digit: %v", err)
	}
}
