//go:build cgo

package pivapplet_test

import (
	"strings"
	"testing"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestOpenSCPKCS11SelfTest runs pkcs11-tool's own test suite (--test
// --login) on a card with RSA keys in 9A and 9C, the keys it exercises:
// digests, random numbers, every signature mechanism with 9A, raw
// signatures with 9C (a context-specific login, the "PIN Always" of SP
// 800-73-4 Part 1 Table 4b), then verification and decryption with both.
// After the 9C signature OpenSC signs with 9A again without a new VERIFY:
// its PIV driver keeps the session logged in, as a PIV card keeps the PIN's
// security status when 9C spends its own. A card that forgot the PIN after
// 9C failed here with CKR_USER_NOT_LOGGED_IN.
func TestOpenSCPKCS11SelfTest(t *testing.T) {
	pc := pcscdtest.Require(t)
	p11 := peerTool(t, "pkcs11-tool", "opensc")
	module := openscModule(t)
	c := insertPeerCard(t, pc, testcard.Options{AuthAlg: pivapplet.AlgRSA2048, SignAlg: pivapplet.AlgRSA2048})
	out := c.run(t, true, p11, "--module", module, "--test", "--login", "--pin", c.PIN)
	for _, want := range []string{"testing key 0 (PIV AUTH key)", "testing key 1 (SIGN key)", "No errors"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pkcs11-tool --test --login lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ERR") || c.Applet.PINTriesLeft() != 3 {
		t.Fatalf("pkcs11-tool --test --login (%d PIN tries left):\n%s", c.Applet.PINTriesLeft(), out)
	}
}
