//go:build cgo

package pivapplet_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// The mandatory PIV data objects of SP 800-73-4 Part 1 §3.1 as middleware
// and OpenSSL see them: the card authentication key and certificate (9E,
// §3.1.4), the CHUID's issuer signature (§3.1.2.1) and the Security Object
// (§3.1.7). The biometric objects are absent by design (package comment).

// verifiedPIN reports whether the transcript holds a VERIFY that presented
// a PIN (an empty VERIFY only asks for the tries left).
func verifiedPIN(t *testing.T, log *transcript) bool {
	t.Helper()
	cmds, _ := log.exchanges(t)
	for _, c := range cmds {
		if len(c) > 5 && c[1] == 0x20 {
			return true
		}
	}
	return false
}

// TestYubicoPIVToolCardAuthentication: yubico-piv-tool lists the card
// authentication certificate (slot 9E) in its status, reads it, and has
// the 9E key sign without any PIN (access rule Always, SP 800-73-4 Part 1
// §3.1.4 and Table 4b); OpenSSL verifies the signature.
func TestYubicoPIVToolCardAuthentication(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk := peerTool(t, "yubico-piv-tool", "yubico-piv-tool")
	openssl := peerTool(t, "openssl", "openssl")
	c := insertPeerCard(t, pc, testcard.Options{})
	tool := func(wantOK bool, args ...string) string {
		return c.run(t, wantOK, yk, append([]string{"-r", "Virtual"}, args...)...)
	}
	status := tool(true, "-a", "status")
	if !strings.Contains(status, "Slot 9e:") || !strings.Contains(status, c.CardAuthCert.Subject.CommonName) {
		t.Fatalf("status lacks slot 9e and its certificate %q:\n%s", c.CardAuthCert.Subject.CommonName, status)
	}
	read := tool(true, "-a", "read-certificate", "-s", "9e")
	if got := pemCertificate(t, read); !got.Equal(c.CardAuthCert) {
		t.Fatalf("read-certificate -s 9e: %s", got.Subject)
	}
	// OpenSSL reads the certificate's PIV profile (FIPS 201-3 §4.2.2.2,
	// Table B-3): id-PIV-cardAuth, the pivFASC-N otherName and the card
	// UUID as a URI.
	ext := c.run(t, true, openssl, "x509", "-in", c.file(t, "9e-read.pem", []byte(read)), "-noout", "-ext", "subjectAltName,extendedKeyUsage,keyUsage")
	for _, want := range []string{"othername: 2.16.840.1.101.3.6.6:", "URI:urn:uuid:" + c.CardUUID.String(), "2.16.840.1.101.3.6.8", "Digital Signature"} {
		if !strings.Contains(ext, want) {
			t.Errorf("the 9E certificate lacks %q:\n%s", want, ext)
		}
	}
	// The PIV authentication certificate carries the same FASC-N and card
	// UUID (FIPS 201-3 §4.2.2.1), beside the holder's email.
	read9a := tool(true, "-a", "read-certificate", "-s", "9a")
	ext9a := c.run(t, true, openssl, "x509", "-in", c.file(t, "9a-read.pem", []byte(read9a)), "-noout", "-ext", "subjectAltName")
	for _, want := range []string{"othername: 2.16.840.1.101.3.6.6:", "URI:urn:uuid:" + c.CardUUID.String(), "email:" + c.Holder.Email} {
		if !strings.Contains(ext9a, want) {
			t.Errorf("the 9A certificate lacks %q:\n%s", want, ext9a)
		}
	}
	certPEM := c.file(t, "9e.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.CardAuthCert.Raw}))
	out := tool(true, "-v", "-a", "test-signature", "-s", "9e", "-H", "SHA256", "-i", certPEM)
	if !strings.Contains(out, "Successful ECDSA verification") {
		t.Fatalf("test-signature -s 9e without the PIN:\n%s", out)
	}
	c.opensslVerifiesDigest(t, openssl, "sha256", c.CardAuthCert, printedDigest(t, out), c.log.signature(t, pivapplet.SlotCardAuthentication), "yk-9e")
	if verifiedPIN(t, c.log) || c.Applet.PINTriesLeft() != 3 {
		t.Fatalf("the card saw a PIN (%d tries left)", c.Applet.PINTriesLeft())
	}
	// The check can fail: 9E's signature against 9A's certificate.
	authPEM := c.file(t, "9a.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.AuthCert.Raw}))
	if out := tool(false, "-a", "test-signature", "-s", "9e", "-H", "SHA256", "-i", authPEM); strings.Contains(out, "Successful") {
		t.Fatalf("9E's signature verified against 9A's certificate:\n%s", out)
	}
}

// TestOpenSCCardAuthenticationWithoutLogin: OpenSC's PKCS#11 module shows
// the card authentication key (its ID 04) without a login, the only
// private key it shows so, as the key is "under an Always access rule"
// (SP 800-73-4 Part 1 §3.1.4, Table 4b) for physical access readers;
// OpenSSL signs with it through libp11's PKCS#11 engine without a PIN and
// verifies the signature; pkcs11-tool --test, without a login, exercises it
// (an RSA key: its signature tests are RSA only). No PIN reaches the card.
func TestOpenSCCardAuthenticationWithoutLogin(t *testing.T) {
	pc := pcscdtest.Require(t)
	p11 := peerTool(t, "pkcs11-tool", "opensc")
	openssl := peerTool(t, "openssl", "openssl")
	module := openscModule(t)
	if _, err := exec.Command(openssl, "engine", "pkcs11", "-t").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("OpenSSL's pkcs11 engine is not installed and CI=true: make test installs it (apt-get install libengine-pkcs11-openssl)")
		}
		t.Skipf("SKIPPING %s: OpenSSL's pkcs11 engine is not installed (apt-get install libengine-pkcs11-openssl)", t.Name())
	}
	t.Setenv("PKCS11_MODULE_PATH", module)
	for _, k := range []struct {
		name string
		alg  byte
	}{{"P256", pivapplet.AlgECCP256}, {"RSA2048", pivapplet.AlgRSA2048}} {
		t.Run(k.name, func(t *testing.T) {
			c := insertPeerCard(t, pc, testcard.Options{CardAuthAlg: k.alg})
			tool := func(args ...string) string {
				return c.run(t, true, p11, append([]string{"--module", module}, args...)...)
			}
			objects := tool("--list-objects")
			for _, want := range []string{"Certificate for Card Authentication", "CARD AUTH key", "ID:         04"} {
				if !strings.Contains(objects, want) {
					t.Errorf("list-objects without a login lacks %q:\n%s", want, objects)
				}
			}
			// The private keys of 9A and 9C need the login first.
			if n := strings.Count(objects, "Private Key Object"); n != 1 || strings.Contains(objects, "PIV AUTH key\n") {
				t.Errorf("list-objects without a login shows %d private keys, want only CARD AUTH key:\n%s", n, objects)
			}
			der := filepath.Join(c.dir, "cert-04.der")
			tool("--read-object", "--type", "cert", "--id", "04", "--output-file", der)
			if b, err := os.ReadFile(der); err != nil || !bytes.Equal(b, c.CardAuthCert.Raw) {
				t.Fatalf("read-object cert 04: %d bytes, %v", len(b), err)
			}
			digest := sha256.Sum256([]byte("puce: a door asks the card, not the holder"))
			sig := filepath.Join(c.dir, "engine.sig")
			c.run(t, true, openssl, "pkeyutl", "-sign", "-engine", "pkcs11", "-keyform", "engine",
				"-inkey", "pkcs11:object=CARD%20AUTH%20key;type=private", "-pkeyopt", "digest:sha256",
				"-in", c.file(t, "digest", digest[:]), "-out", sig)
			b, err := os.ReadFile(sig)
			if err != nil {
				t.Fatal(err)
			}
			c.opensslVerifiesDigest(t, openssl, "sha256", c.CardAuthCert, digest[:], b, "engine-9e")
			if k.alg == pivapplet.AlgRSA2048 {
				out := tool("--test")
				if !strings.Contains(out, "testing key 0 (CARD AUTH key)") || strings.Contains(out, "skipping") || !strings.Contains(out, "No errors") {
					t.Fatalf("pkcs11-tool --test without a login:\n%s", out)
				}
			}
			if verifiedPIN(t, c.log) || c.Applet.PINTriesLeft() != 3 {
				t.Fatalf("the card saw a PIN (%d tries left)", c.Applet.PINTriesLeft())
			}
		})
	}
}

