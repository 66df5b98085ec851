// Command auditcheck verifies a puce audit trail the way an operator runs it
// from cron: with the audit key (and the keys it replaced), and against the
// mark the previous run left, which it keeps in a file meant to be shipped
// off the machine (a log collector, a ticket, a write-once bucket).
//
//	auditcheck -db puce-login.db -marks audit-marks.log
//	auditcheck -db postgres://… -audit-key BASE64 -retired BASE64@30m -marks audit-marks.log -fresh 10m
//
// Each run verifies every chain and checkpoint (identity.AuditLog's
// VerifyAudit), checks that the trail still holds, unchanged, everything the
// last mark in -marks covered, and appends the new mark: one line, the time
// and the mark in base64. A trail edited, cut back or re-chained exits 1
// with what was found; a marks file whose last line does not parse exits 2.
// Without -audit-key (or PUCE_AUDIT_KEY) it uses the development key
// examples/login keeps beside a SQLite file; -retired lists the keys the
// current one replaced, newest first, each with its overlap (see "Rotating
// the audit key" in package identity). -fresh, for a trail the servers
// still write, also requires its newest checkpoint to be at most that old:
// they write one every CheckpointInterval (5 minutes by default), so an
// older one is a trail cut back to it, which this tells without a mark.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

func main() {
	db := flag.String("db", "puce-login.db", "SQLite file, or a postgres:// URL for PostgreSQL")
	key := flag.String("audit-key", os.Getenv("PUCE_AUDIT_KEY"), "base64 audit key (env PUCE_AUDIT_KEY); the development key beside a SQLite file when empty")
	retired := flag.String("retired", "", "comma-separated keys the current one replaced, newest first, each base64@overlap (e.g. KEY@30m)")
	marks := flag.String("marks", "audit-marks.log", "file of the marks of earlier runs; the new one is appended")
	fresh := flag.Duration("fresh", 0, "for a trail servers still write: how old its newest checkpoint may be (twice their checkpoint interval, e.g. 10m); 0 for an archived trail")
	flag.Parse()
	err := run(context.Background(), *db, *key, *retired, *marks, *fresh, os.Stdout, time.Now)
	switch {
	case errors.Is(err, identity.ErrAuditBroken):
		fmt.Fprintln(os.Stderr, "auditcheck: THE AUDIT TRAIL WAS TAMPERED WITH:", err)
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "auditcheck:", err)
		os.Exit(2)
	}
}

// run verifies the trail of db and appends its mark to marksFile.
func run(ctx context.Context, db, keySpec, retiredSpec, marksFile string, fresh time.Duration, out io.Writer, now func() time.Time) error {
	var dev string
	if base := web.DevKeyBase(db); base != "" {
		// Opening a SQLite file that is not there would make an empty
		// database, whose trail verifies: a mistyped path must not pass.
		if _, err := os.Stat(base); err != nil {
			return fmt.Errorf("the database: %w", err)
		}
	}
	if base := web.DevKeyBase(db); base != "" && keySpec == "" {
		dev = base + ".dev-audit-key"
		if _, err := os.Stat(dev); err != nil {
			return fmt.Errorf("no -audit-key, and no development key at %s: %w", dev, err)
		}
	}
	current, err := web.AuditKey(keySpec, dev, io.Discard)
	if err != nil {
		return err
	}
	keys := identity.AuditKeys{Current: current, Fresh: fresh, Now: now()}
	if keys.Retired, err = parseRetired(retiredSpec); err != nil {
		return err
	}
	if keys.Mark, err = lastMark(marksFile); err != nil {
		return err
	}
	if keys.Mark == nil {
		fmt.Fprintf(out, "no earlier mark in %s: this run checks the trail on its own and starts the record (if there were earlier runs, the file was lost or replaced)\n", marksFile)
	}
	store, err := sqlstore.Open(ctx, db)
	if err != nil {
		return err
	}
	defer store.Close()
	mark, err := store.VerifyAudit(ctx, keys)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(marksFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%s %s\n", now().UTC().Format(time.RFC3339), base64.StdEncoding.EncodeToString(mark))
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	what := "chains, record seals and checkpoints"
	if current == nil {
		what = "chains only (no audit key)"
	}
	if keys.Mark != nil {
		what += ", and everything the last mark covered"
	}
	if fresh > 0 {
		what += fmt.Sprintf(", with a checkpoint at most %s old", fresh)
	}
	fmt.Fprintf(out, "audit trail verified: %s; mark appended to %s\n", what, marksFile)
	return nil
}

// parseRetired reads "base64@overlap,…".
func parseRetired(spec string) ([]identity.RetiredAuditKey, error) {
	var out []identity.RetiredAuditKey
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k, d, ok := strings.Cut(item, "@")
		key, err := base64.StdEncoding.DecodeString(k)
		if !ok || err != nil {
			return nil, fmt.Errorf("-retired: want base64key@overlap, got %q", item)
		}
		overlap, err := time.ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("-retired: overlap %q: %w", d, err)
		}
		out = append(out, identity.RetiredAuditKey{Key: key, Overlap: overlap})
	}
	return out, nil
}

// lastMark is the mark on the last line of file; nil when the file does
// not exist yet or is empty.
func lastMark(file string) ([]byte, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if last == "" {
		return nil, nil
	}
	_, b64, ok := strings.Cut(last, " ")
	mark, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil {
		return nil, fmt.Errorf("%s: the last line is not \"time mark\"", file)
	}
	return mark, nil
}
