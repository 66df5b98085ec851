//go:build cgo

package pivapplet_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// The virtual card is a card, not a mirror of puce's client (DESIGN.md): these
// tests drive it with PIV middleware no one here wrote — Yubico's
// yubico-piv-tool (libykpiv) and OpenSC's PKCS#11 module through pkcs11-tool —
// through pcscd and the vpcd reader, as an integrator would, and check what
// they read and sign with OpenSSL. make test installs the Debian packages and
// starts pcscd (PUCE_PCSCD=1).

// peerTool finds a peer program. Without it the test skips, saying so,
// except under CI=true, where make test promises it. Tests call it after
// pcscdtest.Require, so that without PUCE_PCSCD they skip for that reason
// first.
func peerTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed and CI=true: make test installs it (apt-get install %s)", name, pkg)
	}
	t.Skipf("SKIPPING %s: %s is not installed (apt-get install %s)", t.Name(), name, pkg)
	return ""
}

// openscModule finds OpenSC's PKCS#11 module: $PUCE_OPENSC_PKCS11, or
// where Debian puts it.
func openscModule(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PUCE_OPENSC_PKCS11"), "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
		"/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so", "/usr/lib/opensc-pkcs11.so"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("OpenSC's PKCS#11 module is not installed and CI=true: make test installs it (apt-get install opensc)")
	}
	t.Skipf("SKIPPING %s: OpenSC's PKCS#11 module is not installed (apt-get install opensc)", t.Name())
	return ""
}

// transcript keeps the card's debug log (every APDU, PINs redacted) to show
// when a peer fails.
type transcript struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *transcript) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *transcript) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// exchanges returns the command and response APDUs of the transcript, in
// order.
func (w *transcript) exchanges(t *testing.T) (cmds, resps [][]byte) {
	t.Helper()
	for _, line := range strings.Split(w.String(), "\n") {
		i := strings.Index(line, " apdu=")
		if i < 0 {
			continue
		}
		b, err := hex.DecodeString(strings.Fields(line[i+len(" apdu="):])[0])
		if err != nil {
			t.Fatalf("transcript line %q: %v", line, err)
		}
		switch {
		case strings.Contains(line, `msg="virtual card command"`):
			cmds = append(cmds, b)
		case strings.Contains(line, `msg="virtual card response"`):
			resps = append(resps, b)
		}
	}
	if len(cmds) != len(resps) {
		t.Fatalf("transcript has %d commands and %d responses", len(cmds), len(resps))
	}
	return cmds, resps
}

// signature returns what the card answered to the last GENERAL
// AUTHENTICATE with a slot's key, as it went over the wire: the last block
// of the command, then the GET RESPONSE continuing it, unwrapped from
// 7C { 82 }.
func (w *transcript) signature(t *testing.T, slot byte) []byte {
	t.Helper()
	cmds, resps := w.exchanges(t)
	last := -1
	for i, c := range cmds {
		if len(c) >= 4 && c[0]&0x10 == 0 && c[1] == 0x87 && c[3] == slot {
			last = i
		}
	}
	if last < 0 {
		t.Fatalf("no GENERAL AUTHENTICATE with key %02X in the transcript", slot)
	}
	var body []byte
	for i := last; i < len(cmds); i++ {
		if i > last && cmds[i][1] != 0xC0 {
			break
		}
		r := resps[i]
		body = append(body, r[:len(r)-2]...)
		if r[len(r)-2] != 0x61 {
			if r[len(r)-2] != 0x90 || r[len(r)-1] != 0x00 {
				t.Fatalf("GENERAL AUTHENTICATE with key %02X ended % X", slot, r[len(r)-2:])
			}
			break
		}
	}
	tmpl, _, err := apdu.DecodeTLV(body)
	if err != nil || tmpl.Tag != 0x7C {
		t.Fatalf("GENERAL AUTHENTICATE answer % X: %v", body, err)
	}
	sig, err := apdu.Find(tmpl.Value, 0x82)
	if err != nil {
		t.Fatal(err)
	}
	return sig.Value
}

// peerCard is a personalised card in the vpcd reader, for a peer program.
type peerCard struct {
	*testcard.Card
	dir string
	log *transcript
}

