package esign_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestSignOnCard: the holder's one call signs a request whose attributes
// name the document shown and the card's certificate, and whose digest is
// theirs; anything else is refused before the card is asked for its PIN.
func TestSignOnCard(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := testcard.New(testcard.Options{})
	doc := []byte("Loan agreement 2026-1142: 12,000 EUR\n")
	at := time.Now().Truncate(time.Second)
	payload := func(doc []byte, f func(*esign.SignRequest)) []byte {
		p, err := esign.Prepare(doc, card.SignCert, at)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(doc)
		req := &esign.SignRequest{SignedAttributes: p.SignedAttributes, Digest: p.Digest, DocumentDigest: d[:], SigningTime: p.SigningTime}
		if f != nil {
			f(req)
		}
		b, _ := json.Marshal(req)
		return b
	}
	approval := sha256.Sum256([]byte("puce-approve:1:a payment the holder never saw"))
	otherAttrs, _ := esign.Prepare(doc, other.SignCert, at)

	for name, c := range map[string]struct {
		payload []byte
		want    error
	}{
		"digest of something else": {payload(doc, func(r *esign.SignRequest) { r.Digest = approval[:] }), esign.ErrRequest},
		"another document":         {payload([]byte("Loan agreement: 92,000 EUR\n"), nil), esign.ErrDocumentAltered},
		"another certificate": {payload(doc, func(r *esign.SignRequest) {
			r.SignedAttributes, r.Digest = otherAttrs.SignedAttributes, otherAttrs.Digest
		}), esign.ErrOtherCertificate},
		"another signing time": {payload(doc, func(r *esign.SignRequest) { r.SigningTime = at.Add(time.Hour) }), esign.ErrRequest},
	} {
		t.Run(name, func(t *testing.T) {
			_, sig, err := esign.SignOnCard(ctx, card.Card, c.payload, doc, cardauth.PIN{Value: "00000000"})
			if !errors.Is(err, esign.ErrRequest) || !errors.Is(err, c.want) || !errors.Is(err, identity.ErrBadInput) || sig != nil {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// None of the wrong PINs above reached the card.
	_, _, err = esign.SignOnCard(ctx, card.Card, payload(doc, nil), doc, cardauth.PIN{Value: "00000000"})
	var wrong *apdu.WrongPINError
	if !errors.As(err, &wrong) || wrong.TriesLeft != 2 {
		t.Fatalf("first wrong PIN: %v", err)
	}
	req, sig, err := esign.SignOnCard(ctx, card.Card, payload(doc, nil), doc, cardauth.PIN{Value: card.PIN})
	if err != nil || !req.SigningTime.Equal(at) || len(sig) == 0 {
		t.Fatalf("sign: %v", err)
	}
}
