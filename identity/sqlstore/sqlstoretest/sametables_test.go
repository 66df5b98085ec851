package sqlstoretest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

func TestWrittenTables(t *testing.T) {
	q := `WITH h AS (UPDATE puce_audit_parts SET seq = seq + 1 WHERE part = ? RETURNING seq)
INSERT INTO puce_audit_log (part, seq) SELECT ?, h.seq FROM h;
INSERT INTO puce_throttle(key) VALUES ('UPDATE x') ON CONFLICT (key) DO UPDATE SET failures = 1;
DELETE FROM "puce_challenges" WHERE id = ?`
	got := writtenTables(q)
	want := []verbTable{{"UPDATE", "puce_audit_parts"}, {"INSERT", "puce_audit_log"}, {"INSERT", "puce_throttle"}, {"DELETE", "puce_challenges"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("writtenTables = %v, want %v", got, want)
	}
}

// The same-tables anchor writes, table by table, what it is asked to (as
// the counting driver sees it), changes nothing the factor reads, and
// leaves the store's audit chains verifiable once it is done.
func TestSameTablesSQLite(t *testing.T) {
	s, c := CountingSQLite(t)
	checkSameTables(t, s, c)
}

func TestSameTablesPostgres(t *testing.T) {
	s, c := CountingPostgres(t)
	checkSameTables(t, s, c)
}

func checkSameTables(t *testing.T, s *sqlstore.Store, c *Counter) {
	ctx := context.Background()
	now := time.Now().UTC()
	cred := &identity.Credential{Subject: "alice", Kind: "totp", ID: "phone", Secret: make([]byte, 60), Active: true, CreatedAt: now, LastUsedAt: now}
	if err := s.CreateCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	ch := &identity.Challenge{ID: identity.ChallengeID{1}, Kind: "totp", Subject: "alice", Origin: "https://bank.example", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.PutChallenge(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, identity.Event{Time: now, Subject: "alice", Kind: "totp", CredentialID: "phone", Action: "login", Result: identity.Success, RemoteAddr: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	w := []TableWrites{{"puce_audit_log", 1, 0, 0}, {"puce_audit_parts", 0, 1, 0}, {"puce_challenges", 0, 1, 0},
		{"puce_credentials", 1, 1, 1}, {"puce_throttle", 1, 1, 1}}
	const steps = 3
	tmpl := readTemplates(t, s, w)
	// The third anchor has the first one's id, as a benchmark's second run
	// has: its keys must not collide with what the first left.
	for i, one := range []bool{false, true, false} {
		x := newSameTables(t, s, w, tmpl, one, i%2)
		x.refill(steps)
		c.RecordTables(true)
		for range steps {
			if err := x.step(); err != nil {
				t.Fatalf("step (one round trip %v): %v", one, err)
			}
		}
		c.RecordTables(false)
		var want []TableWrites
		for _, tw := range w {
			want = append(want, TableWrites{tw.Table, steps * tw.Inserts, steps * tw.Updates, steps * tw.Deletes})
		}
		if got := c.Tables(); !reflect.DeepEqual(got, want) {
			t.Errorf("one round trip %v: wrote %v, want %v", one, got, want)
		}
		x.close()
	}
	creds, err := s.Credentials(ctx, "alice", "totp")
	if err != nil || len(creds) != 1 || creds[0].Counter != 0 || creds[0].Revision != 1 {
		t.Errorf("alice's credentials after the anchor: %+v, %v", creds, err)
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
		t.Errorf("VerifyAudit after the anchor: %v", err)
	}
}
