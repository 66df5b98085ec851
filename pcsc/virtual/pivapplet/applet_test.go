package pivapplet_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

func newCard(t testing.TB) *virtual.Card { return newCardWith(t, nil) }

// newCardWith is newCard with the applet personalised by setup first.
func newCardWith(t testing.TB, setup func(*pivapplet.Applet)) *virtual.Card {
	a, err := pivapplet.New(pivapplet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(a)
	}
	c, err := virtual.NewCard(virtual.Config{}, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apdu.Do(context.Background(), c, apdu.Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStatusWords checks the card's answers to commands a careless or
// hostile host sends.
func TestStatusWords(t *testing.T) {
	ctx := context.Background()
	c := newCard(t)
	for _, tc := range []struct {
		name string
		cmd  apdu.Command
		sw   uint16
	}{
		{"GET DATA without tag list", apdu.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: []byte{0x01}, Ne: 256}, 0x6A80},
		{"GET DATA of an absent object", apdu.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: []byte{0x5C, 0x03, 0x5F, 0xC1, 0x05}, Ne: 256}, 0x6A82},
		{"VERIFY with a short PIN block", apdu.Command{INS: 0x20, P2: 0x80, Data: []byte{'1', '2', '3'}}, 0x6A80},
		{"VERIFY with a PIN under 6 characters", apdu.Command{INS: 0x20, P2: 0x80, Data: []byte{'1', '2', '3', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}, 0x6A80},
		{"VERIFY of an unknown reference", apdu.Command{INS: 0x20, P2: 0x99}, 0x6A88},
		{"PUT DATA without the management key", apdu.Command{INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: []byte{0x5C, 0x03, 0x5F, 0xC1, 0x05, 0x53, 0x00}}, 0x6982},
		{"GENERATE without the management key", apdu.Command{INS: 0x47, P2: 0x9A, Data: []byte{0xAC, 0x03, 0x80, 0x01, 0x11}}, 0x6982},
		{"sign with an empty slot", apdu.Command{INS: 0x87, P1: 0x11, P2: 0x9A, Data: []byte{0x7C, 0x02, 0x82, 0x00}, Ne: 256}, 0x6A88},
		{"management key step 2 without step 1", apdu.Command{INS: 0x87, P1: 0x03, P2: 0x9B, Data: []byte{0x7C, 0x14, 0x80, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x81, 0x08, 1, 2, 3, 4, 5, 6, 7, 8}, Ne: 256}, 0x6982},
		{"management key of another algorithm", apdu.Command{INS: 0x87, P1: 0x0C, P2: 0x9B, Data: []byte{0x7C, 0x02, 0x80, 0x00}, Ne: 256}, 0x6A80},
		{"vendor instruction on a plain card", apdu.Command{INS: 0xFD, Ne: 256}, 0x6D00},
		{"proprietary class", apdu.Command{CLA: 0x80, INS: 0xCB, P1: 0x3F, P2: 0xFF, Ne: 256}, 0x6E00},
	} {
		b, err := tc.cmd.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Transmit(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := apdu.ParseResponse(out)
		if err != nil || r.SW != tc.sw {
			t.Errorf("%s: SW %04X, want %04X (%v)", tc.name, r.SW, tc.sw, err)
		}
	}
}

// FuzzProcess sends arbitrary commands to the applet behind the card
// runtime: every one gets a status word, none panics.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, 0x5F, 0xC1, 0x05, 0x00})
	f.Add([]byte{0x00, 0x20, 0x00, 0x80, 0x08, '1', '2', '3', '4', '5', '6', 0xFF, 0xFF})
	f.Add([]byte{0x00, 0x87, 0x03, 0x9B, 0x04, 0x7C, 0x02, 0x80, 0x00, 0x00})
	f.Add([]byte{0x00, 0x87, 0x11, 0x9A, 0x06, 0x7C, 0x04, 0x82, 0x00, 0x81, 0x00, 0x00})
	f.Add([]byte{0x00, 0xF7, 0x00, 0x80, 0x00})
	a, _ := pivapplet.New(pivapplet.Config{Vendor: true})
	c, _ := virtual.NewCard(virtual.Config{}, a)
	ctx := context.Background()
	sel, _ := apdu.Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256}.Bytes()
	f.Fuzz(func(t *testing.T, cmd []byte) {
		if _, err := c.Transmit(ctx, sel); err != nil {
			t.Fatal(err)
		}
		out, err := c.Transmit(ctx, cmd)
		if err != nil {
			t.Fatalf("transmit: %v", err)
		}
		if len(out) < 2 {
			t.Fatalf("answer without status word: %x", out)
		}
	})
}

// TestAnswersLikeT1Card sends each PIV instruction as PIV middleware does,
// mostly without Le (libykpiv's SELECT and GET DATA carry none): the card
// answers the data with 9000 when a short response holds it, and 61xx with
// GET RESPONSE only beyond 256 bytes (virtual.Card's sizing gives the
// ISO/IEC 7816-3 reading behind it).
func TestAnswersLikeT1Card(t *testing.T) {
	ctx := context.Background()
	tc, err := testcard.New(testcard.Options{AuthAlg: pivapplet.AlgRSA2048, SignAlg: pivapplet.AlgECCP384, Vendor: true})
	if err != nil {
		t.Fatal(err)
	}
	send := func(hexCmd string) apdu.Response {
		t.Helper()
		b, err := hex.DecodeString(strings.ReplaceAll(hexCmd, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		out, err := tc.Transmit(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := apdu.ParseResponse(out)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	pinBlock := hex.EncodeToString(append([]byte(tc.PIN), 0xFF, 0xFF))

	// SELECT, case 3: the application property template (SP 800-73-4
	// Part 2 §3.1.1) and 9000.
	if r := send("00 A4 04 00 05 A0 00 00 03 08"); r.SW != apdu.SWOK || hex.EncodeToString(r.Data) != "61114f0600001000010079074f05a000000308" {
		t.Fatalf("SELECT without Le: % X %04X", r.Data, r.SW)
	}
	// GET DATA of the CCC fits: 9000. (The CHUID, with its issuer
	// signature and content signing certificate, no longer does.)
	if r := send("00 CB 3F FF 05 5C 03 5F C1 07"); r.SW != apdu.SWOK || len(r.Data) < 20 || r.Data[0] != 0x53 {
		t.Fatalf("GET DATA CCC without Le: %d bytes, %04X", len(r.Data), r.SW)
	}
	// A certificate object does not: 256 bytes, 61xx, then the rest.
	r := send("00 CB 3F FF 05 5C 03 5F C1 05")
	if len(r.Data) != 256 || r.SW1() != 0x61 {
		t.Fatalf("GET DATA 9A certificate without Le: %d bytes, %04X; want 256 and 61xx", len(r.Data), r.SW)
	}
	object := r.Data
	for r.SW1() == 0x61 {
		r = send("00 C0 00 00 " + hex.EncodeToString([]byte{r.SW2()}))
		object = append(object, r.Data...)
	}
	if r.SW != apdu.SWOK || !bytes.Contains(object, tc.AuthCert.Raw) {
		t.Fatalf("the certificate object through GET RESPONSE: %d bytes, %04X", len(object), r.SW)
	}
	// VERIFY, case 3: no data.
	if r := send("00 20 00 80 08 " + pinBlock); r.SW != apdu.SWOK || len(r.Data) != 0 {
		t.Fatalf("VERIFY: % X %04X", r.Data, r.SW)
	}
	// GENERAL AUTHENTICATE with RSA-2048, its 266 bytes chained as a
	// short-length host sends them, case 3: the 264-byte answer exceeds a
	// short one.
	block := make([]byte, 256)
	block[1] = 0x01 // below the modulus
	ga := "7C 82 01 06 82 00 81 82 01 00" + hex.EncodeToString(block)
	gaBytes, _ := hex.DecodeString(strings.ReplaceAll(ga, " ", ""))
	if r := send("10 87 07 9A C8 " + hex.EncodeToString(gaBytes[:200])); r.SW != apdu.SWOK {
		t.Fatalf("first block: %04X", r.SW)
	}
	r = send("00 87 07 9A 42 " + hex.EncodeToString(gaBytes[200:]))
	if r.SW != 0x6108 || len(r.Data) != 256 {
		t.Fatalf("RSA-2048 signature without Le: %d bytes, %04X; want 256 and 6108", len(r.Data), r.SW)
	}
	rest := send("00 C0 00 00 " + hex.EncodeToString([]byte{r.SW2()}))
	if rest.SW != apdu.SWOK || len(r.Data)+len(rest.Data) != 264 {
		t.Fatalf("the rest of the RSA signature: %d bytes, %04X", len(rest.Data), rest.SW)
	}
	// ECDSA P-384 with a SHA-256 digest (shorter than the key), case 3:
	// fits, 9000; a digest longer than the key is refused.
	send("00 20 00 80 08 " + pinBlock)
	digest := strings.Repeat("11", 32)
	if r := send("00 87 14 9C 26 7C 24 82 00 81 20 " + digest); r.SW != apdu.SWOK || len(r.Data) == 0 || r.Data[0] != 0x7C {
		t.Fatalf("P-384 signature over 32 bytes without Le: % X %04X", r.Data, r.SW)
	}
	send("00 20 00 80 08 " + pinBlock)
	if r := send("00 87 14 9C 37 7C 35 82 00 81 31 " + strings.Repeat("11", 49)); r.SW != 0x6A80 {
		t.Fatalf("P-384 signature over 49 bytes: %04X, want 6A80", r.SW)
	}
	// Vendor GET VERSION, case 1: three bytes and 9000.
	if r := send("00 FD 00 00"); r.SW != apdu.SWOK || len(r.Data) != 3 {
		t.Fatalf("GET VERSION without Le: % X %04X", r.Data, r.SW)
	}
}

// TestPINProtectedObjects: SP 800-73-4 Part 1 Table 1 gives the cardholder's
// fingerprints, facial image, iris images (access rule PIN), printed
// information and pairing code reference data (PIN or OCC) a read rule other
// than Always: GET DATA answers 6982 until the PIN is verified, and the
// objects read Always (here the CHUID) answer without it. The biometric
// ones the applet never holds (package comment): SetObject refuses them,
// and after the PIN they answer 6A82, as absent objects do.
func TestPINProtectedObjects(t *testing.T) {
	ctx := context.Background()
	c := newCardWith(t, func(a *pivapplet.Applet) {
		for _, id := range [][]byte{{0x5F, 0xC1, 0x02}, {0x5F, 0xC1, 0x09}, {0x5F, 0xC1, 0x23}} {
			if err := a.SetObject(id, []byte{0x01, 0x01, id[2], 0xFE, 0x00}); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range [][]byte{{0x5F, 0xC1, 0x03}, {0x5F, 0xC1, 0x08}, {0x5F, 0xC1, 0x21}} {
			if err := a.SetObject(id, []byte{0x01, 0x01, id[2], 0xFE, 0x00}); !errors.Is(err, pivapplet.ErrBiometric) {
				t.Fatalf("SetObject(%X): %v, want ErrBiometric", id, err)
			}
		}
	})
	get := func(id byte) uint16 {
		t.Helper()
		r, err := (&apdu.Client{Transport: c}).Send(ctx, apdu.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: []byte{0x5C, 0x03, 0x5F, 0xC1, id}, Ne: 256})
		if err != nil {
			t.Fatal(err)
		}
		if r.SW == apdu.SWOK && !bytes.Equal(r.Data, []byte{0x53, 0x05, 0x01, 0x01, id, 0xFE, 0x00}) {
			t.Fatalf("object 5FC1%02X: % X", id, r.Data)
		}
		return r.SW
	}
	for _, id := range []byte{0x03, 0x08, 0x09, 0x21, 0x23} {
		if sw := get(id); sw != apdu.SWSecurityStatus {
			t.Errorf("object 5FC1%02X without the PIN: %04X, want 6982", id, sw)
		}
	}
	if sw := get(0x02); sw != apdu.SWOK {
		t.Errorf("CHUID without the PIN: %04X, want 9000", sw)
	}
	if _, err := apdu.Do(ctx, c, apdu.Command{INS: 0x20, P2: 0x80, Data: append([]byte(pivapplet.DefaultPIN), 0xFF, 0xFF)}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[byte]uint16{0x09: apdu.SWOK, 0x23: apdu.SWOK, 0x03: 0x6A82, 0x08: 0x6A82, 0x21: 0x6A82} {
		if sw := get(id); sw != want {
			t.Errorf("object 5FC1%02X after the PIN: %04X, want %04X", id, sw, want)
		}
	}
}

// TestNoBiometricsThroughPUTDATA: the card application administrator cannot
// put biometric data into the PIV applet either (package comment): PUT DATA
// of the fingerprints, facial image or iris images answers 6A81, and the
// container stays absent.
func TestNoBiometricsThroughPUTDATA(t *testing.T) {
	a, err := pivapplet.New(pivapplet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := virtual.NewCard(virtual.Config{}, a)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := apdu.Do(ctx, c, apdu.Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256}); err != nil {
		t.Fatal(err)
	}
	authenticateAdmin(t, c)
	for _, id := range []byte{0x03, 0x08, 0x21} {
		r, err := (&apdu.Client{Transport: c}).Send(ctx, apdu.Command{INS: 0xDB, P1: 0x3F, P2: 0xFF,
			Data: []byte{0x5C, 0x03, 0x5F, 0xC1, id, 0x53, 0x03, 0xBC, 0x01, 0x00}})
		if err != nil {
			t.Fatal(err)
		}
		if r.SW != 0x6A81 {
			t.Errorf("PUT DATA 5FC1%02X: %04X, want 6A81", id, r.SW)
		}
		if _, held := a.Object([]byte{0x5F, 0xC1, id}); held {
			t.Errorf("object 5FC1%02X is held after PUT DATA", id)
		}
	}
}

// TestReferenceDataP1: SP 800-73-4 Part 2 §3.2.2 and §3.2.3 define CHANGE
// REFERENCE DATA and RESET RETRY COUNTER with P1 00 only; ISO/IEC 7816-4
// §11.5.7 and §11.5.10 give other P1 values other data fields (new reference
// data alone, no data). The card refuses them with 6A86 rather than read the
// data as old and new PIN, and the PIN stays as it was.
func TestReferenceDataP1(t *testing.T) {
	ctx := context.Background()
	c := newCard(t)
	pin := append([]byte(pivapplet.DefaultPIN), 0xFF, 0xFF)
	newPIN := []byte("654321\xFF\xFF")
	puk := []byte(pivapplet.DefaultPUK)
	for _, tc := range []struct {
		name string
		cmd  apdu.Command
	}{
		{"CHANGE REFERENCE DATA, P1 01", apdu.Command{INS: 0x24, P1: 0x01, P2: 0x80, Data: append(bytes.Clone(pin), newPIN...)}},
		{"CHANGE REFERENCE DATA, P1 FF", apdu.Command{INS: 0x24, P1: 0xFF, P2: 0x80, Data: append(bytes.Clone(pin), newPIN...)}},
		{"RESET RETRY COUNTER, P1 01", apdu.Command{INS: 0x2C, P1: 0x01, P2: 0x80, Data: append(bytes.Clone(puk), newPIN...)}},
		{"RESET RETRY COUNTER, P1 02", apdu.Command{INS: 0x2C, P1: 0x02, P2: 0x80, Data: append(bytes.Clone(puk), newPIN...)}},
	} {
		r, err := (&apdu.Client{Transport: c}).Send(ctx, tc.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if r.SW != apdu.SWWrongP1P2 {
			t.Errorf("%s: %04X, want 6A86", tc.name, r.SW)
		}
	}
	if _, err := apdu.Do(ctx, c, apdu.Command{INS: 0x20, P2: 0x80, Data: pin}); err != nil {
		t.Errorf("the PIN after the refused commands: %v", err)
	}
}

// TestSelectKeepsOrClearsSecurityStatus follows SP 800-73-4 Part 2 §3.1.1:
// SELECT of the PIV application while it is current (by its truncated or
// full AID) leaves the security status as it was, and so does SELECT of an
// AID the card does not hold (6A82, PIV stays current); selecting another
// application on the card resets it, so the PIN is asked again.
func TestSelectKeepsOrClearsSecurityStatus(t *testing.T) {
	ctx := context.Background()
	a, err := pivapplet.New(pivapplet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := virtual.NewCard(virtual.Config{}, a, virtual.NewEchoApplet())
	if err != nil {
		t.Fatal(err)
	}
	send := func(cmd apdu.Command) uint16 {
		t.Helper()
		r, err := (&apdu.Client{Transport: c}).Send(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return r.SW
	}
	selectAID := func(aid []byte) uint16 { return send(apdu.Command{INS: 0xA4, P1: 0x04, Data: aid, Ne: 256}) }
	pinStatus := func() uint16 { return send(apdu.Command{INS: 0x20, P2: 0x80}) }
	piv := []byte{0xA0, 0x00, 0x00, 0x03, 0x08}
	selectAID(piv)
	if sw := send(apdu.Command{INS: 0x20, P2: 0x80, Data: append([]byte(pivapplet.DefaultPIN), 0xFF, 0xFF)}); sw != apdu.SWOK {
		t.Fatalf("VERIFY: %04X", sw)
	}
	for _, step := range []struct {
		name      string
		aid       []byte
		selectSW  uint16
		statusSW  uint16
		statusWhy string
	}{
		{"PIV again, truncated AID", piv, apdu.SWOK, apdu.SWOK, "verified"},
		{"PIV again, full AID", a.AID(), apdu.SWOK, apdu.SWOK, "verified"},
		{"an AID not on the card", []byte{0xA0, 0x00, 0x00, 0x05, 0x27, 0x20, 0x01, 0x01}, apdu.SWFileNotFound, apdu.SWOK, "verified"},
		{"another application, then PIV", virtual.EchoAID(), apdu.SWOK, 0x63C3, "not verified, 3 tries"},
	} {
		if sw := selectAID(step.aid); sw != step.selectSW {
			t.Fatalf("SELECT %s: %04X, want %04X", step.name, sw, step.selectSW)
		}
		if bytes.Equal(step.aid, virtual.EchoAID()) {
			if sw := selectAID(piv); sw != apdu.SWOK {
				t.Fatalf("SELECT PIV: %04X", sw)
			}
		}
		if sw := pinStatus(); sw != step.statusSW {
			t.Errorf("after SELECT %s: empty VERIFY %04X, want %04X (%s)", step.name, sw, step.statusSW, step.statusWhy)
		}
	}
}

// TestManagementKeyExternalAuthenticate: the card application administrator
// authenticates with the management key in one direction too (SP 800-73-4
// Part 2 Appendix A; OpenSC's piv-tool -A A:9B:03 and Yubico's "single
// authentication"): 7C{81 00} asks for a challenge, 7C{81 challenge} answers,
// 7C{82 E(challenge)} proves the key. A wrong answer gets 6982 and no
// rights, and a challenge serves once.
func TestManagementKeyExternalAuthenticate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		alg  byte
		key  []byte
	}{
		{"3DES", pivapplet.Alg3DES, pivapplet.DefaultManagementKey()},
		{"AES-192", pivapplet.AlgAES192, bytes.Repeat([]byte{0x42}, 24)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := pivapplet.New(pivapplet.Config{ManagementKey: tc.key, ManagementKeyAlg: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			c, err := virtual.NewCard(virtual.Config{}, a)
			if err != nil {
				t.Fatal(err)
			}
			cl := &apdu.Client{Transport: c}
			send := func(data []byte) apdu.Response {
				t.Helper()
				r, err := cl.Send(ctx, apdu.Command{INS: 0x87, P1: tc.alg, P2: 0x9B, Data: data, Ne: 256})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			generate := func() uint16 {
				t.Helper()
				r, err := cl.Send(ctx, apdu.Command{INS: 0x47, P2: 0x9A, Data: []byte{0xAC, 0x03, 0x80, 0x01, 0x11}, Ne: 256})
				if err != nil {
					t.Fatal(err)
				}
				return r.SW
			}
			challenge := func() []byte {
				t.Helper()
				r := send([]byte{0x7C, 0x02, 0x81, 0x00})
				if r.SW != apdu.SWOK {
					t.Fatalf("challenge request: %04X", r.SW)
				}
				tmpl, _, err := apdu.DecodeTLV(r.Data)
				if err != nil || tmpl.Tag != 0x7C {
					t.Fatalf("challenge answer % X: %v", r.Data, err)
				}
				ch, err := apdu.Find(tmpl.Value, 0x81)
				if err != nil || len(ch.Value) == 0 {
					t.Fatalf("challenge answer % X: %v", r.Data, err)
				}
				return ch.Value
			}
			encrypt := func(in []byte) []byte {
				var blk cipher.Block
				if tc.alg == pivapplet.Alg3DES {
					blk, _ = des.NewTripleDESCipher(tc.key)
				} else {
					blk, _ = aes.NewCipher(tc.key)
				}
				out := make([]byte, len(in))
				blk.Encrypt(out, in)
				return out
			}
			answer := func(resp []byte) []byte {
				return append([]byte{0x7C, byte(2 + len(resp)), 0x82, byte(len(resp))}, resp...)
			}
			selectAID := apdu.Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256}
			if _, err := cl.Do(ctx, selectAID); err != nil {
				t.Fatal(err)
			}

			// A wrong answer: 6982, no rights.
			ch := challenge()
			wrong := encrypt(ch)
			wrong[0] ^= 1
			if r := send(answer(wrong)); r.SW != apdu.SWSecurityStatus {
				t.Fatalf("wrong answer: %04X, want 6982", r.SW)
			}
			if sw := generate(); sw != apdu.SWSecurityStatus {
				t.Fatalf("GENERATE after a wrong answer: %04X, want 6982", sw)
			}
			// The right one: 9000 without data, then GENERATE works.
			ch = challenge()
			right := answer(encrypt(ch))
			if r := send(right); r.SW != apdu.SWOK || len(r.Data) != 0 {
				t.Fatalf("right answer: % X %04X, want 9000", r.Data, r.SW)
			}
			if sw := generate(); sw != apdu.SWOK {
				t.Fatalf("GENERATE after external authentication: %04X", sw)
			}
			// Algorithm reference 00 is Triple DES too (SP 800-78-4 Table
			// 6-2), not another algorithm.
			r, err := cl.Send(ctx, apdu.Command{INS: 0x87, P1: 0x00, P2: 0x9B, Data: []byte{0x7C, 0x02, 0x81, 0x00}, Ne: 256})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]uint16{true: apdu.SWOK, false: apdu.SWWrongData}[tc.alg == pivapplet.Alg3DES]; r.SW != want {
				t.Fatalf("challenge request with algorithm 00: %04X, want %04X", r.SW, want)
			}
			// The challenge served once: its answer replayed after a
			// reselect of another session is refused.
			c.Reset()
			if _, err := cl.Do(ctx, selectAID); err != nil {
				t.Fatal(err)
			}
			if r := send(right); r.SW != apdu.SWSecurityStatus {
				t.Fatalf("replayed answer: %04X, want 6982", r.SW)
			}
		})
	}
}

// TestKeyAgreement: an ECC key management key (9D) agrees a secret with the
// host's ephemeral public point, sent in tag 85 of GENERAL AUTHENTICATE (SP
// 800-73-4 Part 2 §3.2.4 and Appendix A, ECC key establishment); the card
// answers Z, the x-coordinate of the shared point, in 82, and needs the PIN
// first. The signature key does not agree keys.
func TestKeyAgreement(t *testing.T) {
	ctx := context.Background()
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			cardKey, err := ecdsa.GenerateKey(curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			c := newCardWith(t, func(a *pivapplet.Applet) {
				if err := a.ImportKey(pivapplet.SlotKeyManagement, cardKey); err != nil {
					t.Fatal(err)
				}
				if err := a.ImportKey(pivapplet.SlotSignature, cardKey); err != nil {
					t.Fatal(err)
				}
			})
			alg := pivapplet.AlgECCP256
			if curve == elliptic.P384() {
				alg = pivapplet.AlgECCP384
			}
			host, err := ecdsa.GenerateKey(curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			hostECDH, _ := host.ECDH()
			point := hostECDH.PublicKey().Bytes()
			var b apdu.TLVBuilder
			b.AddConstructed(0x7C, func(in *apdu.TLVBuilder) {
				in.Add(0x82, nil)
				in.Add(0x85, point)
			})
			data, _ := b.Bytes()
			agree := func(slot byte) apdu.Response {
				t.Helper()
				r, err := (&apdu.Client{Transport: c}).Send(ctx, apdu.Command{INS: 0x87, P1: alg, P2: slot, Data: data, Ne: 256})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			if r := agree(0x9D); r.SW != apdu.SWSecurityStatus {
				t.Fatalf("without the PIN: %04X, want 6982", r.SW)
			}
			if _, err := apdu.Do(ctx, c, apdu.Command{INS: 0x20, P2: 0x80, Data: append([]byte(pivapplet.DefaultPIN), 0xFF, 0xFF)}); err != nil {
				t.Fatal(err)
			}
			r := agree(0x9D)
			if r.SW != apdu.SWOK {
				t.Fatalf("key agreement: %04X", r.SW)
			}
			tmpl, _, err := apdu.DecodeTLV(r.Data)
			if err != nil || tmpl.Tag != 0x7C {
				t.Fatalf("answer % X: %v", r.Data, err)
			}
			z, err := apdu.Find(tmpl.Value, 0x82)
			if err != nil {
				t.Fatal(err)
			}
			cardECDH, _ := cardKey.ECDH()
			want, err := hostECDH.ECDH(cardECDH.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(z.Value, want) {
				t.Fatalf("Z = %X, want %X", z.Value, want)
			}
			if r := agree(0x9C); r.SW != apdu.SWWrongData {
				t.Fatalf("key agreement with the signature key: %04X, want 6A80", r.SW)
			}
			// A point off the curve is refused.
			bad := bytes.Clone(data)
			bad[len(bad)-1] ^= 1
			r, err = (&apdu.Client{Transport: c}).Send(ctx, apdu.Command{INS: 0x87, P1: alg, P2: 0x9D, Data: bad, Ne: 256})
			if err != nil || r.SW != apdu.SWWrongData {
				t.Fatalf("a point off the curve: %04X, %v; want 6A80", r.SW, err)
			}
		})
	}
}

// TestDiscoveryObjectTag: GET DATA answers the discovery object (tag list
// 5C 01 7E) under its own tag 7E, not in a 53 wrapper, and the BIT group
// template (5C 02 7F 61) under 7F61 (SP 800-73-4 Part 1 §3.3.2 and §3.5,
// Part 2 §3.1.2); OpenSC reads the discovery object first thing and looks
// for 7E.
func TestDiscoveryObjectTag(t *testing.T) {
	ctx := context.Background()
	// PIV AID, then the PIN usage policy: PIV PIN only (Part 1 Table 19).
	discovery := []byte{0x4F, 0x0B, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x5F, 0x2F, 0x02, 0x40, 0x00}
	bit := []byte{0x02, 0x01, 0x00}
	c := newCardWith(t, func(a *pivapplet.Applet) {
		a.SetObject([]byte{0x7E}, discovery)
		a.SetObject([]byte{0x7F, 0x61}, bit)
	})
	for _, tc := range []struct {
		list, want []byte
	}{
		{[]byte{0x5C, 0x01, 0x7E}, append([]byte{0x7E, byte(len(discovery))}, discovery...)},
		{[]byte{0x5C, 0x02, 0x7F, 0x61}, append([]byte{0x7F, 0x61, byte(len(bit))}, bit...)},
	} {
		got, err := apdu.Do(ctx, c, apdu.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: tc.list, Ne: 256})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("GET DATA % X: % X, want % X", tc.list, got, tc.want)
		}
	}
}

// authenticateAdmin proves the factory management key (3DES) to the card by
// external authentication (SP 800-73-4 Part 2 Appendix A).
func authenticateAdmin(t *testing.T, c *virtual.Card) {
	t.Helper()
	ctx := context.Background()
	cl := &apdu.Client{Transport: c}
	r, err := cl.Send(ctx, apdu.Command{INS: 0x87, P1: pivapplet.Alg3DES, P2: 0x9B, Data: []byte{0x7C, 0x02, 0x81, 0x00}, Ne: 256})
	if err != nil || r.SW != apdu.SWOK {
		t.Fatalf("challenge: %v %04X", err, r.SW)
	}
	ch, err := apdu.FindPath(r.Data, 0x7C, 0x81)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := des.NewTripleDESCipher(pivapplet.DefaultManagementKey())
	if err != nil {
		t.Fatal(err)
	}
	enc := make([]byte, len(ch.Value))
	blk.Encrypt(enc, ch.Value)
	r, err = cl.Send(ctx, apdu.Command{INS: 0x87, P1: pivapplet.Alg3DES, P2: 0x9B, Data: append([]byte{0x7C, 0x0A, 0x82, 0x08}, enc...)})
	if err != nil || r.SW != apdu.SWOK {
		t.Fatalf("external authentication: %v %04X", err, r.SW)
	}
}