// insertPeerCard personalises a card and puts it in pcscd's vpcd reader,
// leaving the reader free for other programs.
func insertPeerCard(t *testing.T, pc *pcsc.Context, opts testcard.Options) *peerCard {
	t.Helper()
	log := &transcript{}
	opts.Card.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tc, err := testcard.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	pcscdtest.Insert(t, pc, tc.Card)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("card transcript:\n%s", log)
		}
	})
	return &peerCard{Card: tc, dir: t.TempDir(), log: log}
}

// run runs a peer program with a private HOME (OpenSC keeps a file cache
// there) and returns its combined output; wantOK says whether it must
// succeed.
func (c *peerCard) run(t *testing.T, wantOK bool, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+c.dir)
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("%s %s: %v, want success %v; output:\n%s", filepath.Base(bin), strings.Join(args, " "), err, wantOK, out)
	}
	return string(out)
}

func (c *peerCard) file(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// publicKeyPEM writes a certificate's public key for openssl.
func (c *peerCard) publicKeyPEM(t *testing.T, name string, cert *x509.Certificate) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return c.file(t, name, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// opensslVerifies checks a signature over data with openssl dgst, and that
// the same signature over altered data is refused: the check can fail.
func (c *peerCard) opensslVerifies(t *testing.T, openssl, digest string, cert *x509.Certificate, data, sig string) {
	t.Helper()
	pub := c.publicKeyPEM(t, filepath.Base(sig)+".pub.pem", cert)
	out := c.run(t, true, openssl, "dgst", "-"+digest, "-verify", pub, "-signature", sig, data)
	if !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl dgst -verify: %s", out)
	}
	raw, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	altered := c.file(t, filepath.Base(data)+".altered", append(raw, '!'))
	c.run(t, false, openssl, "dgst", "-"+digest, "-verify", pub, "-signature", sig, altered)
}

// opensslVerifiesDigest checks a signature over a digest with openssl
// pkeyutl (PKCS#1 v1.5 with the DigestInfo of hash for RSA, ECDSA for EC
// keys), and that the same signature over another digest is refused.
func (c *peerCard) opensslVerifiesDigest(t *testing.T, openssl, hash string, cert *x509.Certificate, digest, sig []byte, name string) {
	t.Helper()
	pub := c.publicKeyPEM(t, name+".pub.pem", cert)
	sigFile := c.file(t, name+".sig", sig)
	out := c.run(t, true, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-pkeyopt", "digest:"+hash,
		"-in", c.file(t, name+".digest", digest), "-sigfile", sigFile)
	if !strings.Contains(out, "Signature Verified Successfully") {
		t.Fatalf("openssl pkeyutl -verify: %s", out)
	}
	other := bytes.Clone(digest)
	other[0] ^= 0x01
	c.run(t, false, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-pkeyopt", "digest:"+hash,
		"-in", c.file(t, name+".other", other), "-sigfile", sigFile)
}

// printedDigest is the digest yubico-piv-tool -v prints for test-signature.
func printedDigest(t *testing.T, out string) []byte {
	t.Helper()
	const prefix = "Test data hashes as: "
	i := strings.Index(out, prefix)
	if i < 0 {
		t.Fatalf("no digest in:\n%s", out)
	}
	line, _, _ := strings.Cut(out[i+len(prefix):], "\n")
	d, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(line), " ", ""))
	if err != nil || len(d) < 20 {
		t.Fatalf("digest %q: %v", line, err)
	}
	return d
}

