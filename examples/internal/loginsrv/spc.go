package loginsrv

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/webauthn"
)

// Secure Payment Confirmation (W3C SPC) on the payment page: a passkey
// registered for payments on the account page ("Register this device for
// payments", webauthn.Factor.BeginEnrollPayment) approves through the
// browser's own payment dialog, which shows the amount, the payee with the
// IBAN and the instrument (the holder's account) and has the passkey sign
// them. The page uses it where the browser has SPC and falls back to a
// plain WebAuthn approval otherwise; both are bound to the payment's
// digest, SPC adds what the dialog showed, which webauthn.FinishSPC checks
// against the server's copy. Its approvals are served at
// /auth/approve/webauthn-spc/… and their proofs are of kind "webauthn",
// with Claims["spc"] set.

// spcInstrument is the instrument the dialog shows: the holder's account
// at this bank, with the bank's icon.
func (s *Server) spcInstrument(_ context.Context, req identity.Request) (webauthn.SPCOptions, error) {
	return webauthn.SPCOptions{Instrument: webauthn.PaymentInstrument{
		DisplayName: fmt.Sprintf("%s, current account of %s", s.cfg.SiteName, req.Subject),
		Icon:        s.wa.icon,
	}}, nil
}

// hasPaymentPasskey reports whether the subject holds a WebAuthn credential
// registered for payments (SPC).
func (s *Server) hasPaymentPasskey(ctx context.Context, subject identity.Subject) (bool, error) {
	if s.wa == nil {
		return false, nil
	}
	creds, err := s.cfg.Store.Credentials(ctx, subject, identity.KindWebAuthn)
	if err != nil {
		return false, err
	}
	for i := range creds {
		if rec, err := webauthn.DecodeRecord(&creds[i]); err == nil && creds[i].Active && rec.Payment {
			return true, nil
		}
	}
	return false, nil
}

// instrumentIcon draws the bank's instrument icon (a card in the
// example's blue) as a data: URL. SPC's dialog must show the icon
// (iconMustBeShown defaults to true), and a data: URL puts the very image
// into what the passkey signs.
func instrumentIcon() string {
	const w, h = 32, 20
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	blue, stripe, chip := color.RGBA{0x1d, 0x4e, 0x89, 0xff}, color.RGBA{0x0b, 0x25, 0x45, 0xff}, color.RGBA{0xe0, 0xb8, 0x4a, 0xff}
	for y := range h {
		for x := range w {
			c := blue
			switch {
			case y >= 4 && y < 7:
				c = stripe
			case x >= 4 && x < 10 && y >= 10 && y < 15:
				c = chip
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // writing to memory does not fail
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}
