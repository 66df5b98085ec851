// Command quickstart walks through a two-factor login on an embedded SQLite
// store, printing each step: what `make demo` runs until the web examples
// land. It uses only puce's public API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
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

	step("the audit trail, newest first, and its hash chain")
	recs, err := store.AuditEvents(ctx, "alice", 10)
	if err != nil {
		return err
	}
	for _, r := range recs {
		fmt.Printf("    #%d %s %s %s %s %s\n", r.Seq, r.Event.Time.Format("15:04:05"), r.Event.Kind, r.Event.Action, r.Event.Result, r.Event.Reason)
	}
	head, err := store.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("    chain verified, head %x\n", head[:8])
	return nil
}
