package pcsc

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

func TestParseFeatures(t *testing.T) {
	f, err := parseFeatures([]byte{0x06, 4, 0x42, 0x33, 0x00, 0x06, 0x12, 4, 0x42, 0x33, 0x00, 0x12})
	if err != nil || f[FeatureVerifyPINDirect] != 0x42330006 || f[FeatureGetTLVProperties] != 0x42330012 || len(f) != 2 {
		t.Fatalf("features %v, %v", f, err)
	}
	if !f.Has(FeatureVerifyPINDirect) || f.Has(FeatureModifyPINDirect) {
		t.Fatal("Has")
	}
	for _, bad := range [][]byte{{0x06}, {0x06, 3, 1, 2, 3}, {0x06, 4, 1, 2, 3}} {
		if _, err := parseFeatures(bad); !errors.Is(err, ErrFeatureList) {
			t.Errorf("% X: %v, want ErrFeatureList", bad, err)
		}
	}
	p, err := parseTLVProperties([]byte{0x0A, 4, 0x00, 0x00, 0x01, 0x00, 0x06, 1, 4})
	if err != nil || !bytes.Equal(p[propMaxAPDUDataSize], []byte{0, 0, 1, 0}) || !bytes.Equal(p[6], []byte{4}) {
		t.Fatalf("properties %v, %v", p, err)
	}
	if _, err := parseTLVProperties([]byte{0x0A, 4, 0}); !errors.Is(err, ErrFeatureList) {
		t.Fatalf("truncated property: %v", err)
	}
}

func FuzzParseFeatures(f *testing.F) {
	f.Add([]byte{0x06, 4, 0x42, 0x33, 0x00, 0x06})
	f.Add([]byte{0x0A, 4, 0x00, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		// PC/SC part 10 §2.2: the list is entries of six bytes, each a
		// tag, the length 4 and a big-endian control code; a later entry
		// for a tag stands.
		wellFormed, want := len(b)%6 == 0, Features{}
		for i := 0; wellFormed && i < len(b); i += 6 {
			wellFormed = b[i+1] == 4
			want[Feature(b[i])] = uint32(b[i+2])<<24 | uint32(b[i+3])<<16 | uint32(b[i+4])<<8 | uint32(b[i+5])
		}
		feats, err := parseFeatures(b)
		switch {
		case err != nil && !errors.Is(err, ErrFeatureList):
			t.Fatalf("% X: untyped error %v", b, err)
		case (err == nil) != wellFormed:
			t.Fatalf("% X: %v, well-formed %v", b, err, wellFormed)
		case err == nil && !maps.Equal(feats, want):
			t.Fatalf("% X: %v, want %v", b, feats, want)
		}
		props, err := parseTLVProperties(b)
		if err != nil && !errors.Is(err, ErrFeatureList) {
			t.Fatalf("% X: untyped error %v", b, err)
		}
		n := 0
		for _, v := range props {
			n += 2 + len(v)
		}
		if err == nil && n > len(b) {
			t.Fatalf("% X: properties %v hold more than the bytes", b, props)
		}
	})
}

