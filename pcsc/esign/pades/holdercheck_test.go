package pades_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// hostileServer plays a server that states the document shown (its size
// and SHA-256) but has the card sign other bytes. Every digest and
// attribute of its requests is consistent with the bytes it has signed,
// so that only the holder's check of those bytes against the document
// shown can refuse them.
type hostileServer struct {
	cert  *x509.Certificate
	shown []byte
	at    time.Time
}

// request is the request for prepared, a file whose byte range leaves out
// from..to (the placeholder with its delimiters, or more).
func (h hostileServer) request(t *testing.T, prepared []byte, from, to int) *pades.SignRequest {
	t.Helper()
	signed := append(append([]byte{}, prepared[:from]...), prepared[to:]...)
	ranges := sha256.Sum256(signed)
	cms, err := esign.PrepareDigest(ranges[:], h.cert, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	doc := sha256.Sum256(h.shown)
	return &pades.SignRequest{Digest: cms.Digest, DocumentSHA256: doc[:], Size: len(h.shown), Pages: 1, SignedRanges: ranges[:],
		Level: "B-B", SigningTime: h.at, SignedAttributes: cms.SignedAttributes, Update: signed[min(len(h.shown), len(signed)):]}
}

// prepare is Prepare's signature field over base (the document shown,
// changed or not), as a request for the document shown.
func (h hostileServer) prepare(t *testing.T, base []byte) *pades.SignRequest {
	t.Helper()
	p, err := pades.Prepare(base, pades.SignOptions{Certificate: h.cert, Level: pades.LevelBB, Time: h.at})
	if err != nil {
		t.Fatal(err)
	}
	pdf, at, n := p.Prepared()
	return h.request(t, pdf, at, at+n+2)
}

// TestHolderChecksSignedBytes: a hostile server (the test) that states
// the document shown but prepares a signature over other bytes is refused
// by the holder's check before the card is asked — no PIN try spent — and
// the honest request, invisible or visible, passes, its rebuilt revision
// a PDF qpdf accepts.
func TestHolderChecksSignedBytes(t *testing.T) {
	ctx := context.Background()
	card, _, _ := enrolledCard(t)
	shown, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile("testdata/contract-gs.pdf")
	if err != nil {
		t.Fatal(err)
	}
	h := hostileServer{cert: card.SignCert, shown: shown, at: time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)}
	honest := h.prepare(t, shown)

	changed, err := pades.AppendContentChange(shown)
	if err != nil {
		t.Fatal(err)
	}
	annotated, err := pades.AppendAnnotation(shown, "FreeText", "Amount due: 1,000,000 EUR")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pades.Prepare(shown, pades.SignOptions{Certificate: h.cert, Level: pades.LevelBB, Time: h.at})
	if err != nil {
		t.Fatal(err)
	}
	prepared, at, n := p.Prepared()
	end := at + n + 2
	// The byte range rewritten in place, as the placeholder's fixed width
	// allows: [0 at' end' rest'].
	withRange := func(a, b, c int) []byte {
		out := bytes.Clone(prepared)
		i := bytes.LastIndex(out[:at], []byte("/ByteRange ["))
		j := bytes.IndexByte(out[i:], ']') + i
		s := fmt.Sprintf("/ByteRange [0 %d %d %d", a, b, c)
		copy(out[i:j], s+string(bytes.Repeat([]byte(" "), j-i-len(s))))
		return out
	}
	tampered := h.prepare(t, shown)
	tampered.Update = bytes.Replace(tampered.Update, []byte("/SigFlags 3"), []byte("/SigFlags 1"), 1)
	if bytes.Equal(tampered.Update, honest.Update) {
		t.Fatal("the update was not tampered with")
	}

	for name, c := range map[string]struct {
		req  *pades.SignRequest
		want error
	}{
		// (a) The ranges of another document, under the shown one's name.
		"another document's ranges": {func() *pades.SignRequest {
			r := h.prepare(t, other)
			r.Update = honest.Update
			return r
		}(), esign.ErrDocumentAltered},
		// (b) An update replacing the page's content stream, then the
		// signature field over both.
		"page content replaced": {h.prepare(t, changed), pades.ErrChanged},
		// (c) A free-text annotation over the page, then the signature.
		"annotation added": {h.prepare(t, annotated), pades.ErrChanged},
		// (d) The byte range shifted: the words "/Contents " before the
		// signature left out, or the signing time after it, which the
		// server could then rewrite unsigned.
		"gap widened before /Contents": {h.request(t, withRange(at-10, end, len(prepared)-end), at-10, end), pades.ErrMalformed},
		"gap widened over /M":          {h.request(t, withRange(at, end+30, len(prepared)-end-30), at, end+30), pades.ErrRequest},
		"range ends before the end":    {h.request(t, withRange(at, end, len(prepared)-end-40), at, end), pades.ErrMalformed},
		// (e) An update that is not what SignedRanges is the digest of.
		"update not the signed bytes": {tampered, esign.ErrDocumentAltered},
		"no update":                   {func() *pades.SignRequest { r := h.prepare(t, shown); r.Update = nil; return r }(), pades.ErrRequest},
		"update alone, no document":   {h.request(t, prepared[len(shown):], at-len(shown), end-len(shown)), pades.ErrRequest},
	} {
		t.Run(name, func(t *testing.T) {
			if err := c.req.Check(card.SignCert, shown); !errors.Is(err, pades.ErrRequest) || !errors.Is(err, c.want) || !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("Check: %v, want %v", err, c.want)
			} else {
				t.Log(err)
			}
			// The holder shown no bytes cannot tell, but for the
			// document named: the attributes name the ranges and card.
			if name != "no update" && name != "update alone, no document" && name != "update not the signed bytes" {
				if err := c.req.Check(card.SignCert, nil); err != nil {
					t.Fatalf("without the document: %v", err)
				}
			}
			b, _ := json.Marshal(c.req)
			_, sig, err := pades.SignOnCard(ctx, card.Card, b, shown, cardauth.PIN{Value: "00000000"})
			if !errors.Is(err, pades.ErrRequest) || sig != nil {
				t.Fatalf("SignOnCard: %v", err)
			}
		})
	}
	// A field of the document shown filled (a shadow attack's "replace":
	// the text field over the amount line), then the signature: the
	// ceremony fills nothing.
	form, field := formFixture(t)
	hf := hostileServer{cert: h.cert, shown: form, at: h.at}
	filled := must(t)(pades.AppendFormFill(form, field, fillText))
	if err := hf.prepare(t, filled).Check(card.SignCert, form); !errors.Is(err, pades.ErrRequest) || !errors.Is(err, pades.ErrChanged) {
		t.Fatalf("a field filled: %v", err)
	} else {
		t.Log(err)
	}
	if err := hf.prepare(t, form).Check(card.SignCert, form); err != nil {
		t.Fatalf("the form signed as it is: %v", err)
	}

	// No wrong PIN above reached the card: it still has 3 tries.
	b, _ := json.Marshal(honest)
	_, _, err = pades.SignOnCard(ctx, card.Card, b, shown, cardauth.PIN{Value: "00000000"})
	var wrong *apdu.WrongPINError
	if !errors.As(err, &wrong) || wrong.TriesLeft != 2 {
		t.Fatalf("first wrong PIN: %v", err)
	}

	rev, err := honest.Rebuild(shown)
	if err != nil || rev.Drawn != nil || rev.Field != "Signature1" || !bytes.HasPrefix(rev.PDF, shown) {
		t.Fatalf("honest invisible signature: %v %+v", err, rev)
	}
	invisiblePDF := rev.PDF
	if _, err := honest.Rebuild(other); !errors.Is(err, esign.ErrDocumentAltered) {
		t.Fatalf("another document shown: %v", err)
	}

	box := [4]float64{320, 40, 560, 110}
	vp, err := pades.Prepare(shown, pades.SignOptions{Certificate: h.cert, Level: pades.LevelBB, Time: h.at, Reason: "I agree",
		Appearance: &pades.Appearance{Rect: box}})
	if err != nil {
		t.Fatal(err)
	}
	vpdf, vat, vn := vp.Prepared()
	visible := h.request(t, vpdf, vat, vat+vn+2)
	if !bytes.Equal(visible.Update, vp.Update()) || !bytes.Equal(visible.SignedRanges, vp.DocumentDigest) {
		t.Fatal("Pending.Update is not the signed bytes after the document")
	}
	rev, err = visible.Rebuild(shown)
	if err != nil || rev.Drawn == nil || rev.Drawn.Rect != box || rev.Drawn.Page != 1 || rev.Drawn.Field != "Signature1" || rev.Reason != "I agree" {
		t.Fatalf("honest visible signature: %v %+v", err, rev)
	}
	if err := visible.Check(card.SignCert, shown); err != nil {
		t.Fatal(err)
	}
	t.Logf("update: %d bytes invisible, %d visible", len(honest.Update), len(visible.Update))
	// The rebuilt revisions are PDFs a peer reads.
	t.Run("qpdf", func(t *testing.T) {
		qpdfCheck(t, invisiblePDF, "the rebuilt revision")
		qpdfCheck(t, rev.PDF, "the rebuilt revision of a visible signature")
	})
}

