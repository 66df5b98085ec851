package webauthn

import (
	"crypto/x509"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/puce-id/puce/identity"
)

// FuzzVerifyBlob feeds outside bytes to the blob's JWS and certificate
// checks. Its root is a fixed test root (testdata/mds-root.der) under which
// the seed blob is signed, so that the seed passes and mutations exercise
// every refusal.
func FuzzVerifyBlob(f *testing.F) {
	der, err := os.ReadFile("testdata/mds-root.der")
	if err != nil {
		f.Fatal(err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	cfg := &MDSConfig{Roots: []*x509.Certificate{root}}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := verifyBlob(b, cfg); err != nil && !errors.Is(err, identity.ErrUntrusted) {
			t.Fatalf("error %v is not ErrUntrusted", err)
		}
	})
}

// FuzzMDSPayload feeds outside bytes to the payload decoding (go-webauthn's
// metadata types and parsers). A payload only gets there once signed, but
// the signer is a third party.
func FuzzMDSPayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeMDSPayload(b)
		if err != nil {
			if !errors.Is(err, identity.ErrUntrusted) {
				t.Fatalf("error %v is not ErrUntrusted", err)
			}
			return
		}
		if st.provider == nil || st.entries == nil {
			t.Fatal("decoded a payload into nothing")
		}
	})
}

// parseErr checks the error contract of the parsers.
func parseErr(t *testing.T, err error) {
	if !errors.Is(err, ErrMalformedResponse) || !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("parse error %v is not ErrMalformedResponse", err)
	}
}

// FuzzParseAssertion and FuzzParseCreation feed the browser's JSON to the
// protocol parsers, before any challenge is touched.
func FuzzParseAssertion(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseAssertion(b)
		// parseAssertion decodes as go-webauthn's own entry point does, with
		// json.Unmarshal for its Decoder: the two must agree on every input
		// within the size limits.
		ref, refErr := protocol.ParseCredentialRequestResponseBytes(b)
		theirs := refErr == nil && len(ref.RawID) <= MaxCredentialIDLen
		if len(b) <= MaxResponseSize && (err == nil) != theirs {
			t.Fatalf("go-webauthn says %v, parseAssertion %v", refErr, err)
		}
		if err == nil && !reflect.DeepEqual(p, ref) {
			t.Fatalf("parses differ:\n%+v\n%+v", p, ref)
		}
		if err != nil {
			parseErr(t, err)
			return
		}
		if len(p.RawID) == 0 || len(p.RawID) > MaxCredentialIDLen || len(b) > MaxResponseSize {
			t.Fatalf("accepted a credential ID of %d bytes", len(p.RawID))
		}
	})
}

func FuzzParseCreation(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseCreation(b)
		if err != nil {
			parseErr(t, err)
			return
		}
		if len(p.RawID) == 0 || len(p.RawID) > MaxCredentialIDLen {
			t.Fatalf("accepted a credential ID of %d bytes", len(p.RawID))
		}
	})
}
