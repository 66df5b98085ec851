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
	th := &identity.Throttle{Store: memstore.New(), Clock: clock, Free: 10, LockAfter: 3, LockFor: time.Hour, MaxLockFor: 4 * time.Hour, Limit: 6}
	for range 3 {
		if err := th.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
			t.Fatal(err)
		}
	}
	// Each lock ends by itself, and each failure after it locks for twice
	// as long, up to MaxLockFor; the count goes on until the Limit.
	for i, lock := range []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour} {
		var te *identity.ThrottledError
		if err := th.Attempt(ctx, "alice", identity.KindTOTP); !errors.As(err, &te) || !te.Locked || te.RetryAfter != lock || te.Failures != 3+i {
			t.Fatalf("lock %d: %v, want locked for %s after %d failures", i+1, err, lock, 3+i)
		}
		clock.Advance(lock)
		if err := th.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
			t.Fatalf("after lock %d: %v", i+1, err)
		}
	}
	var te *identity.ThrottledError
	clock.Advance(365 * 24 * time.Hour)
	if err := th.Attempt(ctx, "alice", identity.KindTOTP); !errors.As(err, &te) || !te.Locked || te.RetryAfter != 0 || te.Failures != 6 {
		t.Fatalf("at the limit, a year later: %v, want locked until unlocked", err)
	}
}

// TestThrottleWaitingOutLocks is issue 17's attack: with timed 15-minute
// locks, an attacker who waits out each one had 5,884 of 10,000 wrong codes
// evaluated, because a lock's end restarted the count. The count now
// survives the locks, so no more than MaxLockout are evaluated.
func TestThrottleWaitingOutLocks(t *testing.T) {
	ctx := context.Background()
	clock := identitytest.NewClock(identitytest.Epoch())
	th := &identity.Throttle{Store: memstore.New(), Clock: clock, LockFor: 15 * time.Minute}
	evaluated := 0
	for range 10000 {
		err := th.Attempt(ctx, "alice", identity.KindTOTP)
		var te *identity.ThrottledError
		switch {
		case err == nil:
			evaluated++
		case errors.As(err, &te):
			clock.Advance(te.RetryAfter + time.Second)
		default:
			t.Fatal(err)
		}
	}
	if evaluated != identity.MaxLockout {
		t.Fatalf("%d wrong codes evaluated out of 10,000, want %d", evaluated, identity.MaxLockout)
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
	for _, th := range []*identity.Throttle{
		{LockAfter: identity.MaxLockout + 1},
		{Limit: identity.MaxLockout + 1, LockFor: time.Minute},
		{LockAfter: 20, Limit: 10, LockFor: time.Minute},
		{LockFor: -time.Minute},
	} {
		th.Store = memstore.New()
		if err := th.Attempt(context.Background(), "alice", identity.KindTOTP); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("LockAfter %d, Limit %d, LockFor %s: %v, want ErrBadInput", th.LockAfter, th.Limit, th.LockFor, err)
		}
	}
}

func TestClientAddress(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:51234":            "192.0.2.7",
		"192.0.2.7":                  "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":       "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":      "192.0.2.7",
		"":                           "",
		"not an address":             "not an address",
		"[fe80::1%eth0]:80":          "fe80::/64",
	} {
		if got := identity.ClientAddress(in); got != want {
			t.Errorf("ClientAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServicesUnlock: an administrator's unlock clears a lock and is in
// the audit trail; a factor without failures is skipped.
func TestServicesUnlock(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: store, Clock: clock, Throttle: &identity.Throttle{Store: store, Clock: clock, LockAfter: 2}}
	for range 2 {
		if err := svc.Throttle.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Throttle.Status(ctx, "alice", identity.KindTOTP); !errors.Is(err, identity.ErrThrottled) {
		t.Fatalf("before unlock: %v", err)
	}
	if err := svc.Unlock(ctx, "alice", "admin:carol", "192.0.2.1", identity.KindTOTP, identity.KindCard); err != nil {
		t.Fatal(err)
	}
	if err := svc.Throttle.Status(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	recs, err := store.AuditEvents(ctx, "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Event.Action != "unlock" || recs[0].Event.Kind != identity.KindTOTP ||
		!strings.Contains(recs[0].Event.Reason, "admin:carol") || recs[0].Event.Result != identity.Success {
		t.Fatalf("audit trail after unlock: %+v, want one unlock of totp by admin:carol", recs)
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

// TestThrottleTriesLeft: after a wrong answer the holder can be told how
// many more may follow before the factor locks (PSD2Throttle: five, RTS on
// SCA Article 4(3)(b)); a lock leaves none, an unlock all of them again.
func TestThrottleTriesLeft(t *testing.T) {
	ctx := context.Background()
	clock := identitytest.NewClock(identitytest.Epoch())
	th := identity.PSD2Throttle(memstore.New(), clock)
	left := func() int {
		t.Helper()
		n, err := th.TriesLeft(ctx, "alice", identity.KindTOTP)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := left(); n != 5 {
		t.Fatalf("no failure yet: %d tries left, want 5", n)
	}
	for i := 1; i <= 5; i++ {
		if err := th.Attempt(ctx, "alice", identity.KindTOTP); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if n := left(); n != 5-i {
			t.Fatalf("after %d failures: %d tries left, want %d", i, n, 5-i)
		}
	}
	clock.Advance(24 * time.Hour)
	if n := left(); n != 0 {
		t.Fatalf("locked: %d tries left", n)
	}
	if err := th.Unlock(ctx, "alice", identity.KindTOTP); err != nil {
		t.Fatal(err)
	}
	if n := left(); n != 5 {
		t.Fatalf("after unlock: %d tries left", n)
	}
	// A timed lock that has run out allows one more guess before it locks
	// again, up to the limit.
	timed := &identity.Throttle{Store: memstore.New(), Clock: clock, Free: 1, LockAfter: 2, LockFor: time.Minute, Limit: 3}
	for range 2 {
		timed.Attempt(ctx, "bob", identity.KindTOTP)
		clock.Advance(time.Hour)
	}
	if n, _ := timed.TriesLeft(ctx, "bob", identity.KindTOTP); n != 1 {
		t.Fatalf("after a timed lock ran out: %d tries left, want 1", n)
	}
	timed.Attempt(ctx, "bob", identity.KindTOTP)
	clock.Advance(time.Hour)
	if n, _ := timed.TriesLeft(ctx, "bob", identity.KindTOTP); n != 0 {
		t.Fatalf("at the limit: %d tries left, want 0", n)
	}
}
