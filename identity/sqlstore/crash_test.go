package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
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
	s, admin, app := crashStore(t)

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

	err = killMidCommit(t, admin, app, "alice", func() error {
		_, err := svc.Prove(ctx, kind, resp, check)
		return err
	})
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
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
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

// crashStore opens a store on a schema of its own whose connections carry
// an application name of their own, and an admin connection to kill them.
func crashStore(t *testing.T) (s *sqlstore.Store, admin *sql.DB, app string) {
	ctx := context.Background()
	dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
	var b [6]byte
	rand.Read(b[:])
	app = "puce_crash_" + hex.EncodeToString(b[:])
	u, err := url.Parse(dsn)
	if err != nil {
		t.Skipf("DSN is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err = sqlstore.OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	admin, err = sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })

	return s, admin, app
}

// killMidCommit runs run while it holds subject's audit partition head,
// so that run's commit waits on the row lock mid-transaction, and kills
// the waiting backend. It returns run's error.
func killMidCommit(t *testing.T, admin *sql.DB, app string, subject identity.Subject, run func() error) error {
	ctx := context.Background()
	lock, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := auditchain.Partition(subject, auditchain.DefaultPartitions)
	if _, err := lock.ExecContext(ctx, `SELECT 1 FROM puce_audit_parts WHERE part = $1 FOR UPDATE`, p); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run() }()
	// Find the backend waiting on the lock, mid-transaction, and kill it.
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
	lock.Rollback()
	err = <-done
	if !killed {
		t.Fatalf("the unit never waited on the audit partition's lock (%v)", err)
	}
	return err
}

// TestCrashMidEnrolPostgres: an enrolment whose connection is killed in
// the middle of its commit leaves no credential, an unused challenge and
// no success in the trail; the same answer then enrols.
func TestCrashMidEnrolPostgres(t *testing.T) {
	ctx := context.Background()
	s, admin, app := crashStore(t)
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: s, Clock: clock, Throttle: &identity.Throttle{Store: s}}
	const kind identity.Kind = "crash-test"
	ch, err := svc.Issue(ctx, kind, identity.PurposeEnroll, identity.Request{Subject: "alice", Origin: "https://bank.example"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: "https://bank.example"}
	ref := identity.CredentialRef{Subject: "alice", Kind: kind, ID: "new"}
	check := func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		ev.CredentialID = ref.ID
		return svc.CreateCredential(ctx, &identity.Credential{Subject: ref.Subject, Kind: kind, ID: ref.ID, Active: true, CreatedAt: ev.Time})
	}
	err = killMidCommit(t, admin, app, "alice", func() error { return svc.Enroll(ctx, kind, resp, check) })
	if err == nil {
		t.Fatal("an enrolment whose connection was killed mid-commit succeeded")
	}
	var consumed sql.NullInt64
	if err := admin.QueryRowContext(ctx, `SELECT consumed_at FROM puce_challenges WHERE id = $1`, ch.ID[:]).Scan(&consumed); err != nil {
		t.Fatal(err)
	}
	if consumed.Valid {
		t.Error("the challenge was consumed by a unit that did not commit")
	}
	if _, err := s.Credential(ctx, ref); !errors.Is(err, identity.ErrNotEnrolled) {
		t.Errorf("the credential of an enrolment that did not commit: %v", err)
	}
	recs, _ := s.AuditEvents(ctx, "alice", 0)
	for _, r := range recs {
		if r.Event.Result == identity.Success {
			t.Errorf("a success is in the trail: %+v", r.Event)
		}
	}
	if err := svc.Enroll(ctx, kind, resp, check); err != nil {
		t.Fatalf("the same answer after the crash: %v", err)
	}
	if _, err := s.Credential(ctx, ref); err != nil {
		t.Fatalf("after the enrolment: %v", err)
	}
}
