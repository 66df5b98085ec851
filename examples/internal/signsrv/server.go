// Package signsrv is the web application of examples/sign: upload a
// document, have the holder sign it with the card's e-signature key (PIV 9C)
// through the card agent, download the detached CMS signature (.p7s), and
// verify a document against its signature. Built on puce's esign package;
// kept apart from its main so the browser tests can run it in-process.
package signsrv

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/esign"
)

//go:embed templates
var templates embed.FS

// MaxDocument bounds an uploaded document.
const MaxDocument = 10 << 20

// Config configures the server.
type Config struct {
	// Origin is the site's origin as browsers see it.
	Origin   string
	SiteName string
	// AgentURL is where the card agent listens.
	AgentURL string
	// Roots and Intermediates are the CAs whose signing certificates are
	// trusted; Chain are the issuing CA certificates put into each .p7s so a
	// receiver (openssl cms -verify) can build the path.
	Roots, Intermediates *x509.CertPool
	Chain                []*x509.Certificate
	// OCSPURL overrides the responder the certificates name; NoOCSP skips
	// the status check on the verify page.
	OCSPURL string
	NoOCSP  bool
	Logger  *slog.Logger
	Now     func() time.Time
}

// Server is the signing application.
type Server struct {
	cfg      Config
	log      *slog.Logger
	pages    *web.Pages
	sessions *web.Sessions[state]
	// ocsp checks the signer's certificate on the verify page; nil when
	// revocation checks are off.
	ocsp *ocsp.Checker

	mu   sync.Mutex
	docs map[string]*document
}

// state is a browser's session: the documents it uploaded. A document is
// reachable only from the session that uploaded it.
type state struct {
	Docs []string
}

type document struct {
	id, name string
	data     []byte
	hash     [32]byte
	uploaded time.Time
	pending  *esign.Pending
	cert     *x509.Certificate
	p7s      []byte
}

// docTTL is how long an uploaded document and its signature stay: this
// example is not an archive.
const docTTL = 30 * time.Minute

// New builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Origin == "" || cfg.Roots == nil {
		return nil, errors.New("signsrv: Origin and Roots are required")
	}
	if cfg.SiteName == "" {
		cfg.SiteName = "puce example signing desk"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u, err := url.Parse(cfg.Origin)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("signsrv: origin %q is not scheme://host[:port]", cfg.Origin)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, docs: map[string]*document{},
		sessions: &web.Sessions[state]{Cookie: "puce_sign", Secure: u.Scheme == "https", Now: cfg.Now}}
	if !cfg.NoOCSP {
		s.ocsp = &ocsp.Checker{ResponderURL: cfg.OCSPURL}
	}
	if s.pages, err = web.ParsePages(templates, "templates"); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /upload", s.upload)
	mux.HandleFunc("GET /sign/{id}", s.signPage)
	mux.HandleFunc("GET /sign/{id}/document", s.documentFile)
	mux.HandleFunc("POST /sign/{id}/prepare", s.prepare)
	mux.HandleFunc("POST /sign/{id}/finish", s.finish)
	mux.HandleFunc("GET /sign/{id}/signature.p7s", s.signatureFile)
	mux.HandleFunc("GET /verify", s.verifyPage)
	mux.HandleFunc("POST /verify", s.verifyPost)
	return http.MaxBytesHandler(mux, 2*MaxDocument+(1<<20))
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, sess *web.Session[state], status int, page, title, errMsg string, data any, script string) {
	p := web.Page{Site: s.cfg.SiteName, Title: title, CSRF: sess.CSRF, Error: errMsg, Notice: r.URL.Query().Get("notice"), Data: data, Script: script}
	var connect []string
	if s.cfg.AgentURL != "" {
		connect = append(connect, s.cfg.AgentURL)
	}
	s.pages.Render(w, status, page, p, connect...)
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	s.render(w, r, sess, 200, "home.html", "Sign a document with your card", "", nil, "")
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		s.render(w, r, sess, http.StatusBadRequest, "home.html", "Sign a document with your card", "The upload failed or the document is larger than 10 MB.", nil, "")
		return
	}
	if !web.CheckCSRF(r, sess, s.cfg.Origin) {
		s.render(w, r, sess, http.StatusForbidden, "home.html", "Sign a document with your card", "This form is out of date or did not come from this site. Reload the page and try again.", nil, "")
		return
	}
	f, hdr, err := r.FormFile("document")
	if err != nil {
		s.render(w, r, sess, http.StatusBadRequest, "home.html", "Sign a document with your card", "Choose a document to sign.", nil, "")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDocument+1))
	if err != nil || len(data) == 0 || len(data) > MaxDocument {
		s.render(w, r, sess, http.StatusBadRequest, "home.html", "Sign a document with your card", "The document is empty or larger than 10 MB.", nil, "")
		return
	}
	d := &document{id: web.Token(16), name: cleanName(hdr.Filename), data: data, hash: sha256.Sum256(data), uploaded: s.cfg.Now()}
	s.mu.Lock()
	for id, o := range s.docs {
		if s.cfg.Now().Sub(o.uploaded) > docTTL {
			delete(s.docs, id)
		}
	}
	s.docs[d.id] = d
	s.mu.Unlock()
	sess.With(func(st *state) { st.Docs = append(st.Docs, d.id) })
	http.Redirect(w, r, "/sign/"+d.id, http.StatusSeeOther)
}

