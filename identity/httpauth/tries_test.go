package httpauth_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// triesAnswer is an error answer with the tries left.
type triesAnswer struct {
	Error     string `json:"error"`
	TriesLeft *int   `json:"triesLeft"`
}

// After a wrong second factor, the user is told how many tries remain
// before the factor locks, as a card tells its PIN's (NIST SP 800-63B
// §5.2.2 limits them; the count is the throttle's). The user proved their
// password first, so the number tells nothing about whether the account
// exists.
func TestEndpointsTriesLeft(t *testing.T) {
	s := memSite(t)
	s.signUpPassword(t, "alice")
	code := s.enrollTOTP(t, "alice")
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	c.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
	want := 9
	for want >= 0 {
		var ch challengeAnswer
		c.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
		status, h, raw := c.call(s, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": wrongCode(code())})
		var a triesAnswer
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		if status == 429 && a.TriesLeft != nil && *a.TriesLeft == want+1 {
			// A delay between tries (not a lock): wait it out, nothing counted.
			secs, _ := strconv.Atoi(h.Get("Retry-After"))
			if secs <= 0 {
				t.Fatalf("a delayed try without Retry-After: %s", raw)
			}
			s.clock.Advance(time.Duration(secs) * time.Second)
			continue
		}
		if status != 401 || a.TriesLeft == nil || *a.TriesLeft != want {
			t.Fatalf("wrong code with %d tries left: %d %s", want, status, raw)
		}
		want--
	}
	// The tenth failure locked the factor: the next try is not evaluated.
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
	status, _, raw := c.call(s, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": code()})
	var a triesAnswer
	if status != 429 || json.Unmarshal(raw, &a) != nil || a.TriesLeft == nil || *a.TriesLeft != 0 ||
		a.Error != "Too many failed attempts: this sign-in method is locked. Use a recovery code, or contact support." {
		t.Fatalf("the right code after the lock: %d %s", status, raw)
	}
}

// Where the caller has proven nothing, no count is told: the password
// step (an unknown account and a known one answer alike, and a known
// one's count would tell of its owner's own failures), and a login that
// names no account.
func TestEndpointsNoTriesLeftBeforeAProof(t *testing.T) {
	s := memSite(t)
	s.signUpPassword(t, "alice")
	var bodies []string
	for _, user := range []string{"alice", "nobody"} {
		c := &client{t: t}
		c.must(s, 200, "GET", "/auth/session", nil, nil)
		status, _, raw := c.call(s, "POST", "/auth/password", map[string]string{"username": user, "password": "wrong password"})
		if status != 401 {
			t.Fatalf("%s, wrong password: %d %s", user, status, raw)
		}
		bodies = append(bodies, string(raw))
	}
	if bodies[0] != bodies[1] || bodies[0] != `{"error":"Sign-in failed: what you entered was not accepted. Check it and try again."}`+"\n" {
		t.Fatalf("known and unknown accounts answer %q and %q", bodies[0], bodies[1])
	}
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, &ch)
	status, _, raw := c.call(s, "POST", "/auth/login/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID, "response": newDevice().get(t, ch.Payload)})
	var a triesAnswer
	if status != 401 || json.Unmarshal(raw, &a) != nil || a.TriesLeft != nil {
		t.Fatalf("an unknown passkey: %d %s", status, raw)
	}
}

// A refused payment approval tells the tries left too: the approver is
// signed in.
func TestEndpointsApprovalTriesLeft(t *testing.T) {
	s := memSite(t)
	c := &client{t: t}
	signUpWithKey(t, s, c, "carol", newDevice())
	c.must(s, http.StatusAccepted, "POST", "/app/pay", identity.Transaction{Amount: "100.00", Currency: "EUR",
		PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}, nil)
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/approve/webauthn/begin", nil, &ch)
	// Another key answers: not carol's.
	status, _, raw := c.call(s, "POST", "/auth/approve/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID,
		"response": newDevice().get(t, ch.Payload), "transaction": payment("100.00")})
	var a triesAnswer
	if status != 401 || json.Unmarshal(raw, &a) != nil || a.TriesLeft == nil || *a.TriesLeft != 9 {
		t.Fatalf("another key's approval: %d %s", status, raw)
	}
}
