package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ChallengeID identifies a challenge: 128 random bits, unguessable, so that only
// the client it was handed to can answer or burn it.
type ChallengeID [16]byte

// challengeIDLen is the length of a ChallengeID in unpadded base64url.
const challengeIDLen = 22

var idEncoding = base64.RawURLEncoding.Strict()

// NewChallengeID returns a fresh random ID.
func NewChallengeID() ChallengeID {
	var id ChallengeID
	// crypto/rand.Read never fails on supported platforms (Go 1.24+); it
	// crashes the program rather than return predictable bytes.
	rand.Read(id[:])
	return id
}

// String encodes the ID as 22 characters of unpadded base64url, safe in URLs,
// cookies and form fields.
func (id ChallengeID) String() string { return idEncoding.EncodeToString(id[:]) }

// IsZero reports whether id is the zero value (no challenge).
func (id ChallengeID) IsZero() bool { return id == ChallengeID{} }

// ParseChallengeID decodes what String produced. Anything else — wrong length,
// padding, characters outside base64url, non-canonical trailing bits — is
// ErrUnknownChallenge, so a hostile client learns nothing from the error.
func ParseChallengeID(s string) (ChallengeID, error) {
	var id ChallengeID
	// Also refuse line breaks, which encoding/base64 would skip.
	if len(s) != challengeIDLen || strings.ContainsAny(s, "\r\n") {
		return id, fmt.Errorf("%w: malformed ID", ErrUnknownChallenge)
	}
	n, err := idEncoding.Decode(id[:], []byte(s))
	if err != nil || n != len(id) {
		return ChallengeID{}, fmt.Errorf("%w: malformed ID", ErrUnknownChallenge)
	}
	return id, nil
}

