package webauthn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/puce-id/puce/identity"
)

// Begin starts a login. The challenge's Payload is the
// CredentialRequestOptions JSON ({"publicKey": {...}}) for
// navigator.credentials.get.
//
// With req.Subject set, allowCredentials lists the subject's credentials
// (security keys and passkeys alike); a subject with none gets
// identity.ErrNotEnrolled. With req.Subject empty, the login is username-less:
// allowCredentials is empty, the browser offers the passkeys it holds for
// the RP ID, and Finish learns the subject from the credential (§7.2, "if the
// user was not identified before the ceremony"). BeginConditional does the
// same for autofill.
func (f *Factor) Begin(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	return f.begin(ctx, identity.PurposeAuthenticate, req, protocol.MediationDefault)
}

// BeginConditional starts a username-less login for conditional mediation
// (passkey autofill): the Payload carries "mediation": "conditional" beside
// the publicKey options, ready for navigator.credentials.get, and the page
// marks its username field autocomplete="username webauthn". req.Subject
// must be empty. The page may hold the request open for long while the user
// types, so the challenge lifetime (identity.Services.ChallengeTTL) bounds
// how long the form stays usable; start a new one when it expires.
func (f *Factor) BeginConditional(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	if req.Subject != "" {
		return nil, fmt.Errorf("%w: webauthn: conditional mediation is username-less; the request names a subject", identity.ErrBadInput)
	}
	return f.begin(ctx, identity.PurposeAuthenticate, req, protocol.MediationConditional)
}

// begin starts an assertion ceremony for purpose; extra options come last
// (an approval's challenge and user verification).
func (f *Factor) begin(ctx context.Context, purpose identity.Purpose, req identity.Request, mediation protocol.CredentialMediationRequirement, extra ...gowebauthn.LoginOption) (*identity.Challenge, error) {
	origin, err := f.ceremonyOrigin(req.Origin)
	if err != nil {
		return nil, err
	}
	opts := append([]gowebauthn.LoginOption{gowebauthn.WithUserVerification(f.uv), gowebauthn.WithLoginOrigin(origin)}, extra...)
	var (
		assertion *protocol.CredentialAssertion
		sess      *gowebauthn.SessionData
	)
	if req.Subject == "" {
		assertion, sess, err = f.wa.BeginDiscoverableMediatedLogin(mediation, opts...)
	} else {
		recs, lerr := f.records(ctx, req.Subject)
		if lerr != nil {
			return nil, lerr
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("%w: webauthn: %q has no WebAuthn credential", identity.ErrNotEnrolled, req.Subject)
		}
		u := &user{handle: recs[0].UserHandle}
		for _, r := range recs {
			u.creds = append(u.creds, r.credential())
		}
		assertion, sess, err = f.wa.BeginMediatedLogin(u, mediation, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("webauthn: begin login: %w", err)
	}
	return f.issue(ctx, purpose, req, assertion, sess)
}

// Finish verifies the browser's PublicKeyCredential (the JSON of
// navigator.credentials.get's result) and returns the proof.
//
// The proof covers possession, and knowledge and inherence too when the
// authenticator verified the user (a PIN or a biometric; the relying party
// cannot tell which). It is identity.Level3 when the user was verified on a
// device-bound key (backup eligibility false: the private key never leaves
// the authenticator) whose registration carried an attestation trusted by
// the attestation policy (Record.TrustedAttestation); identity.Level2 for a
// synced passkey, without user verification, or when only the
// authenticator's own flags say what it is. Claims: "aaguid",
// "backup_eligible", "backup_state", "user_verified", "attestation_type",
// "attestation_format", "attestation_trusted", and "clone_warning" when
// AcceptCounterRegression let a regression through.
//
// Errors: ErrMalformedResponse (nothing consumed); identity.ErrNotEnrolled
// for a credential the store does not hold for this subject;
// identity.ErrInvalidResponse for a response that does not verify (signature,
// origin, RP ID, challenge, tampered clientDataJSON, user handle);
// ErrClonedAuthenticator (identity.ErrReplayed) for a signature counter that
// did not increase; identity.ErrUntrusted when the metadata service now marks
// the model as compromised; identity.ErrThrottled; the challenge errors of
// identity.Services.Prove.
func (f *Factor) Finish(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	parsed, err := parseAssertion(resp.Data)
	if err != nil {
		return nil, err
	}
	return f.svc.Prove(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		return f.verify(ctx, ch, ev, parsed, p)
	})
}

