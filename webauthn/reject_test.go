package webauthn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/webauthn"
)

// begin starts a login and returns the challenge and the response frame
// without data.
func (e *testEnv) begin(t *testing.T, subject identity.Subject) (*identity.Challenge, identity.Response) {
	t.Helper()
	ch, err := e.f.Begin(context.Background(), identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return ch, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin}
}

// mustFail finishes resp and checks the error and that no proof came back.
func (e *testEnv) mustFail(t *testing.T, resp identity.Response, want error, what string) error {
	t.Helper()
	p, err := e.f.Finish(context.Background(), resp)
	if !errors.Is(err, want) || p != nil {
		t.Fatalf("%s: Finish = (%+v, %v), want %v", what, p, err, want)
	}
	return err
}

// lastEvent returns subject's newest audit event.
func (e *testEnv) lastEvent(t *testing.T, subject identity.Subject) identity.Event {
	t.Helper()
	recs, err := e.store.AuditEvents(context.Background(), subject, 1)
	if err != nil || len(recs) == 0 {
		t.Fatalf("no audit event for %q: %v", subject, err)
	}
	return recs[0].Event
}

// editJSON changes one member of a response.
func editJSON(t *testing.T, data []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, _ := json.Marshal(m)
	return out
}

func TestLoginRejections(t *testing.T) {
	for _, subject := range []identity.Subject{"alice", ""} {
		name := "username"
		if subject == "" {
			name = "username-less"
		}
		t.Run(name, func(t *testing.T) {
			testLoginRejections(t, subject)
		})
	}
}

