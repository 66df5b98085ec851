// Command quickstart walks through a two-factor login on an embedded SQLite
// store — a password, then a TOTP code from an authenticator app — printing
// each step and the audit trail. It uses only puce's public API (and
// pquerna/otp to play the authenticator app).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/totp"
)

func main() {
	dir, _ := os.MkdirTemp("", "puce-demo-")
	db := flag.String("db", filepath.Join(dir, "puce.db"), "SQLite file, or a postgres:// URL")
	flag.Parse()
	if err := run(context.Background(), *db); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func run(ctx context.Context, dsn string) error {
	store, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	step("store: %s (%s)", dsn, store.Engine())

	audit := identity.Auditors{store, identity.SlogAuditor{Logger: slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelWarn}))}}
	throttle := &identity.Throttle{Store: store, Free: 2, LockAfter: 10}
	passwords := &identity.Passwords{Store: store, Throttle: throttle, Audit: audit}
	policy := &identity.Policy{Actions: map[string]identity.StepUp{"change-password": {Level: identity.Level2}}}

	step("sign up alice with a password (argon2id, RFC 9106 parameters)")
	if err := passwords.Set(ctx, "alice", "correct horse battery"); err != nil {
		return err
	}
	step("a wrong password is refused, and audited")
	if _, err := passwords.Verify(ctx, "alice", "tr0ub4dor&3", "192.0.2.10"); !errors.Is(err, identity.ErrInvalidResponse) {
		return fmt.Errorf("wrong password: %v", err)
	} else {
		fmt.Println("   ", err)
	}
	step("the right password gives a knowledge proof")
	pw, err := passwords.Verify(ctx, "alice", "correct horse battery", "192.0.2.10")
	if err != nil {
		return err
	}
	fmt.Printf("    proof: %s, factors %s, %s\n", pw.Kind, pw.Factors, pw.Assurance)
	_, err = policy.Combine(*pw)
	fmt.Println("    policy:", err)

	// The second factor: an authenticator app. The demo plays the app with
	// pquerna/otp, computing codes from the enrolled key.
	sealer, err := identity.NewSealer("demo", map[string][]byte{"demo": identity.GenerateSealerKey()})
	if err != nil {
		return err
	}
	svc := &identity.Services{Store: store, Throttle: throttle, Audit: audit}
	otpFactor, err := totp.New(svc, sealer, "puce demo bank")
	if err != nil {
		return err
	}
	const origin = "https://bank.example"
	step("enrol an authenticator app (the QR code encodes this URI; the secret is sealed at rest)")
	ch, err := otpFactor.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin, UserName: "alice@bank.example"})
	if err != nil {
		return err
	}
	key, err := totp.ParseURI(string(ch.Payload))
	if err != nil {
		return err
	}
	uri := string(ch.Payload)
	fmt.Println("   ", uri[:strings.Index(uri, "secret=")]+"secret=… (shown to the user once)")
	app := func() string {
		code, err := pqtotp.GenerateCode(key.Base32(), time.Now())
		if err != nil {
			panic(err)
		}
		return code
	}
	if _, err := otpFactor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(app()), Name: "phone"}); err != nil {
		return err
	}
	fmt.Println("    enrolled: the first code proved the app holds the key")

	step("log in: password, then a code from the app — after the 30-second step moves on")
	wait := 30*time.Second - time.Duration(time.Now().Unix()%30)*time.Second
	fmt.Printf("    (waiting %s for a fresh time step: the enrolment code was single-use)\n", wait.Round(time.Second))
	time.Sleep(wait + 100*time.Millisecond)
	code := app()
	login := func(code string) (*identity.Proof, error) {
		ch, err := otpFactor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			return nil, err
		}
		return otpFactor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(code)})
	}
	otp, err := login(code)
	if err != nil {
		return err
	}
	session, err := policy.Combine(*pw, *otp)
	if err != nil {
		return err
	}
	fmt.Printf("    session: %s (eIDAS %s), two factors: %v\n", session.Level, session.Level.EIDAS(), session.TwoFactor())
	fmt.Println("    change-password allowed:", policy.Authorize(session, "change-password") == nil)

	step("the same code again is refused: a code is accepted once, across every server instance")
	if _, err := login(code); !errors.Is(err, identity.ErrReplayed) {
		return fmt.Errorf("replayed code: %v", err)
	} else {
		fmt.Println("   ", err)
	}

	step("the audit trail, newest first, and its hash chain")
	recs, err := store.AuditEvents(ctx, "alice", 10)
	if err != nil {
		return err
	}
	for _, r := range recs {
		fmt.Printf("    #%d %s %s %s %s %s\n", r.Seq, r.Event.Time.Format("15:04:05"), r.Event.Kind, r.Event.Action, r.Event.Result, r.Event.Reason)
	}
	mark, err := store.VerifyAudit(ctx, identity.AuditKeys{})
	if err != nil {
		return err
	}
	fmt.Printf("    chains verified, mark %x… (keep it off the machine; the next VerifyAudit checks it)\n", mark[len(mark)-8:])
	return nil
}
