package httpauth

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/totp"
	"github.com/puce-id/puce/totp/ocra"
	"github.com/puce-id/puce/webauthn"
)

// Sentinel errors of this package, wrapped with detail for the log.
var (
	// ErrCSRF: an unsafe request came from another site (its Origin or
	// Sec-Fetch-Site says so) or lacks the session's CSRF token. Nothing was
	// done; a page of ours reloaded gets a fresh token.
	ErrCSRF = errors.New("httpauth: cross-site request refused")
	// ErrTooLarge: the request body is larger than Config.MaxBodyBytes.
	ErrTooLarge = errors.New("httpauth: request body too large")
	// ErrUnsupportedMediaType: a request body the endpoints are to read
	// is not labelled application/json in UTF-8 (missing, another type,
	// another charset). Nothing was read; answered 415.
	ErrUnsupportedMediaType = errors.New("httpauth: request body is not labelled as UTF-8 JSON")
	// ErrCannotEndSessions: Config.Store does not implement
	// identity.SessionRevoker, so EndSessions and EndOtherSessions cannot
	// sign a user out everywhere. Nothing was ended; use a store that can
	// (memstore, sqlstore).
	ErrCannotEndSessions = errors.New("httpauth: the session store cannot end a user's sessions")

	// errNotSignedIn marks Manager.Authorize's StepUpError for a session
	// without a completed login, so that Public tells the visitor to sign
	// in rather than to confirm with a second factor.
	errNotSignedIn = errors.New("httpauth: not signed in")
	// errNoApprover marks an approval begun, by a signed-in user, with a
	// factor their account has no credential of.
	errNoApprover = errors.New("httpauth: the account has no credential of this factor to approve with")
)

// The public messages. Each says what the user can do and nothing of why the
// server decided so: the detail stays in the error for the log and audit.
const (
	msgFailed      = "Sign-in failed: what you entered was not accepted. Check it and try again."
	msgTooLarge    = "The request is too large."
	msgMediaType   = "The request's format is not supported. Reload the page and try again."
	msgCSRF        = "This page is out of date or was opened from another site. Reload it and try again."
	msgNoSession   = "Your session has ended. Please sign in again."
	msgBusy        = "The service is busy. Please try again in a moment."
	msgRateLimited = "Too many requests. Please wait a moment, then try again."
	msgThrottled   = "Too many failed attempts. Please wait, then try again."
	msgLocked      = "Too many failed attempts: this sign-in method is locked. Use a recovery code, or contact support."
	msgCode        = "Type the code your authenticator app shows, digits only, without spaces."
	msgTokenCode   = "Type the code your signing token shows, digits only, without spaces."
	msgCannotLink  = "This sign-in method cannot approve payments. Use your card, security key or signing token."
	msgUnreadable  = "The answer from your device could not be read. Please try again."
	msgAlgorithm   = "This card uses a kind of key this site does not accept."
	msgWeak        = "Choose a longer password."
	msgSetup       = "The authenticator setup data is not valid."
	msgExpired     = "This step took too long or was already finished. Please start again."
	msgStepUp      = "This needs a fresh confirmation with your second factor."
	msgSignIn      = "Please sign in first, then try again."
	msgNoApprover  = "Your account has no such device to approve with. Add one, or choose another."
	msgUnavailable = "Your second factor cannot be used right now. Try again later, or contact support."
	msgCardCheck   = "The card cannot be checked right now. Please try again later."
	msgCardDates   = "The card's certificate has expired or is not valid yet."
	msgRefused     = "This card or key cannot be used here. Contact support if you think this is wrong."
	msgExists      = "This is already registered."
	msgChanged     = "Something changed at the same time. Please try again."
	msgBadInput    = "Some of what was sent is not valid. Check it and try again."
	msgSigFile     = "The signature file could not be read."
	msgAltered     = "The document does not match the signature: it was changed after signing, or it is another document."
	msgSigInvalid  = "The signature is not valid."
	msgSigner      = "The signer's certificate is not one this site trusts."
	msgSigKind     = "This kind of signature is not supported."
	msgTimestamp   = "The signature's timestamp could not be confirmed."
	msgInternal    = "Something went wrong on our side. Please try again in a moment."
	msgNoFactor    = "This sign-in method is not offered here."
	msgNotYourCard = "This card is not the one registered on your account. Sign with your own card."
)

type rule struct {
	target  error
	status  int
	message string
}