// MarshalText lets a ChallengeID travel in JSON as its string form.
func (id ChallengeID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the string form.
func (id *ChallengeID) UnmarshalText(b []byte) error {
	v, err := ParseChallengeID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Purpose says which ceremony a challenge belongs to, so that an enrolment
// challenge cannot be answered to log in, nor the reverse.
type Purpose uint8

const (
	PurposeAuthenticate Purpose = iota + 1
	PurposeEnroll
	// PurposeApprove is the approval of a Transaction (a payment): the
	// challenge carries the transaction's digest, and only an answer for
	// that same transaction is accepted.
	PurposeApprove
	// PurposeSign is the signature of a document (pcsc/esign's ceremony):
	// the challenge keeps the signature being made, so that neither a login
	// nor an approval can answer it, and it is audited as "sign".
	PurposeSign
)

func (p Purpose) String() string {
	switch p {
	case PurposeAuthenticate:
		return "authenticate"
	case PurposeEnroll:
		return "enroll"
	case PurposeApprove:
		return "approve"
	case PurposeSign:
		return "sign"
	}
	return fmt.Sprintf("Purpose(%d)", uint8(p))
}

// Challenge is one ceremony in flight. It is stored when issued and consumed
// exactly once by Finish.
type Challenge struct {
	ID      ChallengeID
	Kind    Kind
	Purpose Purpose
	// Subject the challenge is bound to; empty for username-less logins.
	Subject Subject
	// Origin the challenge is bound to.
	Origin string
	// Payload is what the client needs to answer (sent to it). Stores keep
	// it as it is, in clear: a secret the client must see once (a TOTP seed,
	// recovery codes) goes into the returned challenge only, after Issue, and
	// a secret the server needs later goes into State, sealed.
	Payload []byte
	// State is server-side ceremony state (never sent to the client), such as
	// go-webauthn session data or the secret of an enrolment in progress.
	// Factors seal it when it is secret.
	State []byte
	// Transaction is the SHA-256 digest of the Transaction an approval
	// challenge is for (Transaction.Digest); nil for other purposes.
	Transaction []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// String describes the challenge without its Payload and State, which
// hold a new TOTP seed, fresh recovery codes or server-side secrets: a
// Challenge that reaches a log or an error by mistake shows only their
// lengths.
func (ch Challenge) String() string {
	return fmt.Sprintf("identity.Challenge{ID: %s, Kind: %q, Purpose: %s, Subject: %q, Origin: %q, Payload: %d bytes, State: %d bytes, Transaction: %x, CreatedAt: %s, ExpiresAt: %s}",
		ch.ID, ch.Kind, ch.Purpose, ch.Subject, ch.Origin, len(ch.Payload), len(ch.State), ch.Transaction,
		ch.CreatedAt.UTC().Format(time.RFC3339), ch.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString is String, so that %#v hides them too.
func (ch Challenge) GoString() string { return ch.String() }

// LogValue is String for log/slog.
func (ch Challenge) LogValue() slog.Value { return slog.StringValue(ch.String()) }

// DefaultChallengeTTL is how long a challenge lives unless configured: five
// minutes, the Web eID nonce lifetime.
const DefaultChallengeTTL = 5 * time.Minute

// challenges issues and consumes challenges for Services. It is the one place
// where single use, expiry, and the binding to subject, origin, kind and
// purpose are enforced, so that every factor gets them right the same way.
type challenges struct {
	Store ChallengeStore
	Clock Clock
	// TTL is the lifetime of a challenge; zero means DefaultChallengeTTL.
	TTL time.Duration
}

// Issue stores a new challenge for the request and returns it.
func (c *challenges) Issue(ctx context.Context, kind Kind, purpose Purpose, req Request, payload, state []byte) (*Challenge, error) {
	if err := kind.Validate(); err != nil {
		return nil, err
	}
	if err := checkField("subject", string(req.Subject)); err != nil {
		return nil, err
	}
	if err := checkField("origin", req.Origin); err != nil {
		return nil, err
	}
	var txDigest []byte
	switch {
	case purpose == PurposeApprove && req.Transaction == nil:
		return nil, fmt.Errorf("%w: an approval needs the transaction", ErrBadInput)
	case purpose == PurposeApprove:
		d, err := req.Transaction.Digest()
		if err != nil {
			return nil, err
		}
		txDigest = d[:]
	case req.Transaction != nil:
		return nil, fmt.Errorf("%w: a transaction for a %s challenge", ErrBadInput, purpose)
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = DefaultChallengeTTL
	}
	now := clockOr(c.Clock).Now()
	ch := &Challenge{
		ID:          NewChallengeID(),
		Kind:        kind,
		Purpose:     purpose,
		Subject:     req.Subject,
		Origin:      req.Origin,
		Payload:     payload,
		State:       state,
		Transaction: txDigest,
		CreatedAt:   now,
		ExpiresAt:   now.Add(ttl),
	}
	if err := c.Store.PutChallenge(ctx, ch); err != nil {
		return nil, fmt.Errorf("identity: store challenge: %w", err)
	}
	return ch, nil
}

// take consumes the challenge a response answers, at the instant now of the
// caller's ceremony, and checks its bindings. The challenge is used up even
// when a check fails: every attempt needs a new Begin, so a response can
// never be tried twice against one challenge.
//
// Errors: ErrUnknownChallenge, ErrReplayed (already consumed), ErrExpired,
// ErrChallengeMismatch (other kind, purpose, subject or origin).
func (c *challenges) take(ctx context.Context, kind Kind, purpose Purpose, resp Response, now time.Time) (*Challenge, error) {
	if resp.ChallengeID.IsZero() {
		return nil, fmt.Errorf("%w: no challenge ID in the response", ErrUnknownChallenge)
	}
	ch, err := c.Store.ConsumeChallenge(ctx, resp.ChallengeID, now)
	if err != nil {
		return nil, err
	}
	return ch, bound(ch, kind, purpose, resp, now)
}

// bound checks that the consumed challenge ch was issued for this kind,
// purpose, subject, origin (and transaction) and has not expired at now.
func bound(ch *Challenge, kind Kind, purpose Purpose, resp Response, now time.Time) error {
	switch {
	case ch.Kind != kind:
		return fmt.Errorf("%w: issued for factor %q, answered to %q", ErrChallengeMismatch, ch.Kind, kind)
	case ch.Purpose != purpose:
		return fmt.Errorf("%w: issued to %s, answered to %s", ErrChallengeMismatch, ch.Purpose, purpose)
	case ch.Subject != "" && ch.Subject != resp.Subject:
		return fmt.Errorf("%w: issued to another subject", ErrChallengeMismatch)
	case ch.Origin != resp.Origin:
		return fmt.Errorf("%w: issued for origin %q, answered from %q", ErrChallengeMismatch, ch.Origin, resp.Origin)
	case !now.Before(ch.ExpiresAt):
		return fmt.Errorf("%w: challenge expired %s ago", ErrExpired, now.Sub(ch.ExpiresAt).Round(time.Second))
	}
	if purpose == PurposeApprove {
		return ch.approves(resp.Transaction)
	}
	return nil
}

// ErrTransactionMismatch: an approval was answered for another transaction
// than the one its challenge was issued for: another amount, currency,
// payee or reference (RTS on SCA, Article 5(1)(d)). It wraps
// ErrChallengeMismatch.
var ErrTransactionMismatch = fmt.Errorf("%w: the approval is for another transaction", ErrChallengeMismatch)

// approves checks that tx is the transaction the approval challenge ch was
// issued for.
func (ch *Challenge) approves(tx *Transaction) error {
	if tx == nil {
		return fmt.Errorf("%w: the response names no transaction", ErrTransactionMismatch)
	}
	d, err := tx.Digest()
	if err != nil {
		return err
	}
	if len(ch.Transaction) != len(d) || !bytes.Equal(ch.Transaction, d[:]) {
		return ErrTransactionMismatch
	}
	return nil
}
