package agent

// Signing a PDF the site keeps: the PDF never reaches the agent. The page
// says what the site shows of it (name, size, SHA-256); after the holder
// shares the signing certificate, the site's signing request (a
// pades.SignRequest) must name that same document by size and hash, and
// adds its page count and the signature's level; the card signs the
// request's digest. Unlike a .p7s, whose signed attributes the agent checks
// against the document itself, here the agent cannot see that the digest
// covers that document: the site's library prepared it, and the holder's
// trust in the binding is trust in the site.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// pdfBody is what the page says of the PDF.
type pdfBody struct {
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

// pdfSign is a PDF signature's state in a request.
type pdfSign struct {
	size   int
	digest []byte
	Pages  int
	Level  string
}

func newPDFSign(q *request, b createBody) (int, any) {
	h, err := hex.DecodeString(b.PDF.SHA256)
	if err != nil || len(h) != len(q.docHash) || b.PDF.Size <= 0 || b.PDF.Size > pades.MaxDocumentSize {
		return http.StatusBadRequest, apiErr("The PDF's size or SHA-256 is missing or malformed.")
	}
	copy(q.docHash[:], h)
	q.pdf = &pdfSign{size: b.PDF.Size}
	q.docName = b.Name
	if q.docName == "" || len(q.docName) > 200 || !utf8.ValidString(q.docName) {
		q.docName = "(unnamed document)"
	}
	return 0, nil
}

// pdfRequest takes the site's signing request for a PDF: it must name the
// document the holder was shown.
func (a *Agent) pdfRequest(q *request, raw json.RawMessage, origin string) (int, any) {
	req, err := pades.ParseSignRequest(raw)
	if err != nil {
		return http.StatusBadRequest, apiErr("The PDF signing request is malformed.")
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
	q.pdf.digest, q.pdf.Pages, q.pdf.Level = req.Digest, req.Pages, req.Level
	q.signingTime, q.status = req.SigningTime.Truncate(time.Second), stReady
	return http.StatusOK, map[string]string{"status": q.status}
}
