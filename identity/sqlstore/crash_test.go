package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestCrashMidCommitPostgres kills the server process of a verification's
// connection in the middle of its commit — after the challenge, the
// throttle and the counter statements ran, while the audit append waits
// for a row lock the test holds — and checks that nothing of the unit is
// left: the challenge is unused, the counter and the throttle as they
// were, no success in the trail. The same answer then logs in.
func TestCrashMidCommitPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
	var b [6]byte
	rand.Read(b[:])
	app := "puce_crash_" + hex.EncodeToString(b[:])
	u, err := url.Parse(dsn)
	if err != nil {
		t.Skipf("DSN is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err := sqlstore.OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: s, Clock: clock, Throttle: &identity.Throttle{Store: s}}
	const kind identity.Kind = "crash-test"
	cred := &identity.Credential{Subject: "alice", Kind: kind, ID: "k1", Active: true, Counter: 5, CreatedAt: clock.Now()}
	if err := s.CreateCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	ch, err := svc.Issue(ctx, kind, identity.PurposeAuthenticate, identity.Request{Subject: "alice", Origin: "https://bank.example"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: "https://bank.example"}
	check := func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		c, err := svc.Credential(ctx, identity.CredentialRef{Subject: "alice", Kind: kind, ID: "k1"})
		if err != nil {
			return err
		}
		ev.CredentialID = c.ID
		p.CredentialID, p.Factors, p.Assurance = c.ID, identity.Possession, identity.Level2
		return svc.AdvanceCounter(ctx, c.Ref(), c.Counter+1, ev.Time)
	}

	// Hold alice's audit partition head: the commit's audit append waits.
	lock, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := auditchain.Partition("alice", auditchain.DefaultPartitions)
	if _, err := lock.ExecContext(ctx, `SELECT 1 FROM puce_audit_parts WHERE part = $1 FOR UPDATE`, p); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := svc.Prove(ctx, kind, resp, check)
		done <- err
	}()
	// Find the verification's backend waiting on the lock, mid-transaction,
	// and kill it.
	var killed bool
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !killed; time.Sleep(20 * time.Millisecond) {
		var pid int
		err := admin.QueryRowContext(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'
			AND state = 'active' AND xact_start IS NOT NULL`, app).Scan(&pid)
		if err != nil {
			continue
		}
		if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatal(err)
		}
		killed = true
	}
	if !killed {
		lock.Rollback()
		t.Fatalf("the verification never waited on the audit partition's lock (Prove: %v)", <-done)
	}
	lock.Rollback()
	err = <-done
	if err == nil {
		t.Fatal("a verification whose connection was killed mid-commit succeeded")
	}
	t.Logf("Prove with its connection killed mid-commit: %v", err)

	var consumed sql.NullInt64
	if err := admin.QueryRowContext(ctx, `SELECT consumed_at FROM puce_challenges WHERE id = $1`, ch.ID[:]).Scan(&consumed); err != nil {
		t.Fatal(err)
	}
	got, err := s.Credential(ctx, cred.Ref())
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.LoadThrottle(ctx, identity.ThrottleKey{Subject: "alice", Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.AuditEvents(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case consumed.Valid:
		t.Error("the challenge was consumed by a unit that did not commit")
	case got.Counter != 5:
		t.Errorf("the counter moved to %d by a unit that did not commit", got.Counter)
	case st.Version != 0:
		t.Errorf("the throttle record %+v was left by a unit that did not commit", st)
	}
	for _, r := range recs {
		if r.Event.Result == identity.Success {
			t.Errorf("a success is in the trail: %+v", r.Event)
		}
	}
	if _, err := s.VerifyAudit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Nothing was written, so the answer is as good as before.
	if _, err := svc.Prove(ctx, kind, resp, check); err != nil {
		t.Fatalf("the same answer after the crash: %v", err)
	}
	if got, _ := s.Credential(ctx, cred.Ref()); got.Counter != 6 {
		t.Fatalf("counter %d after the login, want 6", got.Counter)
	}
}
