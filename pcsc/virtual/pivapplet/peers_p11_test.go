//go:build cgo

package pivapplet_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestOpenSCToolProtectedObjectsBeforePIN sends GET DATA of the
// PIN-protected objects of SP 800-73-4 Part 1 Table 1 (fingerprints
// 5FC103, facial image 5FC108, printed information 5FC109, iris images
// 5FC121) with opensc-tool before the PIN, on a card that holds only the
// printed information: each answer is 6982, the held object's as the
// absent ones', so presence is not told before the PIN. OpenSC's PIV driver
// reads these objects to learn the PIN's state and names a card answering
// 6A82 there a card with a bug (CI_LEAKS_FILE_NOT_FOUND). After VERIFY the
// held object reads, and the absent ones answer 6A82.
func TestOpenSCToolProtectedObjectsBeforePIN(t *testing.T) {
	pc := pcscdtest.Require(t)
	tool := peerTool(t, "opensc-tool", "opensc")
	c := insertPeerCard(t, pc, testcard.Options{})
	c.Applet.SetObject([]byte{0x5F, 0xC1, 0x09}, []byte{0x01, 0x05, 'A', 'L', 'I', 'C', 'E', 0xFE, 0x00})
	args := []string{"-r", pcscdtest.Reader, "-s", "00 A4 04 00 05 A0 00 00 03 08"}
	for _, id := range []string{"03", "08", "09", "21"} {
		args = append(args, "-s", "00 CB 3F FF 05 5C 03 5F C1 "+id+" 00")
	}
	pin := ""
	for _, b := range []byte(c.PIN) {
		pin += fmt.Sprintf(" %02X", b)
	}
	pin += strings.Repeat(" FF", 8-len(c.PIN))
	args = append(args, "-s", "00 20 00 80 08"+pin)
	for _, id := range []string{"03", "08", "09", "21"} {
		args = append(args, "-s", "00 CB 3F FF 05 5C 03 5F C1 "+id+" 00")
	}
	out := c.run(t, true, tool, args...)
	var sws []string
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "(SW1="); i >= 0 {
			sws = append(sws, strings.TrimRight(line[i:], ":"))
		}
	}
	want := []string{"(SW1=0x90, SW2=0x00)",
		"(SW1=0x69, SW2=0x82)", "(SW1=0x69, SW2=0x82)", "(SW1=0x69, SW2=0x82)", "(SW1=0x69, SW2=0x82)",
		"(SW1=0x90, SW2=0x00)",
		"(SW1=0x6A, SW2=0x82)", "(SW1=0x6A, SW2=0x82)", "(SW1=0x90, SW2=0x00)", "(SW1=0x6A, SW2=0x82)"}
	if strings.Join(sws, " ") != strings.Join(want, " ") {
		t.Fatalf("opensc-tool got\n%s\nwant\n%s\noutput:\n%s", strings.Join(sws, "\n"), strings.Join(want, "\n"), out)
	}
}

// TestOpenSCToolSelectWithoutFCI: SELECT of the PIV application with P2 0C
// asks for no response data (ISO/IEC 7816-4 §11.2.2), and opensc-tool shows
// the answer as it comes: 9000 alone, where P2 00 brings the application
// property template (SP 800-73-4 Part 2 §3.1.1).
func TestOpenSCToolSelectWithoutFCI(t *testing.T) {
	pc := pcscdtest.Require(t)
	tool := peerTool(t, "opensc-tool", "opensc")
	c := insertPeerCard(t, pc, testcard.Options{})
	out := c.run(t, true, tool, "-r", pcscdtest.Reader, "-s", "00 A4 04 0C 05 A0 00 00 03 08", "-s", "00 A4 04 00 05 A0 00 00 03 08")
	i := strings.Index(out, "Sending: 00 A4 04 00")
	if i < 0 {
		t.Fatalf("opensc-tool:\n%s", out)
	}
	noFCI, fci := out[:i], out[i:]
	if !strings.Contains(noFCI, "Received (SW1=0x90, SW2=0x00)\n") || strings.Contains(noFCI, "61 11 4F") {
		t.Errorf("SELECT with P2 0C answered data:\n%s", noFCI)
	}
	if !strings.Contains(fci, "Received (SW1=0x90, SW2=0x00):") || !strings.Contains(fci, "61 11 4F 06 00 00 10 00 01 00 79 07 4F 05 A0 00") {
		t.Errorf("SELECT with P2 00 lacks the application property template:\n%s", fci)
	}
}