// rules are tried in order and the first match wins, so a specific sentinel
// comes before the general identity sentinel it wraps (ErrMalformedCode
// before ErrInvalidResponse, ErrClonedAuthenticator before ErrReplayed).
var rules = [...]rule{
	{ErrTooLarge, http.StatusRequestEntityTooLarge, msgTooLarge},
	{ErrCSRF, http.StatusForbidden, msgCSRF},
	{ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, msgMediaType},
	{ErrUnknownFactor, http.StatusNotFound, msgNoFactor},
	{identity.ErrNoSession, http.StatusUnauthorized, msgNoSession},
	{identity.ErrBusy, http.StatusServiceUnavailable, msgBusy},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, msgBusy},
	{identity.ErrThrottled, http.StatusTooManyRequests, msgThrottled},
	{ErrRateLimited, http.StatusTooManyRequests, msgRateLimited},
	{identity.ErrRateLimited, http.StatusTooManyRequests, msgRateLimited},

	{totp.ErrMalformedCode, http.StatusBadRequest, msgCode},
	{ocra.ErrMalformedResponse, http.StatusBadRequest, msgTokenCode},
	{webauthn.ErrMalformedResponse, http.StatusBadRequest, msgUnreadable},
	{cardauth.ErrMalformedToken, http.StatusBadRequest, msgUnreadable},
	{cardauth.ErrUnsupportedAlgorithm, http.StatusBadRequest, msgAlgorithm},
	// A cloned authenticator is a fraud signal for the audit, not for the
	// person holding it: answer as for any refused sign-in.
	{webauthn.ErrClonedAuthenticator, http.StatusUnauthorized, msgFailed},
	{identity.ErrWeakPassword, http.StatusBadRequest, msgWeak},
	{totp.ErrBadSecret, http.StatusBadRequest, msgSetup},
	{totp.ErrBadURI, http.StatusBadRequest, msgSetup},

	// A replayed code reads as a wrong one: "already used" would tell
	// whoever saw a code over a shoulder that it was right, and which step
	// of the login they got past.
	{identity.ErrReplayed, http.StatusUnauthorized, msgFailed},
	{identity.ErrExpired, http.StatusBadRequest, msgExpired},
	{identity.ErrUnknownChallenge, http.StatusBadRequest, msgExpired},
	{errNotSignedIn, http.StatusForbidden, msgSignIn},
	{identity.ErrStepUpRequired, http.StatusForbidden, msgStepUp},
	{identity.ErrFactorUnavailable, http.StatusServiceUnavailable, msgUnavailable},
	{identity.ErrCannotLink, http.StatusForbidden, msgCannotLink},
	{errNoApprover, http.StatusForbidden, msgNoApprover},

	{cardauth.ErrOCSPUnavailable, http.StatusServiceUnavailable, msgCardCheck},
	{ocsp.ErrUnavailable, http.StatusServiceUnavailable, msgCardCheck},
	{esign.ErrRevocationUnknown, http.StatusServiceUnavailable, msgCardCheck},
	{cardauth.ErrCertificateNotValid, http.StatusForbidden, msgCardDates},
	// Revoked, untrusted CA, wrong key usage, unacceptable OCSP answer: one
	// answer, so that revocation reasons and PKI detail stay in the audit.
	{identity.ErrRevoked, http.StatusForbidden, msgRefused},
	{identity.ErrUntrusted, http.StatusForbidden, msgRefused},
	{ocsp.ErrRevoked, http.StatusForbidden, msgRefused},
	{ocsp.ErrUnacceptable, http.StatusForbidden, msgRefused},
	{esign.ErrRevoked, http.StatusForbidden, msgRefused},

	// Asked of a signed-in user only: nothing about the account leaks.
	{esign.ErrNotAccountCard, http.StatusForbidden, msgNotYourCard},

	// A wrong password, a wrong code, a bad signature, an unknown card or
	// account: one answer, so that none of them tells which part was wrong
	// nor whether the account exists.
	{identity.ErrInvalidResponse, http.StatusUnauthorized, msgFailed},
	{identity.ErrNotEnrolled, http.StatusUnauthorized, msgFailed},

	{identity.ErrExists, http.StatusConflict, msgExists},
	{identity.ErrChanged, http.StatusConflict, msgChanged},
	{identity.ErrBadInput, http.StatusBadRequest, msgBadInput},

	{esign.ErrMalformed, http.StatusBadRequest, msgSigFile},
	{esign.ErrDocumentAltered, http.StatusUnprocessableEntity, msgAltered},
	{esign.ErrBadSignature, http.StatusUnprocessableEntity, msgSigInvalid},
	{esign.ErrUntrustedSigner, http.StatusUnprocessableEntity, msgSigner},
	{esign.ErrUnsupported, http.StatusUnprocessableEntity, msgSigKind},
	{esign.ErrTimestamp, http.StatusUnprocessableEntity, msgTimestamp},
	{pades.ErrTooLarge, http.StatusRequestEntityTooLarge, msgTooLarge},
	{pades.ErrMalformed, http.StatusBadRequest, msgSigFile},
	{pades.ErrNoSignature, http.StatusUnprocessableEntity, msgSigFile},
	{pades.ErrChanged, http.StatusUnprocessableEntity, msgAltered},
	{pades.ErrUnsupported, http.StatusUnprocessableEntity, msgSigKind},

	// Server faults (a key that does not open a sealed value, a broken audit
	// chain) fall through to the internal answer below.
}

// Public maps an error of puce to the HTTP status and the message a user may
// see. The message is one of a fixed set and never carries the error's text:
// counters, type names, revocation reasons and wrapped detail go to the log
// only. A wrong password and a wrong second factor get the same answer.
// nil maps to 200 and "".
//
// Errors Public does not know map to 500 with a generic message; log them.
func Public(err error) (status int, message string) {
	if err == nil {
		return http.StatusOK, ""
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, msgTooLarge
	}
	var thr *identity.ThrottledError
	if errors.As(err, &thr) && thr.Locked && thr.RetryAfter == 0 {
		return http.StatusTooManyRequests, msgLocked
	}
	for _, r := range rules {
		if errors.Is(err, r.target) {
			return r.status, r.message
		}
	}
	return http.StatusInternalServerError, msgInternal
}

// RetryAfter is how long a client should wait before trying again after err:
// the wait a *identity.ThrottledError or *identity.BusyError carries, rounded
// up to whole seconds as the Retry-After header counts them; zero when err
// says nothing of when (or the lock holds until an administrator lifts it).
func RetryAfter(err error) time.Duration {
	var d time.Duration
	var thr *identity.ThrottledError
	var busy *identity.BusyError
	var limited *RateLimitError
	var client *identity.RateLimitedError
	switch {
	case errors.As(err, &limited):
		d = limited.RetryAfter
	case errors.As(err, &client):
		d = client.RetryAfter
	case errors.As(err, &thr):
		d = thr.RetryAfter
	case errors.As(err, &busy):
		d = busy.RetryAfter
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(d.Seconds())) * time.Second
}
