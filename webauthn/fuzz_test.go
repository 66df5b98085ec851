package webauthn_test

import (
	"context"
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/webauthn"
)

// The fuzz targets cover every parser of outside input: the browser's JSON
// at login and registration (through Finish against a live challenge),
// and AAGUIDs from configuration. The parsers themselves and the MDS blob's
// are fuzzed from inside the package (fuzz_internal_test.go). Seed corpora live in
// testdata/fuzz/<target>/ and hold real responses of a virtual
// authenticator.

// FuzzFinish sends each input to Finish against a fresh challenge of an
// enrolled subject, by username and username-less. The challenge is new, so
// no input can be right: every one must fail with a typed error.
func FuzzFinish(f *testing.F) {
	e := newEnv(f, nil)
	d := newDevice()
	e.enroll(f, "alice", d)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte, usernameless bool) {
		subject := identity.Subject("alice")
		if usernameless {
			subject = ""
		}
		ch, err := e.f.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.f.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: b})
		if err == nil || p != nil {
			t.Fatalf("Finish accepted an answer to a challenge it never saw: %+v", p)
		}
		for _, want := range []error{identity.ErrInvalidResponse, identity.ErrNotEnrolled, identity.ErrReplayed, identity.ErrUntrusted, identity.ErrThrottled} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("untyped error: %v", err)
	})
}

// FuzzFinishEnroll does the same for registrations.
func FuzzFinishEnroll(f *testing.F) {
	e := newEnv(f, nil)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := e.f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: b})
		if err == nil || c != nil {
			t.Fatalf("FinishEnroll accepted an answer to a challenge it never saw: %+v", c)
		}
		if !errors.Is(err, identity.ErrInvalidResponse) && !errors.Is(err, identity.ErrUntrusted) && !errors.Is(err, identity.ErrThrottled) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

func FuzzParseAAGUID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		a, err := webauthn.ParseAAGUID(s)
		if err != nil {
			if !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("error %v is not ErrBadInput", err)
			}
			return
		}
		b, err := webauthn.ParseAAGUID(a.String())
		if err != nil || b != a {
			t.Fatalf("round trip of %q: %v %v", s, b, err)
		}
	})
}
