package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
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

// AuditRecord is an Event as kept in a hash-chained log.
type AuditRecord struct {
	Seq   int64
	Event Event
	// Prev is the Hash of record Seq-1 (32 zero bytes for the first).
	Prev []byte
	// Hash is ChainHash(Prev, Seq, Event).
	Hash []byte
}

// ErrAuditBroken: the audit chain does not verify; a row was edited, deleted or
// inserted outside puce.
var ErrAuditBroken = errors.New("identity: audit chain broken")

// GenesisHash returns the Prev value of the first audit record: 32 zero bytes.
func GenesisHash() []byte { return make([]byte, sha256.Size) }

// ChainHash is SHA-256 over the previous hash, the sequence number and every
// field of the event, each length-prefixed so that no two events encode alike.
// Time counts in microseconds: the precision every store keeps.
func ChainHash(prev []byte, seq int64, e Event) []byte {
	return AppendChainHash(make([]byte, 0, sha256.Size), prev, seq, e)
}

// AppendChainHash appends ChainHash(prev, seq, e) to dst, for a store that
// keeps its hashes in a buffer of its own.
func AppendChainHash(dst, prev []byte, seq int64, e Event) []byte {
	const tag = "puce-audit-v1"
	n := len(tag) + 8*10 + len(prev) + len(e.Subject) + len(e.Kind) + len(e.CredentialID) + len(e.Action) +
		len(e.Result) + len(e.RemoteAddr) + len(e.Reason)
	// One buffer and one hash call: this runs for every login. A typical
	// event fits the stack buffer.
	var stack [512]byte
	b := stack[:0]
	if n > len(stack) {
		b = make([]byte, 0, n)
	}
	b = append(b, tag...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(prev)))
	b = append(b, prev...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixMicro()))
	b = appendField(b, string(e.Subject))
	b = appendField(b, string(e.Kind))
	b = appendField(b, e.CredentialID)
	b = appendField(b, e.Action)
	b = appendField(b, string(e.Result))
	b = appendField(b, e.RemoteAddr)
	b = appendField(b, e.Reason)
	sum := sha256.Sum256(b)
	return append(dst, sum[:]...)
}

// appendField appends f with its 8-byte length before it.
func appendField(b []byte, f string) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(len(f))), f...)
}

// ChainVerifier checks records one at a time, in sequence order, so that a
// store can stream its whole log through it.
type ChainVerifier struct {
	prev []byte
	seq  int64
}

// Next checks the next record. It fails on a gap in the sequence (a deleted
// row), a Prev that does not match (a deleted or inserted row), or a Hash that
// does not match the event (an edited row).
func (v *ChainVerifier) Next(r AuditRecord) error {
	if v.prev == nil {
		v.prev = GenesisHash()
	}
	want := v.seq + 1
	switch {
	case r.Seq != want:
		return fmt.Errorf("%w: expected record %d, found %d (a record is missing)", ErrAuditBroken, want, r.Seq)
	case subtle.ConstantTimeCompare(r.Prev, v.prev) != 1:
		return fmt.Errorf("%w: record %d does not follow record %d", ErrAuditBroken, r.Seq, v.seq)
	case subtle.ConstantTimeCompare(r.Hash, ChainHash(r.Prev, r.Seq, r.Event)) != 1:
		return fmt.Errorf("%w: record %d was altered", ErrAuditBroken, r.Seq)
	}
	v.prev, v.seq = r.Hash, r.Seq
	return nil
}

// Head returns the hash of the last record checked.
func (v *ChainVerifier) Head() []byte {
	if v.prev == nil {
		return GenesisHash()
	}
	return v.prev
}

// Last returns the sequence number of the last record checked.
func (v *ChainVerifier) Last() int64 { return v.seq }

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
	e.Result = Success
	if err != nil {
		e.Result, e.Reason = Failure, err.Error()
	}
	// Fields may come from the client (a subject, an address): keep them
	// storable and bounded, so a hostile value cannot make the audit write fail.
	e.Subject = Subject(clean(string(e.Subject), maxFieldLen))
	// WebAuthn credential IDs reach 1023 bytes (1364 in base64url): keep
	// them whole so the trail names the credential the store holds.
	e.CredentialID = clean(e.CredentialID, maxCredentialIDLen)
	e.RemoteAddr = clean(e.RemoteAddr, maxFieldLen)
	e.Reason = clean(e.Reason, 1024)
	if aerr := a.Audit(ctx, e); aerr != nil {
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

// maxCredentialIDLen bounds a credential ID in the audit trail.
const maxCredentialIDLen = 2048

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
