package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// TestDeadlockIsAConflictPostgres: a unit's commit that PostgreSQL picks
// as the victim of a deadlock (SQLSTATE 40P01) wrote nothing — the server
// rolls the whole transaction back ("Explicit Locking", Deadlocks) — so it
// is a conflict, read and judged again, not a failed login. Two units
// that clear one kind's throttle record and reset another's (logins that
// unlock each other's factors) lock the two rows in opposite orders; here
// an admin connection plays the second unit, deterministically.
func TestDeadlockIsAConflictPostgres(t *testing.T) {
	ctx := context.Background()
	s, admin, app := crashStore(t)
	t1 := identity.ThrottleKey{Subject: "alice", Kind: identity.KindTOTP}
	t2 := identity.ThrottleKey{Subject: "alice", Kind: identity.KindWebAuthn}
	for _, k := range []identity.ThrottleKey{t1, t2} {
		if ok, err := s.SwapThrottle(ctx, k, identity.ThrottleState{}, identity.ThrottleState{Failures: 1, Version: 1}); err != nil || !ok {
			t.Fatalf("seed %v: %v %v", k, ok, err)
		}
	}
	lock, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.ExecContext(ctx, `SELECT 1 FROM puce_throttle WHERE key = $1 FOR UPDATE`, t2.String()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.CommitUnit(ctx, &identity.UnitWrites{ThrottleKey: t1, Clear: true, Prev: identity.ThrottleState{Failures: 1, Version: 1},
			Resets: []identity.ThrottleKey{t2}})
	}()
	// Once the unit holds t1 and waits for t2, take t1 too: the cycle. The
	// unit waited first, so its deadlock check runs first and it is the
	// one rolled back.
	waiting := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !waiting; time.Sleep(20 * time.Millisecond) {
		var n int
		admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n)
		waiting = n > 0
	}
	if !waiting {
		t.Fatal("the unit never waited for the row the test holds")
	}
	adminDone := make(chan error, 1)
	go func() {
		_, err := lock.ExecContext(ctx, `DELETE FROM puce_throttle WHERE key = $1`, t1.String())
		adminDone <- err
	}()
	err = <-done
	if aerr := <-adminDone; aerr != nil {
		t.Logf("the admin's side: %v", aerr)
	}
	if !identity.IsUnitConflict(err) {
		t.Fatalf("a unit rolled back by a deadlock: %v, want a conflict", err)
	}
	lock.Rollback()
	if st, _ := s.LoadThrottle(ctx, t2); st.Version != 1 {
		t.Fatalf("the deadlocked unit left the record it reset at %+v", st)
	}
}
