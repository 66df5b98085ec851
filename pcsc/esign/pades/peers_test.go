package pades_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// tool finds a peer program: under CI it must be there (make test installs
// it), elsewhere its absence skips the test loudly.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed under CI: make test installs %s", name, pkg)
		}
		t.Skipf("SKIPPING: %s not installed (Debian package %s)", name, pkg)
	}
	return p
}

func writePEM(t *testing.T, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// nssDir makes an NSS database trusting the test root, as pdfsig needs.
func nssDir(t *testing.T, f *fixture) string {
	t.Helper()
	certutil := tool(t, "certutil", "libnss3-tools")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writePEM(t, ca, f.pki.Root.Raw)
	db := filepath.Join(dir, "nss")
	os.Mkdir(db, 0o700)
	for _, args := range [][]string{{"-N", "-d", "sql:" + db, "--empty-password"}, {"-A", "-d", "sql:" + db, "-n", "puce test CA", "-t", "CT,C,C", "-i", ca}} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return "sql:" + db
}

// pdfsig runs poppler's pdfsig and returns its report of signature #1.
// OCSP stays on: the signer's certificate names the fixture's responder on
// loopback, which NSS asks. (pdfsig 22.12's -no-ocsp reports "Unknown
// issue with Certificate" even for a trusted chain: its result is read
// from a stale NSS error code.)
func pdfsig(t *testing.T, nss, file string) string {
	t.Helper()
	out, _ := exec.Command(tool(t, "pdfsig", "poppler-utils"), "-nssdir", nss, file).CombinedOutput()
	s := string(out)
	if i := strings.Index(s, "Signature #2"); i > 0 {
		s = s[:i]
	}
	return s
}

// TestPeersPdfsigQpdf: poppler's pdfsig reports our signatures valid and
// their certificate trusted, for PDFs from qpdf (table and streams),
// Ghostscript and cairo, at B-B and B-LTA; qpdf --check accepts the files; an edited
// signed byte makes pdfsig report the signature invalid, and an update
// that changes the content makes it report the signature no longer covers
// the whole document, while puce says "changed after signing".
func TestPeersPdfsigQpdf(t *testing.T) {
	qpdf := tool(t, "qpdf", "qpdf")
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	nss := nssDir(t, f)
	dir := t.TempDir()
	for file, pdf := range inputs(t) {
		for _, level := range []pades.Level{pades.LevelBB, pades.LevelBLTA} {
			signed := f.sign(t, pdf, level)
			path := filepath.Join(dir, level.String()+"-"+file)
			os.WriteFile(path, signed, 0o600)
			if out, err := exec.Command(qpdf, "--check", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "No syntax or stream encoding errors") {
				t.Fatalf("qpdf --check %s at %v: %v\n%s", file, level, err, out)
			}
			rep := pdfsig(t, nss, path)
			if !strings.Contains(rep, "Signature Validation: Signature is Valid.") || !strings.Contains(rep, "Certificate Validation: Certificate is Trusted.") ||
				!strings.Contains(rep, "Signature Type: ETSI.CAdES.detached") || !strings.Contains(rep, "Alice Martin") {
				t.Fatalf("pdfsig on %s at %v:\n%s", file, level, rep)
			}
			if (level == pades.LevelBB) != strings.Contains(rep, "- Total document signed") {
				t.Fatalf("pdfsig on %s at %v, whole document:\n%s", file, level, rep)
			}
			t.Logf("pdfsig, %s at %v: valid and trusted", file, level)
		}

		signed := f.sign(t, pdf, pades.LevelBB)
		edited := bytes.Clone(signed)
		i := bytes.Index(edited, []byte("12,000"))
		if i < 0 {
			i = bytes.Index(edited, []byte("/MediaBox")) + 1
		}
		edited[i] ^= 0x01
		path := filepath.Join(dir, "edited-"+file)
		os.WriteFile(path, edited, 0o600)
		if rep := pdfsig(t, nss, path); strings.Contains(rep, "Signature is Valid.") ||
			!(strings.Contains(rep, "Digest Mismatch") || strings.Contains(rep, "Signature is Invalid")) {
			t.Fatalf("pdfsig on an edited %s:\n%s", file, rep)
		}
		changed := appendContentChange(t, signed)
		path = filepath.Join(dir, "changed-"+file)
		os.WriteFile(path, changed, 0o600)
		if rep := pdfsig(t, nss, path); !strings.Contains(rep, "Not total document signed") {
			t.Fatalf("pdfsig on %s with a later content change:\n%s", file, rep)
		}
	}
}

// TestPeerOpenSSLDocumentTimestamp: `openssl ts -verify` accepts the
// document timestamp's token over the bytes its ByteRange names.
func TestPeerOpenSSLDocumentTimestamp(t *testing.T) {
	openssl := tool(t, "openssl", "openssl")
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := f.sign(t, inputs(t)["contract-gs.pdf"], pades.LevelBLTA)
	i := bytes.LastIndex(signed, []byte("/ETSI.RFC3161"))
	m := regexp.MustCompile(`/ByteRange \[0 (\d+) (\d+) (\d+)\s*\]`).FindSubmatch(signed[i:])
	if m == nil {
		t.Fatal("no ByteRange in the document timestamp")
	}
	a, _ := strconv.Atoi(string(m[1]))
	b, _ := strconv.Atoi(string(m[2]))
	c, _ := strconv.Atoi(string(m[3]))
	data := append(bytes.Clone(signed[:a]), signed[b:b+c]...)
	token := make([]byte, (b-a-2)/2)
	n, err := hexDecode(token, signed[a+1:b-1])
	if err != nil {
		t.Fatal(err)
	}
	token = trimDER(token[:n])
	dir := t.TempDir()
	for name, v := range map[string][]byte{"data": data, "token.der": token} {
		os.WriteFile(filepath.Join(dir, name), v, 0o600)
	}
	writePEM(t, filepath.Join(dir, "ca.pem"), f.pki.Root.Raw)
	os.WriteFile(filepath.Join(dir, "untrusted.pem"), append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.tsaCert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.pki.Issuing.Raw})...), 0o600)
	out, err := exec.Command(openssl, "ts", "-verify", "-data", filepath.Join(dir, "data"), "-in", filepath.Join(dir, "token.der"), "-token_in",
		"-CAfile", filepath.Join(dir, "ca.pem"), "-untrusted", filepath.Join(dir, "untrusted.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify refuses the document timestamp: %v\n%s", err, out)
	}
}

