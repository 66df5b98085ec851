package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Authenticator is a possession factor: TOTP, WebAuthn, smart card. Each call
// pair is one ceremony. Begin issues a challenge bound to the request's subject
// and origin; Finish consumes it exactly once, whatever the outcome.
//
// Implementations must pass the conformance suite in identity/identitytest.
type Authenticator interface {
	// Kind names the factor; it keys its credentials and challenges.
	Kind() Kind

	// BeginEnroll starts binding a new credential to req.Subject. The
	// challenge's Payload is what the client needs (a QR code URI, WebAuthn
	// creation options, a nonce to sign).
	BeginEnroll(ctx context.Context, req Request) (*Challenge, error)
	// FinishEnroll checks the client's answer and stores the credential. The
	// returned Credential never holds a secret in clear.
	FinishEnroll(ctx context.Context, resp Response) (*Credential, error)

	// Begin starts an authentication. req.Subject may be empty only for factors
	// that find the subject from the response (username-less passkeys).
	Begin(ctx context.Context, req Request) (*Challenge, error)
	// Finish verifies the client's answer and returns the proof.
	Finish(ctx context.Context, resp Response) (*Proof, error)
}

// Request asks a factor to begin a ceremony.
type Request struct {
	Subject Subject
	// Origin is the web origin (scheme://host[:port]) the ceremony runs for. The
	// challenge is bound to it; Finish rejects a response for another origin.
	Origin string
	// UserName is the human-readable account name (an e-mail address, a login),
	// used in QR code labels and WebAuthn user entities. Enrolment only.
	UserName string
	// DisplayName is the name shown to the user on an authenticator. Optional.
	DisplayName string
	// RemoteAddr is recorded in the audit trail.
	RemoteAddr string
	// Transaction is the payment an approval (PurposeApprove) is for; the
	// challenge is bound to its digest. Nil for logins and enrolments.
	Transaction *Transaction
}

// Response carries the client's answer to a challenge.
type Response struct {
	ChallengeID ChallengeID
	// Subject is who the caller believes is answering (from its session); it
	// must equal the challenge's subject. Empty for username-less logins.
	Subject Subject
	// Origin must equal the challenge's origin.
	Origin string
	// Data is the factor-specific answer: a TOTP code, WebAuthn JSON, a card
	// token. Factors bound its size.
	Data []byte
	// Name is the credential name the user chose, for FinishEnroll.
	Name       string
	RemoteAddr string
	// Transaction is the payment the caller is approving: it must be the
	// one the approval challenge was issued for, or Finish fails with
	// ErrTransactionMismatch.
	Transaction *Transaction
}

// String describes the response without its Data, which holds a one-time
// code, a recovery code or a signature: a Response that reaches a log or
// an error by mistake shows only the data's length.
func (r Response) String() string {
	tx := "none"
	if r.Transaction != nil {
		tx = "set"
	}
	return fmt.Sprintf("identity.Response{ChallengeID: %s, Subject: %q, Origin: %q, Data: %d bytes, Name: %q, RemoteAddr: %q, Transaction: %s}",
		r.ChallengeID, r.Subject, r.Origin, len(r.Data), r.Name, r.RemoteAddr, tx)
}

// GoString is String, so that %#v hides the data too.
func (r Response) GoString() string { return r.String() }

// LogValue is String for log/slog.
func (r Response) LogValue() slog.Value { return slog.StringValue(r.String()) }

// Proof is the result of a successful Finish: who proved what, how strongly,
// and when.
type Proof struct {
	Subject      Subject
	Kind         Kind
	CredentialID string
	// Factors are the categories this proof covers by itself: a card whose key
	// needs the PIN covers possession and knowledge, a TOTP code possession only.
	Factors Factors
	// Assurance is the level this proof reaches when combined with the factors
	// it lacks (see Policy). A TOTP proof is Level2: with a password, AAL2.
	Assurance Level
	Time      time.Time
	// Claims are what the factor learnt about the credential (certificate
	// subject, AAGUID, ...). Never sovereign identity data.
	Claims map[string]string
	// Transaction is the digest of the payment this proof approves
	// (Transaction.Digest); nil for a login.
	Transaction []byte
}
