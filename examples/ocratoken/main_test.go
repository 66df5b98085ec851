package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/totp/ocra"
)

// TestDemoToken is the demo's OCRA token end to end: enrolled for "demo"
// in a login database, sealed with the server's development key; the
// server (here the ocra factor on the same database and key) asks the
// question of "100.00 EUR to Muster GmbH, DE89…3000"; the token's answer
// approves it, and neither approves 100.01 EUR nor replays.
func TestDemoToken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, file := filepath.Join(dir, "login.db"), filepath.Join(dir, "token.json")
	// The login server's side, as examples/login opens it, first, as the
	// demo starts it: it seals a checkpoint at once, which from then on
	// requires every record to be sealed.
	store, err := web.OpenStore(ctx, db, "", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var out bytes.Buffer
	if err := enrollToken(ctx, &out, db, "", "", "demo", DefaultSuite, file); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), DefaultSuite) {
		t.Fatalf("enrol printed %q", out.String())
	}
	// The enrolment's audit record is sealed with the server's audit key:
	// the trail verifies under it (the demo's auditcheck found an unsealed
	// one when the enrolment opened the database without the key).
	auditKey, err := web.AuditKey("", db+".dev-audit-key", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey, Fresh: time.Minute}); err != nil {
		t.Fatalf("the trail after the enrolment: %v", err)
	}
	sealer, err := web.Sealer("", db+".dev-sealer-key", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	// The login server's factor, which approves in euros.
	f, err := ocra.New(&identity.Services{Store: store, Throttle: &identity.Throttle{Store: store, Free: 5, LockAfter: 5}}, sealer, ocra.WithCurrency("EUR"))
	if err != nil {
		t.Fatal(err)
	}
	tx := identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00"}
	approve := func(issued, answered identity.Transaction) error {
		ch, err := f.BeginApprove(ctx, identity.Request{Subject: "demo", Origin: "http://localhost", Transaction: &issued})
		if err != nil {
			t.Fatal(err)
		}
		var resp bytes.Buffer
		if err := answer(&resp, file, string(ch.Payload)); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(resp.String()), "\n")
		code := lines[len(lines)-1]
		_, err = f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "demo", Origin: "http://localhost", Data: []byte(code), Transaction: &answered})
		if err == nil && !strings.Contains(lines[0], "ending 3000, amount 10000") {
			t.Errorf("the token showed %q", lines[0])
		}
		return err
	}
	if err := approve(tx, tx); err != nil {
		t.Fatalf("approve 100.00 EUR: %v", err)
	}
	other := tx
	other.Amount = "100.01"
	if err := approve(tx, other); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("answered for 100.01 EUR: %v", err)
	}

	// Replayed: the first response again, for the same payment.
	ch, _ := f.BeginApprove(ctx, identity.Request{Subject: "demo", Origin: "http://localhost", Transaction: &tx})
	tok, _ := load(file)
	s, _ := ocra.ParseSuite(tok.Suite)
	key := mustHex(t, tok.Key)
	first, _ := s.Response(key, ocra.Input{Question: string(ch.Payload), Counter: 0})
	if _, err := f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "demo", Origin: "http://localhost", Data: []byte(first), Transaction: &tx}); !errors.Is(err, identity.ErrReplayed) {
		t.Errorf("replayed response: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
