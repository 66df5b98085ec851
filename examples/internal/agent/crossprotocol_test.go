package agent

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/piv"
)

// replay is a crypto.Signer that hands NewToken a signature made
// elsewhere, or records the digest NewToken wants signed.
type replay struct {
	pub    crypto.PublicKey
	sig    []byte
	digest []byte
}

var errRecorded = errors.New("digest recorded")

func (r *replay) Public() crypto.PublicKey { return r.pub }
func (r *replay) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	if r.sig == nil {
		r.digest = append([]byte(nil), digest...)
		return nil, errRecorded
	}
	return r.sig, nil
}

// The e-signature key (9C) signs both payment approvals and PDFs. For a
// PDF the page hands the agent the digest to sign; were any 32 bytes
// accepted, a script on the bank's page (the man in the browser that
// dynamic linking is there to defeat) could show the holder a harmless PDF
// and have the card sign the digest of a Web eID approval token for a
// payment the holder never saw: the authentication code would not be
// specific to the amount and payee the payer was made aware of (PSD2 RTS
// on SCA, Art. 5(1)). The agent signs for a PDF only the SHA-256 of CMS
// signed attributes it has checked: they name the card's certificate and
// the signed byte ranges the request states.
func TestPDFDigestIsNotAPaymentApproval(t *testing.T) {
	ts, card := setup(t)
	f := cardFactor(t, card)
	ctx := context.Background()
	enrol, _ := f.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: site})
	c, _ := piv.Open(ctx, card.Card, nil)
	c.VerifyPIN(ctx, card.PIN, nil)
	signer, _ := c.Signer(piv.SlotAuthentication, card.AuthCert.PublicKey, nil)
	tok, _ := cardauth.NewToken(signer, card.AuthCert, site, string(enrol.Payload), nil)
	if _, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: enrol.ID, Subject: "alice", Origin: site, Data: tok}); err != nil {
		t.Fatal(err)
	}

	// The payment the attacker wants approved, and the digest its
	// approval token has the card sign.
	evil := identity.Transaction{Amount: "9999.00", Currency: "EUR", PayeeName: "Mallory", PayeeAccount: "DE89 3704 0044 0532 0130 00"}
	ch, err := f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: site, Transaction: &evil})
	if err != nil {
		t.Fatal(err)
	}
	ar, _, err := cardauth.ParseApprovalRequest(ch.Payload)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := cardauth.ApprovalNonce(ar.Nonce, evil)
	rec := &replay{pub: card.SignCert.PublicKey}
	if _, err := cardauth.NewToken(rec, card.SignCert, site, msg, nil); !errors.Is(err, errRecorded) {
		t.Fatalf("recording the approval digest: %v", err)
	}

	// A harmless PDF shown to the holder.
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
	answer(t, prompt, ts.URL, url.Values{"action": {"approve"}}) // share the certificate
	p, err := pades.Prepare(pdf, pades.SignOptions{Certificate: card.SignCert, Level: pades.LevelBB, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// The request names the PDF shown, but its digest is the approval's.
	req := pades.SignRequest{Digest: rec.digest, DocumentSHA256: sum[:], Size: len(pdf), Pages: 1, Level: "B-B",
		SigningTime: time.Now(), SignedRanges: p.DocumentDigest, SignedAttributes: p.SignedAttributes}
	raw, _ := json.Marshal(req)
	body, _ = json.Marshal(map[string]json.RawMessage{"pdfRequest": raw})
	code, m = call(t, "POST", ts.URL+"/v1/requests/"+id+"/attributes", site, string(body))
	if code == http.StatusOK {
		answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
		_, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
		if res, ok := m["result"].(map[string]any); ok {
			sig, _ := base64.StdEncoding.DecodeString(res["signature"].(string))
			token, err := cardauth.NewToken(&replay{pub: card.SignCert.PublicKey, sig: sig}, card.SignCert, site, msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: site, Data: token, Transaction: &evil}); err == nil {
				t.Fatal("a PDF signature in the agent approved a payment of 9999.00 EUR to Mallory that the holder never saw")
			}
		}
		t.Fatalf("the agent took a PDF signing request whose digest is not that of its signed attributes: %v", m)
	}
	if _, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, ""); m["status"] != "failed" {
		t.Fatalf("the request goes on after a digest that is not the attributes': %v", m)
	}
}
