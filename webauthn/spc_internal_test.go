package webauthn

import (
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
)

// chromiumPaymentGet is the clientDataJSON Debian's Chromium 156 signed
// for an SPC request of 100.00 EUR to "Muster GmbH" (headless, DevTools
// virtual authenticator, setSPCTransactionMode autoAccept): a peer's bytes,
// with the member order, the empty paymentEntitiesLogos and the absent
// optional members it writes.
const chromiumPaymentGet = `{"type":"payment.get","challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","origin":"http://localhost:38325","crossOrigin":false,"payment":{"rpId":"localhost","topOrigin":"http://localhost:38325","payeeName":"Muster GmbH","paymentEntitiesLogos":[],"total":{"value":"100.00","currency":"EUR"},"instrument":{"icon":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==","displayName":"Alice's account"}}}`

func chromiumWant() *spcPayment {
	payee := "Muster GmbH"
	return &spcPayment{RPID: "localhost", TopOrigin: "http://localhost:38325", PayeeName: &payee,
		Total: &spcAmount{Currency: "EUR", Value: "100.00"},
		Instrument: &spcInstrument{DisplayName: "Alice's account",
			Icon: "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="}}
}

// TestSPCChromiumClientData: what Chromium signs passes the checks of SPC
// §sctn-verifying-assertion against what was asked for, and fails them for
// another amount or payee.
func TestSPCChromiumClientData(t *testing.T) {
	got, err := spcClientPayment([]byte(chromiumPaymentGet))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromiumWant().check(got); err != nil {
		t.Fatal(err)
	}
	w := chromiumWant()
	w.Total.Value = "100.01"
	if err := w.check(got); !errors.Is(err, ErrPaymentMismatch) {
		t.Errorf("100.01: %v", err)
	}
	w = chromiumWant()
	other := "Muster AG"
	w.PayeeName = &other
	if err := w.check(got); !errors.Is(err, ErrPaymentMismatch) {
		t.Errorf("another payee: %v", err)
	}
}

// FuzzSPCClientData feeds outside bytes (the browser's clientDataJSON) to
// the payment member's reading and checks: typed errors, no panic, and
// nothing but the expected payment accepted.
func FuzzSPCClientData(f *testing.F) {
	f.Add([]byte(chromiumPaymentGet))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := spcClientPayment(b)
		if err != nil {
			if !errors.Is(err, ErrNotPayment) && !errors.Is(err, ErrMalformedResponse) || !errors.Is(err, identity.ErrInvalidResponse) {
				t.Fatalf("error %v is not typed", err)
			}
			return
		}
		want := chromiumWant()
		if err := want.check(got); err != nil {
			if !errors.Is(err, ErrPaymentMismatch) {
				t.Fatalf("check: %v", err)
			}
			return
		}
		if got.RPID != want.RPID || got.TopOrigin != want.TopOrigin || *got.PayeeName != *want.PayeeName || got.Instrument.DisplayName != want.Instrument.DisplayName {
			t.Fatalf("accepted %+v", got)
		}
	})
}
