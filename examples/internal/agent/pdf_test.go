package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// A PDF signature through the agent, the PDF staying with the site: the
// holder is shown its name, size and hash; the site's signing request must
// name that same PDF (else the request ends), and the card signs its
// digest, which finishes into a PDF signature that verifies.
func TestSignPDFWithoutThePDF(t *testing.T) {
	ts, card := setup(t)
	pdf, err := os.ReadFile(filepath.Join("..", "..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	create := func() (string, string) {
		body, _ := json.Marshal(map[string]any{"kind": "sign", "name": "contract.pdf", "pdf": map[string]any{"size": len(pdf), "sha256": hex.EncodeToString(sum[:])}})
		code, m := call(t, "POST", ts.URL+"/v1/requests", site, string(body))
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		id, prompt := m["id"].(string), m["prompt"].(string)
		if _, page, _ := getPage(t, prompt); !strings.Contains(page, "did not hand the PDF to the card agent, so its first page cannot be shown") {
			t.Fatalf("the window does not say why there is no first page:\n%s", page)
		}
		answer(t, prompt, ts.URL, url.Values{"action": {"approve"}}) // share the certificate
		if _, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "certificate" {
			t.Fatalf("poll: %v", m)
		}
		return id, prompt
	}
	send := func(id string, req pades.SignRequest) (int, map[string]any) {
		raw, _ := json.Marshal(req)
		body, _ := json.Marshal(map[string]json.RawMessage{"pdfRequest": raw})
		return call(t, "POST", ts.URL+"/v1/requests/"+id+"/attributes", site, string(body))
	}
	p, err := pades.Prepare(pdf, pades.SignOptions{Certificate: card.SignCert, Level: pades.LevelBB, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	req := pades.SignRequest{Digest: p.Digest, DocumentSHA256: sum[:], Size: len(pdf), Pages: 1, Level: "B-B", SigningTime: time.Now(),
		SignedRanges: p.DocumentDigest, SignedAttributes: p.SignedAttributes}

	id, _ := create()
	other := req
	other.DocumentSHA256 = make([]byte, 32)
	if code, m := send(id, other); code != http.StatusBadRequest {
		t.Fatalf("a request for another PDF: %d %v", code, m)
	}
	if _, m := call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "failed" {
		t.Fatalf("the request goes on after a request for another PDF: %v", m)
	}

	id, prompt := create()
	if code, m := send(id, req); code != http.StatusOK {
		t.Fatalf("signing request: %d %v", code, m)
	}
	answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	_, m := call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	sig, err := base64.StdEncoding.DecodeString(m["result"].(map[string]any)["signature"].(string))
	if err != nil {
		t.Fatalf("poll: %v", m)
	}
	signed, err := pades.Finish(context.Background(), p, sig, nil, pades.Services{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pades.Verify(context.Background(), signed, pades.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates})
	if err != nil || !rep.Signatures[0].Valid() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

var pageImgRE = regexp.MustCompile(`<img id="doc-page" src="data:image/png;base64,([A-Za-z0-9+/=&#;]+)"`)

// The holder's window shows the PDF's first page, rendered by poppler's
// pdftoppm from the bytes the page handed over (checked against the size
// and hash shown); without pdftoppm it says so and still shows the hash.
func TestPDFFirstPage(t *testing.T) {
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdftoppm not installed under CI: make test installs poppler-utils")
		}
		t.Skip("pdftoppm not installed")
	}
	ts, _ := setup(t)
	pdf, err := os.ReadFile(filepath.Join("..", "..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	create := func(doc []byte) (int, map[string]any) {
		body, _ := json.Marshal(map[string]any{"kind": "sign", "name": "contract.pdf", "document": base64.StdEncoding.EncodeToString(doc),
			"pdf": map[string]any{"size": len(pdf), "sha256": hex.EncodeToString(sum[:])}})
		return call(t, "POST", ts.URL+"/v1/requests", site, string(body))
	}
	window := func() string {
		code, m := create(pdf)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		code, page, h := getPage(t, m["prompt"].(string))
		if code != http.StatusOK || !strings.Contains(h.Get("Content-Security-Policy"), "img-src data:;") {
			t.Fatalf("window: %d %v", code, h)
		}
		if !strings.Contains(page, fmt.Sprintf("%X", sum)) {
			t.Fatalf("the window does not show the hash:\n%s", page)
		}
		return page
	}

	page := window()
	mm := pageImgRE.FindStringSubmatch(page)
	if mm == nil {
		t.Fatalf("no first page in the window:\n%s", page)
	}
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(mm[1]))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the first page is not a PNG: %v", err)
	}
	// contract.pdf is one A4 page: 60 dpi makes it about 496×702.
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() <= b.Dx() {
		t.Fatalf("first page is %v", b)
	}

	// Bytes that are not the document the page names are refused.
	edited := bytes.Clone(pdf)
	edited[len(edited)/2] ^= 1
	if code, m := create(edited); code != http.StatusBadRequest {
		t.Fatalf("bytes of another PDF: %d %v", code, m)
	}
	if code, m := create(pdf[:len(pdf)-1]); code != http.StatusBadRequest {
		t.Fatalf("bytes of another size: %d %v", code, m)
	}

	// Bytes that match what the page states but are no PDF: the renderer
	// fails and the window says so.
	junk := []byte("%PDF-1.7\nnot really a PDF\n")
	js := sha256.Sum256(junk)
	body, _ := json.Marshal(map[string]any{"kind": "sign", "name": "junk.pdf", "document": base64.StdEncoding.EncodeToString(junk),
		"pdf": map[string]any{"size": len(junk), "sha256": hex.EncodeToString(js[:])}})
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, string(body))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	if _, page, _ := getPage(t, m["prompt"].(string)); pageImgRE.MatchString(page) || !strings.Contains(page, "The first page cannot be shown: the PDF could not be rendered.") {
		t.Fatalf("a PDF pdftoppm cannot read:\n%s", page)
	}

	t.Setenv("PATH", t.TempDir())
	page = window()
	if pageImgRE.MatchString(page) || !strings.Contains(page, "The first page cannot be shown: this computer has no PDF renderer (pdftoppm).") {
		t.Fatalf("without pdftoppm:\n%s", page)
	}
}
