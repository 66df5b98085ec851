package httpauth_test

import (
	"net/http"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
)

// A challenge belongs to the session that began it. Whoever sees one
// browser's finish request (its challengeId and the key's signed answer,
// not its cookie: a logging proxy, a script that records requests) must
// not finish that ceremony in a session of their own: WebAuthn L3 §7.2
// verifies the assertion against the options of *this* ceremony, kept
// with the relying party's session. The foreign attempt is refused before
// the challenge is spent, so the browser that began it still finishes.
func TestChallengeBoundToSession(t *testing.T) {
	s := memSite(t)
	key := newDevice()
	signUpWithKey(t, s, &client{t: t}, "carol", key)

	victim, thief := &client{t: t}, &client{t: t}
	victim.must(s, 200, "GET", "/auth/session", nil, nil)
	thief.must(s, 200, "GET", "/auth/session", nil, nil)
	var ch challengeAnswer
	victim.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, &ch)
	answer := map[string]any{"challengeId": ch.ChallengeID, "response": key.get(t, ch.Payload)}
	status, _, raw := thief.call(s, "POST", "/auth/login/webauthn/finish", answer)
	if status == http.StatusOK {
		t.Fatalf("another session finished the login: %s", raw)
	}
	if want, _ := httpauth.Public(identity.ErrUnknownChallenge); status != want {
		t.Errorf("foreign challenge: %d %s, want %d", status, raw, want)
	}
	var st stateAnswer
	thief.must(s, 200, "GET", "/auth/session", nil, &st)
	if st.Subject != "" || st.Complete {
		t.Fatalf("the thief's session: %+v", st)
	}
	victim.must(s, 200, "POST", "/auth/login/webauthn/finish", answer, &st)
	if st.Subject != "carol" || !st.Complete {
		t.Fatalf("the victim's own finish: %+v", st)
	}

	// A challenge ID without its binding, or with another's, is refused.
	victim.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, &ch)
	for _, id := range []string{ch.ChallengeID[:22], ch.ChallengeID + "x", "", "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"} {
		if status, _, raw := victim.call(s, "POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": id, "response": key.get(t, ch.Payload)}); status == http.StatusOK {
			t.Fatalf("challengeId %q finished: %s", id, raw)
		}
	}
}
