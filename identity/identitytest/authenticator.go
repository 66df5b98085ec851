package identitytest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
)

// Env is what a factor under test is built on. Harness.New must wire all of
// it into the factor: the suite moves the clock, reads the audit log and
// counts on the throttle.
type Env struct {
	Store identity.Store
	Clock *Clock
	// Services run on Store and Clock. Their throttle allows one free failure,
	// then doubles a 1-second delay, and locks after LockAfter failures.
	Services *identity.Services
	Origin   string
}

// Client answers challenges for one enrolled subject.
type Client interface {
	// Answer returns the response data for ch: a correct answer when good is
	// true, otherwise a well-formed but wrong one (a wrong code, a signature by
	// another key).
	Answer(t *testing.T, ch *identity.Challenge, good bool) []byte
}

// Harness tells Run how to build, enrol and answer for a factor.
type Harness struct {
	// New builds the factor on env.
	New func(t *testing.T, env *Env) identity.Authenticator
	// Enroll makes subject an enrolled, active user of the factor (through its
	// public enrolment API) and returns a client that answers for it.
	Enroll func(t *testing.T, env *Env, a identity.Authenticator, subject identity.Subject) Client
	// Store returns a fresh store for each test; nil means memstore.
	Store func(t *testing.T) identity.Store
}

// LockAfter is the failure limit of the suite's throttle.
const LockAfter = 6

// Step is how far the suite moves the clock before each ceremony, so factors
// with one-time codes see a new time step each time.
const Step = time.Minute

func (h Harness) env(t *testing.T) (*Env, identity.Authenticator) {
	var s identity.Store
	if h.Store != nil {
		s = h.Store(t)
	} else {
		s = memstore.New()
	}
	clock := NewClock(Epoch())
	env := &Env{
		Store: s,
		Clock: clock,
		Services: &identity.Services{Store: s, Clock: clock,
			Throttle: &identity.Throttle{Store: s, Clock: clock, Free: 1, BaseDelay: time.Second, MaxDelay: time.Hour, LockAfter: LockAfter}},
		Origin: "https://bank.example",
	}
	return env, h.New(t, env)
}

// ceremony runs Begin and returns the challenge and a response to it.
func ceremony(t *testing.T, env *Env, a identity.Authenticator, c Client, subject identity.Subject, good bool) (*identity.Challenge, identity.Response) {
	t.Helper()
	env.Clock.Advance(Step)
	ch, err := a.Begin(context.Background(), identity.Request{Subject: subject, Origin: env.Origin, RemoteAddr: "192.0.2.7"})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if ch.ID.IsZero() || ch.Kind != a.Kind() || ch.Subject != subject || ch.Origin != env.Origin || ch.Purpose != identity.PurposeAuthenticate {
		t.Fatalf("Begin returned a challenge not bound to its request: %+v", ch)
	}
	return ch, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: env.Origin, Data: c.Answer(t, ch, good), RemoteAddr: "192.0.2.7"}
}

func finishErr(t *testing.T, a identity.Authenticator, resp identity.Response, target error, what string) error {
	t.Helper()
	p, err := a.Finish(context.Background(), resp)
	if !errors.Is(err, target) {
		t.Fatalf("%s: Finish returned (%+v, %v), want %v", what, p, err, target)
	}
	if p != nil {
		t.Fatalf("%s: Finish returned a proof with its error", what)
	}
	return err
}

// lastEvent returns the newest audit record of subject.
func lastEvent(t *testing.T, env *Env, subject identity.Subject) identity.Event {
	t.Helper()
	recs, err := env.Store.AuditEvents(context.Background(), subject, 1)
	if err != nil || len(recs) == 0 {
		t.Fatalf("no audit event for %q (%v)", subject, err)
	}
	return recs[0].Event
}

