// Package webauthn is the WebAuthn factor of puce: security keys and passkeys
// (W3C Web Authentication Level 3), with the ceremony checks done by
// github.com/go-webauthn/webauthn and everything stateful kept in the
// identity stores.
//
// # Ceremonies
//
// Every ceremony is two HTTP round trips. Begin (or BeginEnroll) returns an
// identity.Challenge whose Payload is the options JSON for the browser
// ({"publicKey": {...}}, plus "mediation" for autofill); its ID goes back to
// the client with it. go-webauthn's session data stays on the server in the
// challenge's State: single use, expiring after identity.Services.ChallengeTTL
// on the services' clock, bound to the subject and to the origin of the
// request. Finish (or FinishEnroll) takes the browser's PublicKeyCredential
// JSON in Response.Data, consumes the challenge once, verifies the response
// (client data type, challenge and origin, RP ID hash, user presence and
// verification, signature), and then does what go-webauthn leaves to the
// relying party: the attestation policy at registration, the credential
// record, the signature counter at login.
//
// Logins come in three shapes. With a subject, the options list the subject's
// credentials (second factor after a password, or a security key). Without
// one, the login is username-less: the browser offers the passkeys it holds
// for the RP ID and Finish learns the subject from the credential and its
// user handle. BeginConditional does the same for conditional mediation
// (passkey autofill in the username field).
//
// # Credentials
//
// A credential is stored as an identity.Credential of kind "webauthn" whose
// ID is the base64url credential ID and whose Public holds a Record (public
// key, user handle, AAGUID, attestation format and type, transports, backup
// flags). The signature counter is the credential's Counter and only moves
// forward through identity.CredentialStore.AdvanceCounter, so a counter that
// fails to increase is caught across every server instance: it is the signal
// of a cloned authenticator (§6.1.1), refused with ErrClonedAuthenticator
// (identity.ErrReplayed) and audited. Authenticators without a counter (it
// stays zero, as with most passkeys) are accepted.
//
// # Assurance
//
// A proof always covers possession. When the authenticator verified the user
// (UV flag), it also covers knowledge or inherence. It reaches
// identity.Level3 (AAL3) only when, besides, the key cannot leave its device
// (backup eligibility false) and its registration's attestation chained to
// the roots of the attestation policy (Roots, or the FIDO metadata
// service): NIST SP 800-63B §4.3 asks AAL3 for a hardware-based
// authenticator, and flags an authenticator reports about itself prove
// nothing of the sort. Everything else (a synced passkey, no user
// verification, or no trusted attestation, as with the zero policy) is
// identity.Level2. Credentials registered before Record.TrustedAttestation
// existed carry none, and log in at Level2 until registered again.
//
// # Attestation
//
// AttestationPolicy decides which authenticators may register: any (the
// default), only those whose attestation chains to given roots, only given
// AAGUIDs, or those the FIDO Metadata Service blob vouches for (MDS, read from
// a file and refreshed by the operator; puce makes no network call).
//
// # Payments
//
// BeginApprove and FinishApprove approve an identity.Transaction with any
// credential: the challenge is the transaction's digest and a single-use
// nonce, so the signature is dynamically linked to the amount and payee
// (PSD2, RTS on SCA Article 5). Secure Payment Confirmation (W3C SPC) adds
// the browser's own payment dialog: a credential registered with
// BeginEnrollPayment (the "payment" extension) approves through
// BeginSPC, whose Payload the page passes to PaymentRequest, and
// FinishSPC, which checks the signed client data of type "payment.get"
// and its payment member (RP ID, top origin, payee, total, instrument)
// against what the server asked the dialog to show (ErrPaymentMismatch,
// ErrNotPayment), leaving the rest of WebAuthn's checks to go-webauthn.
//
// # Errors
//
// Malformed JSON fails with ErrMalformedResponse before anything is consumed.
// Otherwise every error matches one of identity's sentinels:
// identity.ErrInvalidResponse (bad signature, wrong origin or RP ID, tampered
// client data, user handle mismatch), identity.ErrReplayed (challenge used
// twice, counter regression), identity.ErrExpired, identity.ErrNotEnrolled
// (unknown credential), identity.ErrUntrusted (attestation policy),
// identity.ErrThrottled.
package webauthn
