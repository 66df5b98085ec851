package agent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// A PDF handed to the agent: the signed bytes are checked against it. A
// request whose update is not a signature field's (here bytes appended
// after it, consistent with its digests) ends the request before the
// card is asked; the honest one, a visible signature, is signed, and the
// window's first page is then the signed revision's, the signature drawn
// on it.
func TestSignPDFChecksTheSignedBytes(t *testing.T) {
	ts, card := setup(t)
	pdf, err := os.ReadFile(filepath.Join("..", "..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	_, renderer := exec.LookPath("pdftoppm")
	asPDF := true
	create := func() (string, string) {
		b := map[string]any{"kind": "sign", "name": "contract.pdf", "document": base64.StdEncoding.EncodeToString(pdf)}
		if asPDF {
			b["pdf"] = map[string]any{"size": len(pdf), "sha256": hex.EncodeToString(sum[:])}
		}
		body, _ := json.Marshal(b)
		code, m := call(t, "POST", ts.URL+"/v1/requests", site, string(body))
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		id, prompt := m["id"].(string), m["prompt"].(string)
		answer(t, prompt, ts.URL, url.Values{"action": {"approve"}}) // share the certificate
		return id, prompt
	}
	firstPage := func(prompt string) string {
		_, page, _ := getPage(t, prompt)
		if m := pageImgRE.FindStringSubmatch(page); m != nil {
			return m[1]
		}
		return ""
	}
	send := func(id string, req *pades.SignRequest) (int, map[string]any) {
		raw, _ := json.Marshal(req)
		body, _ := json.Marshal(map[string]json.RawMessage{"pdfRequest": raw})
		return call(t, "POST", ts.URL+"/v1/requests/"+id+"/attributes", site, string(body))
	}
	at := time.Now().Truncate(time.Second)
	p, err := pades.Prepare(pdf, pades.SignOptions{Certificate: card.SignCert, Level: pades.LevelBB, Time: at,
		Appearance: &pades.Appearance{Rect: [4]float64{300, 40, 560, 120}}})
	if err != nil {
		t.Fatal(err)
	}
	req := &pades.SignRequest{Digest: p.Digest, DocumentSHA256: sum[:], Size: len(pdf), Pages: 1, Level: "B-B", SigningTime: at,
		SignedRanges: p.DocumentDigest, SignedAttributes: p.SignedAttributes, Update: p.Update()}

	// The hostile site: bytes appended after the update, the ranges and
	// attributes made over them.
	hostile := *req
	hostile.Update = append(p.Update(), "1 0 obj\n(appended)\nendobj\n"...)
	h := sha256.New()
	h.Write(pdf)
	h.Write(hostile.Update)
	hostile.SignedRanges = h.Sum(nil)
	cms, err := esign.PrepareDigest(hostile.SignedRanges, card.SignCert, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	hostile.Digest, hostile.SignedAttributes = cms.Digest, cms.SignedAttributes
	id, _ := create()
	if code, m := send(id, &hostile); code != http.StatusBadRequest {
		t.Fatalf("an update that is not a signature field's: %d %v", code, m)
	}
	if _, m := call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "failed" {
		t.Fatalf("the request goes on: %v", m)
	}
	// Without its update the request cannot be checked: refused too.
	id, _ = create()
	bare := *req
	bare.Update = nil
	if code, m := send(id, &bare); code != http.StatusBadRequest {
		t.Fatalf("a request without its update: %d %v", code, m)
	}

	// A page that hands over the document without saying the site keeps
	// it as a PDF (puce.js): the site's PDF signing request is checked
	// against it all the same.
	asPDF = false
	id, _ = create()
	if code, m := send(id, &hostile); code != http.StatusBadRequest {
		t.Fatalf("handed over as a document, an update that is not a signature field's: %d %v", code, m)
	}
	id, prompt := create()
	if code, m := send(id, req); code != http.StatusOK {
		t.Fatalf("handed over as a document, the signing request: %d %v", code, m)
	}
	if renderer == nil && firstPage(prompt) == "" {
		t.Fatal("no first page shown for a PDF handed over as a document")
	}
	answer(t, prompt, ts.URL, url.Values{"action": {"cancel"}})
	asPDF = true

	id, prompt = create()
	before := firstPage(prompt)
	if code, m := send(id, req); code != http.StatusOK {
		t.Fatalf("signing request: %d %v", code, m)
	}
	if after := firstPage(prompt); renderer == nil && (before == "" || after == "" || after == before) {
		t.Fatal("the window's first page is not the signed revision's, with the signature drawn")
	}
	// The caption names the page the signature draws on (pades.SignedRevision.Drawn).
	if _, page, _ := getPage(t, prompt); renderer == nil && !strings.Contains(page, "Page 1, as it will be signed, with the signature drawn on it") {
		t.Fatal("the window does not say which page shows the signature")
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
