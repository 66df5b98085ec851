package agent

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
)

// A document signature through the agent: the holder shares the signing
// certificate, the site's attributes must name the document the holder saw
// (esign.CheckSignedAttributes), and the card's signature assembles into a
// .p7s that verifies. Attributes for another document end the request.
func TestSignOnlyTheDocumentShown(t *testing.T) {
	ts, card := setup(t)
	doc := []byte("Contract: 1000 EUR\n")
	create := func() (string, string) {
		body, _ := json.Marshal(map[string]string{"kind": "sign", "name": "contract.txt", "document": base64.StdEncoding.EncodeToString(doc)})
		code, m := call(t, "POST", ts.URL+"/v1/requests", site, string(body))
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		id, prompt := m["id"].(string), m["prompt"].(string)
		answer(t, prompt, ts.URL, url.Values{"action": {"approve"}}) // share the certificate
		if _, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "certificate" {
			t.Fatalf("poll: %v", m)
		}
		return id, prompt
	}
	attributes := func(id string, p *esign.Pending) (int, map[string]any) {
		body, _ := json.Marshal(map[string]string{"signedAttributes": base64.StdEncoding.EncodeToString(p.SignedAttributes)})
		return call(t, "POST", ts.URL+"/v1/requests/"+id+"/attributes", site, string(body))
	}

	id, _ := create()
	other, _ := esign.Prepare([]byte("Contract: 9000 EUR\n"), card.SignCert, time.Now())
	if code, m := attributes(id, other); code != http.StatusBadRequest {
		t.Fatalf("attributes of another document: %d %v", code, m)
	}
	if _, m := call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "failed" {
		t.Fatalf("the request goes on after attributes of another document: %v", m)
	}

	id, prompt := create()
	p, _ := esign.Prepare(doc, card.SignCert, time.Now())
	if code, m := attributes(id, p); code != http.StatusOK {
		t.Fatalf("attributes: %d %v", code, m)
	}
	answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	_, m := call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	sig, err := base64.StdEncoding.DecodeString(m["result"].(map[string]any)["signature"].(string))
	if err != nil {
		t.Fatalf("poll: %v", m)
	}
	p7s, err := p.Assemble(sig, card.PKI.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := esign.Verify(doc, p7s, esign.VerifyOptions{Roots: card.PKI.Roots}); err != nil {
		t.Fatal(err)
	}
}
