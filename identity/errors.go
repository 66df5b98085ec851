package identity

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors callers branch on. Factors wrap them with %w and add detail, so
// test with errors.Is, never by comparing messages.
var (
	// ErrNotEnrolled: the subject has no (active) credential of this kind. Offer
	// enrolment, or another factor.
	ErrNotEnrolled = errors.New("identity: not enrolled")
	// ErrExpired: the challenge (or a certificate, or a proof for step-up) is past
	// its lifetime. Start again with Begin.
	ErrExpired = errors.New("identity: expired")
	// ErrReplayed: the challenge was already used, or the one-time code or
	// signature counter was already accepted. Never retry the same response.
	ErrReplayed = errors.New("identity: replayed")
	// ErrThrottled: too many failures; a *ThrottledError carries the retry-after.
	ErrThrottled = errors.New("identity: throttled")
	// ErrInvalidResponse: the client's answer is malformed, does not match the
	// challenge, or does not verify.
	ErrInvalidResponse = errors.New("identity: invalid response")
	// ErrUntrusted: a certificate or attestation does not chain to a trusted root,
	// or is not valid for this use.
	ErrUntrusted = errors.New("identity: untrusted")
	// ErrRevoked: the credential's certificate is revoked, or the credential was
	// revoked by its owner or an administrator.
	ErrRevoked = errors.New("identity: revoked")

	// ErrUnknownChallenge: no challenge has this ID (never issued, or purged
	// after expiry). It wraps ErrInvalidResponse.
	ErrUnknownChallenge = fmt.Errorf("%w: unknown challenge", ErrInvalidResponse)
	// ErrChallengeMismatch: the challenge was issued to another subject, origin,
	// factor kind or purpose than the response claims. It wraps ErrInvalidResponse.
	ErrChallengeMismatch = fmt.Errorf("%w: challenge does not match the response", ErrInvalidResponse)
	// ErrExists: a credential with this ID is already enrolled.
	ErrExists = errors.New("identity: already exists")
	// ErrChanged: the credential changed between the caller's read and its
	// update (another request wrote it). Nothing was written.
	ErrChanged = errors.New("identity: changed since it was read")
	// ErrStepUpRequired: the session is too weak or too old for the action; a
	// *StepUpError says what is needed.
	ErrStepUpRequired = errors.New("identity: step-up required")
	// ErrBadInput: a caller-supplied value (configuration, password, ID) is
	// malformed. Nothing was changed.
	ErrBadInput = errors.New("identity: bad input")
	// ErrBusy: the server is at a limit it keeps to protect itself (such as
	// the memory for password hashing) and did not evaluate the request;
	// nothing was changed. A *BusyError carries when to retry: answer HTTP
	// 503 with Retry-After.
	ErrBusy = errors.New("identity: busy")
	// ErrRateLimited: this client address asked for more than its share
	// (Services.Anonymous, for challenges without a subject) and the
	// request was refused unevaluated; nothing was stored. Unlike ErrBusy
	// it says nothing of the server, only of this client: a
	// *RateLimitedError carries when to retry, for HTTP 429 with
	// Retry-After (RFC 6585 §4).
	ErrRateLimited = errors.New("identity: too many requests from this client")
)

// RateLimitedError is returned when a client address is over its rate. It
// matches ErrRateLimited with errors.Is.
type RateLimitedError struct {
	// RetryAfter is when the client's next request would be allowed.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("identity: too many requests from this client; retry in %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// BusyError is returned when a request was refused unevaluated to protect
// the server. It matches ErrBusy with errors.Is.
type BusyError struct {
	// RetryAfter is a fair wait before trying again.
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("identity: busy: too many requests at once; retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// ThrottledError is returned when a subject (or a client address) has failed
// too often. It matches ErrThrottled with errors.Is.
type ThrottledError struct {
	// RetryAfter is how long to wait before the next attempt is evaluated.
	// Zero when the lock holds until an administrator unlocks it.
	RetryAfter time.Duration
	// Locked reports that the consecutive-failure count reached the
	// Throttle's LockAfter: with RetryAfter zero until Unlock, otherwise
	// until RetryAfter has passed.
	Locked bool
	// Failures is the count of consecutive failures so far.
	Failures int
}

func (e *ThrottledError) Error() string {
	switch {
	case e.Locked && e.RetryAfter == 0:
		return fmt.Sprintf("identity: throttled: locked after %d consecutive failures; an administrator must unlock the account", e.Failures)
	case e.Locked:
		return fmt.Sprintf("identity: throttled: locked after %d consecutive failures; retry after %s", e.Failures, e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("identity: throttled: %d consecutive failures; retry after %s", e.Failures, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// StepUpError is returned by Policy.Authorize when a session must be
// strengthened before an action. It matches ErrStepUpRequired.
type StepUpError struct {
	Action string
	// Need is the minimum level the action requires.
	Need Level
	// MaxAge is how recent the possession proof must be (zero: any age).
	MaxAge time.Duration
	// Have is the level the session has now.
	Have Level
}

func (e *StepUpError) Error() string {
	if e.MaxAge > 0 {
		return fmt.Sprintf("identity: step-up required for %q: need %s within the last %s, session has %s", e.Action, e.Need, e.MaxAge, e.Have)
	}
	return fmt.Sprintf("identity: step-up required for %q: need %s, session has %s", e.Action, e.Need, e.Have)
}

// Is makes errors.Is(err, ErrStepUpRequired) true.
func (e *StepUpError) Is(target error) bool { return target == ErrStepUpRequired }
