package agent

// Signing a PDF the site keeps. The page says what the site shows of it
// (name, size, SHA-256) and may hand over its bytes, which the agent checks
// against that size and hash and uses to show the holder the first page
// (pdfpage.go); after the holder shares the signing certificate, the site's
// signing request (a pades.SignRequest) must name that same document by
// size and hash, and adds its page count and the signature's level; the
// card signs the request's digest, which must be that of CMS signed
// attributes naming this card and the signed bytes. When the agent holds
// the PDF, the signed bytes are checked too: they are the PDF followed by
// the update the request carries, which must only add the signature field
// (pades.SignRequest.Rebuild), and the first page shown is then rendered
// from that signed revision, the signature's appearance on it. Without the
// PDF the agent cannot see what the signed bytes are, and the holder's
// trust in them is trust in the site; the window says so.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// pdfBody is what the page says of the PDF.
type pdfBody struct {
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

// pdfSign is a PDF signature's state in a request.
type pdfSign struct {
	size int
	// doc is the PDF when the page handed it over (checked against size
	// and hash), else nil.
	doc    []byte
	digest []byte
	Pages  int
	Level  string
	// PageImage is a page as a data: URL (a PNG the agent rendered
	// itself, so the template may trust it): the first page of the
	// document, or, once the site's request is checked, the page of the
	// signed revision the signature draws on (SignPage). PageNote says why
	// there is none.
	PageImage template.URL
	PageNote  string
	// SignPage is the page number of PageImage when it shows the
	// signature as it will be drawn, else 0.
	SignPage int
}

func (a *Agent) newPDFSign(ctx context.Context, q *request, b createBody) (int, any) {
	h, err := hex.DecodeString(b.PDF.SHA256)
	if err != nil || len(h) != len(q.docHash) || b.PDF.Size <= 0 || b.PDF.Size > pades.MaxDocumentSize {
		return http.StatusBadRequest, apiErr("The PDF's size or SHA-256 is missing or malformed.")
	}
	copy(q.docHash[:], h)
	q.pdf = &pdfSign{size: b.PDF.Size, PageNote: "The site did not hand the PDF to the card agent, so its first page cannot be shown, " +
		"nor can the agent check that what the card signs is this document: you rely on the site for that."}
	if b.Document != "" {
		doc, err := base64.StdEncoding.DecodeString(b.Document)
		if err != nil || len(doc) > MaxDocument {
			return http.StatusBadRequest, apiErr("The PDF is malformed or larger than 10 MB.")
		}
		// The picture must be of the document whose hash the holder
		// compares and the site's signing request names.
		if h := sha256.Sum256(doc); len(doc) != b.PDF.Size || !bytes.Equal(h[:], q.docHash[:]) {
			return http.StatusBadRequest, apiErr("The PDF handed over does not have the size and SHA-256 the page states.")
		}
		q.pdf.doc = doc
		img, err := a.renderPage(ctx, doc, 1)
		switch {
		case err == nil:
			q.pdf.PageImage, q.pdf.PageNote = template.URL(pageDataURL(img)), ""
		case errors.Is(err, errNoRenderer):
			q.pdf.PageNote = "The first page cannot be shown: this computer has no PDF renderer (pdftoppm)."
		default:
			a.log.Warn("first page not rendered", "id", q.id, "err", err)
			q.pdf.PageNote = "The first page cannot be shown: the PDF could not be rendered."
		}
	}
	q.docName = visible(b.Name)
	if b.Name == "" || len(b.Name) > 200 || !utf8.ValidString(b.Name) {
		q.docName = "(unnamed document)"
	}
	return 0, nil
}

// pdfRequest takes the site's signing request for a PDF (pdf is q.pdf;
// fresh when it was made for this request, no first page rendered yet): it
// must name the document the holder was shown and, when the agent holds
// it, sign that document with a signature field added and nothing else.
func (a *Agent) pdfRequest(ctx context.Context, q *request, pdf *pdfSign, fresh bool, raw json.RawMessage, origin string) (int, any) {
	req, err := pades.ParseSignRequest(raw)
	if err != nil {
		return http.StatusBadRequest, apiErr("The PDF signing request is malformed.")
	}
	// pdf.doc is set once, before pdf is published: the signed revision
	// is rebuilt, and its first page rendered, without the lock.
	var rev *pades.SignedRevision
	var revErr error
	var page template.URL
	signPage := 0
	if pdf.doc != nil {
		rev, revErr = req.Rebuild(pdf.doc)
		// The page the signature draws on, whichever it is: a box the site
		// drew over another page's text would go unseen on the first
		// (pades.SignedRevision.Drawn: the holder's side must render it).
		n := 1
		if revErr == nil && rev.Drawn != nil {
			n, signPage = rev.Drawn.Page, rev.Drawn.Page
		}
		if revErr == nil && (fresh || signPage != 0) {
			if img, err := a.renderPage(ctx, rev.PDF, n); err == nil {
				page = template.URL(pageDataURL(img))
			} else {
				signPage = 0
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if q.status != stCertificate {
		return http.StatusConflict, apiErr("This request is not waiting for a signing request.")
	}
	if req.Size != q.pdf.size || !bytes.Equal(req.DocumentSHA256, q.docHash[:]) {
		q.status, q.errorMsg = stFailed, "The site asked to sign something other than the document shown to the holder."
		a.log.Warn("PDF signing request names another document", "id", q.id, "origin", origin)
		return http.StatusBadRequest, apiErr(q.errorMsg)
	}
	if revErr != nil {
		q.status, q.errorMsg = stFailed, "The site asked to sign the document with changes, or other bytes than the document shown to the holder."
		a.log.Warn("PDF signing request: the signed bytes are not the document shown with a signature field", "id", q.id, "origin", origin, "err", revErr)
		return http.StatusBadRequest, apiErr(q.errorMsg)
	}
	// The card signs for a PDF only the digest of CMS signed attributes
	// that name the signed byte ranges and this card's certificate. Any 32
	// bytes of the page's choosing could be the digest of something else
	// the e-signature key signs: a payment approval's Web eID token for a
	// payment the holder never saw (PSD2 RTS on SCA, Art. 5(1)).
	d := sha256.Sum256(req.SignedAttributes)
	at, err := esign.CheckSignedAttributesDigest(req.SignedAttributes, req.SignedRanges, q.cert)
	if err != nil || !bytes.Equal(d[:], req.Digest) {
		q.status, q.errorMsg = stFailed, "The site asked the card to sign something other than a signature of the document shown to the holder."
		a.log.Warn("PDF signing request: the digest is not that of signed attributes naming the card's certificate", "id", q.id, "origin", origin, "err", err)
		return http.StatusBadRequest, apiErr(q.errorMsg)
	}
	q.pdf.digest, q.pdf.Pages, q.pdf.Level = req.Digest, req.Pages, req.Level
	if page != "" {
		// The page as it will be signed, the signature drawn.
		q.pdf.PageImage, q.pdf.SignPage = page, signPage
	}
	// The holder is shown the signing time the card signs when the signed
	// attributes carry one (CMS signing-time, RFC 5652 §11.3); PAdES keeps
	// it out of them (ETSI EN 319 142-1 §5.4.2), and then the time the
	// request states for the signature dictionary (/M) is all there is.
	q.signingTime = req.SigningTime.Truncate(time.Second)
	if !at.IsZero() {
		q.signingTime = at
	}
	q.status = stReady
	return http.StatusOK, map[string]string{"status": q.status}
}