func hexDecode(dst, src []byte) (int, error) { return hex.Decode(dst, src) }

// trimDER cuts the zero padding after a DER element.
func trimDER(b []byte) []byte {
	in := cryptobyte.String(b)
	var el cryptobyte.String
	if in.ReadAnyASN1Element(&el, nil) {
		return el
	}
	return b
}

// TestVisibleSignature: a signature with an appearance is valid for puce
// and pdfsig, and poppler's pdftoppm draws its box where it was asked:
// dark pixels (the frame and the text) inside the box's area of the first
// page, none there without it.
func TestVisibleSignature(t *testing.T) {
	pdftoppm := tool(t, "pdftoppm", "poppler-utils")
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	nss := nssDir(t, f)
	dir := t.TempDir()
	box := [4]float64{300, 60, 560, 110} // points, from the page's lower left
	for file, pdf := range inputs(t) {
		p, err := pades.Prepare(pdf, pades.SignOptions{Certificate: f.cert, Level: pades.LevelBT, Time: f.signedAt,
			Appearance: &pades.Appearance{Rect: box}})
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := f.key.Sign(rand.Reader, p.Digest, p.SignerOpts())
		signed, err := pades.Finish(context.Background(), p, sig, []*x509.Certificate{f.pki.Issuing}, f.services())
		if err != nil {
			t.Fatal(err)
		}
		rep, err := pades.Verify(context.Background(), signed, f.verifyOptions())
		if err != nil || !rep.Signatures[0].Valid() {
			t.Fatalf("%s: %v %+v", file, err, rep)
		}
		path := filepath.Join(dir, "visible-"+file)
		os.WriteFile(path, signed, 0o600)
		if r := pdfsig(t, nss, path); !strings.Contains(r, "Signature is Valid.") {
			t.Fatalf("pdfsig on a visible signature:\n%s", r)
		}
		for name, doc := range map[string]string{"signed": path, "unsigned": filepath.Join("testdata", file)} {
			out := filepath.Join(dir, name+"-"+strings.TrimSuffix(file, ".pdf"))
			if b, err := exec.Command(pdftoppm, "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile", doc, out).CombinedOutput(); err != nil {
				t.Fatalf("pdftoppm: %v\n%s", err, b)
			}
			dark := darkPixels(t, out+".png", box)
			if (name == "signed") != (dark > 50) {
				t.Fatalf("%s %s: %d dark pixels in the signature's box", name, file, dark)
			}
		}
	}
}