// TestHolderCheckEveryWriter: the honest update passes the holder's check
// over every test PDF (classic tables, cross-reference and object
// streams, linearized files, Ghostscript's and cairo's), invisible and
// visible, and on a PDF that already holds a signature, whose
// certification (DocMDP P 1) then forbids the new one.
func TestHolderCheckEveryWriter(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	check := func(name string, doc []byte, ap *pades.Appearance) error {
		h := hostileServer{cert: f.cert, shown: doc, at: f.signedAt}
		p, err := pades.Prepare(doc, pades.SignOptions{Certificate: f.cert, Level: pades.LevelBB, Time: f.signedAt, Appearance: ap})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pdf, at, n := p.Prepared()
		_, err = h.request(t, pdf, at, at+n+2).Rebuild(doc)
		return err
	}
	box := &pades.Appearance{Rect: [4]float64{320, 40, 560, 110}}
	for name, doc := range inputs(t) {
		for _, ap := range []*pades.Appearance{nil, box} {
			if err := check(name, doc, ap); err != nil {
				t.Errorf("%s, visible %v: %v", name, ap != nil, err)
			}
		}
	}
	contract := inputs(t)["contract.pdf"]
	signed := f.sign(t, contract, pades.LevelBT)
	if err := check("signed", signed, box); err != nil {
		t.Errorf("a second signature: %v", err)
	}
	if err := check("certified P 1", f.certify(t, contract, 1), nil); !errors.Is(err, pades.ErrChanged) {
		t.Errorf("a signature under DocMDP P 1: %v", err)
	}
	if err := check("certified P 2", f.certify(t, contract, 2), nil); err != nil {
		t.Errorf("a signature under DocMDP P 2: %v", err)
	}
}
