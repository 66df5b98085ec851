// Package identity is the core of puce: the Authenticator interface that every
// possession factor implements, the challenges, proofs and assurance levels they
// exchange, the two-factor Policy that combines them, and the security machinery
// they share — argon2id passwords, a failure Throttle, an AES-256-GCM Sealer for
// secrets at rest, and an audit trail in hash chains whose records and
// checkpoints are sealed with a key the database does not hold.
//
// # What an application calls
//
// A net/http application usually calls few of these itself:
// identity/httpauth's NewSite makes the calls of a login, an enrolment and a
// payment approval behind JSON endpoints, with sessions in the store. Made
// directly (the puce package's Example runs a password + TOTP login so):
//
//   - Passwords: Create (sign-up, returns the first proof), Verify, Set.
//   - A factor's Begin and Finish (totp, webauthn, pcsc/cardauth, totp/ocra),
//     and for payments BeginApprove and FinishApprove with a Transaction
//     (webauthn, pcsc/cardauth and totp/ocra: a TOTP code cannot approve a
//     payment, ErrCannotLink).
//   - Policy: Combine the proofs of a login into a Session, SecondFactors to
//     decide the second step from what the account has, Authorize before a
//     sensitive action (step-up), Approve a payment.
//   - Throttle, with its Clients limit and Services.Unlock for the way
//     back; PSD2Throttle for the RTS on SCA.
//   - Sealer for secrets at rest; the store's AuditEvents and VerifyAudit
//     (with the audit key given to the store for its records and
//     checkpoints, and the keys it replaced: see Rotating the audit key).
//   - The sentinel errors of errors.go, with errors.Is; identity/httpauth
//     maps them to what a user may see.
//
// # Rotating the audit key
//
// The stores seal their audit records and checkpoints with
// AuditConfig.Key, and VerifyAudit checks them with AuditKeys. To replace the key, at the end of
// its cryptoperiod or at once when it may have leaked:
//
//	// 1. Every instance gets a new key; the old one is kept, offline.
//	store, err := sqlstore.Open(ctx, dsn, sqlstore.WithAudit(identity.AuditConfig{Key: newKey}))
//	// 2. Verification takes both, the old one retired with an overlap at
//	//    least as long as the rolling deploy plus the instances' clock skew.
//	mark, err := store.VerifyAudit(ctx, identity.AuditKeys{
//		Current: newKey,
//		Retired: []identity.RetiredAuditKey{{Key: oldKey, Overlap: 30 * time.Minute}}, // newest first
//		Mark:    lastMark, // what the previous verification returned, kept off the machine
//		Fresh:   10 * time.Minute, // the trail servers still write: a newest checkpoint older than this was cut back
//	})
//
// Checkpoints and records sealed with the old key before the new key's
// first checkpoint verify as before; after it, only within the overlap. A
// retired key is needed for as long as what it sealed is to be verified (without it they are
// reported as broken), and never becomes current again: a deploy rolled
// back after the overlap needs a newly generated key. identity/auditchain
// explains what a leaked retired key still allows.
//
// # For factor and store authors
//
// Services (Issue, Prove, Approve, Finish, Record) is the ceremony engine a
// factor builds on; ChallengeStore, CredentialStore, ThrottleStore,
// SessionStore, AuditLog and UnitStore are for those who write a factor or a
// store, Sentinel makes a factor's errors match identity's,
// identity/auditchain holds the audit trail's hashes, checkpoints and
// verifier for store authors, and identity/identitytest holds the suites
// both must pass.
//
// identity imports no factor package; factors (totp, webauthn, pcsc/cardauth)
// import identity. State lives behind the small store interfaces in store.go
// and sessionstore.go: identity/memstore for tests and single processes,
// identity/sqlstore for SQLite and PostgreSQL. The web sessions a
// SessionStore keeps are used through identity/httpauth, which identity does
// not import. A store that can end every session of one subject at once
// implements SessionRevoker too (memstore and sqlstore do); httpauth's
// Manager.EndSessions needs it to sign a user out everywhere.
//
// A factor's round trip is always the same shape:
//
//	ch, err := factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
//	// send ch.ID and ch.Payload to the client, receive its answer
//	proof, err := factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: answer})
//
// Finish consumes the challenge exactly once, whatever the outcome, and returns a
// Proof or an error that callers test with errors.Is against the sentinels in
// errors.go.
//
// A factor builds that round trip on Services: Issue stores the challenge, and
// Prove (a login) or Finish (an enrolment) runs everything factors share —
// single use and binding of the challenge, the throttle, the audit event — around
// the factor's own check of the answer.
package identity
