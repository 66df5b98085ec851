// Package puce is an embeddable Go library for two-factor smart-card
// identity: one identity.Authenticator interface over three possession
// factors — PC/SC smart cards, TOTP tokens and WebAuthn keys — combined with
// a knowledge factor (a password, or the card PIN that the card itself
// checks) into a two-factor login with a stated assurance level (NIST SP
// 800-63B AAL, eIDAS LoA).
//
// This package holds no code; the work is done by its sub-packages:
//
//	identity              the core: Authenticator, challenges, proofs, Policy,
//	                      passwords, Throttle, Sealer, audit trail, store interfaces
//	identity/memstore     in-memory stores
//	identity/sqlstore     SQLite (embedded default) and PostgreSQL stores
//	identity/identitytest conformance suites for stores and factors
//	identity/httpauth     net/http sessions shared through the store, CSRF,
//	                      body limits, errors safe to show
//	totp                  TOTP factor with recovery codes
//
// # Quick start
//
// A backend keeps one identity.Services per process and builds its factors on
// it. Logging in is two proofs — the password, then a possession factor —
// combined by a Policy:
//
//	store, _ := sqlstore.OpenSQLite(ctx, "puce.db")
//	throttle := &identity.Throttle{Store: store}
//	passwords := &identity.Passwords{Store: store, Throttle: throttle, Audit: store}
//	policy := &identity.Policy{} // two factors (AAL2) to log in
//
//	pw, err := passwords.Verify(ctx, "alice", password, remoteAddr)
//	// ... then Begin/Finish with the user's second factor for proof2
//	session, err := policy.Combine(*pw, *proof2)
//
// The runnable example of this package shows the whole flow.
package puce