// piv is the PIV VERIFY template (NIST SP 800-73-4 §3.2.1): the PIN block
// holds FF padding that the reader overwrites.
var pivTemplate = []byte{0x00, 0x20, 0x00, 0x80, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

func TestPINVerifyStructure(t *testing.T) {
	s, err := PINPad{Timeout: 30 * time.Second, Format: PINASCII, BlockSize: 8, MinDigits: 6, MaxDigits: 8}.verifyStructure(pivTemplate)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		30, 0, // bTimerOut, bTimerOut2
		0x82,       // bmFormatString: units bytes, offset 0, left, ASCII
		0x08,       // bmPINBlockString: no length field, 8-byte block
		0x00,       // bmPINLengthFormat
		0x08, 0x06, // wPINMaxExtraDigit = 0x0608, little-endian
		0x02,       // bEntryValidationCondition: OK key
		0x01,       // bNumberMessage
		0x09, 0x04, // wLangId 0x0409
		0x00,             // bMsgIndex
		0x00, 0x00, 0x00, // bTeoPrologue
		13, 0, 0, 0, // ulDataLength
	}
	want = append(want, pivTemplate...)
	if !bytes.Equal(s, want) {
		t.Fatalf("PIN_VERIFY_STRUCTURE\n got % X\nwant % X", s, want)
	}

	// ISO 9564 format 2 block: 2L PP PP …, BCD, length nibble at bit 4.
	s, err = PINPad{Format: PINBCD, PINOffset: 1, BlockSize: 7, LengthBits: 4, LengthOffset: 4, MinDigits: 4, MaxDigits: 12, RightJustify: true, Validation: ValidateKey | ValidateMaxDigits, LangID: 0x0407}.
		verifyStructure([]byte{0x00, 0x20, 0x00, 0x81, 0x08, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	if err != nil {
		t.Fatal(err)
	}
	if s[2] != 0x80|1<<3|0x04|0x01 || s[3] != 0x47 || s[4] != 0x04 || s[5] != 12 || s[6] != 4 || s[7] != 0x03 || s[9] != 0x07 || s[10] != 0x04 {
		t.Fatalf("format 2 structure % X", s[:19])
	}

	for name, p := range map[string]PINPad{
		"offset":  {PINOffset: 16},
		"min>max": {MinDigits: 8, MaxDigits: 6},
		"timeout": {Timeout: 300 * time.Second},
		"block":   {BlockSize: 9},
		"format":  {Format: 3},
	} {
		if _, err := p.verifyStructure(pivTemplate); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := (PINPad{}).verifyStructure([]byte{0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x02, 0x01, 0x02}); err == nil {
		t.Error("extended template accepted")
	}
}

func TestPINPadResult(t *testing.T) {
	var wrong *apdu.WrongPINError
	for _, tc := range []struct {
		out  []byte
		test func(error) bool
	}{
		{[]byte{0x90, 0x00}, func(err error) bool { return err == nil }},
		{[]byte{0x63, 0xC2}, func(err error) bool { return errors.As(err, &wrong) && wrong.TriesLeft == 2 }},
		{[]byte{0x69, 0x83}, func(err error) bool { return errors.Is(err, apdu.ErrBlocked) }},
		{[]byte{0x64, 0x00}, func(err error) bool { return errors.Is(err, ErrTimeout) }},
		{[]byte{0x64, 0x01}, func(err error) bool { return errors.Is(err, ErrCancelled) }},
		{[]byte{0x64, 0x03}, func(err error) bool { return err != nil }},
		{[]byte{0x6B, 0x80}, func(err error) bool { return err != nil }},
		{[]byte{0x90}, func(err error) bool { return errors.Is(err, apdu.ErrShortResponse) }},
	} {
		if err := pinPadResult(tc.out); !tc.test(err) {
			t.Errorf("% X: %v", tc.out, err)
		}
	}
}

func TestVerifyPINDirect(t *testing.T) {
	ctx := t.Context()
	f, _ := newFake(t, virtual.Config{})
	card := fakeCard(t, f, ConnectOptions{})
	if _, err := card.Do(ctx, echoSelect); err != nil {
		t.Fatal(err)
	}
	template := []byte{0x00, 0x20, 0x00, 0x80, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
	pad := PINPad{Format: PINASCII, BlockSize: 6, MinDigits: 6, MaxDigits: 6}

	// No PIN pad: ErrUnsupported, and the feature list is empty, not an error.
	if err := card.VerifyPINDirect(ctx, template, pad); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("reader without PIN pad: %v, want ErrUnsupported", err)
	}
	if feats, err := card.Features(ctx); err != nil || len(feats) != 0 {
		t.Fatalf("features %v, %v", feats, err)
	}

	f2, _ := newFake(t, virtual.Config{})
	f2.pinpad = true
	card2 := fakeCard(t, f2, ConnectOptions{})
	if feats, err := card2.Features(ctx); err != nil || !feats.Has(FeatureVerifyPINDirect) {
		t.Fatalf("features %v, %v", feats, err)
	}
	err := card2.Transaction(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := (&apdu.Client{Transport: tx}).Do(ctx, echoSelect); err != nil {
			return err
		}
		if err := tx.VerifyPINDirect(ctx, template, pad); err != nil {
			return err
		}
		secret, err := (&apdu.Client{Transport: tx}).Do(ctx, echoCmd(virtual.EchoINSSecret, 0, nil, 256))
		if err == nil && string(secret) != "secret" {
			t.Errorf("secret %q", secret)
		}
		return err
	})
	if err != nil {
		t.Fatalf("PIN pad verification: %v", err)
	}
	// The host sent only the template: the structure holds no PIN.
	if bytes.Contains(f2.lastCtl, []byte(virtual.EchoPIN)) {
		t.Fatal("the PIN reached the host")
	}
	if err := card2.VerifyPINDirect(ctx, template, PINPad{Format: PINASCII, BlockSize: 6, MinDigits: 8, MaxDigits: 8}); err == nil {
		t.Fatal("PIN of the wrong length accepted")
	}
}

// A card application handed a Tx (piv opening the card, verifying the PIN
// and signing in one transaction, as the card agent does) must see the
// reader's PIN pad as it would on the Card: otherwise it asks for the PIN
// on screen and the PIN crosses the host although the reader has keys for
// it (PC/SC part 10 §2.5.2, FEATURE_VERIFY_PIN_DIRECT).
func TestTxOffersThePINPad(t *testing.T) {
	ctx := t.Context()
	template := []byte{0x00, 0x20, 0x00, 0x80, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
	req := apdu.PINPadRequest{Template: template, BlockSize: 6, MinDigits: 6, MaxDigits: 6}
	for _, pinpad := range []bool{true, false} {
		f, _ := newFake(t, virtual.Config{})
		f.pinpad = pinpad
		card := fakeCard(t, f, ConnectOptions{})
		err := card.Transaction(ctx, func(ctx context.Context, tx *Tx) error {
			var tr apdu.Transport = tx
			checker, ok := tr.(apdu.PINPadChecker)
			if !ok {
				t.Fatal("a Tx does not say whether the reader has a PIN pad (apdu.PINPadChecker)")
			}
			verifier, ok := tr.(apdu.PINPadVerifier)
			if !ok {
				t.Fatal("a Tx cannot verify on the PIN pad (apdu.PINPadVerifier)")
			}
			if got := checker.HasPINPad(ctx); got != pinpad {
				t.Errorf("HasPINPad = %v on a reader with pinpad %v", got, pinpad)
			}
			if _, err := (&apdu.Client{Transport: tx}).Do(ctx, echoSelect); err != nil {
				return err
			}
			err := verifier.VerifyOnPINPad(ctx, req)
			if !pinpad {
				if !errors.Is(err, apdu.ErrNoPINPad) {
					t.Errorf("no PIN pad: %v, want apdu.ErrNoPINPad", err)
				}
				return nil
			}
			return err
		})
		if err != nil {
			t.Fatalf("pinpad %v: %v", pinpad, err)
		}
		if pinpad && bytes.Contains(f.lastCtl, []byte(virtual.EchoPIN)) {
			t.Fatal("the PIN reached the host")
		}
	}
}
