package httpauth

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/puce-id/puce/identity"
)

// FuzzParseToken feeds cookie values: whatever a browser or an attacker
// sends. A value is accepted only in the one canonical form of 32 bytes, a
// visitor's with its mark, so no two cookie values name one session.
func FuzzParseToken(f *testing.F) {
	good := newToken().String()
	f.Add(good)
	f.Add(good + visitorMark)
	f.Add(good + visitorMark + visitorMark)
	f.Add("")
	f.Add(visitorMark)
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("_", 43))
	f.Fuzz(func(t *testing.T, s string) {
		tok, visitor, ok := parseCookie(s)
		if !ok {
			if tok != (token{}) {
				t.Fatal("a refused value left bytes in the token")
			}
			return
		}
		canonical := tok.String()
		if visitor {
			canonical = tok.visitorCookie()
		}
		if canonical != s {
			t.Fatalf("accepted %q, which is not the canonical %q", s, canonical)
		}
		if c := tok.csrf(); len(c) != 43 || c == s {
			t.Fatalf("CSRF token %q", c)
		}
	})
}

// FuzzResponseData feeds the "response" member of a finish request: a
// client's answer to a challenge. Whatever is accepted goes back out through
// payloadJSON and in again unchanged, so a payload and an answer travel by
// one rule; whatever is refused is identity.ErrBadInput.
func FuzzResponseData(f *testing.F) {
	for _, s := range []string{`"123456"`, `{"unverifiedCertificate":"MIIB","signature":"AA=="}`, `[1]`, `null`, `12`,
		`"\u0000"`, ` {"a":` + "\n" + `1} `, `"{\"a\":1}"`, `"\ud800"`, `{"a":1}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		data, err := responseData(raw)
		if err != nil {
			if !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("%q: %v is not ErrBadInput", raw, err)
			}
			return
		}
		if len(bytes.TrimSpace(data)) == 0 || !utf8.Valid(data) {
			return // payloadJSON leaves no payload, or replaces bad UTF-8
		}
		again, err := responseData(payloadJSON(data))
		if err != nil || (!bytes.Equal(again, data) && !bytes.Equal(again, bytes.TrimSpace(data))) {
			t.Fatalf("%q: out as %s, back as %q (%v)", data, payloadJSON(data), again, err)
		}
	})
}

// FuzzDecodeBody feeds request bodies to the strictest reader of them,
// approveFinish's: it never panics, and refuses with identity.ErrBadInput
// (or ErrTooLarge) what it does not take.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{}`, ``, `{"challengeId":"AAAAAAAAAAAAAAAAAAAAAA","response":"1","transaction":{"amount":"1.00","currency":"EUR","payeeName":"x","payeeAccount":"y"}}`,
		`{"challengeId":"short"}`, `{"extra":1}`, `{}{}`, `[]`, `{"response":{"a":[1,2,{}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "https://bank.example/auth/approve/webauthn/finish", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var b approveFinishBody
		err := decode(r, &b)
		if err != nil && !errors.Is(err, identity.ErrBadInput) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%q: %v", body, err)
		}
	})
}

// FuzzDecodeEveryBody feeds one body to every request type the endpoints
// read, and what each handler does next with what decoded (the session
// binding of the challenge ID, the response to a challenge, the
// transaction shown, the signing certificate): none
// panics, and decode refuses with identity.ErrBadInput or ErrTooLarge.
func FuzzDecodeEveryBody(f *testing.F) {
	for _, s := range []string{`{"username":"alice","password":"correct horse"}`,
		`{"challengeId":"AAAAAAAAAAAAAAAAAAAAAA","response":{"id":"x"},"name":"phone"}`,
		`{"documentId":"loan-7","certificate":"MIIBAAAA"}`, `{"documentId":"d","certificate":"not base64!"}`,
		`{"challengeId":"AAAAAAAAAAAAAAAAAAAAAA","documentId":"d","signature":"AAEC"}`,
		`{"transaction":{"amount":"-1","currency":"eur","payeeName":"\u0000","payeeAccount":""},"response":"1"}`,
		`{"transaction":{"amount":"1e400","currency":"JPY","payeeName":"x","payeeAccount":"DE00"},"response":"1"}`,
		`{"Username":"a","USERNAME":"b"}`, `{"password":null}`} {
		f.Add([]byte(s))
	}
	bodies := []func() any{
		func() any { return new(credentialsBody) }, func() any { return new(finishBody) },
		func() any { return new(enrollFinishBody) }, func() any { return new(approveFinishBody) },
		func() any { return new(signBeginBody) }, func() any { return new(signFinishBody) },
		func() any { return new(emptyBody) },
	}
	sess := &Session{data: sessionData{Bind: bytes.Repeat([]byte{7}, bindLen)}}
	bound := func(t *testing.T, id string) {
		if _, err := boundChallenge(sess, id); err != nil && !errors.Is(err, identity.ErrUnknownChallenge) {
			t.Fatalf("challengeId %q: %v", id, err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, nb := range bodies {
			r := httptest.NewRequest("POST", "https://bank.example/auth/x", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json; charset=utf-8")
			v := nb()
			if err := decode(r, v); err != nil {
				if !errors.Is(err, identity.ErrBadInput) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("%T from %q: %v", v, body, err)
				}
				continue
			}
			switch b := v.(type) {
			case *finishBody:
				bound(t, b.ChallengeID)
				responseData(b.Response)
			case *enrollFinishBody:
				bound(t, b.ChallengeID)
				responseData(b.Response)
			case *signFinishBody:
				bound(t, b.ChallengeID)
			case *approveFinishBody:
				bound(t, b.ChallengeID)
				responseData(b.Response)
				if b.Transaction != nil {
					sameTransaction(*b.Transaction, *b.Transaction)
					json.Marshal(b.Transaction)
				}
			case *signBeginBody:
				x509.ParseCertificate(b.Certificate)
			}
		}
	})
}
