package emrtdapplet

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

// The master file as a standard reader sees it right after reset (ISO/IEC
// 7816-4 §7.1; ICAO 9303-10 §3.11): SELECT MF, SELECT of its EFs by
// identifier, READ BINARY by short EF identifier, and nothing of the
// application's until the application is selected.
func TestMasterFile(t *testing.T) {
	p, err := Personalise(SampleProfile(), &Options{Issuer: testIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	ca := strings.ToUpper(hex.EncodeToString(p.Applet.File(fidCardAccess)))
	dir := strings.ToUpper(hex.EncodeToString(p.Applet.File(fidDIR)))
	if dir != "61154F07A0000002471001500A654D525444204C445331" {
		t.Errorf("EF.DIR %s", dir)
	}
	// Every READ BINARY here asks for 256 bytes (Le 00) of a shorter
	// file: the file with 6282, the end reached before Ne bytes (ISO/IEC
	// 7816-4 (2020) §11.2.3, Table 6; TestReadBinaryEndOfFile).
	exchange(t, card, [][2]string{
		{"00B0000000", "6986"},               // no current EF after reset
		{"00B09C0000", ca + "6282"},          // EF.CardAccess by SFI 1C at once after reset
		{"00B09E0000", dir + "6282"},         // EF.DIR by SFI 1E
		{"00B0810000", "6A82"},               // EF.ATR/INFO (SFI 01): not on this chip
		{"00B0000000", dir + "6282"},         // a read by SFI made EF.DIR current (ISO/IEC 7816-4 §11.3.3)
		{"00A4000C", "9000"},                 // SELECT MF, no data
		{"00A4000C023F00", "9000"},           // SELECT MF by FID
		{"00A4020C02011C", "9000"},           // SELECT EF.CardAccess under the MF
		{"00B0000000", ca + "6282"},          // and read it
		{"00A4000C022F00", "9000"},           // EF.DIR with P1 00
		{"00B0000000", dir + "6282"},         // and read it
		{"00A4020C022F01", "6A82"},           // EF.ATR/INFO absent
		{"00A4020C020101", "6A82"},           // DG1 is no file of the MF
		{"00A4020C02011E", "6A82"},           // nor is EF.COM
		{"0084000008", "6985"},               // BAC waits for the application (ICAO 9303-11 §4.2)
		{"00A4040C07A0000002471001", "9000"}, // SELECT the application
		{"00B09E0000", "6982"},               // SFI 1E is now EF.COM, behind access control
		{"00B09C0000", ca + "6282"},          // EF.CardAccess stays readable from the application
		{"00A4020C022F00", "6A82"},           // EF.DIR belongs to the MF
		{"00A4000C", "9000"},                 // back to the MF
		{"00B09E0000", dir + "6282"},         // SFI 1E is EF.DIR again
	})
	// File control parameters when P2 asks (ISO/IEC 7816-4 §7.4.3): the MF
	// a DF, EF.CardAccess a transparent EF of 22 bytes; an application
	// file before access control, 6982 (TestNoFileExistenceBeforeAccess).
	exchange(t, card, [][2]string{
		{"00A4000400", "6207820138 83023F00 9000"},
		{"00A40004023F0000", "6207820138 83023F00 9000"},
		{"00A4020402011C00", "620B 80020016 820101 8302011C 9000"},
		{"00A4040C07A0000002471001", "9000"},
		{"00A4020402010100", "6982"},
		{"00A4000C", "9000"},
		// By path from the MF, as OpenSC selects, also from the
		// application; by path from the current DF.
		{"00A4040C07A0000002471001", "9000"},
		{"00A4080002011C00", "620B 80020016 820101 8302011C 9000"},
		{"00B0000000", ca + "6282"},
		{"00A4080C020101", "6A82"},
		{"00A4080C04011C0101", "6A82"},
		{"00A4090C022F00", "9000"},
		{"00A4080C03011C01", "6A80"},
	})
	// EF.ATR/INFO, once present, is served from the MF.
	p.Applet.ReplaceFile(fidATRInfo, []byte{0x47, 0x03, 0x01, 0x02, 0x03})
	exchange(t, card, [][2]string{
		{"00B0810000", "4703010203" + "6282"},
		{"00A4020C022F01", "9000"},
	})
	// After reset the MF is current again.
	send := func(s string) string {
		b, err := card.Transmit(t.Context(), hx(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return strings.ToUpper(hex.EncodeToString(b))
	}
	send("00A4040C07A0000002471001")
	card.Reset()
	if got := send("00B09E0000"); got != dir+"6282" {
		t.Errorf("SFI 1E after reset: %s, want EF.DIR", got)
	}
}

// DG14 carries every SecurityInfo of EF.CardAccess whenever the chip does
// PACE, with Chip Authentication or without (ICAO 9303-11 §9.2.11).
func TestDG14CarriesCardAccess(t *testing.T) {
	for _, o := range []Options{{}, {DisableChipAuthentication: true}, {DisableChipAuthentication: true, ActiveAuthentication: true}, {PACECipher: PACEAES256, PACEParameterID: 12}} {
		o.Issuer = testIssuer(t)
		p, err := Personalise(SampleProfile(), &o)
		if err != nil {
			t.Fatal(err)
		}
		ca, dg14 := p.Applet.File(fidCardAccess), p.Applet.File(0x010E)
		// EF.CardAccess is SET { one PACEInfo }: its element, after the
		// two-byte SET header, must appear whole in DG14.
		if len(ca) < 3 || dg14 == nil || !strings.Contains(string(dg14), string(ca[2:])) {
			t.Errorf("%+v: DG14 %X lacks EF.CardAccess %X", o, dg14, ca)
		}
	}
	p, err := Personalise(SampleProfile(), &Options{Issuer: testIssuer(t), DisablePACE: true, DisableChipAuthentication: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Applet.File(0x010E) != nil {
		t.Error("a BAC-only chip without Chip or Active Authentication has a DG14")
	}
}

// SELECT of the application by DF name with the P2 variants of ISO/IEC
// 7816-4 §11.2.2 (Table 63 of the 2013 edition): b4-b3 ask for the FCI
// (00), the FCP (04) or nothing (0C), given only when Le is present;
// b2-b1 ask for the first (00) or next (02) occurrence — the chip holds
// one LDS1 application, so there is no next one once it is current;
// b8-b5 must be 0000. The DF name travels in tag 84 (§7.4.3).
func TestSelectApplicationP2(t *testing.T) {
	p, err := Personalise(SampleProfile(), &Options{Issuer: testIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, card, [][2]string{
		{"00A4040C07A0000002471001", "9000"},
		{"00A4040007A000000247100100", "6F09 8407A0000002471001 9000"},
		{"00A4040407A000000247100100", "620C 820138 8407A0000002471001 9000"},
		{"00A4040007A0000002471001", "9000"}, // no Le: no data (case 3)
		{"00A4040C05A000000247", "9000"},     // partial DF name
		{"00A4040E07A0000002471001", "6A82"}, // next occurrence: none
		{"00A4000C", "9000"},                 // back to the MF
		{"00A4040E07A0000002471001", "9000"}, // from the MF the next is the first
		{"00A4041C07A0000002471001", "6A86"}, // b8-b5 not 0000
		{"00B09E0000", "6982"},               // the application stays current
	})
}

// READ BINARY with odd instruction names its EF in P1-P2 (ISO/IEC 7816-4,
// data unit handling, §11.3.2 of the 2013 edition, §7.2.2 of 2005): 0000 the current EF, a short EF identifier in bits 5-1 of P2
// when the first eleven bits are 0 and bits 5-1 are not all equal, a file
// identifier otherwise. The offset travels in DO'54', the data in DO'53'.
func TestReadBinaryOddP1P2(t *testing.T) {
	p, err := Personalise(SampleProfile(), &Options{Issuer: testIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	ca := strings.ToUpper(hex.EncodeToString(p.Applet.File(fidCardAccess)))
	// Le 00 asks for more than the file holds: 6282 (ISO/IEC 7816-4 (2020)
	// §11.2.3, Table 6).
	exchange(t, card, [][2]string{
		{"00B1011C03540100 00", "5316" + ca + "6282"},      // EF.CardAccess by file identifier, in the MF
		{"00B1001C03540100 00", "5316" + ca + "6282"},      // by short EF identifier
		{"00B10000035401 02 00", "5314" + ca[4:] + "6282"}, // the current EF, offset 2
		{"00B1001F03540100 00", "6A82"},                    // 001F: bits 5-1 all equal, a file identifier, absent
		{"00A4040C07A0000002471001", "9000"},               // the application
		{"00B1011E03540100 00", "6982"},                    // EF.COM by file identifier: behind access control
		{"00B1011C03540100 00", "5316" + ca + "6282"},      // EF.CardAccess in the application, by file identifier
	})
	// After access control, EF.COM by file identifier.
	p.Applet.mu.Lock()
	p.Applet.level = accessBAC
	r := p.Applet.readBinary(apdu.Command{INS: 0xB1, P1: 0x01, P2: 0x1E, Data: []byte{0x54, 0x01, 0x00}, Ne: 256})
	p.Applet.mu.Unlock()
	com := p.Applet.File(fidCOM)
	if r.SW != swEndOfFile || !bytes.Equal(r.Data, tlv(0x53, com)) {
		t.Errorf("EF.COM by file identifier after access: %04X % X", r.SW, r.Data)
	}
}
