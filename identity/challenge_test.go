package identity_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
)

func TestChallengeID(t *testing.T) {
	id := identity.NewChallengeID()
	s := id.String()
	if len(s) != 22 {
		t.Fatalf("encoded length %d", len(s))
	}
	back, err := identity.ParseChallengeID(s)
	if err != nil || back != id {
		t.Fatalf("round trip: %v", err)
	}
	if identity.NewChallengeID() == id {
		t.Fatal("two IDs are equal")
	}
	b, _ := json.Marshal(struct{ ID identity.ChallengeID }{id})
	var v struct{ ID identity.ChallengeID }
	if err := json.Unmarshal(b, &v); err != nil || v.ID != id {
		t.Fatalf("JSON round trip %s: %v", b, err)
	}
	for _, bad := range []string{"", "short", s + "A", s[:21] + "=", s[:21] + "+", s[:21] + "/", "AAAAAAAAAAAAAAAAAAAAAB"} {
		if _, err := identity.ParseChallengeID(bad); !errors.Is(err, identity.ErrUnknownChallenge) || !errors.Is(err, identity.ErrInvalidResponse) {
			t.Errorf("ParseChallengeID(%q) = %v", bad, err)
		}
	}
}

func FuzzParseChallengeID(f *testing.F) {
	f.Add(identity.NewChallengeID().String())
	f.Add("AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("AAAAAAAAAAAAAAAAAAAAAB")
	f.Add("____________________-w")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := identity.ParseChallengeID(s)
		if err != nil {
			if !errors.Is(err, identity.ErrUnknownChallenge) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// One ID has one spelling: no two strings name the same challenge.
		if id.String() != s {
			t.Fatalf("%q parsed, re-encodes as %q", s, id.String())
		}
	})
}

// TestResponseHidesData: a Response that reaches a log by mistake (fmt's
// %v, %+v, %#v, log/slog) does not show its Data, which holds a one-time
// code or a recovery code still unused.
func TestResponseHidesData(t *testing.T) {
	resp := identity.Response{ChallengeID: identity.ChallengeID{1, 2, 3}, Subject: "alice", Origin: "https://bank.example",
		Data: []byte("7HQ2-K9PZ-4MXW"), Name: "phone", RemoteAddr: "192.0.2.7"}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("finish", "resp", resp, "ptr", &resp)
	for _, s := range []string{fmt.Sprint(resp), fmt.Sprintf("%+v", resp), fmt.Sprintf("%#v", resp), fmt.Sprintf("%+v", &resp), buf.String()} {
		for _, secret := range []string{"7HQ2", "55 72 81 50"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows the response data", s)
			}
		}
		if !strings.Contains(s, "alice") {
			t.Errorf("%q does not name the subject", s)
		}
	}
}

// TestChallengeHidesPayload: an enrolment challenge's Payload holds the
// new TOTP seed (its otpauth:// URI) or fresh recovery codes, and its State
// server-side secrets; a Challenge that reaches a log by mistake shows
// neither.
func TestChallengeHidesPayload(t *testing.T) {
	ch := identity.Challenge{ID: identity.ChallengeID{4, 5, 6}, Kind: identity.KindTOTP, Purpose: identity.PurposeEnroll, Subject: "alice",
		Payload: []byte("otpauth://totp/Bank:alice?secret=JBSWY3DPEHPK3PXP"), State: []byte("server-side-secret")}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("issued", "ch", ch, "ptr", &ch)
	for _, s := range []string{fmt.Sprint(ch), fmt.Sprintf("%+v", ch), fmt.Sprintf("%#v", ch), fmt.Sprintf("%+v", &ch), buf.String()} {
		for _, secret := range []string{"JBSWY3DP", "server-side", "111 116 112"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows the challenge's payload or state", s)
			}
		}
		if !strings.Contains(s, "alice") {
			t.Errorf("%q does not name the subject", s)
		}
	}
}
