package signsrv

// PDFs: signed in the document (PAdES) at the level the deployment chose,
// the signed PDF downloaded instead of a .p7s, and the verify page's report
// of every signature in a PDF.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

func isPDF(b []byte) bool { return bytes.HasPrefix(b, []byte("%PDF-")) }

// fixedResponder asks one OCSP responder whatever a certificate names
// (Config.OCSPURL), when collecting a PDF's validation data.
type fixedResponder struct{ url string }

func (f fixedResponder) Query(ctx context.Context, _ string, req []byte) ([]byte, error) {
	return ocsp.HTTP{}.Query(ctx, f.url, req)
}

// pdfCeremony is the library's PDF signing ceremony at the configured
// level, or nil without a timestamping authority.
func (s *Server) pdfCeremony(svc *identity.Services, cards *cardauth.Factor) (*pades.Ceremony, error) {
	if s.cfg.TSA == nil {
		return nil, nil
	}
	var client ocsp.Client
	if s.cfg.OCSPURL != "" {
		client = fixedResponder{s.cfg.OCSPURL}
	}
	return pades.NewCeremony(svc, pades.CeremonyConfig{Cards: cards, Level: s.cfg.PDFLevel,
		Services: pades.Services{TSA: s.cfg.TSA, OCSP: client},
		Verify:   s.pdfVerifyOptions(),
		Chain:    s.cfg.Chain,
		Sign:     pades.SignOptions{Reason: "Signed with a smart card at " + s.cfg.SiteName}})
}

func (s *Server) pdfVerifyOptions() pades.VerifyOptions {
	o := pades.VerifyOptions{Roots: s.cfg.Roots, Intermediates: s.cfg.Intermediates}
	if s.cfg.TSA != nil {
		o.TSARoots, o.TSAIntermediates = s.cfg.TSA.Roots, s.cfg.TSA.Intermediates
	}
	return o
}

// keepPDF stores the signed PDF the library made and verified.
func (s *Server) keepPDF(r *http.Request, sess *httpauth.Session, doc *httpauth.Document, signed *pades.Signed) error {
	d := s.doc(sess.Subject(), doc.ID)
	if d == nil {
		return fmt.Errorf("%w: signsrv: the document is gone", identity.ErrExpired)
	}
	s.mu.Lock()
	d.signedPDF = signed
	s.mu.Unlock()
	s.log.Info("PDF signed", "document", d.name, "subject", sess.Subject(), "signer", signed.Report.Signer.Subject.CommonName, "level", signed.Report.Level)
	return nil
}

// timestamp adds a signature timestamp to a .p7s (CAdES-T), when the
// deployment has an authority.
func (s *Server) timestamp(ctx context.Context, signed *esign.Signed) error {
	if s.cfg.TSA == nil {
		return nil
	}
	p7s, _, err := esign.Timestamped(ctx, signed.P7S, s.cfg.TSA)
	if err != nil {
		return err
	}
	signed.P7S = p7s
	return nil
}

