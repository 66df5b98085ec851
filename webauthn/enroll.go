package webauthn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/puce-id/puce/identity"
)

// MaxCredentialIDLen is the longest credential ID accepted (W3C WebAuthn
// §7.1, "verify that the credentialId is ≤ 1023 bytes").
const MaxCredentialIDLen = 1023

// BeginEnroll starts registering a new credential for req.Subject. The
// challenge's Payload is the CredentialCreationOptions JSON
// ({"publicKey": {...}}) for navigator.credentials.create, after decoding
// its base64url members (or PublicKeyCredential.parseCreationOptionsFromJSON
// on its publicKey member). The subject's credentials are listed in
// excludeCredentials, so an authenticator that already holds one of them
// declines instead of registering twice (§5.4, excludeCredentials).
//
// req.UserName (the account name shown by the authenticator) defaults to the
// subject; req.DisplayName to the user name.
func (f *Factor) BeginEnroll(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	return f.beginEnroll(ctx, req, false)
}

// enrollState is the State of a registration: go-webauthn's session, and
// whether the credential is made for Secure Payment Confirmation.
type enrollState struct {
	gowebauthn.SessionData
	Payment bool `json:"puce_payment,omitempty"`
}

func (f *Factor) beginEnroll(ctx context.Context, req identity.Request, payment bool) (*identity.Challenge, error) {
	if req.Subject == "" {
		return nil, fmt.Errorf("%w: webauthn: enrolment needs a subject", identity.ErrBadInput)
	}
	origin, err := f.ceremonyOrigin(req.Origin)
	if err != nil {
		return nil, err
	}
	recs, err := f.records(ctx, req.Subject)
	if err != nil {
		return nil, err
	}
	u := &user{name: req.UserName, displayName: req.DisplayName}
	if u.name == "" {
		u.name = string(req.Subject)
	}
	if u.displayName == "" {
		u.displayName = u.name
	}
	// One user handle per account, so that an authenticator replaces its
	// passkey for this account instead of holding two (§5.4.3, user.id).
	if len(recs) > 0 {
		u.handle = recs[0].UserHandle
	} else {
		u.handle = newUserHandle()
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(recs))
	for _, r := range recs {
		exclude = append(exclude, r.descriptor())
	}
	sel := protocol.AuthenticatorSelection{
		AuthenticatorAttachment: protocol.AuthenticatorAttachment(f.cfg.Attachment),
		ResidentKey:             protocol.ResidentKeyRequirement(f.cfg.ResidentKey),
		UserVerification:        f.uv,
	}
	// credProps tells whether the credential is discoverable (§10.1.3).
	exts := []gowebauthn.ExtensionOption{gowebauthn.WithExtensionCredProps()}
	if payment {
		sel, exts = spcSelection(sel, exts)
	}
	rk := sel.ResidentKey == protocol.ResidentKeyRequirementRequired
	sel.RequireResidentKey = &rk // Level 1 clients read only this member (§5.4.4)
	creation, sess, err := f.wa.BeginRegistration(u,
		gowebauthn.WithAuthenticatorSelection(sel),
		gowebauthn.WithExclusions(exclude),
		gowebauthn.WithConveyancePreference(protocol.ConveyancePreference(f.cfg.Conveyance)),
		gowebauthn.WithRegistrationOrigin(origin),
		gowebauthn.WithExtensions(exts...),
	)
	if err != nil {
		return nil, fmt.Errorf("webauthn: begin registration: %w", err)
	}
	return f.issue(ctx, identity.PurposeEnroll, req, creation, &enrollState{SessionData: *sess, Payment: payment})
}

