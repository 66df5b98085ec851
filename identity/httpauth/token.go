package httpauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// tokenLen is the cookie token's size: 256 random bits.
const tokenLen = 32

var tokenEncoding = base64.RawURLEncoding.Strict()

type token [tokenLen]byte

func newToken() token {
	var t token
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	rand.Read(t[:])
	return t
}

func (t token) String() string { return tokenEncoding.EncodeToString(t[:]) }

// parseToken reads a cookie value. Anything but the canonical encoding of
// 32 bytes is refused, so one session has exactly one cookie value.
func parseToken(s string) (token, bool) {
	var t token
	if len(s) != tokenEncoding.EncodedLen(tokenLen) || strings.ContainsAny(s, "\r\n") {
		return t, false
	}
	n, err := tokenEncoding.Decode(t[:], []byte(s))
	if err != nil || n != tokenLen {
		return token{}, false
	}
	return t, true
}

// visitorMark ends the cookie of a visitor's session: one that proves
// nothing and that the store holds no row for until it carries something
// worth keeping (visitor.go). A cookie without it names a stored session,
// so that a session ended by logout, timeout or EndSessions still answers
// identity.ErrNoSession instead of turning into a visitor's.
const visitorMark = "~"

func (t token) visitorCookie() string { return t.String() + visitorMark }

// parseCookie reads a cookie value: a session token, and whether it is a
// visitor's.
func parseCookie(v string) (t token, visitor, ok bool) {
	if s, found := strings.CutSuffix(v, visitorMark); found {
		t, ok = parseToken(s)
		return t, true, ok
	}
	t, ok = parseToken(v)
	return t, false, ok
}

// csrf derives the session's synchroniser token from its cookie token, so
// that nothing about it is stored and a renewal changes it with the ID. Only
// a page of ours can learn it (the cookie is HttpOnly), and it reveals
// nothing of the cookie.
func (t token) csrf() string {
	mac := hmac.New(sha256.New, t[:])
	mac.Write([]byte("puce httpauth csrf v1"))
	return tokenEncoding.EncodeToString(mac.Sum(nil))
}
