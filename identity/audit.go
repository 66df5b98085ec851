package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Result is the outcome of an audited action.
type Result string

const (
	Success Result = "success"
	Failure Result = "failure"
)

// Event is one entry of the audit trail: who did what with which factor, from
// where, and how it ended. Events never hold secrets, codes or PINs.
type Event struct {
	Time         time.Time
	Subject      Subject
	Kind         Kind
	CredentialID string
	// Action names what happened: "login", "enroll", "revoke", "recovery", ...
	Action     string
	Result     Result
	RemoteAddr string
	// Reason explains a failure in words (the error's message), or notes a
	// success ("recovery code used, 7 left").
	Reason string
}

// Auditor receives audit events. Factors call it once per Finish.
type Auditor interface {
	Audit(ctx context.Context, e Event) error
}

// AuditRecord is an Event as kept in a hash-chained log (see
// identity/auditchain for the chains and what they detect).
type AuditRecord struct {
	// Partition is the chain the record belongs to: the store spreads
	// subjects over a few partitions so that unrelated logins do not wait for
	// each other's appends. -1 marks a record of the single chain of older
	// versions of puce.
	Partition int
	// Seq numbers the records of one partition from 1.
	Seq   int64
	Event Event
	// Prev is the Hash of record Seq-1 of the same partition.
	Prev []byte
	Hash []byte
	// Nonce and MAC seal the record with the audit key, when the store has
	// one: they prove that a holder of the key wrote it, which the chain
	// alone cannot (identity/auditchain, "Sealed records"). Both are nil
	// in a record written without a key or by an older puce.
	Nonce []byte
	MAC   []byte
}

// ErrAuditBroken: the audit trail does not verify; a record or checkpoint was
// edited, deleted, inserted, moved or re-chained outside puce, or the newest
// records were cut off.
var ErrAuditBroken = errors.New("identity: audit chain broken")

// SlogAuditor writes events to a structured logger: successes at Info,
// failures at Warn.
type SlogAuditor struct {
	Logger *slog.Logger
}

// Audit logs the event.
func (a SlogAuditor) Audit(ctx context.Context, e Event) error {
	l := a.Logger
	if l == nil {
		l = slog.Default()
	}
	level := slog.LevelInfo
	if e.Result != Success {
		level = slog.LevelWarn
	}
	l.LogAttrs(ctx, level, "puce audit",
		slog.Time("at", e.Time),
		slog.String("subject", string(e.Subject)),
		slog.String("factor", string(e.Kind)),
		slog.String("credential", e.CredentialID),
		slog.String("action", e.Action),
		slog.String("result", string(e.Result)),
		slog.String("remote", e.RemoteAddr),
		slog.String("reason", e.Reason),
	)
	return nil
}

// Auditors sends each event to every auditor in turn and joins their errors.
type Auditors []Auditor