func testLoginRejections(t *testing.T, subject identity.Subject) {
	t.Run("WrongOrigin", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		e.enroll(t, "alice", d)
		// The browser ran the ceremony on another origin (a phishing site
		// relaying the challenge).
		evil := d.clone()
		evil.rp.Origin = "https://bank.example.evil"
		ch, resp := e.begin(t, subject)
		resp.Data = evil.get(t, ch.Payload)
		err := e.mustFail(t, resp, identity.ErrInvalidResponse, "clientData origin of another site")
		if errors.Is(err, identity.ErrChallengeMismatch) {
			t.Fatalf("want go-webauthn's origin check, got %v", err)
		}
		// Another configured origin than the one the ceremony began on.
		e2 := newEnv(t, func(c *webauthn.Config) { c.Origins = append(c.Origins, "https://www.bank.example") })
		e2.enroll(t, "alice", d)
		other := d.clone()
		other.rp.Origin = "https://www.bank.example"
		ch, resp = e2.begin(t, subject)
		resp.Data = other.get(t, ch.Payload)
		e2.mustFail(t, resp, identity.ErrInvalidResponse, "clientData origin of a sibling origin")
		// The response claims another origin than the challenge's.
		ch, resp = e.begin(t, subject)
		resp.Data, resp.Origin = d.get(t, ch.Payload), "https://www.bank.example"
		e.mustFail(t, resp, identity.ErrChallengeMismatch, "response from another origin")
	})

	t.Run("WrongRPID", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		e.enroll(t, "alice", d)
		evil := d.clone()
		evil.rp.ID = "evil.example"
		ch, resp := e.begin(t, subject)
		resp.Data = evil.get(t, ch.Payload)
		e.mustFail(t, resp, identity.ErrInvalidResponse, "rpIdHash of another RP")
	})

	t.Run("ReplayedAssertion", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		e.enroll(t, "alice", d)
		ch, resp := e.begin(t, subject)
		resp.Data = d.get(t, ch.Payload)
		if _, err := e.f.Finish(context.Background(), resp); err != nil {
			t.Fatal(err)
		}
		e.mustFail(t, resp, identity.ErrReplayed, "same session twice")
		// The same assertion against a fresh challenge: its clientData names
		// the old one.
		_, resp2 := e.begin(t, subject)
		resp2.Data = resp.Data
		e.mustFail(t, resp2, identity.ErrInvalidResponse, "old assertion, new session")
	})

	t.Run("ExpiredSession", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		e.enroll(t, "alice", d)
		ch, resp := e.begin(t, subject)
		resp.Data = d.get(t, ch.Payload)
		e.clock.Set(ch.ExpiresAt)
		e.mustFail(t, resp, identity.ErrExpired, "answer at expiry")
	})

	t.Run("TamperedClientData", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		e.enroll(t, "alice", d)
		ch, resp := e.begin(t, subject)
		good := d.get(t, ch.Payload)
		for name, tamper := range map[string]func(cd map[string]any){
			"extra member": func(cd map[string]any) { cd["crossOrigin"] = false },
			"type":         func(cd map[string]any) { cd["type"] = "webauthn.create" },
			"origin":       func(cd map[string]any) { cd["origin"] = "https://bank.example:443" },
		} {
			resp.Data = editJSON(t, good, func(m map[string]any) {
				r := m["response"].(map[string]any)
				raw, _ := base64.RawURLEncoding.DecodeString(r["clientDataJSON"].(string))
				var cd map[string]any
				json.Unmarshal(raw, &cd)
				tamper(cd)
				raw, _ = json.Marshal(cd)
				r["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(raw)
			})
			e.mustFail(t, resp, identity.ErrInvalidResponse, "tampered clientDataJSON: "+name)
			ch, resp = e.begin(t, subject)
			good = d.get(t, ch.Payload)
		}
	})

	t.Run("CounterRegression", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		c := e.enroll(t, "alice", d)
		twin := d.clone() // copied before any login: same key, same counter
		if _, err := e.login(t, subject, d); err != nil {
			t.Fatal(err)
		}
		ch, resp := e.begin(t, subject)
		resp.Data = twin.get(t, ch.Payload)
		err := e.mustFail(t, resp, identity.ErrReplayed, "counter did not increase")
		if !errors.Is(err, webauthn.ErrClonedAuthenticator) {
			t.Fatalf("%v is not ErrClonedAuthenticator", err)
		}
		ev := e.lastEvent(t, "alice")
		if ev.Result != identity.Failure || ev.CredentialID != c.ID || !strings.Contains(ev.Reason, "cloned") {
			t.Fatalf("audit after a clone signal: %+v", ev)
		}
		stored, _ := e.store.Credential(context.Background(), c.Ref())
		if stored.Counter != 1 {
			t.Fatalf("counter moved to %d", stored.Counter)
		}
	})

	t.Run("UnknownCredential", func(t *testing.T) {
		e := newEnv(t, nil)
		e.enroll(t, "alice", newDevice())
		stranger := newDevice()
		stranger.auth.Options.UserHandle = []byte("someone")
		ch, resp := e.begin(t, subject)
		resp.Data = stranger.get(t, ch.Payload)
		e.mustFail(t, resp, identity.ErrNotEnrolled, "credential never registered")
	})

	t.Run("UserHandleMismatch", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		e.enroll(t, "alice", d)
		liar := d.clone()
		liar.auth.Options.UserHandle = bytes.Repeat([]byte{7}, 32)
		ch, resp := e.begin(t, subject)
		resp.Data = liar.get(t, ch.Payload)
		e.mustFail(t, resp, identity.ErrInvalidResponse, "user handle of another account")
	})

	t.Run("ForgedSignature", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		e.enroll(t, "alice", d)
		ch, resp := e.begin(t, subject)
		resp.Data = d.forger().get(t, ch.Payload)
		e.mustFail(t, resp, identity.ErrInvalidResponse, "signature by another key")
	})

	t.Run("Malformed", func(t *testing.T) {
		e := newEnv(t, nil)
		d := newDevice()
		c := e.enroll(t, "alice", d)
		ch, resp := e.begin(t, subject)
		good := d.get(t, ch.Payload)
		events := func() int {
			recs, _ := e.store.AuditEvents(context.Background(), "", 1000)
			return len(recs)
		}
		before := events()
		for name, data := range map[string][]byte{
			"empty":       nil,
			"not JSON":    []byte("hello"),
			"array":       []byte("[]"),
			"trailing":    append(append([]byte{}, good...), []byte(" {}")...),
			"huge":        bytes.Repeat([]byte(" "), webauthn.MaxResponseSize+1),
			"bad base64":  editJSON(t, good, func(m map[string]any) { m["rawId"] = "!!" }),
			"id mismatch": editJSON(t, good, func(m map[string]any) { m["id"] = "AAAA" }),
			"short authData": editJSON(t, good, func(m map[string]any) {
				m["response"].(map[string]any)["authenticatorData"] = "AAAA"
			}),
			"clientData not JSON": editJSON(t, good, func(m map[string]any) {
				m["response"].(map[string]any)["clientDataJSON"] = "e30"[:2]
			}),
			"response not object": editJSON(t, good, func(m map[string]any) { m["response"] = 3 }),
		} {
			resp.Data = data
			err := e.mustFail(t, resp, webauthn.ErrMalformedResponse, name)
			if !errors.Is(err, identity.ErrInvalidResponse) {
				t.Fatalf("%s: %v is not ErrInvalidResponse", name, err)
			}
		}
		// Nothing changed: no event, same counter, and the challenge is
		// still good for the real answer.
		if n := events(); n != before {
			t.Fatalf("%d audit events written for malformed input", n-before)
		}
		stored, _ := e.store.Credential(context.Background(), c.Ref())
		if stored.Counter != 0 {
			t.Fatal("counter moved")
		}
		resp.Data = good
		if _, err := e.f.Finish(context.Background(), resp); err != nil {
			t.Fatalf("good answer after malformed ones: %v", err)
		}
	})
}