// FinishEnroll verifies the browser's PublicKeyCredential (the JSON of
// navigator.credentials.create's result, as PublicKeyCredential.toJSON
// writes it) and stores the credential, named resp.Name.
//
// Errors: ErrMalformedResponse (nothing consumed); identity.ErrInvalidResponse
// for a response that does not verify (origin, RP ID, challenge, signature,
// user verification required but absent); identity.ErrUntrusted when the
// attestation policy refuses the authenticator; identity.ErrExists (with
// identity.ErrInvalidResponse) when the credential is already registered; the
// challenge errors of identity.Services.Prove.
func (f *Factor) FinishEnroll(ctx context.Context, resp identity.Response) (*identity.Credential, error) {
	if err := checkName(resp.Name); err != nil {
		return nil, err
	}
	parsed, err := parseCreation(resp.Data)
	if err != nil {
		return nil, err
	}
	var cred *identity.Credential
	err = f.svc.Enroll(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		ev.CredentialID = CredentialID(parsed.RawID)
		sess, err := session(ch)
		if err != nil {
			return err
		}
		var st enrollState
		_ = json.Unmarshal(ch.State, &st) // session read the same bytes
		u := &user{handle: sess.UserID}
		wc, err := f.wa.CreateCredential(u, *sess, parsed)
		if err != nil {
			return invalid("registration", err)
		}
		if len(wc.ID) > MaxCredentialIDLen {
			return fmt.Errorf("%w: webauthn: credential ID of %d bytes (at most %d)", identity.ErrInvalidResponse, len(wc.ID), MaxCredentialIDLen)
		}
		ao := &parsed.Response.AttestationObject
		now := ev.Time
		trusted, err := f.cfg.Policy.verify(ao, now)
		if err != nil {
			return err
		}
		rec := &Record{
			ID:                 wc.ID,
			PublicKey:          wc.PublicKey,
			UserHandle:         sess.UserID,
			AAGUID:             aaguidOf(wc.Authenticator.AAGUID),
			AttestationFormat:  wc.AttestationFormat,
			AttestationType:    wc.AttestationType,
			Attachment:         string(wc.Authenticator.Attachment),
			BackupEligible:     wc.Flags.BackupEligible,
			BackupState:        wc.Flags.BackupState,
			UserVerified:       wc.Flags.UserVerified,
			Discoverable:       wc.Extensions.RK,
			Payment:            st.Payment,
			TrustedAttestation: trusted,
		}
		for _, t := range wc.Transport {
			rec.Transports = append(rec.Transports, string(t))
		}
		c := &identity.Credential{
			Subject:   ch.Subject,
			Kind:      Kind,
			ID:        rec.CredentialID(),
			Name:      resp.Name,
			Public:    rec.encode(),
			Counter:   uint64(wc.Authenticator.SignCount),
			Active:    true,
			CreatedAt: now,
		}
		ev.CredentialID = c.ID
		// §7.1: "verify that the credentialId is not yet registered for any
		// user"; the store's uniqueness of (kind, ID) makes the check and
		// the insert one atomic step.
		if err := f.svc.CreateCredential(ctx, c); err != nil {
			if errors.Is(err, identity.ErrExists) {
				return fmt.Errorf("%w: webauthn: credential already registered: %w", identity.ErrInvalidResponse, err)
			}
			return fmt.Errorf("webauthn: store credential: %w", err)
		}
		cred = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cred, nil
}

// parseCreation parses a registration response (the JSON of a
// PublicKeyCredential with an AuthenticatorAttestationResponse) without
// verifying it. It fails with ErrMalformedResponse on anything the protocol
// parsers refuse, and on more than MaxResponseSize bytes.
func parseCreation(data []byte) (*protocol.ParsedCredentialCreationData, error) {
	if len(data) > MaxResponseSize {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrMalformedResponse, len(data), MaxResponseSize)
	}
	p, err := protocol.ParseCredentialCreationResponseBytes(data)
	if err != nil {
		return nil, malformed("registration", err)
	}
	if len(p.RawID) == 0 || len(p.RawID) > MaxCredentialIDLen {
		return nil, fmt.Errorf("%w: credential ID of %d bytes", ErrMalformedResponse, len(p.RawID))
	}
	return p, nil
}
