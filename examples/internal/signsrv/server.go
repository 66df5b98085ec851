// Package signsrv is the web application of examples/sign: the holder
// signs in with the card (PIV 9A, through the card agent), uploads a
// document, signs it with the card's e-signature key (PIV 9C, PIN asked by
// the agent for that signature), downloads the signed PDF (PAdES, at the
// level the deployment chose) or, for other documents, the detached CMS
// signature (.p7s, timestamped), and anyone verifies a signed PDF, or a
// document against its signature.
//
// Sessions, the card login and the signing ceremony are puce's
// identity/httpauth: the signing desk holds only its pages and documents.
// The library checks that the signing card is the one enrolled on the
// account; accounts and their cards come from the identity store the desk
// shares with examples/login. Kept apart from its main so the browser tests
// can run it in-process.
package signsrv

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"embed"
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
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

//go:embed templates
var templates embed.FS

// MaxDocument bounds an uploaded document.
const MaxDocument = 10 << 20

// Store is what the desk keeps its state in: accounts, cards, sessions and
// pending signatures (sqlstore for several instances, memstore alone).
type Store interface {
	identity.Store
	identity.SessionStore
}

// Config configures the server.
type Config struct {
	// Origin is the site's origin as browsers see it.
	Origin   string
	SiteName string
	// AgentURL is where the card agent listens.
	AgentURL string
	// Store holds the accounts whose cards may sign (nil: an empty memstore).
	Store Store
	// Roots and Intermediates are the CAs whose cards are trusted; Chain
	// are the issuing CA certificates put into each .p7s so a receiver
	// (openssl cms -verify) can build the path.
	Roots, Intermediates *x509.CertPool
	Chain                []*x509.Certificate
	// OCSPURL overrides the responder the certificates name; NoOCSP skips
	// the status checks.
	OCSPURL string
	NoOCSP  bool
	// TSA is the timestamping authority (its Roots are trusted for
	// timestamps). With it, PDFs are signed in the document at PDFLevel
	// (zero: B-LT) and .p7s signatures carry a signature timestamp
	// (CAdES-T); without, every document gets a CAdES-B .p7s.
	TSA      *esign.TSA
	PDFLevel pades.Level
	Logger   *slog.Logger
	Clock    identity.Clock
}

// Server is the signing application.
type Server struct {
	cfg   Config
	log   *slog.Logger
	pages *web.Pages
	m     *httpauth.Manager
	api   *httpauth.Endpoints
	// ocsp checks the signer's certificate on the verify page; nil when
	// revocation checks are off.
	ocsp *ocsp.Checker

	mu   sync.Mutex
	docs map[string]*document
}

// document is an upload, reachable only by the account that uploaded it.
type document struct {
	id, name string
	owner    identity.Subject
	data     []byte
	uploaded time.Time
	signed   *esign.Signed
	// signedPDF is a PDF signed in the document.
	signedPDF *pades.Signed
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
	if cfg.Clock == nil {
		cfg.Clock = identity.SystemClock{}
	}
	if cfg.Store == nil {
		cfg.Store = memstore.New()
	}
	u, err := url.Parse(cfg.Origin)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("signsrv: origin %q is not scheme://host[:port]", cfg.Origin)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, docs: map[string]*document{}}
	if !cfg.NoOCSP {
		s.ocsp = &ocsp.Checker{ResponderURL: cfg.OCSPURL}
	}
	// The library's part: sessions, the card login, the signing ceremony.
	svc := &identity.Services{Store: cfg.Store, Clock: cfg.Clock, Throttle: &identity.Throttle{Store: cfg.Store, Clock: cfg.Clock}}
	cards, err := cardauth.New(svc, cardauth.Config{Roots: cfg.Roots, Intermediates: cfg.Intermediates,
		OCSPResponderURL: cfg.OCSPURL, SkipRevocation: cfg.NoOCSP})
	if err != nil {
		return nil, err
	}
	ceremony, err := esign.NewCeremony(svc, esign.CeremonyConfig{Cards: cards, Chain: cfg.Chain,
		Verify: esign.VerifyOptions{Roots: cfg.Roots, Intermediates: cfg.Intermediates, OCSP: s.ocsp}})
	if err != nil {
		return nil, err
	}
	pdf, err := s.pdfCeremony(svc, cards)
	if err != nil {
		return nil, err
	}
	s.m, err = httpauth.New(httpauth.Config{Store: cfg.Store, Origin: cfg.Origin, Development: u.Scheme == "http",
		CookieName: "puce_sign", MaxBodyBytes: 2*MaxDocument + 1<<20, Clock: cfg.Clock, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	signing := &httpauth.Signing{Ceremony: ceremony, Document: s.document, Signed: s.keep}
	if pdf != nil { // without a timestamping authority PDFs get a .p7s too
		signing.PDF, signing.SignedPDF = pdf, s.keepPDF
	}
	s.api, err = s.m.Endpoints(httpauth.EndpointsConfig{Factors: []identity.Authenticator{cards}, Credentials: cfg.Store,
		Signing: signing})
	if err != nil {
		return nil, err
	}
	if s.pages, err = web.ParsePages(templates, "templates"); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/auth/", s.api)
	mux.HandleFunc("GET /static/desk.js", deskJS)
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /upload", s.upload)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /sign/{id}", s.signPage)
	mux.HandleFunc("GET /sign/{id}/document", s.file(false))
	mux.HandleFunc("GET /sign/{id}/signature.p7s", s.file(true))
	mux.HandleFunc("GET /sign/{id}/signed.pdf", s.signedPDF)
	mux.HandleFunc("GET /verify", s.verifyPage)
	mux.HandleFunc("POST /verify", s.verifyPost)
	return s.m.Protect(mux)
}

