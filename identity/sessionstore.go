package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"
)

// ErrNoSession: no live session has this ID (never created, ended by logout
// or renewal, or past its expiry). Ask the user to sign in again.
var ErrNoSession = errors.New("identity: no such session")

// SessionID names a server-side session: the SHA-256 of the random token the
// browser holds in its cookie. Stores key sessions by the hash, so a database
// dump or a log of IDs holds no cookie anyone could present.
type SessionID [sha256.Size]byte

// SessionIDOf returns the ID of the session whose cookie carries token.
func SessionIDOf(token []byte) SessionID { return sha256.Sum256(token) }

// SessionRecord is one browser session as a store keeps it. The HTTP layer
// (identity/httpauth) owns Data; stores keep its bytes as they are.
type SessionRecord struct {
	ID SessionID
	// Subject is who the session is about: empty for an anonymous visitor,
	// set once a first factor is proven.
	Subject Subject
	// Data is the HTTP layer's state: its proofs, pending first factor and
	// application values, encoded as that layer likes.
	Data      []byte
	CreatedAt time.Time
	// LastSeenAt is when a request last used the session.
	LastSeenAt time.Time
	// ExpiresAt is when the session ends unless a request renews it: the
	// earlier of the idle timeout and the absolute lifetime, which the HTTP
	// layer computes. Stores treat a session at or past it as absent.
	ExpiresAt time.Time
	// Version counts the writes: 1 when created, set by the store. An update
	// carries the version it was built from (compare-and-swap).
	Version uint64
}

// SessionStore keeps server-side sessions, so that every server instance
// sharing the store shares them. Use it through identity/httpauth.
type SessionStore interface {
	// CreateSession stores a new session at Version 1 (and sets s.Version);
	// ErrExists when the ID is taken.
	CreateSession(ctx context.Context, s *SessionRecord) error
	// Session loads one; ErrNoSession when absent or when ExpiresAt is not
	// after now.
	Session(ctx context.Context, id SessionID, now time.Time) (*SessionRecord, error)
	// UpdateSession rewrites Subject, Data, LastSeenAt and ExpiresAt if the
	// stored Version is still s.Version, and moves both to the next version,
	// in one atomic step: of concurrent updates built on one version exactly
	// one lands. ErrChanged when another write came first (nothing was
	// written); ErrNoSession when absent.
	UpdateSession(ctx context.Context, s *SessionRecord) error
	// DeleteSession removes a session if its stored Version is version, or
	// whatever its version when version is 0, atomically: of concurrent
	// deletes exactly one succeeds, so a renewal cannot fork a session.
	// ErrChanged when the version differs; ErrNoSession when absent.
	DeleteSession(ctx context.Context, id SessionID, version uint64) error
	// PurgeSessions deletes the sessions that expired before the given time
	// and returns how many.
	PurgeSessions(ctx context.Context, before time.Time) (int64, error)
}

// SessionRenewer is a SessionStore that renews a session in one step, as
// identity/httpauth does after every login, step-up and sign-out of a
// factor: the old ID ends and a new one begins, in one statement or
// transaction instead of a delete and a create (on PostgreSQL one round
// trip instead of two). httpauth uses it when the store has it.
type SessionRenewer interface {
	// RenewSession deletes the session old if its stored version is
	// version (any version when 0) and creates next at Version 1 (setting
	// next.Version), atomically as DeleteSession is: of concurrent
	// renewals of one version exactly one succeeds. ErrChanged when old is
	// at another version and ErrNoSession when it is absent; either way
	// nothing was written. ErrExists when next's ID is taken; old may then
	// be gone, as after a failure between a delete and a create.
	RenewSession(ctx context.Context, old SessionID, version uint64, next *SessionRecord) error
}

// SessionRevoker is a SessionStore that can end every session of one
// subject at once: what a bank needs to sign a user out everywhere after
// fraud, a lost or revoked card, a password reset or a removed factor.
// It is a separate interface so that stores written before it keep
// compiling; identity/httpauth's Manager.EndSessions and
// Manager.EndOtherSessions use it and say so (httpauth.ErrCannotEndSessions)
// when a store lacks it.
type SessionRevoker interface {
	// RevokeSessions deletes every session whose Subject is subject, but
	// the one whose ID is keep (pass the zero SessionID to keep none), and
	// returns how many it deleted. It is one atomic step, and a renewal
	// (SessionRenewer) or update racing it cannot carry a session of the
	// subject past it: once it returns, no session of the subject that
	// existed when it began, nor any renewal of one, loads. Anonymous
	// sessions (an empty subject) are never matched: subject must be
	// valid (Subject.Validate), else ErrBadInput.
	RevokeSessions(ctx context.Context, subject Subject, keep SessionID) (int64, error)
}