// darkPixels counts the pixels darker than mid-grey inside box (points at
// 72 dpi, y from the bottom) of a rendered page.
func darkPixels(t *testing.T, path string, box [4]float64) int {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	hgt := img.Bounds().Dy()
	n := 0
	for y := hgt - int(box[3]); y < hgt-int(box[1]); y++ {
		for x := int(box[0]); x < int(box[2]); x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if (r+g+b)/3 < 0x8000 {
				n++
			}
		}
	}
	return n
}

// nssSigner makes an NSS database with a CA and a signer under it
// ("peer signer", RSA, made by certutil) for pdfsig to sign with, and
// returns pdfsig, the database and the CA.
func nssSigner(t *testing.T) (pdfsigBin, db string, ca *x509.Certificate) {
	t.Helper()
	certutil := tool(t, "certutil", "libnss3-tools")
	pdfsigBin = tool(t, "pdfsig", "poppler-utils")
	dir := t.TempDir()
	db = "sql:" + filepath.Join(dir, "nss")
	os.Mkdir(filepath.Join(dir, "nss"), 0o700)
	noise := filepath.Join(dir, "noise")
	seed := make([]byte, 2048)
	rand.Read(seed)
	os.WriteFile(noise, seed, 0o600)
	run := func(stdin string, name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return out
	}
	run("", certutil, "-N", "-d", db, "--empty-password")
	// A CA (basic constraints answered on stdin: CA, no path length,
	// critical). Serial numbers given: certutil's own come from the clock,
	// and two certificates made in the same second would share one.
	run("y\n0\ny\n", certutil, "-S", "-d", db, "-n", "peer CA", "-s", "CN=Peer CA", "-x", "-t", "CT,C,C", "-k", "rsa", "-g", "2048", "-Z", "SHA256", "-2", "-z", noise, "-v", "12", "-m", "1")
	run("", certutil, "-S", "-d", db, "-n", "peer signer", "-s", "CN=Peer Signer", "-c", "peer CA", "-t", ",,", "-k", "rsa", "-g", "2048", "-Z", "SHA256",
		"-z", noise, "-v", "12", "-m", "2", "--keyUsage", "digitalSignature,nonRepudiation")
	caPEM := run("", certutil, "-L", "-d", db, "-n", "peer CA", "-a")
	block, _ := pem.Decode(caPEM)
	if block == nil {
		t.Fatalf("certutil -L -a: %s", caPEM)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pdfsigBin, db, ca
}

// TestVerifiesPdfsigSignature: a PDF signed by poppler's pdfsig (NSS, an
// RSA key made by certutil, /SubFilter /adbe.pkcs7.detached) verifies with
// puce at B-B, naming its signer; puce then adds its own signature as an
// incremental update, and both puce and pdfsig find both valid, the first
// no longer covering the whole file but not changed.
func TestVerifiesPdfsigSignature(t *testing.T) {
	pdfsigBin, db, ca := nssSigner(t)
	dir := t.TempDir()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	in, out := filepath.Join("testdata", "contract-gs.pdf"), filepath.Join(dir, "peer.pdf")
	cmd := exec.Command(pdfsigBin, "-nssdir", db, "-add-signature", "-nick", "peer signer", in, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pdfsig -add-signature: %v\n%s", err, b)
	}
	peer, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pades.Verify(context.Background(), peer, pades.VerifyOptions{Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Signatures[0]
	if len(rep.Signatures) != 1 || !s.Valid() || s.Level != pades.LevelBB || !s.WholeDocument || s.Signer.Subject.CommonName != "Peer Signer" {
		t.Fatalf("pdfsig's signature: %+v (err %v)", s, s.Err)
	}
	t.Logf("pdfsig's signature: %s, %v, claimed %s", s.Signer.Subject.CommonName, s.Level, s.ClaimedTime)

	// Countersigned by puce, at B-T.
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	both := f.sign(t, peer, pades.LevelBT)
	roots.AddCert(f.pki.Root)
	rep, err = pades.Verify(context.Background(), both, pades.VerifyOptions{Roots: roots, TSARoots: f.pki.Roots})
	if err != nil || len(rep.Signatures) != 2 {
		t.Fatalf("%v, %+v", err, rep)
	}
	for _, s := range rep.Signatures {
		if !s.Valid() {
			t.Fatalf("%s: %v", s.Field, s.Err)
		}
	}
	if rep.Signatures[0].WholeDocument || !rep.Signatures[1].WholeDocument {
		t.Fatal("coverage")
	}
	path := filepath.Join(dir, "both.pdf")
	os.WriteFile(path, both, 0o600)
	b, _ := exec.Command(pdfsigBin, "-nssdir", db, path).CombinedOutput()
	if strings.Count(string(b), "Signature is Valid.") != 2 {
		t.Fatalf("pdfsig on the countersigned file:\n%s", b)
	}
}

// TestPdfsigCountersignsPuce: a PDF puce signed at B-LT, then signed again
// by poppler's pdfsig. pdfsig 22.12 puts its field in the page's /Annots
// and not in /AcroForm /Fields; puce finds it there as pdfsig does, so both
// report two valid signatures, puce's not changed by the update (a page's
// /Annots growing by a signature widget is allowed).
func TestPdfsigCountersignsPuce(t *testing.T) {
	pdfsigBin, db, ca := nssSigner(t)
	dir := t.TempDir()
	doc, err := os.ReadFile(filepath.Join("testdata", "contract-gs.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	in, out := filepath.Join(dir, "puce.pdf"), filepath.Join(dir, "both.pdf")
	os.WriteFile(in, f.sign(t, doc, pades.LevelBLT), 0o600)
	if b, err := exec.Command(pdfsigBin, "-nssdir", db, "-add-signature", "-nick", "peer signer", in, out).CombinedOutput(); err != nil {
		t.Fatalf("pdfsig -add-signature: %v\n%s", err, b)
	}
	both, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	roots := f.pki.Roots.Clone()
	roots.AddCert(ca)
	rep, err := pades.Verify(context.Background(), both, pades.VerifyOptions{Roots: roots, TSARoots: f.pki.Roots})
	if err != nil || len(rep.Signatures) != 2 {
		t.Fatalf("%v, %+v", err, rep)
	}
	first, second := rep.Signatures[0], rep.Signatures[1]
	if !first.Valid() || first.Level != pades.LevelBLT || first.WholeDocument || first.ChangedAfterSigning {
		t.Fatalf("puce's signature: %+v (%v)", first, first.Err)
	}
	if !second.Valid() || !second.WholeDocument || second.Signer.Subject.CommonName != "Peer Signer" {
		t.Fatalf("pdfsig's signature: %+v (%v)", second, second.Err)
	}
	b, _ := exec.Command(pdfsigBin, "-nssdir", db, "-nocert", out).CombinedOutput()
	if strings.Count(string(b), "Signature is Valid.") != 2 {
		t.Fatalf("pdfsig on the countersigned file:\n%s", b)
	}
}

// TestUnsignedSignatureFieldAdded: a later update adds an empty signature
// field (no /V), or a widget of the field already signed (its /Parent),
// whose appearance draws new text over the signed page — poppler's
// pdftoppm shows it. Adding a signature field is permitted as part of
// signing (ISO 32000-1 §12.8.2.2.2, Table 254, P 2: "filling in forms,
// instantiating page templates, and signing"); a field that holds no
// signature, or a widget added to a field signed before, is not signing but
// new content, and a change.
func TestUnsignedSignatureFieldAdded(t *testing.T) {
	pdftoppm := tool(t, "pdftoppm", "poppler-utils")
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	dir := t.TempDir()
	box := [4]float64{72, 690, 520, 770}
	for file, pdf := range inputs(t) {
		signed := f.sign(t, pdf, pades.LevelBT)
		for how, add := range map[string]func([]byte, string) ([]byte, error){
			"empty field": pades.AppendUnsignedSignatureField, "widget of the signed field": pades.AppendWidgetOfSignedField} {
			covered, err := add(signed, "Amount: 92,000 EUR")
			if err != nil {
				t.Fatal(err)
			}
			file := how + "-" + file
			before, after := filepath.Join(dir, "before-"+file), filepath.Join(dir, "after-"+file)
			os.WriteFile(before, signed, 0o600)
			os.WriteFile(after, covered, 0o600)
			var dark [2]int
			for i, doc := range []string{before, after} {
				out := strings.TrimSuffix(doc, ".pdf")
				if b, err := exec.Command(pdftoppm, "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile", doc, out).CombinedOutput(); err != nil {
					t.Fatalf("pdftoppm: %v\n%s", err, b)
				}
				dark[i] = darkPixels(t, out+".png", box)
			}
			if dark[1] <= dark[0]+50 {
				t.Fatalf("%s: pdftoppm draws no new text in the box (%d dark pixels, %d before)", file, dark[1], dark[0])
			}
			rep, err := pades.Verify(context.Background(), covered, f.verifyOptions())
			if err != nil {
				t.Fatal(err)
			}
			if s := rep.Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
				t.Fatalf("%s: an empty signature field drawing over the page: %+v", file, s)
			} else {
				t.Logf("%s: %v", file, s.Changes)
			}
		}
	}
}