func deskJS(w http.ResponseWriter, r *http.Request) {
	js, _ := templates.ReadFile("templates/desk.js")
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(js)
}

type pageData struct {
	Agent, User, CSRF string
	Doc               *signData
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, title, errMsg string, doc *signData) {
	sess, err := s.m.Start(w, r)
	if err != nil {
		s.m.WriteError(w, r, err)
		return
	}
	d := pageData{Agent: s.cfg.AgentURL, CSRF: sess.CSRFToken(), Doc: doc}
	if sess.Login() != nil {
		d.User = string(sess.Subject())
	}
	var connect []string
	if s.cfg.AgentURL != "" {
		connect = append(connect, s.cfg.AgentURL)
	}
	s.pages.Render(w, status, page, web.Page{Site: s.cfg.SiteName, Title: title, CSRF: d.CSRF, Error: errMsg,
		Notice: r.URL.Query().Get("notice"), Data: d, Script: "desk.js"}, connect...)
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, 200, "home.html", "Sign a document with your card", "", nil)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, err := s.m.Load(r)
	if err == nil {
		err = s.m.Logout(r.Context(), w, sess)
	}
	if err != nil {
		s.m.WriteError(w, r, err)
		return
	}
	http.Redirect(w, r, "/?notice="+url.QueryEscape("You are signed out."), http.StatusSeeOther)
}

// signedIn is the subject of a completed login, or "".
func (s *Server) signedIn(r *http.Request) identity.Subject {
	sess, err := s.m.Load(r)
	if err != nil || sess.Login() == nil {
		return ""
	}
	return sess.Subject()
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	const title = "Sign a document with your card"
	who := s.signedIn(r)
	if who == "" {
		s.render(w, r, http.StatusForbidden, "home.html", title, "Sign in with your card first.", nil)
		return
	}
	f, hdr, err := r.FormFile("document")
	if err != nil {
		s.render(w, r, http.StatusBadRequest, "home.html", title, "Choose a document to sign (up to 10 MB).", nil)
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDocument+1))
	if err != nil || len(data) == 0 || len(data) > MaxDocument {
		s.render(w, r, http.StatusBadRequest, "home.html", title, "The document is empty or larger than 10 MB.", nil)
		return
	}
	now := s.cfg.Clock.Now()
	d := &document{id: web.Token(16), name: cleanName(hdr.Filename), owner: who, data: data, uploaded: now}
	s.mu.Lock()
	for id, o := range s.docs {
		if now.Sub(o.uploaded) > docTTL {
			delete(s.docs, id)
		}
	}
	s.docs[d.id] = d
	s.mu.Unlock()
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

// doc returns a live document of who.
func (s *Server) doc(who identity.Subject, id string) *document {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[id]
	if d == nil || who == "" || d.owner != who || s.cfg.Clock.Now().Sub(d.uploaded) > docTTL {
		return nil
	}
	return d
}

// document is the signing endpoints' view of the uploads: the session's
// user signs only their own.
func (s *Server) document(r *http.Request, sess *httpauth.Session, id string) (*httpauth.Document, error) {
	d := s.doc(sess.Subject(), id)
	if d == nil {
		return nil, nil
	}
	return &httpauth.Document{ID: d.id, Name: d.name, Data: d.data}, nil
}

// keep stores the signature the library made and verified.
func (s *Server) keep(r *http.Request, sess *httpauth.Session, doc *httpauth.Document, signed *esign.Signed) error {
	d := s.doc(sess.Subject(), doc.ID)
	if d == nil {
		return fmt.Errorf("%w: signsrv: the document is gone", identity.ErrExpired)
	}
	if err := s.timestamp(r.Context(), signed); err != nil {
		return err
	}
	s.mu.Lock()
	d.signed = signed
	s.mu.Unlock()
	s.log.Info("document signed", "document", d.name, "subject", sess.Subject(), "signer", signed.Report.Signer.Subject.CommonName)
	return nil
}

type signData struct {
	ID, Name    string
	Size        int
	Hash        []byte
	Signed      bool
	Signer      string
	SigningTime time.Time
	// PDF: signed in the document, at Level; Pages as the holder's agent
	// shows them.
	PDF         bool
	Level       string
	Pages       int
	Timestamped bool
}

