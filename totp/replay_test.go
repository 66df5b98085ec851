package totp_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp"
)

func TestReplaySameCode(t *testing.T) {
	e := newEnv(t, nil)
	k := e.enroll(t, "alice")
	e.clock.Advance(time.Minute)
	code := codeAt(t, k, e.clock.Now())
	if _, err := e.login(t, "alice", code); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err := e.login(t, "alice", code)
	wantErr(t, err, identity.ErrReplayed, "same code twice")
	t.Logf("second use: %v", err)
	// Still replayed at the end of the window, when the code is about to age out.
	e.clock.Advance(30 * time.Second)
	_, err = e.login(t, "alice", code)
	wantErr(t, err, identity.ErrReplayed, "same code one step later")
}

func TestReplayEarlierStep(t *testing.T) {
	e := newEnv(t, nil)
	k := e.enroll(t, "alice")
	e.clock.Advance(time.Hour)
	now := e.clock.Now()
	prev := codeAt(t, k, now.Add(-30*time.Second)) // step t: still inside the ±1 window
	if _, err := e.login(t, "alice", codeAt(t, k, now)); err != nil {
		t.Fatalf("code of step t+1: %v", err)
	}
	_, err := e.login(t, "alice", prev)
	wantErr(t, err, identity.ErrReplayed, "code of step t after step t+1 was accepted")
}

func TestReplayAfterFutureStep(t *testing.T) {
	e := newEnv(t, nil)
	k := e.enroll(t, "alice")
	e.clock.Advance(time.Hour)
	now := e.clock.Now()
	// A phone one step ahead: its code is accepted (skew 1) and moves the
	// counter to step t+1, so the current step's code is now spent too.
	if _, err := e.login(t, "alice", codeAt(t, k, now.Add(30*time.Second))); err != nil {
		t.Fatalf("code of step t+1 at step t: %v", err)
	}
	_, err := e.login(t, "alice", codeAt(t, k, now))
	wantErr(t, err, identity.ErrReplayed, "code of step t after step t+1")
}

func TestEnrolmentCodeIsSpent(t *testing.T) {
	e := newEnv(t, nil)
	k := e.enroll(t, "alice")
	_, err := e.login(t, "alice", codeAt(t, k, e.clock.Now()))
	wantErr(t, err, identity.ErrReplayed, "the enrolment code used to log in")
}

// TestWindow: with skew s, codes of steps T-s to T+s are accepted and the
// steps just outside are not.
func TestWindow(t *testing.T) {
	for _, skew := range []int{0, 1, 2} {
		for d := -skew - 1; d <= skew+1; d++ {
			e := newEnv(t, nil, totp.WithSkew(skew))
			k := e.enroll(t, "alice")
			e.clock.Advance(time.Hour)
			_, err := e.login(t, "alice", codeAt(t, k, e.clock.Now().Add(time.Duration(d)*30*time.Second)))
			inside := d >= -skew && d <= skew
			if inside && err != nil {
				t.Errorf("skew %d, offset %d steps: %v", skew, d, err)
			}
			if !inside && !errors.Is(err, identity.ErrInvalidResponse) {
				t.Errorf("skew %d, offset %d steps: got %v, want ErrInvalidResponse", skew, d, err)
			}
		}
	}
}

// raceOneCode enrols alice on stores[0], then has n requests, spread over the
// given stores (server instances), each with its own challenge, submit the
// same code at once. Exactly one may succeed; the others must see
// ErrReplayed.
func raceOneCode(t *testing.T, n int, stores ...identity.Store) {
	t.Helper()
	ctx := context.Background()
	sealer := newSealer(t)
	e := newEnv(t, stores[0])
	var factors []*totp.Factor
	for _, s := range stores {
		// A throttle loose enough that every racer is evaluated: this test is
		// about the counter, not the throttle.
		svc := &identity.Services{Store: s, Clock: e.clock, Throttle: &identity.Throttle{Store: s, Clock: e.clock, Free: 4 * n, LockAfter: identity.MaxLockout}}
		f, err := totp.New(svc, sealer, "Example Bank")
		if err != nil {
			t.Fatal(err)
		}
		factors = append(factors, f)
	}
	ch, err := factors[0].BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin, UserName: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := totp.ParseURI(string(ch.Payload))
	if _, err := factors[0].FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(codeAt(t, k, e.clock.Now()))}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	code := []byte(codeAt(t, k, e.clock.Now()))
	resps := make([]identity.Response, n)
	for i := range resps {
		ch, err := factors[i%len(factors)].Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: code}
	}
	var wins, replays atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range resps {
		wg.Go(func() {
			<-start
			_, err := factors[i%len(factors)].Finish(ctx, resps[i])
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, identity.ErrReplayed):
				replays.Add(1)
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || replays.Load() != int32(n-1) {
		t.Fatalf("%d requests with one code on %d instances: %d succeeded, %d replayed; want 1 and %d", n, len(stores), wins.Load(), replays.Load(), n-1)
	}
	t.Logf("%d racers on %d instances: 1 succeeded, %d replayed", n, len(stores), replays.Load())
}

func TestRaceOneCode(t *testing.T) { raceOneCode(t, 32, memstore.New()) }