// Audit records e with each auditor.
func (as Auditors) Audit(ctx context.Context, e Event) error {
	var errs []error
	for _, a := range as {
		if err := a.Audit(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RecordOutcome audits the outcome of an attempt and returns the error the
// caller should see: the attempt's own error, or — when the attempt succeeded
// but its event could not be written — the audit error, because a bank must
// not grant a login it cannot account for. a may be nil (no audit).
func RecordOutcome(ctx context.Context, a Auditor, e Event, err error) error {
	if a == nil {
		return err
	}
	if aerr := a.Audit(ctx, outcomeEvent(e, err)); aerr != nil {
		aerr = fmt.Errorf("identity: audit: %w", aerr)
		if err != nil {
			return errors.Join(err, aerr)
		}
		return aerr
	}
	return err
}

// printableASCII reports whether s is ASCII without control bytes: what every
// field of an honest event is, checked in one pass on every login.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// clean makes s valid UTF-8 without NUL bytes and at most n bytes long.
func clean(s string, n int) string {
	if len(s) <= n && (printableASCII(s) || checkField("", s) == nil) {
		return s
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// AuditConfig configures a store's audit trail (memstore.WithAudit,
// sqlstore.WithAudit).
type AuditConfig struct {
	// Key seals the checkpoints and every record with HMAC-SHA256: at
	// least 32 random bytes, kept out of the database (beside the Sealer's
	// keys), and given to VerifyAudit as AuditKeys.Current. Without it the
	// store writes no checkpoints and no seals (an empty key is none,
	// which sqlstore warns of at Open), and the trail is a hash chain that
	// anyone with write access can recompute. To replace it, see AuditKeys and "Rotating the audit key"
	// in the package documentation. A key given to a trail that had none
	// is required from its first checkpoint: records that instances still
	// without it append after that are reported as unsealed, so give it
	// to every instance in one restart (the window of an upgrade from an
	// older puce, identity/auditchain's SealUpgradeWindow, follows v1
	// checkpoints, which a store without a key never wrote).
	Key []byte
	// Partitions is the number of chains subjects are spread over (default
	// 16, at most 1024). Changing it later is safe: each partition is a
	// chain of its own, and a subject's later events go to its new one.
	Partitions int
	// CheckpointEvery is how many appends of this store handle lead to a
	// checkpoint (default 100). A checkpoint costs one short transaction
	// (a SQL store with timed checkpoints writes it on its own goroutine,
	// so that no login waits for it or for its lock);
	// the newest records since the last one are the window in which an
	// attacker with write access can delete or reorder records undetected
	// by the key, unless the handle that appended them is still running:
	// a SQL store's handle checks, at each of its checkpoints, that what
	// it appended since the last is still in place, and records in the
	// trail what it finds changed (identity/auditchain, "What a running
	// store sees").
	CheckpointEvery int
	// CheckpointInterval bounds the same window in time (default 5
	// minutes, at least a millisecond; negative: by count alone). A SQL
	// store with a key checks every quarter interval and writes a
	// checkpoint when the trail's newest, whichever instance wrote it, is
	// three quarters of one old (records or none), or when its own oldest
	// unchecked record is; it also writes one when it opens on a trail
	// whose newest is an interval old or that has none (a new database, a
	// restart after a stop). While one store runs, the newest checkpoint is
	// never much older than the interval, which is what lets VerifyAudit
	// tell a trail rolled back to an older one (AuditKeys.Fresh). An idle
	// trail gains one checkpoint per interval: with 16 partitions about
	// 700 bytes, some 70 MB a year at the default. memstore, whose trail
	// ends with its process, checkpoints by time only when it appends,
	// once its oldest record no checkpoint covers is an interval old.
	CheckpointInterval time.Duration
}

// Check validates c and fills in its defaults.
func (c AuditConfig) Check() (AuditConfig, error) {
	if len(c.Key) == 0 {
		c.Key = nil // an empty key is none: a configuration that read no key
	}
	if c.Key != nil && len(c.Key) < 32 {
		return c, fmt.Errorf("%w: the audit key must be at least 32 bytes", ErrBadInput)
	}
	switch {
	case c.Partitions == 0:
		c.Partitions = 16
	case c.Partitions < 0 || c.Partitions > 1024:
		return c, fmt.Errorf("%w: %d audit partitions (1 to 1024)", ErrBadInput, c.Partitions)
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 100
	}
	switch {
	case c.CheckpointInterval == 0:
		c.CheckpointInterval = 5 * time.Minute
	case c.CheckpointInterval > 0 && c.CheckpointInterval < time.Millisecond:
		// A SQL store ticks every quarter interval: under 4 ns that is a
		// ticker of period zero, which panics in the store's goroutine
		// and ends the process; under a millisecond, a busy loop.
		return c, fmt.Errorf("%w: audit checkpoint interval %v (at least 1ms, or negative for none)", ErrBadInput, c.CheckpointInterval)
	}
	return c, nil
}

// AuditKeys are the keys VerifyAudit checks checkpoints with: the one the
// stores seal with now and those they sealed with before.
//
// A checkpoint sealed with a retired key is accepted before any checkpoint
// sealed with a newer key, and after one only for the key's Overlap: the
// length of a rolling deploy, when instances with the old key and instances
// with the new one both write. Past it, a checkpoint under the retired key
// is reported as broken, so that whoever obtains a retired key cannot seal
// checkpoints of their own later in the trail. Records sealed with it are
// accepted up to the first checkpoint dated after its overlap, and
// reported after it (identity/auditchain states what such a key still
// allows).
//
// The zero AuditKeys checks the chains only, which anyone with write access
// to the database can recompute.
type AuditKeys struct {
	// Current is the key AuditConfig.Key holds now. Nil, with no Retired
	// key, checks the chains only; an empty key is refused (where
	// AuditConfig takes it as none), so that a verification given an unset
	// key does not quietly check less.
	Current []byte
	// Retired are the keys used before Current, newest first: Retired[0] is
	// the key Current replaced, Retired[1] the one before it. Keys out of
	// that order make a newer key's checkpoints look like an older key's,
	// which VerifyAudit reports as broken once they run past that key's
	// overlap (naming the order as a cause). A checkpoint sealed with none
	// of the keys given is
	// broken, so a retired key must be kept (offline) as long as the
	// checkpoints it sealed are to be verified.
	Retired []RetiredAuditKey
	// Mark, when set, is what an earlier VerifyAudit returned, kept outside
	// the database as the keys are (a log shipped off the machine, a
	// ticket): the trail must still reach every place it names with the
	// same hashes, or it was rolled back or rewritten behind it, which
	// VerifyAudit reports as broken, keys or no keys. It is what tells a
	// trail cut back to an earlier checkpoint (see identity/auditchain).
	Mark []byte
	// Fresh, when positive, is how old the trail's newest checkpoint may be
	// at Now: an older one is reported as broken, and so is a trail with no
	// checkpoint. A store with the key running keeps its newest checkpoint
	// within its CheckpointInterval of now, so a trail whose newest is
	// older was cut back to an earlier checkpoint (or no store with the
	// key has run since: an archived trail is verified without Fresh).
	// Twice the stores' CheckpointInterval leaves room for a late tick and
	// a restart; the clock skew between the stores and Now counts against
	// it too. A newest checkpoint dated more than
	// auditchain.MaxCheckpointLead after Now is reported as well (a clock
	// is wrong); within that lead it passes, and since whoever writes the
	// database can have a store date a checkpoint up to that lead ahead
	// (auditchain.CheckpointTime), a trail cut back to it passes for up to
	// Fresh plus that lead. memstore checkpoints by time only when it
	// appends: an idle memstore's trail goes stale. It needs the Current
	// key: without one, anyone can write a checkpoint. What it cannot
	// tell, a store that watched the trail can (identity/auditchain,
	// "Threat model").
	Fresh time.Duration
	// Now is the time Fresh counts back from; the zero time is the time of
	// the call.
	Now time.Time
}

// RetiredAuditKey is a key the stores sealed checkpoints with before the
// current one.
type RetiredAuditKey struct {
	Key []byte
	// Overlap is how long after the first checkpoint under a newer key the
	// checkpoints under this one are still accepted: at least the length of
	// the rolling deploy that replaced it, plus the clock skew between
	// instances. Zero accepts none after. Whoever writes the database can
	// have that first checkpoint dated up to auditchain.MaxCheckpointLead
	// late, which extends a leaked key's overlap as much.
	Overlap time.Duration
}

// Check reports ErrBadInput for a key shorter than 32 bytes, a key given
// twice, a negative Overlap, or Retired keys without a Current one.
func (k AuditKeys) Check() error {
	if k.Current == nil && len(k.Retired) > 0 {
		return fmt.Errorf("%w: retired audit keys without a current one", ErrBadInput)
	}
	if k.Fresh < 0 || (k.Fresh > 0 && k.Current == nil) {
		return fmt.Errorf("%w: Fresh needs the current audit key and a positive duration", ErrBadInput)
	}
	if k.Current != nil && len(k.Current) < 32 {
		return fmt.Errorf("%w: the current audit key must be at least 32 bytes", ErrBadInput)
	}
	seen := [][]byte{k.Current}
	for i, r := range k.Retired {
		switch {
		case len(r.Key) < 32:
			return fmt.Errorf("%w: retired audit key %d must be at least 32 bytes", ErrBadInput, i)
		case r.Overlap < 0:
			return fmt.Errorf("%w: retired audit key %d has a negative overlap", ErrBadInput, i)
		}
		for _, s := range seen {
			if subtle.ConstantTimeCompare(s, r.Key) == 1 {
				return fmt.Errorf("%w: retired audit key %d is given twice", ErrBadInput, i)
			}
		}
		seen = append(seen, r.Key)
	}
	return nil
}
