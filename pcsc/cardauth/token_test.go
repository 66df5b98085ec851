package cardauth_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
)

// Tokens made by real Web eID clients with test ID cards: see
// testdata/webeid/README.md.
const (
	webeidOrigin = "https://ria.ee"
	webeidNonce  = "12345678123456781234567812345678912356789123"
)

func TestWebEIDVectors(t *testing.T) {
	for _, name := range []string{"es384.json", "rs256.json", "es384-v1.1.json"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "webeid", name))
			if err != nil {
				t.Fatal(err)
			}
			tok, cert, err := cardauth.ParseToken(data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := tok.VerifySignature(cert, webeidOrigin, webeidNonce); err != nil {
				t.Fatalf("the Web eID project's own token does not verify: %v", err)
			}
			for _, tc := range []struct{ origin, nonce string }{
				{"https://ria.ee:443", webeidNonce},
				{"https://invalid.org", webeidNonce},
				{webeidOrigin, "12345678123456781234567812345678912356789124"},
			} {
				if err := tok.VerifySignature(cert, tc.origin, tc.nonce); !errors.Is(err, cardauth.ErrBadSignature) || !errors.Is(err, identity.ErrInvalidResponse) {
					t.Errorf("origin %q nonce %q: %v", tc.origin, tc.nonce, err)
				}
			}
		})
	}
}

func TestAlgorithmMustFitKey(t *testing.T) {
	data, _ := os.ReadFile("testdata/webeid/es384.json")
	tok, cert, err := cardauth.ParseToken(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"ES256", "ES512", "RS384", "PS384"} {
		tok.Algorithm = alg
		if err := tok.VerifySignature(cert, webeidOrigin, webeidNonce); !errors.Is(err, cardauth.ErrUnsupportedAlgorithm) {
			t.Errorf("%s with a P-384 key: %v", alg, err)
		}
	}
}

func readVector(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", "webeid", name))
}