// verify is the factor's half of §7.2 "Verifying an Authentication
// Assertion"; go-webauthn does the client data, authenticator data and
// signature steps. It completes p on success.
func (f *Factor) verify(ctx context.Context, ch *identity.Challenge, ev *identity.Event, parsed *protocol.ParsedCredentialAssertionData, p *identity.Proof) error {
	id := CredentialID(parsed.RawID)
	ev.CredentialID = id
	sess, err := session(ch)
	if err != nil {
		return err
	}
	// §7.2 steps "identify the user and the credential": look the credential
	// up by its ID, then check it belongs to the subject the ceremony was
	// begun for (or, username-less, learn the subject from it).
	c, err := f.svc.CredentialByID(ctx, Kind, id)
	if err != nil {
		if errors.Is(err, identity.ErrNotEnrolled) {
			return fmt.Errorf("%w: webauthn: unknown credential", identity.ErrNotEnrolled)
		}
		return fmt.Errorf("webauthn: load credential: %w", err)
	}
	if ch.Subject != "" && c.Subject != ch.Subject {
		return fmt.Errorf("%w: webauthn: the credential is not one of this subject's", identity.ErrNotEnrolled)
	}
	if ch.Subject == "" {
		ev.Subject = c.Subject
	}
	if !c.Active {
		return fmt.Errorf("%w: webauthn: the credential is not active", identity.ErrNotEnrolled)
	}
	rec, err := f.decodeRecord(c)
	if err != nil {
		return err
	}
	// §7.2 step 1: with allowCredentials, the credential must be one of them.
	if len(sess.AllowedCredentialIDs) > 0 && !containsID(sess.AllowedCredentialIDs, rec.ID) {
		return fmt.Errorf("%w: webauthn: the credential was not offered in allowCredentials", identity.ErrInvalidResponse)
	}
	// go-webauthn checks the response's user handle (when present) against
	// the user's ID, and the allow-list against the user's credentials. The
	// user is the credential's owner as recorded; the session only ever
	// named that same subject, which the challenge store already bound.
	u := &user{handle: rec.UserHandle, creds: []gowebauthn.Credential{rec.credential()}}
	var wc *gowebauthn.Credential
	if ch.Subject != "" {
		sess.UserID = rec.UserHandle
		sess.AllowedCredentialIDs = [][]byte{rec.ID}
		wc, err = f.wa.ValidateLogin(u, *sess, parsed)
	} else {
		// Username-less: §7.2 requires response.userHandle to be present and
		// to identify the credential's owner.
		wc, err = f.wa.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (gowebauthn.User, error) {
			return u, nil
		}, *sess, parsed)
	}
	if err != nil {
		return invalid("assertion", err)
	}
	flags := parsed.Response.AuthenticatorData.Flags
	now := ev.Time

	// §7.2 signCount step and §6.1.1: a counter that does not increase,
	// unless both are zero (an authenticator without counter), means the
	// credential private key may exist twice.
	received := uint64(parsed.Response.AuthenticatorData.Counter)
	stored := c.Counter
	clone := false
	switch {
	case received == 0 && stored == 0:
	case received <= stored:
		if !f.cfg.AcceptCounterRegression {
			return fmt.Errorf("%w: counter went from %d to %d", ErrClonedAuthenticator, stored, received)
		}
		clone = true
		ev.Reason = fmt.Sprintf("clone warning: signature counter went from %d to %d", stored, received)
	default:
		// Atomic across server instances: of two assertions carrying the
		// same counter, one wins and the other is a replay.
		if err := f.svc.AdvanceCounter(ctx, c.Ref(), received, now); err != nil {
			if errors.Is(err, identity.ErrReplayed) {
				return fmt.Errorf("%w: %w", ErrClonedAuthenticator, err)
			}
			return fmt.Errorf("webauthn: advance counter: %w", err)
		}
	}
	// BS may change from one assertion to the next (§6.1.3); BE may not,
	// which go-webauthn checked. LastUsedAt moved with the counter, unless
	// there was none to move.
	bsChanged := rec.BackupState != flags.HasBackupState()
	if bsChanged || received <= stored {
		// Edited, not overwritten: a rename made during this login stays.
		err := f.svc.EditCredential(ctx, c, func(cur *identity.Credential) error {
			r, err := DecodeRecord(cur)
			if err != nil {
				return err
			}
			r.BackupState = flags.HasBackupState()
			cur.Public = r.encode()
			cur.LastUsedAt = now
			return nil
		})
		if err != nil {
			return fmt.Errorf("webauthn: update credential: %w", err)
		}
	}

	uv := flags.HasUserVerified()
	*p = identity.Proof{
		Subject:      c.Subject,
		Kind:         Kind,
		CredentialID: c.ID,
		Factors:      identity.Possession,
		Assurance:    identity.Level2,
		Time:         now,
		Claims: map[string]string{
			"aaguid":              rec.AAGUID.String(),
			"backup_eligible":     strconv.FormatBool(wc.Flags.BackupEligible),
			"backup_state":        strconv.FormatBool(flags.HasBackupState()),
			"user_verified":       strconv.FormatBool(uv),
			"attestation_type":    rec.AttestationType,
			"attestation_format":  rec.AttestationFormat,
			"attestation_trusted": strconv.FormatBool(rec.TrustedAttestation),
		},
	}
	if uv {
		// The authenticator checked a PIN or a biometric before signing.
		p.Factors |= identity.Knowledge | identity.Inherence
		if !rec.BackupEligible && rec.TrustedAttestation {
			// A device-bound key with user verification is a multi-factor
			// cryptographic authenticator (NIST SP 800-63B §5.1.9), but AAL3
			// also needs it to be hardware (SP 800-63B §4.3: "SHALL use a
			// hardware-based authenticator"). The flags are the
			// authenticator's word about itself, which any software
			// authenticator can give; only an attestation that chained to
			// the policy's roots says which hardware holds the key.
			p.Assurance = identity.Level3
		}
	}
	if clone {
		p.Claims["clone_warning"] = "true"
	}
	return nil
}