// pemCertificate parses the one PEM certificate a peer printed.
func pemCertificate(t *testing.T, out string) *x509.Certificate {
	t.Helper()
	i := strings.Index(out, "-----BEGIN CERTIFICATE-----")
	if i < 0 {
		t.Fatalf("no PEM certificate in:\n%s", out)
	}
	b, _ := pem.Decode([]byte(out[i:]))
	if b == nil {
		t.Fatalf("bad PEM certificate in:\n%s", out)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// peerKeys are the key pairs the peers are tried with: one card with P-256
// in both slots, one with RSA-2048 (raw RSA, answers longer than a short
// Le) for 9A and P-384 for 9C.
var peerKeys = []struct {
	name             string
	auth, sign       byte
	ykAuth, ykSign   string // key algorithm as yubico-piv-tool names it
	ykHash, ykHash2  string // yubico-piv-tool -H for 9A, 9C
	ykVerified       string // what test-signature says for 9A
	p11Auth, p11Sign string // pkcs11-tool -m
	dgst, dgst2      string // openssl dgst for 9A, 9C
}{
	{"P256", pivapplet.AlgECCP256, pivapplet.AlgECCP256, "ECCP256", "ECCP256", "SHA256", "SHA256", "Successful ECDSA verification", "ECDSA-SHA256", "ECDSA-SHA256", "sha256", "sha256"},
	{"RSA2048-P384", pivapplet.AlgRSA2048, pivapplet.AlgECCP384, "RSA2048", "ECCP384", "SHA256", "SHA384", "Successful RSA verification", "SHA256-RSA-PKCS", "ECDSA-SHA384", "sha256", "sha384"},
}

// TestYubicoPIVTool drives the card with yubico-piv-tool: status, the 9A and
// 9C certificates, the PIN (a wrong one spends a try, the right one
// restores them), and a signature with each key that OpenSSL verifies.
func TestYubicoPIVTool(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk := peerTool(t, "yubico-piv-tool", "yubico-piv-tool")
	openssl := peerTool(t, "openssl", "openssl")
	for _, k := range peerKeys {
		t.Run(k.name, func(t *testing.T) {
			c := insertPeerCard(t, pc, testcard.Options{AuthAlg: k.auth, SignAlg: k.sign})
			// libykpiv only uses readers whose name holds "Yubikey" unless
			// told otherwise (PEERS.md).
			tool := func(wantOK bool, args ...string) string {
				return c.run(t, wantOK, yk, append([]string{"-r", "Virtual"}, args...)...)
			}

			status := tool(true, "-a", "status")
			// The CHUID (FASC-N first) and the CCC (GSC-IS card identifier
			// first) that testcard writes, both key algorithms, the holder.
			for _, want := range []string{"CHUID:\t3019d4e739da", "CCC:\tf015a000000116", "Slot 9a:", "Slot 9c:",
				"Algorithm:\t" + k.ykAuth, "Algorithm:\t" + k.ykSign, "PIN tries left:\t3", c.AuthCert.Subject.SerialNumber} {
				if !strings.Contains(status, want) {
					t.Errorf("status lacks %q:\n%s", want, status)
				}
			}

			for slot, want := range map[string]*x509.Certificate{"9a": c.AuthCert, "9c": c.SignCert} {
				got := pemCertificate(t, tool(true, "-a", "read-certificate", "-s", slot))
				if !got.Equal(want) {
					t.Errorf("read-certificate -s %s: %s, want %s", slot, got.Subject, want.Subject)
				}
			}

			out := tool(false, "-a", "verify-pin", "-P", "654321")
			if c.Applet.PINTriesLeft() != 2 || !strings.Contains(out, "2 tries left") {
				t.Fatalf("a wrong PIN: %d tries left on the card, tool said:\n%s", c.Applet.PINTriesLeft(), out)
			}
			out = tool(true, "-a", "verify-pin", "-P", c.PIN)
			if c.Applet.PINTriesLeft() != 3 || !strings.Contains(out, "Successfully verified PIN") {
				t.Fatalf("the right PIN: %d tries left on the card, tool said:\n%s", c.Applet.PINTriesLeft(), out)
			}

			// yubico-piv-tool 2.2 (Debian 12) has no "sign" action, and its
			// request-certificate and selfsign-certificate fail with OpenSSL 3
			// before reaching the card (Yubico/yubico-piv-tool#388).
			// test-signature has the slot's key sign the digest of random
			// data through libykpiv (PKCS#1 v1.5 padding built on the host
			// for RSA), verifies it with OpenSSL's library against the
			// certificate given, and prints the digest (-v); the signature
			// is taken from the wire for the openssl command to check too.
			certPEM := map[string]string{
				"9a": c.file(t, "9a.cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.AuthCert.Raw})),
				"9c": c.file(t, "9c.cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.SignCert.Raw})),
			}
			for i, s := range []struct {
				slot, hash, want string
				key              byte
				cert             *x509.Certificate
			}{
				{"9a", k.ykHash, k.ykVerified, pivapplet.SlotAuthentication, c.AuthCert},
				{"9c", k.ykHash2, "Successful ECDSA verification", pivapplet.SlotSignature, c.SignCert},
				// A digest shorter than the curve (SHA-256 on P-384 here)
				// goes to the card as it is: FIPS 186-5 §6.4.1 reads it as
				// the integer e.
				{"9c", "SHA256", "Successful ECDSA verification", pivapplet.SlotSignature, c.SignCert},
			} {
				// 9C asks for the PIN before every signature: verify it in
				// the same session.
				out := tool(true, "-v", "-a", "verify-pin", "-P", c.PIN, "-a", "test-signature", "-s", s.slot, "-H", s.hash, "-i", certPEM[s.slot])
				if !strings.Contains(out, s.want) {
					t.Fatalf("test-signature -s %s -H %s:\n%s", s.slot, s.hash, out)
				}
				c.opensslVerifiesDigest(t, openssl, strings.ToLower(s.hash), s.cert, printedDigest(t, out), c.log.signature(t, s.key),
					fmt.Sprintf("yk-%s-%d", s.slot, i))
			}
			// The check can fail: 9A's signature against 9C's certificate.
			out = tool(false, "-a", "verify-pin", "-P", c.PIN, "-a", "test-signature", "-s", "9a", "-H", k.ykHash, "-i", certPEM["9c"])
			if strings.Contains(out, " verification") && !strings.Contains(out, "Failed") {
				t.Fatalf("9A's signature verified against 9C's certificate:\n%s", out)
			}
			// Without the PIN the signature key refuses.
			out = tool(false, "-a", "test-signature", "-s", "9c", "-H", k.ykHash2, "-i", certPEM["9c"])
			if strings.Contains(out, " verification") {
				t.Fatalf("9C signed without the PIN:\n%s", out)
			}
			t.Logf("puce: yubico-piv-tool listed the card's status, read 9A and 9C, verified the PIN (a wrong one cost a try), and signed with 9A (%s) and 9C (%s); OpenSSL verified each signature", k.ykAuth, k.ykSign)
		})
	}
}

// TestOpenSCPKCS11 drives the card with OpenSC's PKCS#11 module through
// pkcs11-tool: the token and its objects, the 9A and 9C certificates, the
// PIN, and a signature with each key that OpenSSL verifies.
func TestOpenSCPKCS11(t *testing.T) {
	pc := pcscdtest.Require(t)
	p11 := peerTool(t, "pkcs11-tool", "opensc")
	openssl := peerTool(t, "openssl", "openssl")
	module := openscModule(t)
	for _, k := range peerKeys {
		t.Run(k.name, func(t *testing.T) {
			c := insertPeerCard(t, pc, testcard.Options{AuthAlg: k.auth, SignAlg: k.sign})
			tool := func(wantOK bool, args ...string) string {
				return c.run(t, wantOK, p11, append([]string{"--module", module}, args...)...)
			}

			slots := tool(true, "--list-slots")
			if !strings.Contains(slots, "Virtual PCD 00 00") || !strings.Contains(slots, "token") {
				t.Fatalf("list-slots:\n%s", slots)
			}
			objects := tool(true, "--list-objects")
			for _, want := range []string{"Certificate for PIV Authentication", "Certificate for Digital Signature", "ID:         01", "ID:         02"} {
				if !strings.Contains(objects, want) {
					t.Errorf("list-objects lacks %q:\n%s", want, objects)
				}
			}

			// OpenSC names 9A's objects 01 and 9C's 02.
			for id, want := range map[string]*x509.Certificate{"01": c.AuthCert, "02": c.SignCert} {
				out := filepath.Join(c.dir, "cert-"+id+".der")
				tool(true, "--read-object", "--type", "cert", "--id", id, "--output-file", out)
				der, err := os.ReadFile(out)
				if err != nil || !bytes.Equal(der, want.Raw) {
					t.Errorf("read-object cert %s: %d bytes, %v; want the card's %s", id, len(der), err, want.Subject)
				}
			}

			out := tool(false, "--login", "--pin", "654321", "--list-objects", "--type", "privkey")
			if c.Applet.PINTriesLeft() != 2 || !strings.Contains(out, "CKR_PIN_INCORRECT") {
				t.Fatalf("a wrong PIN: %d tries left on the card, tool said:\n%s", c.Applet.PINTriesLeft(), out)
			}
			out = tool(true, "--login", "--pin", c.PIN, "--list-objects", "--type", "privkey")
			if c.Applet.PINTriesLeft() != 3 || !strings.Contains(out, "Private Key Object") {
				t.Fatalf("the right PIN: %d tries left on the card, tool said:\n%s", c.Applet.PINTriesLeft(), out)
			}

			data := c.file(t, "document.txt", []byte("puce: signed by OpenSC through pcscd\n"))
			for _, s := range []struct {
				id, mech, dgst string
				cert           *x509.Certificate
			}{{"01", k.p11Auth, k.dgst, c.AuthCert}, {"02", k.p11Sign, k.dgst2, c.SignCert}} {
				sig := filepath.Join(c.dir, "p11-"+s.id+".sig")
				tool(true, "--login", "--pin", c.PIN, "--sign", "--id", s.id, "--mechanism", s.mech,
					"--signature-format", "openssl", "--input-file", data, "--output-file", sig)
				c.opensslVerifies(t, openssl, s.dgst, s.cert, data, sig)
			}
			t.Logf("puce: OpenSC's PKCS#11 module listed the token, read 9A and 9C, checked the PIN (a wrong one cost a try), and signed with 9A (%s) and 9C (%s); OpenSSL verified both", k.p11Auth, k.p11Sign)
		})
	}
}

// TestYubicoPIVToolPINProtectedObject: yubico-piv-tool reads the printed
// information object (5FC109, read rule "PIN or OCC" in SP 800-73-4 Part 1
// Table 1) only after verifying the PIN in the same session; without it the
// card refuses (6982) and the tool prints nothing of the object.
func TestYubicoPIVToolPINProtectedObject(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk := peerTool(t, "yubico-piv-tool", "yubico-piv-tool")
	c := insertPeerCard(t, pc, testcard.Options{})
	// Printed information: 01 name, FE error detection code.
	c.Applet.SetObject([]byte{0x5F, 0xC1, 0x09}, []byte{0x01, 0x0C, 'M', 'A', 'R', 'T', 'I', 'N', ' ', 'A', 'L', 'I', 'C', 'E', 0xFE, 0x00})
	tool := func(wantOK bool, args ...string) string {
		return c.run(t, wantOK, yk, append([]string{"-r", "Virtual"}, args...)...)
	}
	const printed = "010c4d415254494e20414c494345fe00"
	if out := tool(false, "-a", "read-object", "--id", "0x5fc109"); strings.Contains(out, printed) {
		t.Fatalf("read-object 5FC109 without the PIN printed the object:\n%s", out)
	}
	if out := tool(true, "-a", "verify-pin", "-P", c.PIN, "-a", "read-object", "--id", "0x5fc109"); !strings.Contains(out, printed) {
		t.Fatalf("read-object 5FC109 after the PIN:\n%s", out)
	}
}

// TestOpenSCGenerateRandom: OpenSC's PKCS#11 C_GenerateRandom asks the PIV
// card for a management key challenge, 00 87 00 9B 7C{81 00}, with
// algorithm reference 00, which SP 800-78-4 Table 6-2 lists beside 03 for
// three-key Triple DES. The card answers it with fresh bytes.
func TestOpenSCGenerateRandom(t *testing.T) {
	pc := pcscdtest.Require(t)
	p11 := peerTool(t, "pkcs11-tool", "opensc")
	module := openscModule(t)
	c := insertPeerCard(t, pc, testcard.Options{})
	var got [][]byte
	for i := range 2 {
		out := filepath.Join(c.dir, fmt.Sprintf("random-%d", i))
		c.run(t, true, p11, "--module", module, "--generate-random", "16", "--output-file", out)
		b, err := os.ReadFile(out)
		if err != nil || len(b) != 16 {
			t.Fatalf("generate-random: %d bytes, %v", len(b), err)
		}
		got = append(got, b)
	}
	if bytes.Equal(got[0], got[1]) {
		t.Fatalf("the card gave the same 16 bytes twice: %X", got[0])
	}
}

// TestYubicoPIVToolPINLifecycle drives the retry counters with
// yubico-piv-tool: CHANGE REFERENCE DATA of the PIN and PUK, wrong PINs down
// to the block (63Cx, then 6983), RESET RETRY COUNTER with the PUK, which a
// wrong PUK does not pass.
func TestYubicoPIVToolPINLifecycle(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk := peerTool(t, "yubico-piv-tool", "yubico-piv-tool")
	c := insertPeerCard(t, pc, testcard.Options{})
	tool := func(wantOK bool, want string, args ...string) {
		t.Helper()
		out := c.run(t, wantOK, yk, append([]string{"-r", "Virtual"}, args...)...)
		if !strings.Contains(out, want) {
			t.Fatalf("yubico-piv-tool %s: want %q in:\n%s", strings.Join(args, " "), want, out)
		}
	}
	const newPIN, newPUK = "135790", "24680135"
	tool(true, "Successfully changed the pin code", "-a", "change-pin", "-P", c.PIN, "-N", newPIN)
	tool(false, "2 tries left", "-a", "change-pin", "-P", c.PIN, "-N", newPIN)
	tool(true, "Successfully verified PIN", "-a", "verify-pin", "-P", newPIN)
	tool(true, "Successfully changed the puk code", "-a", "change-puk", "-P", pivapplet.DefaultPUK, "-N", newPUK)
	tool(false, "2 tries left", "-a", "verify-pin", "-P", "000000")
	tool(false, "1 tries left", "-a", "verify-pin", "-P", "000000")
	tool(false, "blocked", "-a", "verify-pin", "-P", "000000")
	// Blocked: even the right PIN is refused, without a try to spend.
	tool(false, "blocked", "-a", "verify-pin", "-P", newPIN)
	if n := c.Applet.PINTriesLeft(); n != 0 {
		t.Fatalf("%d PIN tries left after the block", n)
	}
	tool(false, "2 tries left", "-a", "unblock-pin", "-P", pivapplet.DefaultPUK, "-N", c.PIN)
	tool(true, "Successfully unblocked the pin code", "-a", "unblock-pin", "-P", newPUK, "-N", c.PIN)
	tool(true, "Successfully verified PIN", "-a", "verify-pin", "-P", c.PIN)
	if n := c.Applet.PINTriesLeft(); n != 3 {
		t.Fatalf("%d PIN tries left after the unblock, want 3", n)
	}
}

// TestYubicoPIVToolDeleteCertificate: yubico-piv-tool deletes a certificate
// by writing its object empty (PUT DATA 5C 03 5FC105 53 00); afterwards the
// object is gone, GET DATA answers 6A82 (SP 800-73-4 Part 2 §3.1.2) and the
// tool's status no longer lists the slot, instead of reading back an empty
// object it cannot parse.
func TestYubicoPIVToolDeleteCertificate(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk := peerTool(t, "yubico-piv-tool", "yubico-piv-tool")
	c := insertPeerCard(t, pc, testcard.Options{})
	tool := func(wantOK bool, args ...string) string {
		return c.run(t, wantOK, yk, append([]string{"-r", "Virtual"}, args...)...)
	}
	tool(true, "-a", "delete-certificate", "-s", "9a")
	status := tool(true, "-a", "status")
	if strings.Contains(status, "Slot 9a:") || !strings.Contains(status, "Slot 9c:") {
		t.Fatalf("status after deleting 9A's certificate:\n%s", status)
	}
	if out := tool(false, "-a", "read-certificate", "-s", "9a"); strings.Contains(out, "parsing") {
		t.Fatalf("read-certificate found an object to parse:\n%s", out)
	}
}
