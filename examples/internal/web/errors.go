package web

import (
	"errors"
	"fmt"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/totp"
)

// Plain says in words a user understands what went wrong with a login or
// enrolment step, and what to do. It branches on puce's typed errors only;
// the error's own text (which may name internals) goes to the server log,
// never to the page. The most specific errors come first: each wraps a more
// general identity sentinel.
func Plain(err error) string {
	var thr *identity.ThrottledError
	var busy *identity.BusyError
	var limited *identity.RateLimitedError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &limited):
		return fmt.Sprintf("Too many requests from your address. Please try again in %s.", roundUp(limited.RetryAfter))
	case errors.As(err, &busy):
		return fmt.Sprintf("The server is busy right now. Please try again in %s.", roundUp(busy.RetryAfter))
	case errors.Is(err, identity.ErrBusy):
		return "The server is busy right now. Please try again in a few seconds."
	case errors.As(err, &thr) && thr.Locked && thr.RetryAfter == 0:
		return "Too many failed attempts: this sign-in method is locked. Use a recovery code, or contact support to unlock it."
	case errors.As(err, &thr) && thr.Locked:
		return fmt.Sprintf("Too many failed attempts: this sign-in method is locked for %s. Each further failure locks it for longer.", roundUp(thr.RetryAfter))
	case errors.As(err, &thr):
		return fmt.Sprintf("Too many failed attempts. Wait %s, then try again.", roundUp(thr.RetryAfter))
	case errors.Is(err, identity.ErrThrottled):
		return "Too many failed attempts. Wait a little, then try again."
	case errors.Is(err, totp.ErrMalformedCode):
		return "Type the 6 digits your authenticator app shows, without spaces."
	case errors.Is(err, identity.ErrReplayed):
		return "That code (or signature) was already used. Wait for your app to show a new code, then type the new one."
	case errors.Is(err, identity.ErrExpired):
		return "This page waited too long and its challenge expired. Please start again."
	case errors.Is(err, identity.ErrWeakPassword):
		return "Choose a longer password: at least 8 characters."
	case errors.Is(err, cardauth.ErrUnknownCard):
		return "This card is not registered for this account."
	case errors.Is(err, cardauth.ErrRevoked), errors.Is(err, identity.ErrRevoked):
		return "The card's certificate has been revoked by its issuer. This card can no longer be used."
	case errors.Is(err, cardauth.ErrCertificateNotValid):
		return "The card's certificate has expired or is not valid yet."
	case errors.Is(err, cardauth.ErrUntrustedCA):
		return "This card was not issued by an authority this site trusts."
	case errors.Is(err, cardauth.ErrOCSPUnavailable):
		return "The card issuer's revocation service could not be reached, so the card cannot be checked now. Try again later."
	case errors.Is(err, cardauth.ErrKeyUsage), errors.Is(err, identity.ErrUntrusted):
		return "The card's certificate cannot be used to sign in here."
	case errors.Is(err, cardauth.ErrBadSignature), errors.Is(err, cardauth.ErrMalformedToken):
		return "The card's answer did not check out. Please try again."
	case errors.Is(err, identity.ErrFactorUnavailable):
		return "Your second factor cannot be used on this server at the moment. Try again later, or contact support."
	case errors.Is(err, identity.ErrExists):
		return "This authenticator is already registered (perhaps to another account)."
	case errors.Is(err, identity.ErrNotEnrolled):
		return "This sign-in method is not set up for your account."
	case errors.Is(err, identity.ErrInvalidResponse):
		return "That was not right. Please try again."
	case errors.Is(err, identity.ErrBadInput):
		return "Some of what you typed is not valid. Please check it and try again."
	case errors.Is(err, identity.ErrAuditBroken):
		return "The audit trail failed its integrity check."
	}
	return "Something went wrong on our side. Please try again in a moment."
}

func roundUp(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	return d.Round(time.Second) + time.Second
}