// A username login accepts only the subject's own credentials, even with a
// valid signature from another account's key.
func TestLoginWithAnotherSubjectsKey(t *testing.T) {
	e := newEnv(t, nil)
	e.enroll(t, "alice", newDevice())
	bob := newDevice()
	e.enroll(t, "bob", bob)
	ch, resp := e.begin(t, "alice")
	resp.Data = bob.get(t, ch.Payload)
	e.mustFail(t, resp, identity.ErrNotEnrolled, "bob's key for alice")
}

func TestAcceptCounterRegression(t *testing.T) {
	e := newEnv(t, func(c *webauthn.Config) { c.AcceptCounterRegression = true })
	d := newDevice()
	c := e.enroll(t, "alice", d)
	twin := d.clone()
	if _, err := e.login(t, "alice", d); err != nil {
		t.Fatal(err)
	}
	p, err := e.login(t, "alice", twin)
	if err != nil {
		t.Fatal(err)
	}
	if p.Claims["clone_warning"] != "true" {
		t.Fatalf("claims %v", p.Claims)
	}
	ev := e.lastEvent(t, "alice")
	if ev.Result != identity.Success || !strings.Contains(ev.Reason, "clone warning") {
		t.Fatalf("audit %+v", ev)
	}
	stored, _ := e.store.Credential(context.Background(), c.Ref())
	if stored.Counter != 1 || !stored.LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("counter %d, last used %s", stored.Counter, stored.LastUsedAt)
	}
}

func TestRegistrationRejections(t *testing.T) {
	ctx := context.Background()
	enrollWith := func(t *testing.T, e *testEnv, d *device, edit func(*identity.Response)) error {
		t.Helper()
		ch, err := e.f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: d.create(t, ch.Payload)}
		if edit != nil {
			edit(&resp)
		}
		_, err = e.f.FinishEnroll(ctx, resp)
		if err == nil {
			return nil
		}
		if recs, _ := e.f.Credentials(ctx, "alice"); len(recs) != 0 {
			t.Fatalf("a refused registration stored %d credentials", len(recs))
		}
		return err
	}
	for name, tc := range map[string]struct {
		cfg  func(*webauthn.Config)
		dev  func(*device)
		edit func(*identity.Response)
		want error
	}{
		"wrong origin":            {dev: func(d *device) { d.rp.Origin = "https://evil.example" }, want: identity.ErrInvalidResponse},
		"wrong RP ID":             {dev: func(d *device) { d.rp.ID = "evil.example" }, want: identity.ErrInvalidResponse},
		"UV required":             {cfg: func(c *webauthn.Config) { c.UserVerification = webauthn.VerificationRequired }, dev: func(d *device) { d.auth.Options.UserNotVerified = true }, want: identity.ErrInvalidResponse},
		"no user presence":        {dev: func(d *device) { d.auth.Options.UserNotPresent = true }, want: identity.ErrInvalidResponse},
		"BS without BE":           {dev: func(d *device) { d.auth.Options.BackupState = true }, want: identity.ErrInvalidResponse},
		"forged self attestation": {dev: func(d *device) { d.att = attestForgedSelf }, want: identity.ErrInvalidResponse},
		"bad name":                {edit: func(r *identity.Response) { r.Name = "a\nb" }, want: identity.ErrBadInput},
		"malformed":               {edit: func(r *identity.Response) { r.Data = []byte(`{"id":1}`) }, want: webauthn.ErrMalformedResponse},
		"tampered client data": {edit: func(r *identity.Response) {
			r.Data = bytes.Replace(r.Data, []byte(`"clientDataJSON":"`), []byte(`"clientDataJSON":"eyJ4IjoxfQ`), 1)
		}, want: identity.ErrInvalidResponse},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			d := newDevice()
			if tc.dev != nil {
				tc.dev(d)
			}
			if err := enrollWith(t, e, d, tc.edit); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