// signedPDF downloads the signed PDF to its owner.
func (s *Server) signedPDF(w http.ResponseWriter, r *http.Request) {
	d := s.doc(s.signedIn(r), r.PathValue("id"))
	var body []byte
	if d != nil {
		s.mu.Lock()
		if d.signedPDF != nil {
			body = d.signedPDF.PDF
		}
		s.mu.Unlock()
	}
	if body == nil {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimSuffix(d.name, ".pdf") + "-signed.pdf"
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(body)
}

// pdfSignature is one row of the verify page's report of a PDF.
type pdfSignature struct {
	Field, Verdict, VerdictClass string
	DocumentTimestamp            bool
	Signer, Issuer               string
	ClaimedTime                  time.Time
	TimestampTime                time.Time
	Authority                    string
	Status, StatusClass          string
	Level                        string
	WholeDocument                bool
	Changed                      bool
	Changes                      string
	// Overlays say what later, permitted updates (another signature, an
	// annotation under P=3) draw over the signed pages: a reader shows
	// them, the signature attests none of it.
	Overlays []string
}

// verifyPDF has the library check every signature of a PDF, from what the
// PDF embeds, with no network.
func (s *Server) verifyPDF(ctx context.Context, pdf []byte) *verifyData {
	d := &verifyData{PDF: true, VerdictClass: "bad"}
	rep, err := pades.Verify(ctx, pdf, s.pdfVerifyOptions())
	switch {
	case errors.Is(err, pades.ErrNoSignature):
		d.Verdict = "NOT SIGNED: this PDF has no signature. To verify a detached .p7s, choose it as the signature file."
		return d
	case err != nil:
		s.log.Info("PDF verification", "err", err)
		d.Verdict = "This is not a PDF this site can read."
		return d
	}
	valid, overlays := true, false
	for _, r := range rep.Signatures {
		row := pdfSignature{Field: r.Field, DocumentTimestamp: r.DocumentTimestamp, ClaimedTime: r.ClaimedTime,
			Level: r.Level.String(), WholeDocument: r.WholeDocument, Changed: r.ChangedAfterSigning, Changes: strings.Join(r.Changes, "; ")}
		if r.Signer != nil {
			row.Signer, row.Issuer = r.Signer.Subject.CommonName, r.Signer.Issuer.CommonName
		}
		if r.Timestamp != nil {
			row.TimestampTime = r.Timestamp.Time
			if r.Timestamp.Authority != nil {
				row.Authority = r.Timestamp.Authority.Subject.CommonName
			}
		}
		for _, o := range r.Overlays {
			row.Overlays = append(row.Overlays, overlayText(o))
		}
		overlays = overlays || len(r.Overlays) > 0
		row.Status, row.StatusClass = statusAtSigning(&r)
		row.Verdict, row.VerdictClass = pdfVerdict(&r)
		if r.Err != nil {
			valid = false
			s.log.Info("PDF signature", "field", r.Field, "err", r.Err)
		}
		d.Signatures = append(d.Signatures, row)
	}
	switch {
	case valid && overlays:
		d.Verdict, d.VerdictClass = "Valid, but later signatures or annotations draw over signed pages: what a PDF reader shows there was not signed. See below where.", "warn"
	case valid:
		d.Verdict, d.VerdictClass = "Valid: every signature in this PDF verifies, and nothing changed the document after it was signed.", "ok"
	default:
		d.Verdict = "NOT VALID: a signature in this PDF does not hold; see below."
	}
	return d
}

// overlayText says where an overlay draws and what it is.
func overlayText(o pades.Overlay) string {
	what := "an annotation (" + o.Annotation + ")"
	switch {
	case o.Field != "":
		what = "the appearance of signature " + o.Field
	case o.FormField != "":
		what = "form field " + o.FormField + ", filled in after signing,"
	}
	verb := "draws there"
	if o.Removed {
		verb = "was removed after signing: what it covered shows again"
	}
	return fmt.Sprintf("page %d, at (%.0f, %.0f)–(%.0f, %.0f): %s %s", o.Page, o.Rect[0], o.Rect[1], o.Rect[2], o.Rect[3], what, verb)
}

func statusAtSigning(r *pades.SignatureReport) (string, string) {
	switch {
	case r.DocumentTimestamp:
		return "", ""
	case r.Status == nil:
		return "not established: the PDF carries no validation data for the signing time", "bad"
	case r.Status.Good && !r.Status.RevokedAt.IsZero():
		return fmt.Sprintf("valid at signing time (OCSP %s); revoked later, on %s", when(r.Status.ThisUpdate), when(r.Status.RevokedAt)), "ok"
	case r.Status.Good:
		return fmt.Sprintf("valid at signing time (OCSP answer of %s, embedded)", when(r.Status.ThisUpdate)), "ok"
	}
	return "REVOKED at signing time", "bad"
}

// authorityRevoked says what esign.ErrAuthorityRevoked means to a reader.
const authorityRevoked = "the timestamping authority that vouched for the signing time had its certificate revoked before it, or after a key compromise: the time it vouches for cannot be relied on."

func pdfVerdict(r *pades.SignatureReport) (string, string) {
	err := r.Err
	switch {
	case err == nil:
		return "valid", "ok"
	case errors.Is(err, pades.ErrChanged):
		return "CHANGED AFTER SIGNING: the signature holds for the signed bytes, but a later update changes the document's content.", "bad"
	case errors.Is(err, esign.ErrDocumentAltered):
		return "ALTERED: the signed bytes were edited.", "bad"
	case errors.Is(err, esign.ErrTimeNotProven):
		return "TIME NOT PROVEN: nothing proves when it was signed, and the certificate is not valid now.", "bad"
	case errors.Is(err, esign.ErrAuthorityRevoked):
		return "TIME NOT TRUSTED: " + authorityRevoked, "bad"
	case errors.Is(err, esign.ErrTimestamp):
		return "INVALID TIMESTAMP: the timestamp on the signature does not verify, so it proves no signing time.", "bad"
	case errors.Is(err, esign.ErrRevoked):
		return "REVOKED: the signer's certificate was revoked before the signature's proven time.", "bad"
	case errors.Is(err, esign.ErrUntrustedSigner):
		return "UNTRUSTED: the signer's certificate is not from an authority this site trusts, or not meant for signing.", "bad"
	case errors.Is(err, esign.ErrBadSignature):
		return "INVALID: the signature does not match.", "bad"
	}
	return "INVALID: the signature cannot be checked.", "bad"
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
