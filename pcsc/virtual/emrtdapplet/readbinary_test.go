package emrtdapplet

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
)

// READ BINARY at and past the end of a transparent EF, plain, as ISO/IEC
// 7816-4 (2020) §11.2.3 and Table 6 have a card answer: Ne asking for more
// bytes than remain before the end gives the remaining bytes with 6282 ("end
// of file or record reached before reading Ne bytes"), exactly the remaining
// bytes 9000, an offset at the end 6282 with no data, an offset past it
// 6B00, no Le (Ne = 0) nothing with 9000. EF.CardAccess of the ICAO 9303-11
// Appendix G.1 example, 22 bytes, readable before access control.
func TestReadBinaryEndOfFile(t *testing.T) {
	p := g1Chip(t)
	ca := p.Applet.File(fidCardAccess)
	if len(ca) != 0x16 {
		t.Fatalf("EF.CardAccess of %d bytes", len(ca))
	}
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	x := func(b []byte) string { return fmt.Sprintf("%X", b) }
	exchange(t, card, [][2]string{
		// B0 by short EF identifier (P1 = 80 | 1C, P2 the offset).
		{"00B09C0000", x(ca) + "6282"},       // Le 00: Ne 256
		{"00B09C0016", x(ca) + "9000"},       // Ne 22, the file's size
		{"00B09C0017", x(ca) + "6282"},       // one byte more
		{"00B09C0510", x(ca[5:21]) + "9000"}, // 17 remain, 16 asked
		{"00B09C0520", x(ca[5:]) + "6282"},   // 17 remain, 32 asked
		{"00B09C1601", "6282"},               // offset at the end: nothing read
		{"00B09C1701", "6B00"},               // offset past the end
		{"00B09C00", "9000"},                 // no Le: Ne 0, nothing asked
		{"00B09C1600", "6282"},               // at the end, Le 00
		{"00B0000000", x(ca) + "6282"},       // offset in P1-P2, the EF now current
		{"00B0001500", x(ca[21:]) + "6282"},  // last byte
		{"00B0001601", "6282"},               // at the end
		{"00B0001701", "6B00"},               // past it
		{"00B00000000100", x(ca) + "6282"},   // extended Le 0100: Ne 256
		{"00B00000000000", x(ca) + "6282"},   // extended Le 0000: Ne 65536
		{"00B00000000016", x(ca) + "9000"},   // extended Le of the file's size
		{"00B00000000010", x(ca[:16]) + "9000"},
		// B1: the EF in P1-P2, the offset in DO'54', the data in DO'53'
		// (§11.2.3); Ne counts DO'53''s tag and length.
		{"00B1011C0354010000", "5316" + x(ca) + "6282"},
		{"00B1011C0354010018", "5316" + x(ca) + "9000"},     // 53 16 and 22 bytes: Ne exactly
		{"00B1011C0354010019", "5316" + x(ca) + "6282"},     // one more
		{"00B1011C0354010513", "5311" + x(ca[5:]) + "9000"}, // 17 remain, 2 + 17 asked
		{"00B1011C0354010514", "5311" + x(ca[5:]) + "6282"},
		{"00B1011C0354010508", "5306" + x(ca[5:11]) + "9000"},  // room for 6 bytes
		{"00B1011C0354011600", "6282"},                         // offset at the end
		{"00B1011C0354011700", "6B00"},                         // past it
		{"00B1011C03540100", "9000"},                           // no Le
		{"00B1011C0354010001", "6700"},                         // Ne 1: not even DO'53''s header
		{"00B1001C045402001500", "5301" + x(ca[21:]) + "6282"}, // by SFI, two-byte offset: the last byte
		{"00B100000000035401000100", "5316" + x(ca) + "6282"},  // current EF, extended Le
	})
}

// g1Chip is the chip of ICAO 9303-11 Appendix G.1 (PACE, generic mapping,
// brainpoolP256r1, AES-128), with the example's nonce and keys queued.
func g1Chip(t *testing.T) *Personalised {
	t.Helper()
	prof := SampleProfile()
	prof.DocumentCode, prof.DocumentNumber = "P", "T22000129"
	prof.BirthDate = time.Date(1964, 8, 12, 0, 0, 0, 0, time.UTC)
	prof.ExpiryDate = time.Date(2010, 10, 31, 0, 0, 0, 0, time.UTC)
	p, err := Personalise(prof, &Options{CAN: "123456", Issuer: testIssuer(t), PACEParameterID: 13, PACECipher: PACEAES128})
	if err != nil {
		t.Fatal(err)
	}
	p.Applet.rand = bytes.NewReader(hx(t, "3F00C4D39D153F2B2A214A078D899B22"+
		"498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560"+
		"107CF58696EF6155053340FD633392BA81909DF7B9706F226F32086C7AFF974A"))
	return p
}