// Run runs the Authenticator conformance suite.
func Run(t *testing.T, h Harness) {
	setup := func(t *testing.T) (*Env, identity.Authenticator, Client) {
		env, a := h.env(t)
		return env, a, h.Enroll(t, env, a, "alice")
	}

	t.Run("Success", func(t *testing.T) {
		env, a, c := setup(t)
		_, resp := ceremony(t, env, a, c, "alice", true)
		p, err := a.Finish(context.Background(), resp)
		if err != nil {
			t.Fatalf("Finish with a good answer: %v", err)
		}
		if p.Subject != "alice" || p.Kind != a.Kind() || p.CredentialID == "" || p.Assurance < identity.Level1 ||
			!p.Factors.Has(identity.Possession) || !p.Time.Equal(env.Clock.Now()) {
			t.Fatalf("proof %+v", p)
		}
		e := lastEvent(t, env, "alice")
		if e.Result != identity.Success || e.Kind != a.Kind() || e.CredentialID != p.CredentialID || e.RemoteAddr != "192.0.2.7" {
			t.Fatalf("audit event after success: %+v", e)
		}
	})

	t.Run("WrongAnswer", func(t *testing.T) {
		env, a, c := setup(t)
		_, resp := ceremony(t, env, a, c, "alice", false)
		err := finishErr(t, a, resp, identity.ErrInvalidResponse, "wrong answer")
		if e := lastEvent(t, env, "alice"); e.Result != identity.Failure || e.Kind != a.Kind() || e.Reason == "" {
			t.Fatalf("audit event after failure (%v): %+v", err, e)
		}
	})

	t.Run("SingleUse", func(t *testing.T) {
		env, a, c := setup(t)
		_, resp := ceremony(t, env, a, c, "alice", true)
		if _, err := a.Finish(context.Background(), resp); err != nil {
			t.Fatalf("first Finish: %v", err)
		}
		finishErr(t, a, resp, identity.ErrReplayed, "same response twice")
	})

	t.Run("FailedAttemptUsesChallenge", func(t *testing.T) {
		env, a, c := setup(t)
		ch, resp := ceremony(t, env, a, c, "alice", false)
		finishErr(t, a, resp, identity.ErrInvalidResponse, "wrong answer")
		resp.Data = c.Answer(t, ch, true)
		finishErr(t, a, resp, identity.ErrReplayed, "good answer to a challenge already failed")
	})

	t.Run("Expired", func(t *testing.T) {
		env, a, c := setup(t)
		ch, resp := ceremony(t, env, a, c, "alice", true)
		env.Clock.Set(ch.ExpiresAt)
		finishErr(t, a, resp, identity.ErrExpired, "answer at expiry")
	})

	t.Run("UnknownChallenge", func(t *testing.T) {
		env, a, c := setup(t)
		_, resp := ceremony(t, env, a, c, "alice", true)
		resp.ChallengeID = identity.NewChallengeID()
		finishErr(t, a, resp, identity.ErrUnknownChallenge, "unknown challenge ID")
		resp.ChallengeID = identity.ChallengeID{}
		finishErr(t, a, resp, identity.ErrUnknownChallenge, "no challenge ID")
	})

	t.Run("WrongSubject", func(t *testing.T) {
		env, a, c := setup(t)
		h.Enroll(t, env, a, "bob")
		_, resp := ceremony(t, env, a, c, "alice", true)
		resp.Subject = "bob"
		finishErr(t, a, resp, identity.ErrChallengeMismatch, "alice's challenge answered as bob")
	})

	t.Run("WrongOrigin", func(t *testing.T) {
		env, a, c := setup(t)
		_, resp := ceremony(t, env, a, c, "alice", true)
		resp.Origin = "https://bank.example.evil"
		finishErr(t, a, resp, identity.ErrChallengeMismatch, "answered from another origin")
	})

	t.Run("WrongKind", func(t *testing.T) {
		env, a, c := setup(t)
		ch, err := env.Services.Issue(context.Background(), "other-factor", identity.PurposeAuthenticate,
			identity.Request{Subject: "alice", Origin: env.Origin}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Answer as if it were the factor's own challenge.
		own := *ch
		own.Kind = a.Kind()
		resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: env.Origin, Data: c.Answer(t, &own, true)}
		finishErr(t, a, resp, identity.ErrChallengeMismatch, "another factor's challenge")
	})

	t.Run("WrongPurpose", func(t *testing.T) {
		env, a, c := setup(t)
		env.Clock.Advance(Step)
		ch, err := a.BeginEnroll(context.Background(), identity.Request{Subject: "alice", Origin: env.Origin, UserName: "alice@bank.example"})
		if err != nil {
			t.Fatalf("BeginEnroll: %v", err)
		}
		resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: env.Origin, Data: c.Answer(t, ch, true)}
		finishErr(t, a, resp, identity.ErrChallengeMismatch, "enrolment challenge answered to Finish")
	})

	t.Run("NotEnrolled", func(t *testing.T) {
		env, a, c := setup(t)
		env.Clock.Advance(Step)
		ch, err := a.Begin(context.Background(), identity.Request{Subject: "nobody", Origin: env.Origin})
		if err != nil {
			if !errors.Is(err, identity.ErrNotEnrolled) {
				t.Fatalf("Begin for an unknown subject: %v, want ErrNotEnrolled", err)
			}
			return
		}
		resp := identity.Response{ChallengeID: ch.ID, Subject: "nobody", Origin: env.Origin, Data: c.Answer(t, ch, true)}
		if _, err := a.Finish(context.Background(), resp); !errors.Is(err, identity.ErrNotEnrolled) && !errors.Is(err, identity.ErrInvalidResponse) {
			t.Fatalf("Finish for an unknown subject with alice's answer: %v", err)
		}
	})

	t.Run("Throttle", func(t *testing.T) {
		env, a, c := setup(t)
		var te *identity.ThrottledError
		for i := 0; ; i++ {
			if i > LockAfter {
				t.Fatalf("no throttling after %d failures", i)
			}
			_, resp := ceremony(t, env, a, c, "alice", false)
			_, err := a.Finish(context.Background(), resp)
			if errors.As(err, &te) {
				break
			}
			if !errors.Is(err, identity.ErrInvalidResponse) {
				t.Fatalf("failure %d: %v", i+1, err)
			}
			// Wrong answers in quick succession: do not let Step wait the delay out.
			env.Clock.Advance(-Step)
		}
		if te.Locked || te.RetryAfter <= 0 {
			t.Fatalf("throttled error %+v: want a retry-after", te)
		}
		// A good answer during the delay is not evaluated either.
		_, resp := ceremony(t, env, a, c, "alice", true)
		env.Clock.Advance(-Step)
		finishErr(t, a, resp, identity.ErrThrottled, "good answer while throttled")
		env.Clock.Advance(te.RetryAfter)
		_, resp = ceremony(t, env, a, c, "alice", true)
		if _, err := a.Finish(context.Background(), resp); err != nil {
			t.Fatalf("good answer after waiting %s: %v", te.RetryAfter, err)
		}
	})

	t.Run("Lock", func(t *testing.T) {
		env, a, c := setup(t)
		for range LockAfter {
			env.Clock.Advance(time.Hour) // wait out every delay: only the count matters here
			_, resp := ceremony(t, env, a, c, "alice", false)
			if _, err := a.Finish(context.Background(), resp); !errors.Is(err, identity.ErrInvalidResponse) {
				t.Fatalf("wrong answer: %v", err)
			}
		}
		_, resp := ceremony(t, env, a, c, "alice", true)
		err := finishErr(t, a, resp, identity.ErrThrottled, "good answer when locked")
		var te *identity.ThrottledError
		if !errors.As(err, &te) || !te.Locked {
			t.Fatalf("want a lock, got %v", err)
		}
		if err := env.Services.Throttle.Unlock(context.Background(), "alice", a.Kind()); err != nil {
			t.Fatal(err)
		}
		_, resp = ceremony(t, env, a, c, "alice", true)
		if _, err := a.Finish(context.Background(), resp); err != nil {
			t.Fatalf("after unlock: %v", err)
		}
	})

	t.Run("ParallelFinish", func(t *testing.T) {
		env, a, c := setup(t)
		_, resp := ceremony(t, env, a, c, "alice", true)
		const n = 64
		var wg sync.WaitGroup
		results := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := a.Finish(context.Background(), resp)
				results <- err
			}()
		}
		wg.Wait()
		close(results)
		wins := 0
		for err := range results {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, identity.ErrReplayed):
			default:
				t.Errorf("racing Finish: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d parallel Finish calls with one response succeeded; want exactly 1", wins, n)
		}
	})

	t.Run("ContextCancelled", func(t *testing.T) {
		env, a, c := setup(t)
		_, resp := ceremony(t, env, a, c, "alice", true)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if p, err := a.Finish(ctx, resp); err == nil {
			t.Fatalf("Finish with a cancelled context returned a proof %+v", p)
		}
	})
}
