package identitytest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math"
	"testing"

	"github.com/puce-id/puce/identity"
)

// testHostileInput hands every write a 1 MB subject and counters beyond
// what a database integer holds: each store either takes the value or
// refuses it with ErrBadInput, never with an error a caller cannot
// branch on, and all stores agree on counters (a deployment tested on
// memstore must not fail only on SQL).
func testHostileInput(t *testing.T, s identity.Store) {
	ctx := context.Background()
	raw := make([]byte, 3<<18)
	rand.Read(raw)
	huge := identity.Subject(base64.RawURLEncoding.EncodeToString(raw)) // 1 MB of text a compressor cannot shrink
	typed := func(what string, err error) {
		t.Helper()
		if err != nil && !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("%s with a 1 MB subject: %v, want nil or ErrBadInput", what, err)
		}
	}
	c := &identity.Credential{Subject: huge, Kind: identity.KindTOTP, ID: "h1", Active: true, CreatedAt: Epoch()}
	typed("create a credential", s.CreateCredential(ctx, c))
	_, err := s.Credentials(ctx, huge, "")
	typed("list credentials", err)
	ch := newChallenge(Epoch())
	ch.Subject = huge
	typed("store a challenge", s.PutChallenge(ctx, ch))
	_, err = s.SwapThrottle(ctx, identity.ThrottleKey{Subject: huge, Kind: identity.KindTOTP}, identity.ThrottleState{}, identity.ThrottleState{Failures: 1, Version: 1})
	typed("count a failure", err)
	typed("audit", s.Audit(ctx, identity.Event{Time: Epoch(), Subject: huge, Action: "login", Result: identity.Failure}))
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{})
	mustNoErr(t, err, "verify the trail after the hostile appends")

	big := &identity.Credential{Subject: "erin", Kind: identity.KindTOTP, ID: "b1", Active: true, Counter: math.MaxInt64 + 1, CreatedAt: Epoch()}
	wantErr(t, s.CreateCredential(ctx, big), identity.ErrBadInput, "create a credential at a counter beyond int64")
	big.Counter = 1
	mustNoErr(t, s.CreateCredential(ctx, big), "create")
	wantErr(t, s.AdvanceCounter(ctx, big.Ref(), math.MaxUint64, Epoch()), identity.ErrBadInput, "advance a counter beyond int64")
	mustNoErr(t, s.AdvanceCounter(ctx, big.Ref(), math.MaxInt64, Epoch()), "advance a counter to the largest int64")
	wantErr(t, s.AdvanceCounter(ctx, big.Ref(), math.MaxInt64, Epoch()), identity.ErrReplayed, "advance a counter to where it is")
	if us, ok := s.(identity.UnitStore); ok {
		err := us.CommitUnit(ctx, &identity.UnitWrites{Counters: []identity.CounterAdvance{{Ref: big.Ref(), N: math.MaxUint64, At: Epoch()}}})
		wantErr(t, err, identity.ErrBadInput, "a unit advancing a counter beyond int64")
	}
}

// testBadText hands the text columns that are no keys a NUL byte and
// invalid UTF-8: every store refuses them with ErrBadInput and writes
// nothing, as PostgreSQL must (it cannot hold them), so that a deployment
// tested on memstore or SQLite does not fail only on PostgreSQL.
func testBadText(t *testing.T, s identity.Store) {
	ctx := context.Background()
	for what, v := range map[string]string{"NUL": "a\x00b", "invalid UTF-8": "a\xffb"} {
		c := &identity.Credential{Subject: "frank", Kind: identity.KindTOTP, ID: "t-" + what, Name: v, Active: true, CreatedAt: Epoch()}
		wantErr(t, s.CreateCredential(ctx, c), identity.ErrBadInput, "a credential named with "+what)
		if _, err := s.Credential(ctx, c.Ref()); !errors.Is(err, identity.ErrNotEnrolled) {
			t.Errorf("the credential named with %s was stored: %v", what, err)
		}
		c.Name = "phone"
		mustNoErr(t, s.CreateCredential(ctx, c), "create")
		c.Name = v
		wantErr(t, s.UpdateCredential(ctx, c), identity.ErrBadInput, "a credential renamed with "+what)
		ch := newChallenge(Epoch())
		ch.Origin = v
		wantErr(t, s.PutChallenge(ctx, ch), identity.ErrBadInput, "a challenge whose origin has "+what)
		if _, err := s.ConsumeChallenge(ctx, ch.ID, Epoch()); !errors.Is(err, identity.ErrUnknownChallenge) {
			t.Errorf("the challenge whose origin has %s was stored: %v", what, err)
		}
		ev := identity.Event{Time: Epoch(), Subject: "frank", Kind: identity.KindTOTP, Action: "login", Result: identity.Failure, Reason: v}
		wantErr(t, s.Audit(ctx, ev), identity.ErrBadInput, "an audit event whose reason has "+what)
		if us, ok := s.(identity.UnitStore); ok {
			ch := newChallenge(Epoch())
			mustNoErr(t, s.PutChallenge(ctx, ch), "put a challenge")
			err := us.CommitUnit(ctx, &identity.UnitWrites{Challenge: ch.ID, ConsumedAt: Epoch(), Events: []identity.Event{ev}})
			wantErr(t, err, identity.ErrBadInput, "a unit whose event's reason has "+what)
			if _, err := s.ConsumeChallenge(ctx, ch.ID, Epoch()); err != nil {
				t.Errorf("the refused unit consumed its challenge: %v", err)
			}
		}
	}
	_, err := s.VerifyAudit(ctx, identity.AuditKeys{})
	mustNoErr(t, err, "verify the trail after the refused appends")
}
