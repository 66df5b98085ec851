// Package totp is the time-based one-time password factor of puce (RFC 6238
// over RFC 4226's HOTP), with recovery codes for when the authenticator app
// is lost. Codes are computed by the package itself, one keyed HMAC per
// verification, and tested against github.com/pquerna/otp's.
//
// # Enrolment
//
// Factor.BeginEnroll generates a secret (160 bits or more) and returns a
// challenge whose Payload is the otpauth:// URI; Factor.QRCode renders it as a
// PNG. The secret waits, sealed, in the challenge; Factor.FinishEnroll stores
// the credential only when the user types one valid code from the app. Keys
// from another system come in through ParseURI or ParseSecret, then
// Factor.BeginImport (the user proves a code) or Factor.Import (bulk
// migration).
//
// # Login
//
// Factor.Begin issues a challenge with nothing in it; Factor.Finish takes the
// code. The code is checked against every time step of the window (one step
// either side by default), so the step it belongs to is known; the
// credential's last accepted step then moves forward in one atomic store
// operation. A code, or any code of an earlier step, is therefore accepted
// once only, however many servers share the store (RFC 6238 §5.2). Every
// attempt goes through the identity.Throttle before it is evaluated, and every
// outcome is audited. A proof covers possession at identity.Level2.
//
// Malformed input (a code that is not 6 or 8 ASCII digits, bad base32, an
// unknown algorithm) fails with ErrMalformedCode, ErrBadSecret or ErrBadURI
// before anything is consumed or counted.
//
// # Payments
//
// A TOTP code cannot approve a payment: it says nothing of the amount or the
// payee, so it cannot meet PSD2's dynamic linking (RTS on SCA, Article 5).
// Factor has no BeginApprove, identity.Policy.Approve refuses a TOTP proof
// with identity.ErrCannotLink, and identity/httpauth answers its approval
// routes with 403. An account that logs in with TOTP approves payments with
// a factor that links: a security key or passkey (webauthn), a card
// (pcsc/cardauth), or a bank-issued signing token (totp/ocra). A TOTP
// step-up (Policy.Authorize) still guards actions that are not payments.
//
// # Recovery codes
//
// Recovery issues sets of single-use 16-digit codes, keeps only their sealed
// hashes, and consumes one per login atomically. A recovery proof is
// identity.Level1: enough to enrol a new authenticator, not a full login.
//
// Secrets are sealed at rest with the identity.Sealer, bound to their
// credential's row; neither secrets nor codes ever appear in errors, audit
// events or String output.
package totp
