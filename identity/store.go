package identity

import (
	"context"
	"time"
)

// Credential is one enrolled authenticator of a subject: a TOTP seed, a
// WebAuthn key, a card certificate, a recovery code. Factors decide what goes
// in Secret and Public; stores keep the bytes as they are.
type Credential struct {
	Subject Subject
	Kind    Kind
	// ID is unique per kind (a WebAuthn credential ID, a certificate
	// fingerprint, a random ID for a TOTP seed).
	ID string
	// Name is the label the user gave it ("YubiKey 5", "phone").
	Name string
	// Secret is sealed by the factor (see Sealer) before it reaches a store; a
	// store never sees a secret in clear.
	Secret []byte
	// Public is non-secret factor data (a public key, a certificate, the
	// WebAuthn credential record).
	Public []byte
	// Counter only moves forward (AdvanceCounter): the last accepted TOTP time
	// step, or the WebAuthn signature counter.
	Counter uint64
	// Active is false while an enrolment awaits its first proof.
	Active     bool
	CreatedAt  time.Time
	LastUsedAt time.Time
	// Revision counts the changes written with UpdateCredential: 1 when
	// created, set by the store. An update carries the revision it was built
	// from, so that it cannot silently undo a change another request made in
	// between (a password change racing a login with the old password).
	Revision uint64
}

// CredentialRef names one credential.
type CredentialRef struct {
	Subject Subject
	Kind    Kind
	ID      string
}

// Ref returns the credential's reference.
func (c *Credential) Ref() CredentialRef {
	return CredentialRef{Subject: c.Subject, Kind: c.Kind, ID: c.ID}
}

// CredentialStore keeps credentials.
type CredentialStore interface {
	// CreateCredential stores a new credential at Revision 1 (and sets
	// c.Revision); ErrExists when (kind, ID) is taken, for any subject.
	CreateCredential(ctx context.Context, c *Credential) error
	// Credential loads one; ErrNotEnrolled when absent.
	Credential(ctx context.Context, ref CredentialRef) (*Credential, error)
	// CredentialByID finds a credential from its ID alone (username-less
	// passkey login); ErrNotEnrolled when absent.
	CredentialByID(ctx context.Context, kind Kind, id string) (*Credential, error)
	// Credentials lists a subject's credentials of a kind ("" for all kinds),
	// oldest first.
	Credentials(ctx context.Context, subject Subject, kind Kind) ([]Credential, error)
	// UpdateCredential rewrites Name, Secret, Public, Active and LastUsedAt,
	// never Counter (see AdvanceCounter), if the stored Revision is still
	// c.Revision, and moves both to the next revision, in one atomic step.
	// ErrChanged when the credential changed since c was read: nothing was
	// written; read it again and redo the change (EditCredential does).
	// ErrNotEnrolled when absent.
	UpdateCredential(ctx context.Context, c *Credential) error
	// AdvanceCounter sets the counter to n and LastUsedAt to at only if the
	// stored counter is below n, in one atomic step; otherwise ErrReplayed. This
	// is what makes a one-time code single-use across every server instance.
	AdvanceCounter(ctx context.Context, ref CredentialRef, n uint64, at time.Time) error
	// DeleteCredential removes one; ErrNotEnrolled when it was not there, so
	// that deleting is also an atomic single-use consume (recovery codes).
	DeleteCredential(ctx context.Context, ref CredentialRef) error
}

// ChallengeStore keeps challenges. Use it through Challenges.
type ChallengeStore interface {
	// PutChallenge stores a new challenge.
	PutChallenge(ctx context.Context, ch *Challenge) error
	// ConsumeChallenge marks the challenge used at now and returns it, in one
	// atomic step: of many concurrent callers exactly one gets it, the others
	// get ErrReplayed. ErrUnknownChallenge when no such challenge exists.
	ConsumeChallenge(ctx context.Context, id ChallengeID, now time.Time) (*Challenge, error)
	// PurgeChallenges deletes challenges that expired before the given time,
	// used or not, and returns how many.
	PurgeChallenges(ctx context.Context, before time.Time) (int64, error)
}

// ThrottleKey names a throttle record: failures count per subject and factor,
// so that guessing TOTP codes does not lock the user's security key.
type ThrottleKey struct {
	Subject Subject
	Kind    Kind
}

// String is the key as one string, "kind/subject", for a store that keeps
// keys in one column. Kinds cannot contain '/' (Kind.Validate, which
// challenges and the throttle enforce), so no two keys share a string.
func (k ThrottleKey) String() string { return string(k.Kind) + "/" + string(k.Subject) }

// ThrottleState is the failure record of one ThrottleKey.
type ThrottleState struct {
	// Failures counts consecutive failed attempts.
	Failures int
	// NotBefore is when the next attempt may be evaluated.
	NotBefore time.Time
	// Version increases on each change; zero means no record yet.
	Version int64
}

// ThrottleStore keeps failure counters. Use it through Throttle.
type ThrottleStore interface {
	// LoadThrottle returns the state of key, or the zero state.
	LoadThrottle(ctx context.Context, key ThrottleKey) (ThrottleState, error)
	// SwapThrottle replaces the state of key with next if its version is still
	// prev.Version (zero: the key has no record yet), atomically. It reports
	// whether the swap happened; next.Version must be prev.Version+1.
	SwapThrottle(ctx context.Context, key ThrottleKey, prev, next ThrottleState) (bool, error)
	// ResetThrottle deletes the record of key.
	ResetThrottle(ctx context.Context, key ThrottleKey) error
}

// AuditLog keeps the audit trail as hash chains, one per partition of the
// subjects, bound by checkpoints sealed with a key the database does not
// hold (identity/auditchain describes the design and its threat model).
type AuditLog interface {
	Auditor
	// AuditEvents returns a subject's events, newest first, at most limit
	// (all subjects when subject is empty).
	AuditEvents(ctx context.Context, subject Subject, limit int) ([]AuditRecord, error)
	// VerifyAudit walks the whole trail and returns ErrAuditBroken, wrapped
	// with the first bad record, when a record was edited, deleted, inserted
	// or moved, when a chain was recomputed or cut off behind a checkpoint,
	// or when a checkpoint does not verify under keys: sealed with none of
	// them, or with a retired key after its overlap (see AuditKeys; the
	// zero AuditKeys checks the chains only, which someone with write access
	// to the database can recompute). Invalid keys are ErrBadInput.
	// It returns the mark of the verified trail, which an operator keeps
	// elsewhere and gives back in keys.Mark to the next verification: a
	// trail rolled back or rewritten behind it is then ErrAuditBroken too.
	VerifyAudit(ctx context.Context, keys AuditKeys) (mark []byte, err error)
}

// Store is everything puce keeps. memstore and sqlstore implement it.
type Store interface {
	CredentialStore
	ChallengeStore
	ThrottleStore
	AuditLog
	SessionStore
}