func (s *Server) signPage(w http.ResponseWriter, r *http.Request) {
	d := s.doc(s.signedIn(r), r.PathValue("id"))
	if d == nil {
		s.render(w, r, 404, "home.html", "Sign a document with your card", "This document is gone (documents are kept 30 minutes). Upload it again.", nil)
		return
	}
	h := sha256.Sum256(d.data)
	sd := &signData{ID: d.id, Name: d.name, Size: len(d.data), Hash: h[:], Timestamped: s.cfg.TSA != nil}
	if s.cfg.TSA != nil && isPDF(d.data) {
		sd.PDF, sd.Level = true, s.pdfLevel().String()
		sd.Pages, _ = pades.PageCount(d.data)
	}
	s.mu.Lock()
	if d.signed != nil {
		sd.Signed, sd.Signer, sd.SigningTime = true, d.signed.Report.Signer.Subject.CommonName, d.signed.Report.SigningTime
	}
	if p := d.signedPDF; p != nil {
		sd.Signed, sd.Signer, sd.SigningTime, sd.Level = true, p.Report.Signer.Subject.CommonName, p.Report.ClaimedTime, p.Report.Level.String()
	}
	s.mu.Unlock()
	s.render(w, r, 200, "sign.html", "Sign "+d.name, "", sd)
}

// file downloads a document, or its signature, to its owner.
func (s *Server) file(p7s bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := s.doc(s.signedIn(r), r.PathValue("id"))
		var body []byte
		name, ctype := "", "application/octet-stream"
		if d != nil {
			s.mu.Lock()
			body, name = d.data, d.name
			if p7s {
				body, name, ctype = nil, d.name+".p7s", "application/pkcs7-signature"
				if d.signed != nil {
					body = d.signed.P7S
				}
			}
			s.mu.Unlock()
		}
		if body == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(body)
	}
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
	// Level, TimestampTime and Authority: a .p7s's CAdES level and
	// signature timestamp.
	Level, Authority string
	TimestampTime    time.Time
	// PDF: a signed PDF's report, a row per signature.
	PDF        bool
	Signatures []pdfSignature
}

func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request) {
	s.renderVerify(w, r, 200, "", nil)
}

// renderVerify shows the verify page, with a report when there is one.
func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, status int, errMsg string, v *verifyData) {
	sess, err := s.m.Start(w, r)
	if err != nil {
		s.m.WriteError(w, r, err)
		return
	}
	s.pages.Render(w, status, "verify.html", web.Page{Site: s.cfg.SiteName, Title: "Verify a signed document", CSRF: sess.CSRFToken(), Error: errMsg, Data: v})
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
	bad := func(msg string) { s.renderVerify(w, r, http.StatusBadRequest, msg, nil) }
	doc, name, err := readPart(r, "document", MaxDocument)
	if err != nil {
		bad("Choose the document (up to 10 MB).")
		return
	}
	p7s, _, err := readPart(r, "signature", esign.MaxSignatureSize)
	if errors.Is(err, http.ErrMissingFile) && isPDF(doc) {
		d := s.verifyPDF(r.Context(), doc)
		d.DocName = cleanName(name)
		s.renderVerify(w, r, 200, "", d)
		return
	}
	if err != nil {
		bad("Choose the signature file (.p7s).")
		return
	}
	d := s.verify(r.Context(), doc, p7s)
	d.DocName = cleanName(name)
	s.renderVerify(w, r, 200, "", d)
}

// verify has the library check the signature and, unless revocation checks
// are off, the signer's certificate status with the CA's OCSP responder.
func (s *Server) verify(ctx context.Context, doc, p7s []byte) *verifyData {
	opts := esign.VerifyOptions{Roots: s.cfg.Roots, Intermediates: s.cfg.Intermediates, OCSP: s.ocsp, Now: s.cfg.Clock.Now}
	if s.cfg.TSA != nil {
		opts.TSARoots, opts.TSAIntermediates = s.cfg.TSA.Roots, s.cfg.TSA.Intermediates
	}
	rep, err := esign.VerifyContext(ctx, doc, p7s, opts)
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
	case errors.Is(err, esign.ErrAuthorityRevoked):
		d.Verdict = "TIME NOT TRUSTED: the document is the one that was signed, but " + authorityRevoked
	case errors.Is(err, esign.ErrTimestamp):
		d.Verdict = "INVALID TIMESTAMP: the signature's timestamp does not verify, so it proves no signing time."
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
	d.SigningTime, d.ValidUntil, d.Level = rep.SigningTime, c.NotAfter, rep.Level
	if ts := rep.Timestamp; ts != nil {
		d.TimestampTime = ts.Time
		if ts.Authority != nil {
			d.Authority = ts.Authority.Subject.CommonName
		}
	}
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

func (s *Server) pdfLevel() pades.Level {
	if s.cfg.PDFLevel == 0 {
		return pades.LevelBLT
	}
	return s.cfg.PDFLevel
}
