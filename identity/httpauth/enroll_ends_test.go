package httpauth_test

import (
	"strings"
	"testing"

	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
)

// enrollTOTPOver enrols a TOTP key over the endpoints in c's session and
// returns the answer.
func enrollTOTPOver(t *testing.T, s *site, c *client) map[string]any {
	t.Helper()
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/enroll/totp/begin", nil, &ch)
	code := codeFor(t, s.clock, unquote(t, ch.Payload))
	var out map[string]any
	c.must(s, 200, "POST", "/auth/enroll/totp/finish", map[string]any{"challengeId": ch.ChallengeID, "response": code(), "name": "phone"}, &out)
	return out
}

// signedIn reports whether c's session is a complete login of subject.
func signedIn(t *testing.T, s *site, c *client, subject string) bool {
	t.Helper()
	var st stateAnswer
	c.must(s, 200, "GET", "/auth/session", nil, &st)
	return st.Complete && st.Subject == subject
}

// Adding a second factor over the endpoints signs the account out of
// every other browser and keeps the one that added it (OWASP ASVS 4.0.3
// V3.3.3, 5.0 V7.4.3), as a password change or a factor removal does:
// whoever held a session before the change does not keep it past it.
func TestEnrollEndsOtherSessions(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh, func(c *httpauth.Config, _ *httpauth.EndpointsConfig) { c.Audit = sh.store })
	key := newDevice()
	laptop, phone, other := &client{t: t}, &client{t: t}, &client{t: t}
	signUpWithKey(t, s, laptop, "alice", key)
	signUpWithKey(t, s, other, "bob", newDevice())
	// alice signs in on a second browser with her password and key.
	phone.must(s, 200, "GET", "/auth/session", nil, nil)
	phone.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
	var ch challengeAnswer
	phone.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, &ch)
	phone.must(s, 200, "POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID, "response": key.get(t, ch.Payload)}, nil)
	if !signedIn(t, s, phone, "alice") {
		t.Fatal("alice's second browser is not signed in")
	}

	out := enrollTOTPOver(t, s, laptop)
	if out["endedSessions"] != float64(1) {
		t.Fatalf("enrolment answer %v, want endedSessions 1", out)
	}
	if signedIn(t, s, phone, "alice") {
		t.Fatal("a session of alice's outlived a new second factor")
	}
	if !signedIn(t, s, laptop, "alice") {
		t.Fatal("the browser that added the factor was signed out")
	}
	if !signedIn(t, s, other, "bob") {
		t.Fatal("another account's session ended")
	}
	ev := lastEvent(t, s.store, "alice")
	if ev.Action != "end-sessions" || !strings.Contains(ev.Reason, "second factor added (totp)") || !strings.Contains(ev.Reason, "1 session(s) ended") {
		t.Fatalf("audit %+v", ev)
	}
}

// An application that asks its user first (ASVS: "the option to
// terminate") sets KeepOtherSessions and calls EndOtherSessions itself.
func TestEnrollKeepOtherSessions(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh, func(_ *httpauth.Config, e *httpauth.EndpointsConfig) { e.KeepOtherSessions = true })
	key := newDevice()
	laptop, phone := &client{t: t}, &client{t: t}
	signUpWithKey(t, s, laptop, "alice", key)
	phone.must(s, 200, "GET", "/auth/session", nil, nil)
	phone.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
	var ch challengeAnswer
	phone.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, &ch)
	phone.must(s, 200, "POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID, "response": key.get(t, ch.Payload)}, nil)
	if out := enrollTOTPOver(t, s, laptop); out["endedSessions"] != nil {
		t.Fatalf("enrolment answer %v, want no endedSessions", out)
	}
	if !signedIn(t, s, phone, "alice") {
		t.Fatal("KeepOtherSessions ended a session")
	}
}
