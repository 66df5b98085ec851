package piv_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// pinPadReader stands for a reader with a PIN pad: the "holder" types a PIN
// on it, the reader writes it into the template's block and sends the
// command; the host sees only the status.
type pinPadReader struct {
	apdu.Transport
	typed string
	seen  apdu.PINPadRequest
}

func (r *pinPadReader) VerifyOnPINPad(ctx context.Context, req apdu.PINPadRequest) error {
	r.seen = req
	cmd := append([]byte(nil), req.Template...)
	copy(cmd[5+req.Offset:], r.typed)
	_, err := apdu.Do(ctx, r.Transport, mustParse(cmd))
	return err
}

func mustParse(b []byte) apdu.Command {
	c, _, err := apdu.ParseCommand(b)
	if err != nil {
		panic(err)
	}
	return c
}

func TestPINPad(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	reader := &pinPadReader{Transport: card.Card, typed: "999999"}
	c, err := piv.Open(ctx, reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wp *apdu.WrongPINError
	if err := c.VerifyPINPad(ctx, 30*time.Second, nil); !errors.As(err, &wp) || wp.TriesLeft != 2 {
		t.Fatalf("wrong PIN on the pad: %v", err)
	}
	if r := reader.seen; r.BlockSize != 8 || r.MinDigits != 6 || r.MaxDigits != 8 || r.Timeout != 30*time.Second ||
		string(r.Template) != "\x00\x20\x00\x80\x08\xff\xff\xff\xff\xff\xff\xff\xff" {
		t.Fatalf("PIN pad request %+v", r)
	}
	c.VerifyPINPad(ctx, 0, nil) // 1 left
	if err := c.VerifyPINPad(ctx, 0, nil); !errors.Is(err, piv.ErrLastTry) {
		t.Fatalf("the guard on the PIN pad: %v", err)
	}
	reader.typed = card.PIN
	if err := c.VerifyPINPad(ctx, 0, &piv.VerifyOptions{AllowLastTry: true}); err != nil {
		t.Fatalf("right PIN on the pad: %v", err)
	}
	if st, _ := c.PINStatus(ctx); !st.Verified {
		t.Fatal("not verified after the PIN pad")
	}
	plain, _ := piv.Open(ctx, card.Card, nil)
	if err := plain.VerifyPINPad(ctx, 0, nil); !errors.Is(err, apdu.ErrNoPINPad) {
		t.Fatalf("a reader without PIN pad: %v", err)
	}
}

// HasPINPad implements apdu.PINPadChecker for the fake reader.
func (r *pinPadReader) HasPINPad(context.Context) bool { return true }

// TestSignOnPINPad: the e-signature key asks for the PIN before each
// signature; with SignerOptions.PINPad the holder types it on the reader
// every time, the PIN callback is never used, and the signature verifies.
func TestSignOnPINPad(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reader := &pinPadReader{Transport: card.Card, typed: card.PIN}
	c, err := piv.Open(ctx, reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.HasPINPad(ctx) {
		t.Fatal("HasPINPad is false on a reader that has one")
	}
	if plain, _ := piv.Open(ctx, card.Card, nil); plain.HasPINPad(ctx) {
		t.Fatal("HasPINPad is true without a PIN pad")
	}
	s, err := c.Signer(piv.SlotSignature, card.SignCert.PublicKey, &piv.SignerOptions{
		PINPad: true, PINPadTimeout: 20 * time.Second,
		PIN: func(context.Context) (string, error) { t.Fatal("the PIN callback was called"); return "", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		digest := sha256.Sum256([]byte{byte(i)})
		reader.seen = apdu.PINPadRequest{}
		sig, err := s.SignContext(ctx, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("signature %d: %v", i+1, err)
		}
		if reader.seen.Timeout != 20*time.Second {
			t.Fatalf("signature %d did not ask the PIN pad (request %+v)", i+1, reader.seen)
		}
		if !ecdsa.VerifyASN1(card.SignCert.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("signature %d does not verify", i+1)
		}
	}
	reader.typed = "999999"
	digest := sha256.Sum256([]byte("x"))
	var wp *apdu.WrongPINError
	if _, err := s.SignContext(ctx, digest[:], crypto.SHA256); !errors.As(err, &wp) || wp.TriesLeft != 2 {
		t.Fatalf("wrong PIN on the pad: %v", err)
	}
	noPad, _ := piv.Open(ctx, card.Card, nil)
	s2, _ := noPad.Signer(piv.SlotSignature, card.SignCert.PublicKey, &piv.SignerOptions{PINPad: true})
	if _, err := s2.SignContext(ctx, digest[:], crypto.SHA256); !errors.Is(err, apdu.ErrNoPINPad) {
		t.Fatalf("PINPad on a reader without one: %v", err)
	}
}