// readObject reads a data object's content with yubico-piv-tool (libykpiv
// strips the 53 wrapper).
func (c *peerCard) readObject(t *testing.T, yk, id string) []byte {
	t.Helper()
	out := filepath.Join(c.dir, "object-"+id+".bin")
	c.run(t, true, yk, "-r", "Virtual", "-a", "read-object", "--id", "0x"+id, "-f", "binary", "-o", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenSSLVerifiesCHUIDAndSecurityObject reads the CHUID, the CCC and the
// Security Object with yubico-piv-tool (and the Security Object with OpenSC
// too) and checks them with OpenSSL:
//   - the CHUID's issuer asymmetric signature (SP 800-73-4 Part 1 §3.1.2.1)
//     verifies with openssl cms against the test CA over the CHUID without
//     its signature field (FIPS 201-3 Table B-1), and not over an altered
//     one; it is detached, of content type id-PIV-CHUIDSecurityObject,
//     carries one certificate with id-PIV-content-signing, and signs
//     pivSigner-DN;
//   - the Security Object (§3.1.7) carries no certificate, verifies with
//     the CHUID's content signer, and its LDSSecurityObject hashes, read by
//     openssl asn1parse, are the SHA-256 of the objects its 0xBA mapping
//     names: each one the card holds, the CCC and the CHUID, and no
//     biometric object.
func TestOpenSSLVerifiesCHUIDAndSecurityObject(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk := peerTool(t, "yubico-piv-tool", "yubico-piv-tool")
	openssl := peerTool(t, "openssl", "openssl")
	c := insertPeerCard(t, pc, testcard.Options{})
	var ca []byte
	for _, cert := range []*x509.Certificate{c.PKI.Root, c.PKI.Issuing} {
		ca = append(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	caFile := c.file(t, "ca.pem", ca)

	chuid := c.readObject(t, yk, "5fc102")
	fields, err := apdu.DecodeTLVs(chuid)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	var signed, sig []byte
	for _, f := range fields {
		tags = append(tags, f.Tag.String())
		if f.Tag == 0x3E {
			sig = f.Value
			continue
		}
		if signed, err = apdu.AppendTLV(signed, f.Tag, f.Value); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(tags, " "); got != "30 34 35 3E FE" {
		t.Fatalf("CHUID fields %s, want 30 34 35 3E FE (SP 800-73-4 Part 1 Table 9)", got)
	}
	if guid := fields[1].Value; !bytes.Equal(guid, c.CardUUID[:]) || guid[6]>>4 != 4 || guid[8]&0xC0 != 0x80 {
		t.Fatalf("GUID %X is not the card's UUID v4 %s", guid, c.CardUUID)
	}
	sigFile := c.file(t, "chuid.p7s", sig)
	signer := filepath.Join(c.dir, "content-signer.pem")
	out := c.run(t, true, openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigFile, "-content", c.file(t, "chuid.content", signed),
		"-CAfile", caFile, "-purpose", "any", "-signer", signer, "-out", os.DevNull)
	if !strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl cms -verify of the CHUID signature:\n%s", out)
	}
	altered := bytes.Clone(signed)
	altered[len(altered)-3] ^= 1 // the expiration date's last digit
	c.run(t, false, openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigFile, "-content", c.file(t, "chuid.altered", altered),
		"-CAfile", caFile, "-purpose", "any", "-out", os.DevNull)
	printed := c.run(t, true, openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", sigFile)
	for _, want := range []string{"eContentType: undefined (2.16.840.1.101.3.6.1)", "eContent: <ABSENT>", "crls:\n      <ABSENT>",
		"object: undefined (2.16.840.1.101.3.6.5)", "d.issuerAndSerialNumber:", "algorithm: sha256", "ecdsa-with-SHA256"} {
		if !strings.Contains(printed, want) {
			t.Errorf("the CHUID signature lacks %q:\n%s", want, printed)
		}
	}
	if n := strings.Count(printed, "d.certificate:"); n != 1 {
		t.Errorf("the CHUID signature carries %d certificates, want 1", n)
	}
	signerText := c.run(t, true, openssl, "x509", "-in", signer, "-noout", "-ext", "extendedKeyUsage", "-subject")
	if !strings.Contains(signerText, "2.16.840.1.101.3.6.7") || !strings.Contains(signerText, "PIV content signer") {
		t.Fatalf("the CHUID's signer certificate:\n%s", signerText)
	}

	so := c.readObject(t, yk, "5fc106")
	// OpenSC's PKCS#11 module shows the Security Object as a data object,
	// with its 53 wrapper: the same bytes.
	p11 := peerTool(t, "pkcs11-tool", "opensc")
	soOpenSC := filepath.Join(c.dir, "so-opensc.bin")
	c.run(t, true, p11, "--module", openscModule(t), "--read-object", "--type", "data", "--label", "Security Object", "--output-file", soOpenSC)
	if b, err := os.ReadFile(soOpenSC); err != nil {
		t.Fatal(err)
	} else if w, rest, err := apdu.DecodeTLV(b); err != nil || w.Tag != 0x53 || len(rest) != 0 || !bytes.Equal(w.Value, so) {
		t.Fatalf("OpenSC's Security Object % X differs from yubico-piv-tool's % X", b, so)
	}
	parts, err := apdu.DecodeTLVs(so)
	if err != nil || len(parts) != 3 || parts[0].Tag != 0xBA || parts[1].Tag != 0xBB || parts[2].Tag != 0xFE || len(parts[0].Value)%3 != 0 {
		t.Fatalf("Security Object % X: %v; want BA, BB, FE (SP 800-73-4 Part 1 Table 12)", so, err)
	}
	soFile := c.file(t, "so.p7", parts[1].Value)
	lds := filepath.Join(c.dir, "lds.der")
	// The signer's certificate is only in the CHUID (§3.1.7): without it
	// OpenSSL cannot find the signer.
	c.run(t, false, openssl, "cms", "-verify", "-inform", "DER", "-in", soFile, "-CAfile", caFile, "-purpose", "any", "-out", lds)
	out = c.run(t, true, openssl, "cms", "-verify", "-inform", "DER", "-in", soFile, "-certfile", signer, "-CAfile", caFile, "-purpose", "any", "-out", lds)
	if !strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl cms -verify of the Security Object:\n%s", out)
	}
	printed = c.run(t, true, openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", soFile)
	for _, want := range []string{"eContentType: undefined (1.3.27.1.1.1)", "certificates:\n      <ABSENT>"} {
		if !strings.Contains(printed, want) {
			t.Errorf("the Security Object lacks %q:\n%s", want, printed)
		}
	}
	// The data group hashes as OpenSSL decodes them: INTEGER DG, then
	// OCTET STRING hash, in order.
	parsed := c.run(t, true, openssl, "asn1parse", "-inform", "DER", "-in", lds)
	re := regexp.MustCompile(`d=3 .*INTEGER\s+:([0-9A-F]+)\n.*d=3 .*OCTET STRING\s+\[HEX DUMP\]:([0-9A-F]+)`)
	hashes := map[byte]string{}
	for _, m := range re.FindAllStringSubmatch(parsed, -1) {
		dg, err := strconv.ParseUint(m[1], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		hashes[byte(dg)] = strings.ToLower(m[2])
	}
	objects := map[string]string{"DB00": "5fc107", "3000": "5fc102"}
	mapping := parts[0].Value
	if len(hashes) != len(mapping)/3 || len(hashes) != len(objects) {
		t.Fatalf("%d hashes for %d mapped objects, want the CCC and the CHUID:\n%s", len(hashes), len(mapping)/3, parsed)
	}
	for i := 0; i < len(mapping); i += 3 {
		container := strings.ToUpper(hex.EncodeToString(mapping[i+1 : i+3]))
		id, known := objects[container]
		if !known {
			t.Fatalf("the Security Object maps DG %d to container %s, which the card does not hold", mapping[i], container)
		}
		got := sha256.Sum256(c.readObject(t, yk, id))
		if want := hashes[mapping[i]]; hex.EncodeToString(got[:]) != want {
			t.Errorf("container %s (%s): SHA-256 %x, the Security Object says %s", container, id, got, want)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("puce: OpenSSL verified the CHUID's signature and the Security Object against the test CA; the Security Object's %d hashes match the objects yubico-piv-tool read", len(hashes))
}
