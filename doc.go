// Package puce is an embeddable Go library for two-factor smart-card
// identity: one identity.Authenticator interface over three possession
// factors — PC/SC smart cards, TOTP tokens and WebAuthn keys — combined with
// a knowledge factor (a password, or the card PIN that the card itself
// checks) into a two-factor login with a stated assurance level (NIST SP
// 800-63B AAL, eIDAS LoA).
//
// This package holds no code; the work is done by its sub-packages:
//
//	identity                  the core: Authenticator, challenges, proofs, Policy,
//	                          passwords, Throttle, Sealer, audit trail, Transaction,
//	                          store interfaces
//	identity/memstore         in-memory stores
//	identity/auditchain       the audit trail's partitioned hash chains and keyed
//	                          checkpoints, for store authors; its threat model
//	identity/sqlstore         SQLite (embedded default) and PostgreSQL stores
//	identity/sqlstore/sqlstoretest  SQLite and PostgreSQL stores for tests
//	identity/identitytest     conformance suites for stores and factors
//	identity/httpauth         net/http sessions shared through the store, CSRF,
//	                          body limits, errors safe to show, JSON endpoints,
//	                          NewSite and the browser client puce.js
//	totp                      TOTP factor with recovery codes
//	totp/ocra                 OCRA challenge-response (RFC 6287)
//	webauthn                  WebAuthn factor: security keys and passkeys
//	pcsc                      PC/SC readers (the only cgo package)
//	pcsc/apdu                 ISO 7816-4 APDUs, status words, BER-TLV, transports
//	pcsc/piv                  PIV client: certificates, PIN, signing with 9A and 9C
//	pcsc/cardauth             card login for servers (Web eID tokens, OCSP, mutual TLS)
//	pcsc/cardauth/ocsp        the OCSP checker card login and signing share
//	pcsc/cardauth/ocspresponder  an OCSP responder for tests
//	pcsc/emrtd                sovereign identity applet client (ICAO 9303)
//	pcsc/virtual              virtual card runtime, in-process or on pcscd
//	pcsc/virtual/pivapplet    the virtual card's PIV applet
//	pcsc/virtual/emrtdapplet  the virtual card's eMRTD applet
//	pcsc/virtual/testcard     one-call personalisation with a test PKI
//	pcsc/esign                detached CAdES signatures with the card's 9C key,
//	                          RFC 3161 timestamps, long-term validation (B-B…B-LTA)
//	pcsc/esign/pades          PDF signatures (PAdES B-B…B-LTA) and their verification
//	pcsc/esign/tsaresponder   an RFC 3161 timestamp authority for tests
//
// # Quick start
//
// On the web, httpauth.NewSite is the whole login: sessions in the store,
// CSRF, the throttle, and JSON endpoints for sign-up, password, enrolment,
// login and payment approval (openapi.json), with the browser client they
// serve (/auth/puce.js):
//
//	store, err := sqlstore.OpenSQLite(ctx, "bank.db", sqlstore.WithAudit(identity.AuditConfig{Key: auditKey}))
//	site, err := httpauth.NewSite(httpauth.SiteConfig{Store: store, Origin: "https://bank.example",
//		Sealer: sealer, WebAuthn: &webauthn.Config{}, SignUp: true})
//	mux.Handle("/auth/", site)
//
// httpauth's ExampleManager_Endpoints logs in with a password and TOTP
// through those endpoints, ExampleNewSite_payment approves a payment with a
// security key, and examples/minimal is a complete site in under 80 lines of
// Go. The audit key (32 random bytes) and the sealer's keys come from a
// secret store, never from the database: without the audit key the trail is
// not sealed.
//
// Beneath the endpoints, a backend keeps one identity.Services per process
// and builds its factors on it; logging in is two proofs — the password,
// then a possession factor — combined by a Policy:
//
//	svc := &identity.Services{Store: store, Throttle: throttle}
//	codes, err := totp.New(svc, sealer, "Example Bank")
//	pw, err := passwords.Verify(ctx, "alice", password, remoteAddr)
//	ch, err := codes.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
//	otp, err := codes.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(code)})
//	session, err := policy.Combine(*pw, *otp) // AAL2
//
// The runnable example of this package shows that flow on SQLite.
package puce
