package puce_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/totp"
)

// A login needs two factors: a password alone reaches AAL1, so the policy
// asks for a second one; a TOTP code brings the session to AAL2. This is
// what identity/httpauth's endpoints do for each request (NewSite builds
// all of it); here the calls are made directly, on a SQLite store whose
// audit trail is sealed with its key.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "puce-example")
	defer os.RemoveAll(dir)
	auditKey := identity.GenerateSealerKey() // 32 random bytes, kept outside the database
	sealer, _ := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	// A test clock, so that the login can use the next code at once; nil
	// (the system clock) in a server.
	clock := identitytest.NewClock(time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC))

	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "bank.db"),
		sqlstore.WithAudit(identity.AuditConfig{Key: auditKey}), sqlstore.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	throttle := &identity.Throttle{Store: store, Clock: clock}
	svc := &identity.Services{Store: store, Throttle: throttle, Clock: clock} // one per process; factors build on it
	passwords := &identity.Passwords{Store: store, Throttle: throttle, Audit: store, Clock: clock,
		// Cheap parameters for the example; servers keep the defaults.
		Params: identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	codes, err := totp.New(svc, sealer, "Example Bank")
	if err != nil {
		log.Fatal(err)
	}
	policy := &identity.Policy{Clock: clock} // a login needs two factors: AAL2
	const origin = "https://bank.example"

	// Sign-up: the password, then the authenticator app (its first code
	// activates the key).
	if _, err := passwords.Create(ctx, "alice", "correct horse battery", "192.0.2.10"); err != nil {
		log.Fatal(err)
	}
	ch, _ := codes.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	key, _ := totp.ParseURI(string(ch.Payload)) // the QR code's URI, as the user's app reads it
	app := func() string { c, _ := pqtotp.GenerateCode(key.Base32(), clock.Now()); return c }
	if _, err := codes.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(app())}); err != nil {
		log.Fatal(err)
	}
	clock.Advance(30 * time.Second) // the enrolment's code is spent: the login uses the next one

	// Login: the password, then the code.
	pw, err := passwords.Verify(ctx, "alice", "correct horse battery", "192.0.2.10")
	if err != nil {
		log.Fatal(err)
	}
	_, err = policy.Combine(*pw)
	fmt.Println("password alone:", errors.Is(err, identity.ErrStepUpRequired))
	ch, _ = codes.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	otp, err := codes.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(app())})
	if err != nil {
		log.Fatal(err)
	}
	session, err := policy.Combine(*pw, *otp)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("with TOTP:", session.Level, session.Level.EIDAS(), session.TwoFactor())

	// A TOTP code says nothing of a payment's amount or payee: approving
	// one needs a factor that links (webauthn, a card, totp/ocra).
	tx := identity.Transaction{Amount: "125.00", Currency: "EUR", PayeeName: "Bob", PayeeAccount: "DE89370400440532013000"}
	fmt.Println("TOTP approves a payment:", !errors.Is(policy.Approve(session, *otp, tx), identity.ErrCannotLink))

	if _, err := store.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// password alone: true
	// with TOTP: AAL2 substantial true
	// TOTP approves a payment: false
}
