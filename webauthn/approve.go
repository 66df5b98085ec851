package webauthn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/puce-id/puce/identity"
)

// BeginApprove starts the approval of a payment (identity.PurposeApprove)
// by req.Subject, who must have a credential; req.Transaction is the
// payment. The WebAuthn challenge is the transaction's digest followed by a
// fresh 32-byte nonce, so the authenticator's signature covers the
// clientDataJSON that names the amount and payee's digest (PSD2 dynamic
// linking, RTS on SCA Article 5), and user verification is required: the
// approval alone is two factors. The Payload is the
// CredentialRequestOptions JSON, as for Begin.
func (f *Factor) BeginApprove(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	if req.Subject == "" || req.Transaction == nil {
		return nil, fmt.Errorf("%w: webauthn: an approval needs the subject and the transaction", identity.ErrBadInput)
	}
	challenge, err := approvalChallenge(req.Transaction)
	if err != nil {
		return nil, err
	}
	return f.begin(ctx, identity.PurposeApprove, req, protocol.MediationDefault,
		gowebauthn.WithChallenge(challenge), gowebauthn.WithUserVerification(protocol.VerificationRequired))
}

// approvalChallenge is the WebAuthn challenge of an approval: the
// transaction's digest, then a fresh 32-byte nonce.
func approvalChallenge(tx *identity.Transaction) ([]byte, error) {
	d, err := tx.Digest()
	if err != nil {
		return nil, err
	}
	challenge := make([]byte, 0, len(d)+32)
	challenge = append(challenge, d[:]...)
	challenge = append(challenge, make([]byte, 32)...)
	rand.Read(challenge[len(d):])
	return challenge, nil
}

// checkSignedDigest: the challenge the authenticator signed starts with
// the digest the identity challenge is bound to. Checked here as well as
// by the core, so that the signature itself is the record of what was
// approved.
func checkSignedDigest(ch *identity.Challenge, sess *gowebauthn.SessionData) error {
	signed, err := base64.RawURLEncoding.DecodeString(sess.Challenge)
	if err != nil || !bytes.HasPrefix(signed, ch.Transaction) || len(ch.Transaction) == 0 {
		return fmt.Errorf("%w: webauthn: the signed challenge does not name this transaction", identity.ErrTransactionMismatch)
	}
	return nil
}

// FinishApprove verifies the assertion of an approval begun by
// BeginApprove for resp.Transaction, which must be the payment the
// challenge was issued for (identity.ErrTransactionMismatch otherwise), and
// returns a proof carrying the transaction's digest for
// identity.Policy.Approve. The errors are Finish's, and ErrUserNotVerified
// when the authenticator did not verify the user.
func (f *Factor) FinishApprove(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	parsed, err := parseAssertion(resp.Data)
	if err != nil {
		return nil, err
	}
	return f.svc.Approve(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		sess, err := session(ch)
		if err != nil {
			return err
		}
		// A challenge of BeginSPC is answered through the browser's
		// payment dialog only (FinishSPC): a plain assertion over it was
		// made at a prompt that showed neither amount nor payee (SPC
		// §sctn-verifying-assertion step 11; RTS on SCA Article 5(1)(a)).
		var st spcState
		if json.Unmarshal(ch.State, &st) == nil && st.Payment != nil {
			return fmt.Errorf("%w: webauthn: the challenge was issued for Secure Payment Confirmation; answer it with FinishSPC", identity.ErrChallengeMismatch)
		}
		if err := checkSignedDigest(ch, sess); err != nil {
			return err
		}
		if !parsed.Response.AuthenticatorData.Flags.UserVerified() {
			return ErrUserNotVerified
		}
		return f.verify(ctx, ch, ev, parsed, p)
	})
}
