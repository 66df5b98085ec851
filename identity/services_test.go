package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// TestServicesProve: a login's proof carries the challenge's subject, the
// factor and the instant the challenge was judged, plus what the check
// adds; a failed check gives no proof, is audited and counted by the
// throttle; a challenge answers once.
func TestServicesProve(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: store, Clock: clock, Throttle: &identity.Throttle{Store: store, Clock: clock, Free: 5}}
	req := identity.Request{Subject: "alice", Origin: "https://rp.example", RemoteAddr: "192.0.2.7"}
	answer := func(ch *identity.Challenge) identity.Response {
		return identity.Response{ChallengeID: ch.ID, Subject: ch.Subject, Origin: ch.Origin, RemoteAddr: req.RemoteAddr}
	}

	ch, err := svc.Issue(ctx, identity.KindTOTP, identity.PurposeAuthenticate, req, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Prove(ctx, identity.KindTOTP, answer(ch), func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		ev.CredentialID = "c1"
		p.CredentialID, p.Factors, p.Assurance = "c1", identity.Possession, identity.Level2
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := identity.Proof{Subject: "alice", Kind: identity.KindTOTP, CredentialID: "c1", Factors: identity.Possession,
		Assurance: identity.Level2, Time: clock.Now()}
	if p.Subject != want.Subject || p.Kind != want.Kind || p.CredentialID != want.CredentialID || p.Factors != want.Factors ||
		p.Assurance != want.Assurance || !p.Time.Equal(want.Time) {
		t.Fatalf("proof %+v, want %+v", *p, want)
	}
	if _, err := svc.Prove(ctx, identity.KindTOTP, answer(ch), func(context.Context, *identity.Challenge, *identity.Event, *identity.Proof) error {
		t.Fatal("check ran on a used challenge")
		return nil
	}); !errors.Is(err, identity.ErrReplayed) {
		t.Fatalf("second answer: %v, want ErrReplayed", err)
	}

	ch, err = svc.Issue(ctx, identity.KindTOTP, identity.PurposeAuthenticate, req, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err = svc.Prove(ctx, identity.KindTOTP, answer(ch), func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		p.CredentialID = "c1" // set before failing: must not come out
		return identity.ErrInvalidResponse
	})
	if p != nil || !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("failed check: proof %v, error %v", p, err)
	}
	st, err := store.LoadThrottle(ctx, identity.ThrottleKey{Subject: "alice", Kind: identity.KindTOTP})
	if err != nil || st.Failures != 1 {
		t.Fatalf("throttle after one failure: %+v, %v", st, err)
	}
	recs, err := store.AuditEvents(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	var results []identity.Result
	for _, r := range recs {
		results = append(results, r.Event.Result)
		if r.Event.RemoteAddr != req.RemoteAddr || r.Event.Action != "login" {
			t.Errorf("audit event %+v", r.Event)
		}
	}
	// Newest first: the failure, the replay, the success.
	if len(results) != 3 || results[0] != identity.Failure || results[1] != identity.Failure || results[2] != identity.Success ||
		recs[2].Event.CredentialID != "c1" {
		t.Fatalf("audit trail %v", recs)
	}
}
