package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

func TestThrottleSchedule(t *testing.T) {
	ctx := context.Background()
	clock := identitytest.NewClock(identitytest.Epoch())
	th := &identity.Throttle{Store: memstore.New(), Clock: clock, Free: 2, BaseDelay: time.Second, MaxDelay: 5 * time.Second, LockAfter: 8}
	// Each attempt here fails (Succeed is never called). The wait after the
	// n-th failure: none for the first two, then 1s, 2s, 4s, capped at 5s.
	want := []time.Duration{0, 0, 1, 2, 4, 5, 5}
	for i, w := range want {
		if err := th.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		err := th.Status(ctx, "alice", identity.KindTOTP)
		var te *identity.ThrottledError
		switch {
		case w == 0 && err != nil:
			t.Fatalf("after failure %d: %v, want no wait", i+1, err)
		case w > 0 && (!errors.As(err, &te) || te.RetryAfter != w*time.Second || te.Failures != i+1):
			t.Fatalf("after failure %d: %v, want a wait of %ds", i+1, err, w)
		}
		if w > 0 {
			if err := th.Attempt(ctx, "alice", identity.KindTOTP); !errors.Is(err, identity.ErrThrottled) {
				t.Fatalf("attempt during the wait: %v", err)
			}
		}
		clock.Advance(w * time.Second)
	}
	// Another factor of the same subject is counted apart.
	if err := th.Attempt(ctx, "alice", identity.KindWebAuthn); err != nil {
		t.Fatalf("other factor: %v", err)
	}
	// The 8th failure locks.
	if err := th.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatal(err)
	}
	clock.Advance(24 * time.Hour)
	var te *identity.ThrottledError
	if err := th.Attempt(ctx, "alice", identity.KindTOTP); !errors.As(err, &te) || !te.Locked || te.Failures != 8 {
		t.Fatalf("after 8 failures and a day: %v, want locked", err)
	}
	if err := th.Unlock(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatal(err)
	}
	if err := th.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

func TestThrottleTimedLock(t *testing.T) {
	ctx := context.Background()
	clock := identitytest.NewClock(identitytest.Epoch())
	th := &identity.Throttle{Store: memstore.New(), Clock: clock, Free: 10, LockAfter: 3, LockFor: time.Hour}
	for range 3 {
		if err := th.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
			t.Fatal(err)
		}
	}
	if err := th.Attempt(ctx, "alice", identity.KindTOTP); !errors.Is(err, identity.ErrThrottled) {
		t.Fatalf("locked: %v", err)
	}
	clock.Advance(time.Hour)
	if err := th.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatalf("after the lock period: %v", err)
	}
	// The count started afresh: two more failures are allowed before the lock.
	th.Attempt(ctx, "alice", identity.KindTOTP)
	if err := th.Status(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatalf("second count: %v", err)
	}
}

func TestThrottleSucceedResets(t *testing.T) {
	ctx := context.Background()
	clock := identitytest.NewClock(identitytest.Epoch())
	th := &identity.Throttle{Store: memstore.New(), Clock: clock, Free: 1, LockAfter: 3}
	th.Attempt(ctx, "alice", identity.KindTOTP)
	th.Attempt(ctx, "alice", identity.KindTOTP)
	if err := th.Succeed(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatal(err)
	}
	if err := th.Status(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatalf("after success: %v", err)
	}
}

func TestThrottleLimit(t *testing.T) {
	th := &identity.Throttle{Store: memstore.New(), LockAfter: identity.MaxLockout + 1}
	if err := th.Attempt(context.Background(), "alice", identity.KindTOTP); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("a limit above 100: %v", err)
	}
}

// TestThrottleKeyString pins the string SQL stores keep: a lock without
// LockFor lasts until Unlock, so a changed format would free locked accounts
// on upgrade.
func TestThrottleKeyString(t *testing.T) {
	if got := (identity.ThrottleKey{Subject: "alice@example.com", Kind: identity.KindTOTP}).String(); got != "totp/alice@example.com" {
		t.Fatalf("String() = %q", got)
	}
}

// TestThrottleRefusesAmbiguousKinds: a kind with '/' could make "kind/subject"
// collide with another kind's key in a SQL store (kind "a/b" and subject "c",
// kind "a" and subject "b/c"); the throttle and challenges refuse it.
func TestThrottleRefusesAmbiguousKinds(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	th := &identity.Throttle{Store: store}
	for _, kind := range []identity.Kind{"a/b", "", identity.Kind(strings.Repeat("k", 65))} {
		if err := th.Attempt(ctx, "c", kind); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("Attempt with kind %q: %v, want ErrBadInput", kind, err)
		}
		if err := th.Unlock(ctx, "c", kind); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("Unlock with kind %q: %v, want ErrBadInput", kind, err)
		}
		if err := th.Status(ctx, "c", kind); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("Status with kind %q: %v, want ErrBadInput", kind, err)
		}
		svc := &identity.Services{Store: store}
		if _, err := svc.Issue(ctx, kind, identity.PurposeAuthenticate, identity.Request{Subject: "c", Origin: "https://rp.example"}, nil, nil); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("Issue with kind %q: %v, want ErrBadInput", kind, err)
		}
	}
	if err := th.Attempt(ctx, "b/c", "a"); err != nil {
		t.Fatalf("a subject may contain '/': %v", err)
	}
}
