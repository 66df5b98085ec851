package webauthn_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/webauthn"
)

// TestChangedRecordNotStale: the factor caches decoded credential records,
// but a record changed in the store is what the next login uses: another
// public key refuses the old key's signature, another attestation format
// shows in the claims.
func TestChangedRecordNotStale(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d, other := newDevice(), newDevice()
	cred := e.enroll(t, "alice", d)
	otherCred := e.enroll(t, "bob", other)
	if _, err := e.login(t, "alice", d); err != nil {
		t.Fatal(err)
	}
	edit := func(field string, value any) {
		t.Helper()
		cur, err := e.store.Credential(ctx, cred.Ref())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(cur.Public, &m); err != nil {
			t.Fatal(err)
		}
		m[field] = value
		public, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := identity.EditCredential(ctx, e.store, cur, func(c *identity.Credential) error { c.Public = public; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := webauthn.DecodeRecord(cred)
	if err != nil {
		t.Fatal(err)
	}
	otherRec, err := webauthn.DecodeRecord(otherCred)
	if err != nil {
		t.Fatal(err)
	}
	edit("publicKey", otherRec.PublicKey)
	if _, err := e.login(t, "alice", d); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("signature checked with the cached key: %v", err)
	}
	edit("publicKey", rec.PublicKey)
	if _, err := e.login(t, "alice", d); err != nil {
		t.Fatalf("key restored: %v", err)
	}
	edit("attestationFormat", "edited")
	if p, err := e.login(t, "alice", d); err != nil || p.Claims["attestation_format"] != "edited" {
		t.Fatalf("edited record: %+v %v", p, err)
	}
}

// TestConcurrentLogins runs logins of several credentials at once, for the
// race detector.
func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t, nil)
	subjects := []identity.Subject{"a", "b", "c"}
	devices := make(map[identity.Subject]*device)
	for _, s := range subjects {
		devices[s] = newDevice()
		e.enroll(t, s, devices[s])
	}
	ctx := context.Background()
	var resps []identity.Response
	for range 3 {
		for _, s := range subjects {
			ch, err := e.f.Begin(ctx, identity.Request{Subject: s, Origin: origin})
			if err != nil {
				t.Fatal(err)
			}
			resps = append(resps, identity.Response{ChallengeID: ch.ID, Subject: s, Origin: origin, Data: devices[s].get(t, ch.Payload)})
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(resps))
	for _, r := range resps {
		wg.Go(func() {
			_, err := e.f.Finish(ctx, r)
			// Two assertions of one device race on its counter: one of
			// them may lose as a replay, never as anything else.
			if err != nil && !errors.Is(err, identity.ErrReplayed) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
