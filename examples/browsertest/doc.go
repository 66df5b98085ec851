// Package browsertest drives the example servers and the card agent in
// headless Chromium (Debian's chromium, no browser download), the way a
// person would: sign up, enrol an authenticator app, the card, a security key
// and a passkey, log in and out with each, sign a document and verify it.
// WebAuthn runs against Chromium's DevTools virtual authenticators. Everything but the browser runs in the
// test process: the login and signing servers on SQLite, the card agent over
// puce's virtual card, and an OCSP responder for the card's test CA.
//
// The tests skip when chromium is missing, and fail instead under CI=true.
// Screenshots of every page go to $PUCE_ARTIFACTS (a temporary directory
// when unset); their paths are logged.
package browsertest
