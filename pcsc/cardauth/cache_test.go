package cardauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
)

// TestCachedCertificateStillChecked: after a first login has put the
// card's certificate in the factor's cache, every check still runs on
// each later login: revocation, validity period, a disabled credential.
func TestCachedCertificateStillChecked(t *testing.T) {
	e := newEnv(t, nil)
	cert, key := e.pki.card(t, "alice", leafOpts{notAfter: e.clock.Now().Add(48 * time.Hour)})
	if _, err := e.enroll(t, "alice", cert, key); err != nil {
		t.Fatal(err)
	}
	first, err := e.login(t, "alice", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	// The proof's claims are its own: changing them leaves the next login's.
	first.Claims["subject"] = "changed"
	second, err := e.login(t, "alice", cert, key)
	if err != nil || second.Claims["subject"] == "changed" || second.Claims["revocation"] != "good (OCSP)" {
		t.Fatalf("second login: %+v %v", second, err)
	}

	e.ocsp.Revoke(cert.SerialNumber, e.clock.Now().Add(-time.Minute), 1)
	if _, err := e.login(t, "alice", cert, key); !errors.Is(err, cardauth.ErrRevoked) {
		t.Fatalf("revoked card, cached certificate: %v", err)
	}

	e2 := newEnv(t, func(c *cardauth.Config) { c.SkipRevocation = true })
	cert2, key2 := e2.pki.card(t, "bob", leafOpts{notAfter: e2.clock.Now().Add(48 * time.Hour)})
	cred, err := e2.enroll(t, "bob", cert2, key2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e2.login(t, "bob", cert2, key2); err != nil {
		t.Fatal(err)
	}
	e2.clock.Advance(49 * time.Hour)
	if _, err := e2.login(t, "bob", cert2, key2); !errors.Is(err, cardauth.ErrCertificateNotValid) {
		t.Fatalf("expired card, cached certificate: %v", err)
	}
	e2.clock.Advance(-49 * time.Hour)
	if _, err := e2.login(t, "bob", cert2, key2); err != nil {
		t.Fatalf("back in its validity period: %v", err)
	}
	ctx := context.Background()
	cur, err := e2.store.Credential(ctx, cred.Ref())
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.EditCredential(ctx, e2.store, cur, func(c *identity.Credential) error { c.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.login(t, "bob", cert2, key2); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("disabled credential: %v", err)
	}
}

// TestChangedCardRecordNotStale: the decoded card record is cached by
// credential ID, but only for the exact bytes it was decoded from; a
// record edited in the store is decoded again.
func TestChangedCardRecordNotStale(t *testing.T) {
	e := newEnv(t, func(c *cardauth.Config) { c.SkipRevocation = true })
	cert, key := e.pki.card(t, "alice", leafOpts{})
	cred, err := e.enroll(t, "alice", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e.login(t, "alice", cert, key); err != nil || p.Claims["revocation"] != "not checked: disabled by configuration" {
		t.Fatalf("%+v %v", p, err)
	}
	ctx := context.Background()
	edit := func(public func(*cardauth.Card) []byte) {
		t.Helper()
		cur, err := e.store.Credential(ctx, cred.Ref())
		if err != nil {
			t.Fatal(err)
		}
		card, err := cardauth.CardOf(cur)
		if err != nil {
			t.Fatal(err)
		}
		if err := identity.EditCredential(ctx, e.store, cur, func(c *identity.Credential) error { c.Public = public(card); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// The record now says pinned key: the login takes that path.
	edit(func(card *cardauth.Card) []byte {
		card.Mode = cardauth.ModePinnedKey
		b, _ := json.Marshal(card)
		return b
	})
	if p, err := e.login(t, "alice", cert, key); err != nil || p.Claims["revocation"] != "not checked: pinned key" {
		t.Fatalf("edited record: %+v %v", p, err)
	}
	// A record that no longer decodes fails the login.
	edit(func(*cardauth.Card) []byte { return []byte("{") })
	if _, err := e.login(t, "alice", cert, key); err == nil {
		t.Fatal("corrupt record accepted")
	}
}

// TestConcurrentCachedLogins runs logins of several cards at once, for the
// race detector.
func TestConcurrentCachedLogins(t *testing.T) {
	e := newEnv(t, func(c *cardauth.Config) { c.SkipRevocation = true })
	type card struct {
		subject identity.Subject
		login   func() error
	}
	var cards []card
	for _, s := range []identity.Subject{"a", "b", "c", "d"} {
		cert, key := e.pki.card(t, string(s), leafOpts{})
		if _, err := e.enroll(t, s, cert, key); err != nil {
			t.Fatal(err)
		}
		cards = append(cards, card{s, func() error { _, err := e.login(t, s, cert, key); return err }})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(cards))
	for range 4 {
		for _, c := range cards {
			wg.Go(func() { errs <- c.login() })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
