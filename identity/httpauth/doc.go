// Package httpauth is what a net/http application calls to keep its users
// signed in with puce: wrap the handlers with Manager.Protect, call
// Manager.Start on a page that shows a form, Manager.AddProof with each proof
// a factor's Finish returns, and answer any error with Manager.WriteError (or
// show Public's message on a page of your own).
//
// Or let Manager.Endpoints serve the whole ceremony as JSON: the password
// step, login, enrolment and payment approval for every registered factor,
// document signing with the account's card (EndpointsConfig.Signing),
// under one documented contract (openapi.json, served at
// Prefix/openapi.json). A page's script then calls begin, hands the
// challenge's payload to the factor (WebAuthn, the card agent, the user
// typing a code) and posts the answer to finish.
//
// NewSite builds all of it in one call — the throttle, passwords, the
// factors a SiteConfig turns on, the Manager and its Endpoints — and is
// where most applications start (ExampleNewSite; ExampleNewSite_payment adds
// the application's own handler that puts a payment up for approval with a
// security key). A login through the endpoints, as a client makes it:
//
//	GET  /auth/session                  → {"csrfToken": …}, sent back as X-CSRF-Token
//	POST /auth/password {"username", "password"} → {"complete": false, "next": ["totp"]}
//	POST /auth/login/totp/begin  {}     → {"challengeId": …}
//	POST /auth/login/totp/finish {"challengeId", "response": "123456"} → {"complete": true, "level": "AAL2"}
//
// Every answer may carry a new csrfToken (the session moved to a new ID);
// send the latest one. After POST /auth/logout, GET /auth/session again
// before the next sign-in.
//
// Sessions live server-side in an identity.SessionStore (memstore, or
// sqlstore's SQLite or PostgreSQL), so every server instance that shares the
// store shares them. The browser holds only a random token in a __Host-
// cookie (Secure, HttpOnly, Path=/, SameSite=Lax); the store holds its
// SHA-256, so a database dump holds no cookie anyone could present. A
// visitor who has proven nothing costs no row: their session lives in the
// cookie (its CSRF token is derived from it) until it carries something
// worth keeping — a first proof, a ceremony under way, a value the
// application saves — so anonymous requests, a bot's included, cannot fill
// the store (see Manager.Start).
//
// # Signing a user out everywhere
//
// Manager.EndSessions(ctx, subject, by, remoteAddr) ends every session of
// an account, on every browser and instance, and audits it: call it from
// the back office or the fraud engine after fraud, when a card is reported
// lost or revoked, when support resets a password, when an account is
// disabled or deleted (OWASP ASVS 5.0 V7.4.2), when an administrator ends
// a user's sessions (V7.4.5). Manager.EndOtherSessions(ctx,
// s, reason, remoteAddr) keeps the caller's own session: call it from the
// handler that changed the user's password, added or removed a factor
// (V7.4.3). The Endpoints' enrolment does so itself (unless
// EndpointsConfig.KeepOtherSessions); they change no password and remove
// no factor. Both need a store that implements identity.SessionRevoker
// (memstore, sqlstore); with another they fail with ErrCannotEndSessions.
//
// What the package guards, so that the application need not:
//
//   - Fixation: every change of level — a first factor, a completed login, a
//     step-up, a logout — moves the session to a new ID, and the old one is
//     gone from the store.
//   - Lifetime: an idle timeout (5 minutes once a first factor is proven,
//     longer for what a visitor's session stored) and an absolute lifetime
//     (12 hours), both configurable.
//   - Cross-site requests: an unsafe request (POST, PUT, PATCH, DELETE) must
//     come from Config.Origin when the browser says where it comes from
//     (Sec-Fetch-Site, Origin) and must carry the session's CSRF token (header
//     X-CSRF-Token, or form field csrf_token) in every case.
//   - Challenges: the ID of every challenge the endpoints hand out is bound
//     to the session that began it; a finish from another session is
//     refused before the challenge is spent.
//   - Body size: bodies above Config.MaxBodyBytes are refused with 413.
//   - Ceremony starts: every begin, the password step and sign-up count
//     against Config.Starts, per client address and, while nothing is
//     proven, per instance; one too many is answered 429 with Retry-After
//     (ErrRateLimited). Behind a proxy, Config.TrustedProxies says whose
//     X-Forwarded-For (or Forwarded) to believe (Manager.ClientAddr).
//   - The pending first factor: a password proof waits in the session until
//     the second factor finishes, then both become one identity.Session.
//   - Errors: Public turns any puce error into a status and a message safe
//     to show; the detail goes to the log. After a refused second factor
//     in a session whose account is proven, the answer also says how many
//     tries remain before the factor locks (Manager.TriesLeft); never on
//     the password step, where it would tell who has an account.
//   - Headers: every answer of the endpoints forbids framing and loading
//     from elsewhere (CSP default-src and frame-ancestors 'none',
//     Cross-Origin-Resource-Policy), sends no Referer and keeps the
//     browser on HTTPS (Config.HSTS); a body not labelled UTF-8 JSON is
//     refused with 415.
package httpauth
