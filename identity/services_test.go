package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

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

// TestServicesPurgeAndAnonymousRate: issue 17 found that an anonymous
// passkey-options request stored a challenge each time, never purged (3,000
// requests added 21 MB). Expired challenges are now purged as new ones are
// issued, and one address may start only so many anonymous ceremonies.
func TestServicesPurgeAndAnonymousRate(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: memstore.New()}
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: store, Clock: clock, Anonymous: identity.RateLimit{PerMinute: 60, Burst: 5}}
	anon := identity.Request{Origin: "https://rp.example", RemoteAddr: "192.0.2.7:4242"}
	for i := range 5 {
		if _, err := svc.Issue(ctx, identity.KindWebAuthn, identity.PurposeAuthenticate, anon, nil, nil); err != nil {
			t.Fatalf("anonymous challenge %d: %v", i+1, err)
		}
	}
	var rl *identity.RateLimitedError
	if _, err := svc.Issue(ctx, identity.KindWebAuthn, identity.PurposeAuthenticate, anon, nil, nil); !errors.As(err, &rl) || rl.RetryAfter != time.Second || errors.Is(err, identity.ErrBusy) {
		t.Fatalf("sixth at once: %v, want rate limited for 1s (not busy: the server is not)", err)
	}
	// Another port of the same address is the same client; another address
	// and a named subject are not limited by it.
	anon.RemoteAddr = "192.0.2.7:4343"
	if _, err := svc.Issue(ctx, identity.KindWebAuthn, identity.PurposeAuthenticate, anon, nil, nil); !errors.Is(err, identity.ErrRateLimited) {
		t.Fatalf("other port: %v, want rate limited", err)
	}
	if _, err := svc.Issue(ctx, identity.KindWebAuthn, identity.PurposeAuthenticate, identity.Request{Origin: "https://rp.example", RemoteAddr: "192.0.2.8"}, nil, nil); err != nil {
		t.Fatalf("other address: %v", err)
	}
	if _, err := svc.Issue(ctx, identity.KindTOTP, identity.PurposeAuthenticate, identity.Request{Subject: "alice", Origin: "https://rp.example", RemoteAddr: "192.0.2.7"}, nil, nil); err != nil {
		t.Fatalf("named subject: %v", err)
	}
	clock.Advance(time.Second)
	anon.RemoteAddr = "192.0.2.7"
	if _, err := svc.Issue(ctx, identity.KindWebAuthn, identity.PurposeAuthenticate, anon, nil, nil); err != nil {
		t.Fatalf("a second later: %v", err)
	}
	// Two lifetimes on, the next Issue purges what expired more than a
	// lifetime ago, once a minute at most.
	purges := store.purges
	clock.Advance(2*identity.DefaultChallengeTTL + time.Second)
	if _, err := svc.Issue(ctx, identity.KindWebAuthn, identity.PurposeAuthenticate, anon, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Issue(ctx, identity.KindWebAuthn, identity.PurposeAuthenticate, anon, nil, nil); err != nil {
		t.Fatal(err)
	}
	if store.purges != purges+1 || store.purged != 8 {
		t.Fatalf("%d purges deleting %d challenges, want one deleting the 8 expired", store.purges-purges, store.purged)
	}
}

type countingStore struct {
	identity.Store
	purges int
	purged int64
}

func (c *countingStore) PurgeChallenges(ctx context.Context, before time.Time) (int64, error) {
	n, err := c.Store.PurgeChallenges(ctx, before)
	c.purges++
	c.purged += n
	return n, err
}
