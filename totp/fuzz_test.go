package totp

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var secretErrorShape = regexp.MustCompile(`^totp: bad secret: (longer than \d+ characters|wrong base32 padding|not base32( \(at character \d+\))?|non-canonical base32 \(the last character is wrong\)|\d+-byte secret \(want \d+ to \d+ bytes; RFC 4226 §4 R6\))$`)

var codeErrorShape = regexp.MustCompile(`^totp: malformed code: (want 6 or 8 digits, got \d+ bytes|character \d+ is not an ASCII digit)$`)

// The fuzz targets cover every parser of outside input: codes typed by users,
// recovery codes, and secrets and URIs imported from other systems. Seed
// corpora live in testdata/fuzz/<target>/.

func FuzzParseCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		code, err := parseCode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedCode) {
				t.Fatalf("error %v is not ErrMalformedCode", err)
			}
			// The message is one of two fixed templates with a number in it,
			// so it cannot carry any of the code.
			if !codeErrorShape.MatchString(err.Error()) {
				t.Fatalf("unexpected error text (does it quote the input?): %v", err)
			}
			return
		}
		if len(code) != 6 && len(code) != 8 {
			t.Fatalf("accepted a %d-byte code", len(code))
		}
		for _, c := range code {
			if c < '0' || c > '9' {
				t.Fatalf("accepted %q", b)
			}
		}
	})
}

func FuzzParseRecovery(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		code, err := parseRecovery(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedCode) {
				t.Fatalf("error %v is not ErrMalformedCode", err)
			}
			return
		}
		if len(code) != recoveryDigits {
			t.Fatalf("accepted %d digits", len(code))
		}
		// The printed form parses back to the same digits.
		again, err := parseRecovery([]byte(formatRecovery(code)))
		if err != nil || !bytes.Equal(again, code) {
			t.Fatalf("format/parse round trip: %q, %v", again, err)
		}
	})
}

func FuzzParseSecret(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		secret, err := ParseSecret(s)
		if err != nil {
			if !errors.Is(err, ErrBadSecret) {
				t.Fatalf("error %v is not ErrBadSecret", err)
			}
			if !secretErrorShape.MatchString(err.Error()) {
				t.Fatalf("unexpected error text (does it quote the input?): %v", err)
			}
			return
		}
		if len(secret) < MinSecretSize || len(secret) > MaxSecretSize {
			t.Fatalf("accepted a %d-byte secret", len(secret))
		}
		// Canonical: the encoding of what was read reads back the same.
		k := Key{Secret: secret}
		again, err := ParseSecret(k.Base32())
		if err != nil || !bytes.Equal(again, secret) {
			t.Fatalf("round trip: %x, %v", again, err)
		}
	})
}

func FuzzParseURI(f *testing.F) {
	f.Fuzz(func(t *testing.T, uri string) {
		k, err := ParseURI(uri)
		if err != nil {
			if !errors.Is(err, ErrBadURI) && !errors.Is(err, ErrBadSecret) {
				t.Fatalf("error %v is neither ErrBadURI nor ErrBadSecret", err)
			}
			return
		}
		p, err := k.params()
		if err != nil {
			t.Fatalf("ParseURI returned a key that does not check: %v", err)
		}
		if s := k.String(); strings.Contains(s, k.Base32()) {
			t.Fatalf("String prints the secret: %s", s)
		}
		// What we write, we read back the same.
		out, err := k.URI()
		if err != nil {
			return // e.g. no issuer: nothing to write
		}
		k2, err := ParseURI(out)
		if err != nil {
			t.Fatalf("ParseURI(URI()) of %q: %v", out, err)
		}
		p2, _ := k2.params()
		if p2 != p || !bytes.Equal(k2.Secret, k.Secret) || k2.Issuer != k.Issuer {
			t.Fatalf("round trip of %q through %q changed the key: %v -> %v", uri, out, k, k2)
		}
	})
}
