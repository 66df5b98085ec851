//go:build cgo

package pivapplet_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// extended reports an extended-length command APDU (ISO/IEC 7816-4 §5.1):
// a 00 byte where a short APDU has Lc or Le, with more after it.
func extended(cmd []byte) bool { return len(cmd) > 5 && cmd[4] == 0 }

// TestExtendedLengthAsAnnounced: through pcscd, the card's ATR announces
// extended Lc and Le (card capabilities, ISO/IEC 7816-4 §12.1.1) exactly
// when it accepts them, and each host acts on what it reads. puce's client
// (pcsc.ExtendedAuto) sends the RSA-2048 GENERAL AUTHENTICATE as one
// extended APDU to the card that announces them, and chains short ones to
// the card that does not. OpenSC's PIV driver keeps to short APDUs, chained,
// and GET RESPONSE either way: it never turns extended length on for a PIV
// card (card-piv.c leaves SC_CARD_CAP_APDU_EXT unset; SP 800-73-4 requires
// chaining, not extended length, of a PIV card), so both cards must keep
// answering that too. Before the card capabilities were in the ATR, the
// extended card was driven with chaining only.
func TestExtendedLengthAsAnnounced(t *testing.T) {
	pc := pcscdtest.Require(t)
	p11 := peerTool(t, "pkcs11-tool", "opensc")
	openssl := peerTool(t, "openssl", "openssl")
	module := openscModule(t)
	for _, ext := range []bool{false, true} {
		name := "short"
		if ext {
			name = "extended"
		}
		t.Run(name, func(t *testing.T) {
			c := insertPeerCard(t, pc, testcard.Options{AuthAlg: pivapplet.AlgRSA2048, Card: virtual.Config{ExtendedLength: ext}})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			reader, err := pc.Connect(ctx, pcscdtest.Reader, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(reader.ATR(), virtual.DefaultATR(ext)) || reader.ExtendedLength() != ext {
				reader.Close()
				t.Fatalf("pcscd gives the ATR %X, extended length %v; want DefaultATR(%v)", reader.ATR(), reader.ExtendedLength(), ext)
			}
			card, err := piv.Open(ctx, reader, nil)
			if err == nil {
				err = card.VerifyPIN(ctx, c.PIN, nil)
			}
			var s *piv.Signer
			if err == nil {
				s, err = card.Signer(piv.SlotAuthentication, c.AuthCert.PublicKey, nil)
			}
			d := sha256.Sum256([]byte("extended length"))
			var sig []byte
			if err == nil {
				sig, err = s.SignContext(ctx, d[:], crypto.SHA256)
			}
			if err == nil {
				err = card.ForgetPIN(ctx)
			}
			reader.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := rsa.VerifyPKCS1v15(c.AuthCert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig); err != nil {
				t.Fatalf("puce's signature: %v", err)
			}
			cmds, _ := c.log.exchanges(t)
			puce := len(cmds)
			var ga, chained, long int
			for _, cmd := range cmds {
				if cmd[1] == 0x87 && cmd[3] == 0x9A {
					ga++
				}
				if cmd[0]&0x10 != 0 {
					chained++
				}
				if extended(cmd) {
					long++
				}
			}
			if ext && (ga != 1 || chained != 0 || long == 0) || !ext && (ga < 2 || chained == 0 || long != 0) {
				t.Fatalf("extended %v: puce sent %d GENERAL AUTHENTICATE blocks, %d chained, %d extended APDUs", ext, ga, chained, long)
			}

			data := c.file(t, "document.txt", []byte("puce: signed by OpenSC on a card that announces extended length\n"))
			out := filepath.Join(c.dir, "p11.sig")
			c.run(t, true, p11, "--module", module, "--login", "--pin", c.PIN, "--sign", "--id", "01", "--mechanism", "SHA256-RSA-PKCS",
				"--input-file", data, "--output-file", out)
			c.opensslVerifies(t, openssl, "sha256", c.AuthCert, data, out)
			cmds, _ = c.log.exchanges(t)
			chained = 0
			for _, cmd := range cmds[puce:] {
				if extended(cmd) {
					t.Fatalf("OpenSC sent an extended APDU: % X", cmd)
				}
				if cmd[0]&0x10 != 0 && cmd[1] == 0x87 {
					chained++
				}
			}
			if chained == 0 {
				t.Fatal("OpenSC's RSA-2048 signature came unchained")
			}
		})
	}
}
