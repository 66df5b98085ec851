package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// A PDF signing request whose signed attributes carry a signing time (CMS
// signing-time, which a CAdES-style preparation puts there) shows the
// holder that time, the one signed, not the time the request claims for
// the signature dictionary: what the holder sees is what the card signs.
func TestPDFShowsTheSignedSigningTime(t *testing.T) {
	ts, card := setup(t)
	pdf, err := os.ReadFile(filepath.Join("..", "..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	body, _ := json.Marshal(map[string]any{"kind": "sign", "name": "contract.pdf", "pdf": map[string]any{"size": len(pdf), "sha256": hex.EncodeToString(sum[:])}})
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, string(body))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	answer(t, prompt, ts.URL, url.Values{"action": {"approve"}})

	signed := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC) // in the attributes
	claimed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ranges := []byte("the byte ranges of the prepared PDF")
	p, err := esign.Prepare(ranges, card.SignCert, signed)
	if err != nil {
		t.Fatal(err)
	}
	rs := sha256.Sum256(ranges)
	d := sha256.Sum256(p.SignedAttributes)
	req := pades.SignRequest{Digest: d[:], DocumentSHA256: sum[:], Size: len(pdf), Pages: 1, Level: "B-B", SigningTime: claimed,
		SignedRanges: rs[:], SignedAttributes: p.SignedAttributes}
	raw, _ := json.Marshal(req)
	body, _ = json.Marshal(map[string]json.RawMessage{"pdfRequest": raw})
	if code, m := call(t, "POST", ts.URL+"/v1/requests/"+id+"/attributes", site, string(body)); code != http.StatusOK {
		t.Fatalf("signing request: %d %v", code, m)
	}
	_, page, _ := getPage(t, prompt)
	if !strings.Contains(page, "Signing time: 2019-03-04 05:06:07 UTC") || strings.Contains(page, "2026-01-02") {
		t.Fatalf("the window does not show the signing time that is signed:\n%s", page)
	}
}
