package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPDFSigning is the browser part of issue 21's Must-show list:
// upload a PDF to the signing desk, sign it with the virtual card through
// the agent (which is shown the PDF's name, size, hash, page count and its
// first page, rendered by the agent with pdftoppm), download the signed PDF, and verify it on the verify page
// (valid, B-LT, timestamped, status at signing from the embedded data); an
// edited copy (an incremental update that replaces the page's text) is
// reported as changed after signing; poppler's pdfsig accepts the
// download, and pdftoppm renders its first page into the artifacts.
func TestBrowserPDFSigning(t *testing.T) {
	p := newBrowser(t)
	st := startStack(t)
	signUp(p, st, "alice", "correct horse battery")
	enrolCard(p, st)

	dir := t.TempDir()
	original, err := os.ReadFile(filepath.Join("..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	docFile := filepath.Join(dir, "contract.pdf")
	os.WriteFile(docFile, original, 0o644)

	p.open(st.Sign+"/", "pdf-sign-home")
	p.agentWindow("#card-go", func(w *page) {
		w.do(chromedp.WaitVisible(chromedp.CSS("#pin")))
		w.fill("#pin", st.Card.PIN)
		w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
	})
	p.expect("#notice", "Signed in with your card")
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#document"), []string{docFile}))
	p.submit("#upload", "pdf-sign-page")
	p.expect("#doc-level", "PAdES B-LT")
	p.expect("#doc-pages", "1")
	p.agentWindow("#sign-go", func(w *page) {
		w.do(chromedp.WaitVisible(chromedp.CSS("#agent-continue")))
		w.expect("#origin", st.Sign)
		w.expect("#doc-name", "contract.pdf")
		w.expect("#pdf-note", "The site keeps the PDF")
		firstPage(w)
		w.do(chromedp.Click(chromedp.CSS("#agent-continue")))
		w.do(chromedp.WaitVisible(chromedp.CSS("#pin")))
		w.expect("#doc-pages", "1")
		w.expect("#doc-level", "B-LT")
		w.shot("agent-pdf-sign-pin")
		w.fill("#pin", st.Card.PIN)
		w.do(chromedp.Click(chromedp.CSS("#agent-approve")))
	})
	p.expect("#signed", "PAdES B-LT")
	p.shot("pdf-signed")
	signed := p.fetch(st.Sign + p.attr("#download-pdf", "href"))
	if !bytes.HasPrefix(signed, original) {
		t.Fatal("the signed PDF does not begin with the original bytes")
	}
	signedFile := filepath.Join(artifacts(t), "contract-signed.pdf")
	os.WriteFile(signedFile, signed, 0o644)

	p.open(st.Sign+"/verify", "pdf-verify")
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#document"), []string{signedFile}))
	p.submit("#verify", "pdf-verified")
	p.expect("#verdict", "Valid")
	p.expect(".sig-verdict", "valid")
	p.expect(".sig-signer", st.Card.SignCert.Subject.CommonName)
	p.expect(".sig-level", "B-LT")
	p.expect(".sig-timestamp", "puce test TSA")
	p.expect(".sig-status", "valid at signing time")
	p.expect(".sig-changed", "no")

	edited := filepath.Join(dir, "contract-edited.pdf")
	os.WriteFile(edited, replaceContent(t, signed, "BT /F1 24 Tf 72 760 Td (Loan agreement 2026-1142: 92,000 EUR) Tj ET"), 0o644)
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#document"), []string{edited}))
	p.submit("#verify", "pdf-edited")
	p.expect("#verdict", "NOT VALID")
	p.expect(".sig-changed", "CHANGED AFTER SIGNING")

	peerChecks(t, st, signedFile)
}

// replaceContent appends an incremental update (ISO 32000-1 §7.5.6),
// written here by hand as an editor would, that replaces the first page's
// content stream of contract.pdf (object 4) with text. The signed bytes
// stay intact: only the update says what the document now shows.
func replaceContent(t *testing.T, pdf []byte, text string) []byte {
	t.Helper()
	last := func(re string) int {
		m := regexp.MustCompile(re).FindAllSubmatch(pdf, -1)
		if len(m) == 0 {
			t.Fatalf("no %s in the signed PDF", re)
		}
		n, _ := strconv.Atoi(string(m[len(m)-1][1]))
		return n
	}
	prev, size := last(`startxref\s+(\d+)`), last(`/Size (\d+)`)
	var b bytes.Buffer
	b.Write(pdf)
	b.WriteString("\n")
	at := b.Len()
	fmt.Fprintf(&b, "4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(text), text)
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 1\n0000000000 65535 f \n4 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", at, size, prev, xref)
	return b.Bytes()
}

// peerChecks: poppler's pdfsig finds the signature valid and its
// certificate trusted (an NSS database trusting the test root), qpdf finds
// the file sound, and pdftoppm draws the first page, kept as an artifact.
func peerChecks(t *testing.T, st *stack, signedFile string) {
	t.Helper()
	certutil, pdfsig, qpdf, pdftoppm := peer(t, "certutil"), peer(t, "pdfsig"), peer(t, "qpdf"), peer(t, "pdftoppm")
	if certutil == "" || pdfsig == "" || qpdf == "" || pdftoppm == "" {
		return
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "root.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: st.Card.PKI.Root.Raw}), 0o644)
	db := filepath.Join(dir, "nss")
	os.Mkdir(db, 0o700)
	for _, args := range [][]string{{"-N", "-d", "sql:" + db, "--empty-password"}, {"-A", "-d", "sql:" + db, "-n", "puce test CA", "-t", "CT,C,C", "-i", ca}} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	// OCSP stays on: the card's certificate names the stack's responder
	// on loopback, which NSS asks (see pcsc/esign/pades's peer tests).
	// pdfsig judges the answer against the claimed signing time, seconds
	// ago, and NSS refuses one whose thisUpdate is as recent as that: the
	// responder dates its answers a minute back from here on.
	st.OCSP.Misbehave(false, time.Minute, false)
	out, _ := exec.Command(pdfsig, "-nssdir", "sql:"+db, signedFile).CombinedOutput()
	rep := string(out)
	if i := strings.Index(rep, "Signature #2"); i > 0 {
		rep = rep[:i]
	}
	if !strings.Contains(rep, "Signature Validation: Signature is Valid.") || !strings.Contains(rep, "Certificate Validation: Certificate is Trusted.") {
		t.Fatalf("pdfsig on the downloaded PDF:\n%s", out)
	}
	t.Logf("pdfsig: the downloaded PDF's signature is valid and trusted")
	if out, err := exec.Command(qpdf, "--check", signedFile).CombinedOutput(); err != nil || !strings.Contains(string(out), "No syntax or stream encoding errors") {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
	prefix := filepath.Join(filepath.Dir(signedFile), "signed-page")
	if out, err := exec.Command(pdftoppm, "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile", signedFile, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	png, err := os.ReadFile(prefix + ".png")
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("pdftoppm made no PNG: %v", err)
	}
	t.Logf("the signed PDF's first page, rendered by pdftoppm: %s", prefix+".png")
}

// peer finds a peer program: under CI it must be there (scripts/test.sh
// installs poppler-utils, qpdf and libnss3-tools); elsewhere its absence
// skips the peer checks loudly.
func peer(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed under CI: make test installs it", name)
		}
		t.Logf("SKIPPING the peer checks: %s is not installed", name)
		return ""
	}
	return p
}

// firstPage checks that the agent's window shows the PDF's first page: an
// <img> whose data: URL holds a PNG that Go's decoder reads and that
// Chromium decodes under the window's Content-Security-Policy, at the same
// width.
func firstPage(w *page) {
	w.b.t.Helper()
	w.do(chromedp.WaitVisible(chromedp.CSS("#doc-page")))
	src := w.attr("#doc-page", "src")
	b64, ok := strings.CutPrefix(src, "data:image/png;base64,")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil {
		w.fail("first page: src %.60q: %v", src, err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		w.fail("first page: not a PNG: %v", err)
	}
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	width, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(async () => { const i = document.querySelector("#doc-page"); await i.decode(); return i.naturalWidth; })()`, chromedp.EvalAwaitPromise))
	if err != nil || int(width) != img.Bounds().Dx() || img.Bounds().Dx() < 300 {
		w.fail("first page: Chromium decodes it %v px wide (err %v), Go %v", width, err, img.Bounds())
	}
}
