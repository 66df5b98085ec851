package httpauth_test

import (
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// The security keys these tests enrol are ones the site accepts, every
// time: virtualwebauthn.NewCredential(KeyTypeEC2) writes a P-256
// coordinate with a leading zero byte one byte short (1 key in 128), which
// go-webauthn rightly refuses (RFC 9053 §7.1.1: leading zero octets MUST be
// preserved). A test enrolling such a key failed 1 run in about 100, its
// login then answering a refused begin's null options ("failed to find
// challenge in options", from virtualKey's log.Fatal, with no test name).
// A thousand keys from the old constructor hold a short one with
// probability 1-(127/128)^1000, above 99.9%.
func TestTestKeysAreAccepted(t *testing.T) {
	keys := map[string]func() virtualwebauthn.Credential{
		"newVirtualKey": func() virtualwebauthn.Credential { return newVirtualKey().cred },
		"newDevice":     func() virtualwebauthn.Credential { return newDevice().cred },
	}
	n := 1000
	if testing.Short() {
		n = 100
	}
	for name, key := range keys {
		for i := range n {
			cred := key()
			if _, err := webauthncose.ParsePublicKey(cred.Key.AttestationData()); err != nil {
				t.Fatalf("%s, key %d: the site would refuse it: %v", name, i, err)
			}
		}
	}
}