func containsID(ids [][]byte, id []byte) bool {
	for _, v := range ids {
		if bytes.Equal(v, id) {
			return true
		}
	}
	return false
}

// parseAssertion parses a login response (the JSON of a
// PublicKeyCredential with an AuthenticatorAssertionResponse) without
// verifying it, with go-webauthn's protocol parser. It fails with ErrMalformedResponse on anything the protocol
// parsers refuse, and on more than MaxResponseSize bytes.
func parseAssertion(data []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(data) > MaxResponseSize {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrMalformedResponse, len(data), MaxResponseSize)
	}
	// protocol.ParseCredentialRequestResponseBytes is this decode and Parse,
	// but decodes with a json.Decoder, which copies the input before
	// scanning it; json.Unmarshal scans it in place and refuses the same
	// trailing data (anything but white space).
	var car protocol.CredentialAssertionResponse
	if err := json.Unmarshal(data, &car); err != nil {
		return nil, malformed("assertion", err)
	}
	p, err := car.Parse()
	if err != nil {
		return nil, malformed("assertion", err)
	}
	if len(p.RawID) > MaxCredentialIDLen {
		return nil, fmt.Errorf("%w: credential ID of %d bytes", ErrMalformedResponse, len(p.RawID))
	}
	return p, nil
}