// tape records the protected APDUs under a SecureChannel.
type tape struct {
	card *virtual.Card
	resp [][]byte
}

func (r *tape) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	b, err := r.card.Transmit(ctx, cmd)
	r.resp = append(r.resp, b)
	return b, err
}

func (r *tape) ExtendedLength() bool { return r.card.ExtendedLength() }

// smRead is one READ BINARY under secure messaging: the plain command, the
// plain answer the channel must give back, and the tags of the protected
// response in order (ICAO 9303-11 §9.8.5: DO'87' or DO'85' when data came,
// DO'99', DO'8E').
type smRead struct {
	cmd  apdu.Command
	data []byte
	sw   uint16
	tags []apdu.Tag
}

// checkSMReads sends the reads through ch and checks every protected
// response: under secure messaging the warning 6282 (and the error 6B00)
// travel in DO'99' under the MAC of DO'8E', and the trailer repeats DO'99';
// only secure messaging errors come back plain (ICAO 9303-11 §9.8).
func checkSMReads(t *testing.T, ch *emrtd.SecureChannel, rec *tape, reads []smRead) {
	t.Helper()
	c := &apdu.Client{Transport: ch}
	for i, rd := range reads {
		rec.resp = nil
		r, err := c.Send(context.Background(), rd.cmd)
		if err != nil {
			t.Fatalf("read %d (%X %02X%02X Ne %d): %v", i, rd.cmd.INS, rd.cmd.P1, rd.cmd.P2, rd.cmd.Ne, err)
		}
		if r.SW != rd.sw || !bytes.Equal(r.Data, rd.data) {
			t.Errorf("read %d: %X %04X, want %X %04X", i, r.Data, r.SW, rd.data, rd.sw)
		}
		if len(rec.resp) != 1 {
			t.Fatalf("read %d: %d protected exchanges", i, len(rec.resp))
		}
		raw, err := apdu.ParseResponse(rec.resp[0])
		if err != nil {
			t.Fatal(err)
		}
		if raw.SW != rd.sw {
			t.Errorf("read %d: protected trailer %04X, want %04X", i, raw.SW, rd.sw)
		}
		var tags []apdu.Tag
		for rest := raw.Data; len(rest) > 0; {
			o, next, err := apdu.DecodeTLV(rest)
			if err != nil {
				t.Fatalf("read %d: %X: %v", i, raw.Data, err)
			}
			tags = append(tags, o.Tag)
			if o.Tag == 0x99 && !bytes.Equal(o.Value, []byte{byte(rd.sw >> 8), byte(rd.sw)}) {
				t.Errorf("read %d: DO'99' %X, want %04X", i, o.Value, rd.sw)
			}
			if o.Tag == 0x8E && len(o.Value) != 8 {
				t.Errorf("read %d: DO'8E' of %d bytes", i, len(o.Value))
			}
			rest = next
		}
		if fmt.Sprint(tags) != fmt.Sprint(rd.tags) {
			t.Errorf("read %d: protected response objects %v, want %v", i, tags, rd.tags)
		}
	}
}

