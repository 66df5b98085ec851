package cardauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// holderEnv is a card factor trusting a virtual card's test PKI, with the
// card enrolled for alice.
func holderEnv(t *testing.T) (*testcard.Card, *cardauth.Factor) {
	t.Helper()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := &identity.Services{Store: memstore.New()}
	f, err := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, SkipRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch, err := f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok}); err != nil {
		t.Fatal(err)
	}
	return card, f
}

// The holder's side of a login in one call, from the card to a token the
// server accepts; the token goes into a JSON body as an object.
func TestLoginToken(t *testing.T) {
	ctx := context.Background()
	card, f := holderEnv(t)
	ch, err := f.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"challengeId": ch.ID, "response": tok})
	if !strings.Contains(string(body), `"response":{"unverifiedCertificate":`) {
		t.Fatalf("the token did not stay an object in JSON: %s", body)
	}
	proof, err := f.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok})
	if err != nil {
		t.Fatal(err)
	}
	if proof.Assurance != identity.Level3 || proof.Claims["commonName"] != card.AuthCert.Subject.CommonName {
		t.Fatalf("proof %+v", proof)
	}
}

// PIN rules: a wrong PIN reports the tries left and is not retried, the
// last try is refused without consent, an empty PIN spends nothing.
func TestLoginTokenPIN(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	nonce := "bm9uY2Vub25jZW5vbmNlbm9uY2Vub25jZW5vbmNlbm9uY2U="
	tries := func() int {
		c, err := piv.Open(ctx, card.Card, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.PINStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.TriesLeft
	}
	before := tries()
	if _, err := cardauth.LoginToken(ctx, card.Card, origin, nonce, cardauth.PIN{}, nil); !errors.Is(err, piv.ErrPINRequired) {
		t.Fatalf("empty PIN: %v", err)
	}
	if tries() != before {
		t.Fatal("an empty PIN spent a try")
	}
	var wrong *apdu.WrongPINError
	for want := before - 1; want >= 1; want-- {
		_, err := cardauth.LoginToken(ctx, card.Card, origin, nonce, cardauth.PIN{Value: "99999999"}, nil)
		if !errors.As(err, &wrong) || wrong.TriesLeft != want {
			t.Fatalf("wrong PIN, want %d tries left: %v", want, err)
		}
	}
	if _, err := cardauth.LoginToken(ctx, card.Card, origin, nonce, cardauth.PIN{Value: card.PIN}, nil); !errors.Is(err, piv.ErrLastTry) {
		t.Fatalf("last try without consent: %v", err)
	}
	if tries() != 1 {
		t.Fatal("the refused last try was spent")
	}
	if _, err := cardauth.LoginToken(ctx, card.Card, origin, nonce, cardauth.PIN{Value: card.PIN, AllowLastTry: true}, nil); err != nil {
		t.Fatalf("last try with consent: %v", err)
	}
}

// A 9C signature of a pending digest: the card asks the PIN for it, the
// signature verifies with the signing certificate, and a card with another
// certificate than the one prepared for is refused before any PIN.
func TestSignDigest(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cardauth.SigningCertificate(ctx, card.Card)
	if err != nil || !cert.Equal(card.SignCert) {
		t.Fatalf("signing certificate: %v", err)
	}
	digest := sha256.Sum256([]byte("signed attributes"))
	sig, got, err := cardauth.SignDigest(ctx, card.Card, digest[:], crypto.SHA256, cert, cardauth.PIN{Value: card.PIN})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(card.SignCert) || !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("the signature does not verify with the signing certificate")
	}
	var wrong *apdu.WrongPINError
	if _, _, err := cardauth.SignDigest(ctx, card.Card, digest[:], crypto.SHA256, nil, cardauth.PIN{Value: "99999999"}); !errors.As(err, &wrong) || wrong.TriesLeft != 2 {
		t.Fatalf("wrong PIN: %v", err)
	}
	other, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cardauth.SignDigest(ctx, other.Card, digest[:], crypto.SHA256, cert, cardauth.PIN{Value: other.PIN}); !errors.Is(err, cardauth.ErrUnknownCard) {
		t.Fatalf("another card: %v", err)
	}
	if _, _, err := cardauth.SignDigest(ctx, card.Card, digest[:20], crypto.SHA256, nil, cardauth.PIN{Value: card.PIN}); !errors.Is(err, piv.ErrBadInput) {
		t.Fatalf("short digest: %v", err)
	}
}

// A PIN never shows in print or in a log.
func TestPINHidden(t *testing.T) {
	p := cardauth.PIN{Value: "135790"}
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("x", "pin", p)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p), log.String()} {
		if strings.Contains(s, "135790") {
			t.Fatalf("PIN shown: %s", s)
		}
	}
}

// After each holder operation the PIN is no longer verified, whatever the
// outcome: the card stays in a shared reader, and a program that opens it
// next must not find its 9A key usable without the PIN.
func TestHolderOperationsForgetThePIN(t *testing.T) {
	ctx := context.Background()
	card, f := holderEnv(t)
	verified := func(what string) {
		t.Helper()
		c, err := piv.Open(ctx, card.Card, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.PINStatus(ctx)
		if err != nil || st.Verified {
			t.Fatalf("after %s the PIN status is %+v (%v), want not verified", what, st, err)
		}
	}
	verified("enrolment") // holderEnv made a login token
	ch, err := f.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil); err != nil {
		t.Fatal(err)
	}
	verified("a login token")
	d := sha256.Sum256([]byte("document"))
	if _, _, err := cardauth.SignDigest(ctx, card.Card, d[:], crypto.SHA256, nil, cardauth.PIN{Value: card.PIN}); err != nil {
		t.Fatal(err)
	}
	// A 9C signature spends only the one-shot "PIN Always" right; the
	// PIN's own status outlives it, on the virtual applet as on real
	// cards, so nothing is left only because SignDigest forgets the PIN.
	verified("a signature")
}
