package webauthn

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/puce-id/puce/identity"
)

// Sentinel errors of this package. Every error the factor returns also
// matches one of identity's sentinels (errors.Is), so callers that handle
// several factors need not import this package.
var (
	// ErrMalformedResponse: Response.Data is not a PublicKeyCredential the
	// protocol parsers accept (not JSON, wrong types, bad base64url, truncated
	// CBOR, larger than MaxResponseSize). It matches identity.ErrInvalidResponse
	// and identity.ErrBadInput. Nothing was consumed, counted or written: the
	// challenge is still valid.
	ErrMalformedResponse = identity.Sentinel("webauthn: malformed response", identity.ErrInvalidResponse, identity.ErrBadInput)

	// ErrClonedAuthenticator: the assertion's signature counter is not above
	// the stored one, the signal of a cloned authenticator (W3C WebAuthn §6.1.1).
	// It matches identity.ErrReplayed. The attempt is refused and audited
	// unless Config.AcceptCounterRegression is set.
	ErrClonedAuthenticator = identity.Sentinel("webauthn: signature counter did not increase (possible cloned authenticator)", identity.ErrReplayed)

	// ErrUserNotVerified: an approval's assertion does not say the
	// authenticator verified the user (the UV flag, W3C WebAuthn §6.1), so
	// it is one factor, not the two a payment needs. It matches
	// identity.ErrInvalidResponse.
	ErrUserNotVerified = identity.Sentinel("webauthn: the authenticator did not verify the user", identity.ErrInvalidResponse)
)

// malformed wraps a parse failure.
func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedResponse, what, describe(err))
}

// invalid classifies an error from go-webauthn's ceremony checks. Metadata
// and policy restrictions are verdicts on the authenticator model, so they
// become identity.ErrUntrusted; anything else (bad signature, wrong origin,
// wrong RP ID, challenge or user handle mismatch) is identity.ErrInvalidResponse.
// The go-webauthn error stays reachable with errors.As.
func invalid(what string, err error) error {
	sentinel := identity.ErrInvalidResponse
	for e := err; e != nil; e = errors.Unwrap(e) {
		if pe, ok := e.(*protocol.Error); ok && (pe.Type == protocol.ErrMetadata.Type || pe.Type == protocol.ErrPolicyRestriction.Type) {
			sentinel = identity.ErrUntrusted
			break
		}
	}
	return &ceremonyError{msg: fmt.Sprintf("%v: %s: %s", sentinel, what, describe(err)), kinds: []error{sentinel, err}}
}

// ceremonyError matches its sentinel and its cause, with one message.
type ceremonyError struct {
	msg   string
	kinds []error
}

func (e *ceremonyError) Error() string   { return e.msg }
func (e *ceremonyError) Unwrap() []error { return e.kinds }

// describe renders a go-webauthn error with its developer detail and
// cause: its Error() alone is often a generic sentence. None of the parts
// holds a secret.
func describe(err error) string {
	var parts []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		for _, p := range parts {
			if strings.Contains(p, s) {
				return
			}
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	for e := err; e != nil; {
		pe, ok := e.(*protocol.Error)
		if !ok {
			if u, ok := e.(*protocol.ErrorUnknownCredential); ok && u.Err != nil {
				e = u.Err
				continue
			}
			add(e.Error())
			break
		}
		add(pe.Details)
		add(pe.DevInfo)
		e = pe.Err
	}
	return strings.Join(parts, ": ")
}