// cleanName keeps a file name displayable and safe in a header.
func cleanName(n string) string {
	n = path.Base(strings.ReplaceAll(n, "\\", "/"))
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == 0x7f {
			return '_'
		}
		return r
	}, n)
	if n == "" || n == "." || n == "/" {
		n = "document"
	}
	if len(n) > 120 {
		n = n[:120]
	}
	return n
}

// doc returns a document of this browser's session.
func (s *Server) doc(r *http.Request, sess *web.Session[state]) *document {
	id := r.PathValue("id")
	mine := false
	sess.With(func(st *state) {
		for _, d := range st.Docs {
			mine = mine || d == id
		}
	})
	if !mine {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[id]
	if d == nil || s.cfg.Now().Sub(d.uploaded) > docTTL {
		return nil
	}
	return d
}

type signData struct {
	ID, Name, Agent string
	Size            int
	Hash            []byte
	Signed          bool
	Signer          string
	SigningTime     time.Time
}

func (s *Server) signPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	d := s.doc(r, sess)
	if d == nil {
		s.render(w, r, sess, 404, "home.html", "Sign a document with your card", "This document is gone (documents are kept 30 minutes). Upload it again.", nil, "")
		return
	}
	s.mu.Lock()
	sd := signData{ID: d.id, Name: d.name, Agent: s.cfg.AgentURL, Size: len(d.data), Hash: d.hash[:], Signed: d.p7s != nil}
	if d.p7s != nil {
		sd.Signer, sd.SigningTime = d.cert.Subject.CommonName, d.pending.SigningTime
	}
	s.mu.Unlock()
	s.render(w, r, sess, 200, "sign.html", "Sign "+d.name, "", sd, "sign.js")
}

func (s *Server) documentFile(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	d := s.doc(r, sess)
	if d == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", d.name))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(d.data)
}

func (s *Server) signatureFile(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	d := s.doc(r, sess)
	if d == nil || d.p7s == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/pkcs7-signature")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", d.name+".p7s"))
	w.Write(d.p7s)
}

// jsonAPI runs a JSON step of the signing page: same session, CSRF token
// in the X-CSRF-Token header.
func (s *Server) jsonAPI(w http.ResponseWriter, r *http.Request, fn func(d *document, body map[string]string) (int, map[string]string)) {
	sess := s.sessions.Get(w, r)
	web.JSONStep(w, r, sess, s.cfg.Origin, func(body map[string]string) (int, map[string]string) {
		d := s.doc(r, sess)
		if d == nil {
			return http.StatusNotFound, map[string]string{"error": "This document is gone. Upload it again."}
		}
		return fn(d, body)
	})
}

// prepare builds the signed attributes for the holder's signing
// certificate, which the card agent read from the card with the holder's
// consent.
func (s *Server) prepare(w http.ResponseWriter, r *http.Request) {
	s.jsonAPI(w, r, func(d *document, body map[string]string) (int, map[string]string) {
		der, err := base64.StdEncoding.DecodeString(body["certificate"])
		var cert *x509.Certificate
		if err == nil {
			cert, err = x509.ParseCertificate(der)
		}
		if err != nil {
			return http.StatusBadRequest, map[string]string{"error": "The card's certificate could not be read."}
		}
		// Refuse early a card this desk would not accept at verification.
		if _, err := cert.Verify(x509.VerifyOptions{Roots: s.cfg.Roots, Intermediates: s.cfg.Intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			s.log.Info("signing certificate refused", "subject", cert.Subject.String(), "err", err)
			return http.StatusBadRequest, map[string]string{"error": "This card's signing certificate is not from an authority this site trusts."}
		}
		p, err := esign.Prepare(d.data, cert, s.cfg.Now())
		if err != nil {
			s.log.Info("prepare", "err", err)
			return http.StatusBadRequest, map[string]string{"error": "This card's key cannot make the kind of signature this site makes."}
		}
		s.mu.Lock()
		d.pending, d.cert, d.p7s = p, cert, nil
		s.mu.Unlock()
		return http.StatusOK, map[string]string{"signedAttributes": base64.StdEncoding.EncodeToString(p.SignedAttributes)}
	})
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request) {
	s.jsonAPI(w, r, func(d *document, body map[string]string) (int, map[string]string) {
		sig, err := base64.StdEncoding.DecodeString(body["signature"])
		s.mu.Lock()
		p := d.pending
		s.mu.Unlock()
		if err != nil || p == nil {
			return http.StatusBadRequest, map[string]string{"error": "The signature is missing. Start again."}
		}
		p7s, err := p.Assemble(sig, s.cfg.Chain...)
		if err != nil {
			s.log.Info("assemble", "err", err)
			return http.StatusBadRequest, map[string]string{"error": "The card's signature does not verify. Nothing was saved; start again."}
		}
		s.mu.Lock()
		d.p7s = p7s
		s.mu.Unlock()
		s.log.Info("document signed", "document", d.name, "signer", d.cert.Subject.CommonName)
		return http.StatusOK, map[string]string{"next": "/sign/" + d.id + "?notice=" + url.QueryEscape("Signed. Download the signature and keep it with the document.")}
	})
}

// ---- verification ---------------------------------------------------------

type verifyData struct {
	Verdict, VerdictClass string
	DocName               string
	Signer, SignerSerial  string
	Issuer                string
	SigningTime           time.Time
	Status, StatusClass   string
	ValidUntil            time.Time
}

func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	s.render(w, r, sess, 200, "verify.html", "Verify a signed document", "", nil, "")
}