// TestOpenSSLThroughOpenSCPKCS11: OpenSSL signs CMS with the card's keys
// through libp11's PKCS#11 engine and OpenSC's module, and verifies what it
// made against the test CA. The authentication key 9A takes the PIN from
// the key's URI; the signature key 9C, flagged CKA_ALWAYS_AUTHENTICATE,
// makes libp11 ask the PIN again on the terminal for a context-specific
// login (it does not reuse the URI's), so that run gets a pseudo-terminal
// from script(1), and the card sees VERIFY right before the 9C signature,
// as "PIN Always" wants (SP 800-73-4 Part 1 Table 4b).
func TestOpenSSLThroughOpenSCPKCS11(t *testing.T) {
	pc := pcscdtest.Require(t)
	openssl := peerTool(t, "openssl", "openssl")
	script := peerTool(t, "script", "bsdutils")
	module := openscModule(t)
	if _, err := exec.Command(openssl, "engine", "pkcs11", "-t").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("OpenSSL's pkcs11 engine is not installed and CI=true: make test installs it (apt-get install libengine-pkcs11-openssl)")
		}
		t.Skipf("SKIPPING %s: OpenSSL's pkcs11 engine is not installed (apt-get install libengine-pkcs11-openssl)", t.Name())
	}
	t.Setenv("PKCS11_MODULE_PATH", module)
	c := insertPeerCard(t, pc, testcard.Options{AuthAlg: pivapplet.AlgRSA2048, SignAlg: pivapplet.AlgECCP384})
	var ca []byte
	for _, cert := range []*x509.Certificate{c.PKI.Root, c.PKI.Issuing} {
		ca = append(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	caFile := c.file(t, "ca.pem", ca)
	doc := c.file(t, "document.txt", []byte("puce: signed by OpenSSL through OpenSC's PKCS#11 module\n"))
	altered := c.file(t, "altered.txt", []byte("puce: signed by OpenSSL through OpenSC's PKCS#11 module!\n"))
	for _, k := range []struct {
		object string
		cert   *x509.Certificate
		slot   byte
		tty    bool
	}{
		{"PIV%20AUTH%20key", c.AuthCert, pivapplet.SlotAuthentication, false},
		{"SIGN%20key", c.SignCert, pivapplet.SlotSignature, true},
	} {
		signer := c.file(t, k.object+".pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw}))
		sig := filepath.Join(c.dir, k.object+".p7s")
		args := []string{"cms", "-sign", "-binary", "-engine", "pkcs11", "-keyform", "engine",
			"-inkey", "pkcs11:object=" + k.object + ";type=private;pin-value=" + c.PIN,
			"-signer", signer, "-in", doc, "-outform", "DER", "-out", sig, "-md", "sha256"}
		if !k.tty {
			c.run(t, true, openssl, args...)
		} else {
			line := openssl
			for _, a := range args {
				line += " '" + a + "'"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			cmd := exec.CommandContext(ctx, script, "-qec", line, "/dev/null")
			cmd.Env = append(os.Environ(), "HOME="+c.dir)
			cmd.Stdin = strings.NewReader(c.PIN + "\n")
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("openssl cms -sign with 9C on a terminal: %v\n%s", err, out)
			}
		}
		verify := func(content string, wantOK bool) {
			c.run(t, wantOK, openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", content,
				"-CAfile", caFile, "-purpose", "any", "-out", os.DevNull)
		}
		verify(doc, true)
		verify(altered, false)
		cmds, _ := c.log.exchanges(t)
		last := -1
		for i, cmd := range cmds {
			if len(cmd) > 3 && cmd[1] == 0x87 && cmd[3] == k.slot {
				last = i
			}
		}
		if last < 0 {
			t.Fatalf("no GENERAL AUTHENTICATE with key %02X", k.slot)
		}
		first := last
		for first > 0 && cmds[first-1][0]&0x10 != 0 && cmds[first-1][1] == 0x87 {
			first-- // the chained blocks of the same command
		}
		if k.tty && (first == 0 || cmds[first-1][1] != 0x20) {
			t.Fatalf("9C signed without a VERIFY right before it: % X", cmds[first-1])
		}
	}
	if n := c.Applet.PINTriesLeft(); n != 3 {
		t.Fatalf("%d PIN tries left", n)
	}
}