// The same ends of file under BAC secure messaging (3DES): the keys and send
// sequence counter of ICAO 9303-11 Appendix D.3, then READ BINARY of the
// example's EF.COM (22 bytes) past its end.
func TestReadBinaryEndOfFileBAC(t *testing.T) {
	prof := SampleProfile()
	prof.DocumentCode, prof.DocumentNumber = "P", "L898902C"
	prof.BirthDate = time.Date(1969, 8, 6, 0, 0, 0, 0, time.UTC)
	prof.ExpiryDate = time.Date(1994, 6, 23, 0, 0, 0, 0, time.UTC)
	p, err := Personalise(prof, &Options{CAN: "123456", Issuer: testIssuer(t), DisablePACE: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Applet.rand = bytes.NewReader(hx(t, "4608F91988702212 0B4F80323EB3191CB04970CB4052790B"))
	com := hx(t, "60145F0104303130365F36063034303030305C026175")
	p.Applet.ReplaceFile(fidCOM, com)
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, card, [][2]string{
		{"00A4040C07A0000002471001", "9000"},
		{"0084000008", "4608F919887022129000"},
		{"0082000028 72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2 5F1448EEA8AD90A7 28",
			"46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D7449 9000"},
	})
	rec := &tape{card: card}
	ch, err := emrtd.NewSecureChannel(rec, emrtd.Cipher3DES, hx(t, "979EC13B1CBFE9DCD01AB0FED307EAE5"),
		hx(t, "F1CB1F1FB5ADF208806B89DC579DC1F8"), hx(t, "887022120C06C226"))
	if err != nil {
		t.Fatal(err)
	}
	checkSMReads(t, ch, rec, []smRead{
		{apdu.Command{INS: 0xB0, P1: 0x9E, Ne: 256}, com, 0x6282, []apdu.Tag{0x87, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x00, P2: 0x04, Ne: 18}, com[4:], 0x9000, []apdu.Tag{0x87, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x00, P2: 0x04, Ne: 32}, com[4:], 0x6282, []apdu.Tag{0x87, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x00, P2: 0x16, Ne: 1}, nil, 0x6282, []apdu.Tag{0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x00, P2: 0x17, Ne: 1}, nil, 0x6B00, []apdu.Tag{0x99, 0x8E}},
		{apdu.Command{INS: 0xB1, P1: 0x00, P2: 0x1E, Data: []byte{0x54, 0x01, 0x10}, Ne: 256}, append([]byte{0x53, 0x06}, com[16:]...), 0x6282, []apdu.Tag{0x85, 0x99, 0x8E}},
	})
}

// The same under PACE secure messaging (AES-128): the session of ICAO
// 9303-11 Appendix G.1 (KSenc, KSmac, SSC 0), then READ BINARY of
// EF.CardAccess in the MF and of EF.COM in the application, B0 and B1, with
// short and extended Le.
func TestReadBinaryEndOfFilePACE(t *testing.T) {
	p := g1Chip(t)
	com := p.Applet.File(fidCOM)
	ca := p.Applet.File(fidCardAccess)
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, card, [][2]string{
		{"0022C1A412800A04007F0007020204020283010184010D", "9000"},
		{"10860000027C0000", "7C12801095A3A016522EE98D01E76CB6B98B42C39000"},
		{"10860000457C438141047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D00",
			"7C43824104824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C549000"},
		{"10860000457C438341042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB3646200",
			"7C438441049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F0949000"},
		{"008600000C7C0A8508C2B0BD78D94BA86600", "7C0A86083ABB9674BCE93C089000"},
	})
	rec := &tape{card: card}
	ch, err := emrtd.NewSecureChannel(rec, emrtd.CipherAES128, hx(t, "F5F0E35C0D7161EE6724EE513A0D9A7F"),
		hx(t, "FE251C7858B356B24514B3BD5F4297D1"), make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	doCOM := append([]byte{0x53, byte(len(com) - 3)}, com[3:]...)
	checkSMReads(t, ch, rec, []smRead{
		// In the MF, where PACE ran.
		{apdu.Command{INS: 0xB0, P1: 0x9C, Ne: 256}, ca, 0x6282, []apdu.Tag{0x87, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x9C, Ne: len(ca)}, ca, 0x9000, []apdu.Tag{0x87, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x9C, P2: byte(len(ca)), Ne: 256}, nil, 0x6282, []apdu.Tag{0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x9C, P2: byte(len(ca) + 1), Ne: 256}, nil, 0x6B00, []apdu.Tag{0x99, 0x8E}},
		// The application.
		{apdu.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AID()}, nil, 0x9000, []apdu.Tag{0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x9E, Ne: 1000}, com, 0x6282, []apdu.Tag{0x87, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x9E, Ne: 65536}, com, 0x6282, []apdu.Tag{0x87, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB0, P1: 0x00, P2: 0x03, Ne: len(com) - 3}, com[3:], 0x9000, []apdu.Tag{0x87, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB1, P1: 0x00, P2: 0x1E, Data: []byte{0x54, 0x01, 0x03}, Ne: 256}, doCOM, 0x6282, []apdu.Tag{0x85, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB1, P1: 0x00, P2: 0x1E, Data: []byte{0x54, 0x01, 0x03}, Ne: len(doCOM)}, doCOM, 0x9000, []apdu.Tag{0x85, 0x99, 0x8E}},
		{apdu.Command{INS: 0xB1, P1: 0x00, P2: 0x1E, Data: []byte{0x54, 0x01, byte(len(com))}, Ne: 256}, nil, 0x6282, []apdu.Tag{0x99, 0x8E}},
		{apdu.Command{INS: 0xB1, P1: 0x00, P2: 0x1E, Data: []byte{0x54, 0x02, 0x7F, 0xFF}, Ne: 256}, nil, 0x6B00, []apdu.Tag{0x99, 0x8E}},
	})
}