func readPart(r *http.Request, name string, max int64) ([]byte, string, error) {
	f, hdr, err := r.FormFile(name)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = errors.New("too large")
	}
	return b, hdr.Filename, err
}

func (s *Server) verifyPost(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	bad := func(msg string) {
		s.render(w, r, sess, http.StatusBadRequest, "verify.html", "Verify a signed document", msg, nil, "")
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		bad("The upload failed or a file is larger than 10 MB.")
		return
	}
	if !web.CheckCSRF(r, sess, s.cfg.Origin) {
		bad("This form is out of date or did not come from this site. Reload the page and try again.")
		return
	}
	doc, name, err := readPart(r, "document", MaxDocument)
	if err != nil {
		bad("Choose the document (up to 10 MB).")
		return
	}
	p7s, _, err := readPart(r, "signature", esign.MaxSignatureSize)
	if err != nil {
		bad("Choose the signature file (.p7s).")
		return
	}
	d := s.verify(r.Context(), doc, p7s)
	d.DocName = cleanName(name)
	s.render(w, r, sess, 200, "verify.html", "Verify a signed document", "", d, "")
}

// verify has the library check the signature and, unless revocation checks
// are off, the signer's certificate status with the CA's OCSP responder.
func (s *Server) verify(ctx context.Context, doc, p7s []byte) *verifyData {
	rep, err := esign.VerifyContext(ctx, doc, p7s, esign.VerifyOptions{Roots: s.cfg.Roots, Intermediates: s.cfg.Intermediates,
		OCSP: s.ocsp, Now: s.cfg.Now})
	d := &verifyData{VerdictClass: "bad"}
	switch {
	case err == nil:
		d.Verdict, d.VerdictClass = "Valid signature: the document is exactly the one that was signed.", "ok"
	case errors.Is(err, esign.ErrDocumentAltered):
		d.Verdict = "ALTERED: this document is not the one that was signed. It was changed after signing, or it is another document."
	case errors.Is(err, esign.ErrBadSignature):
		d.Verdict = "INVALID: the signature does not match — it was not made with this certificate's key, or the signature file was tampered with."
	case errors.Is(err, esign.ErrRevoked):
		d.Verdict = "REVOKED: the document is the one that was signed, but the signer's certificate has been revoked by its authority."
	case errors.Is(err, esign.ErrRevocationUnknown):
		d.Verdict = "NOT CONFIRMED: the document is the one that was signed, but the signer's certificate status could not be checked now. Try again later."
	case errors.Is(err, esign.ErrUntrustedSigner):
		d.Verdict = "UNTRUSTED: the signature is intact, but the signer's certificate is not from an authority this site trusts, or not meant for signing."
	case errors.Is(err, esign.ErrUnsupported):
		d.Verdict = "UNSUPPORTED: this signature uses something this site does not check (" + strings.TrimPrefix(err.Error(), esign.ErrUnsupported.Error()+": ") + ")."
	default:
		d.Verdict = "This is not a signature file this site can read: it expects a detached CMS signature (.p7s)."
	}
	if err != nil {
		s.log.Info("verification", "err", err)
	}
	if rep == nil || rep.Signer == nil {
		return d
	}
	c := rep.Signer
	d.Signer, d.SignerSerial, d.Issuer = c.Subject.CommonName, c.Subject.SerialNumber, c.Issuer.CommonName
	d.SigningTime, d.ValidUntil = rep.SigningTime, c.NotAfter
	d.Status, d.StatusClass = status(rep, s.ocsp == nil)
	return d
}

// status puts what the CA's OCSP responder said, as the library judged it,
// into words. CAdES baseline B carries no revocation data of its own, so
// "now" is the best this desk can say.
func status(rep *esign.Report, off bool) (string, string) {
	r := rep.Revocation
	switch {
	case off:
		return "not checked (revocation checks are off on this server)", "bad"
	case r == nil:
		return "unknown: the issuer's revocation service gave no answer that can be relied on", "bad"
	case r.Revoked:
		return fmt.Sprintf("REVOKED on %s", r.RevokedAt.UTC().Format("2006-01-02 15:04 UTC")), "bad"
	}
	return fmt.Sprintf("valid now (issuer's OCSP responder, %s)", r.ThisUpdate.UTC().Format("2006-01-02 15:04 UTC")), "ok"
}
