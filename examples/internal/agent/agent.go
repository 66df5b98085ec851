// Package agent is the card agent of examples/cardagent: a small HTTP
// service on 127.0.0.1 that stands between a web page and the smart card.
//
// A page of an allow-listed origin asks it for something (sign a login nonce
// with the authentication key 9A, sign a document with the e-signature key
// 9C, or disclose data groups of the holder's identity document). The agent
// then shows the holder, in a window it serves itself, which origin asks and
// for what, and takes the PIN (or the identity document's CAN) there: the
// relying party's page never sees it and no web server receives it. The
// origin the agent binds into the card's signature is the one the browser
// reported in the request's Origin header, which a page cannot forge.
//
// It is example code on puce's public API: pcsc/piv for the card,
// pcsc/cardauth's NewToken for the Web eID token, pcsc/emrtd for the
// identity document (identity.go).
package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/piv"
)

//go:embed templates
var templates embed.FS

// Limits on what a page may ask.
const (
	// RequestTTL is how long a request waits for the holder.
	RequestTTL = 5 * time.Minute
	// MaxDocument bounds a document to sign (it travels over loopback, and
	// the holder's window shows a preview of it).
	MaxDocument = 10 << 20
	// maxPending bounds the requests waiting per origin, so a page cannot
	// flood the holder with windows or the agent with memory.
	maxPending = 8
)

// Config configures the agent.
type Config struct {
	// Allowed are the origins whose pages may use the card
	// ("https://bank.example"). Nothing else is answered.
	Allowed []string
	// Source reaches the card.
	Source Source
	Logger *slog.Logger
}

// Agent is the card agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	allowed map[string]bool
	page    *template.Template
	// self is the agent's own origin (http://127.0.0.1:port), known once
	// it listens.
	self string

	mu       sync.Mutex
	requests map[string]*request
	// renders bounds the pdftoppm processes running at once (pdfpage.go).
	renders chan struct{}
	// card is held by the one request at the card (withCard).
	card chan struct{}

	refusedMu sync.Mutex
	// refusals counts, per origin, the requests refused since the origin's
	// last log line (logRefused).
	refusals map[string]*refusal
}

// Status of a request, as the page sees it.
const (
	stWaiting     = "waiting"     // the holder has not answered yet
	stCertificate = "certificate" // sign: the holder shared the certificate; attributes expected
	stReady       = "ready"       // sign: attributes received; PIN expected
	stDone        = "done"
	stFailed      = "failed"
	stCancelled   = "cancelled"
)

type request struct {
	id, origin, kind string
	created          time.Time
	status           string
	// csrf protects the holder's window: only the agent's own page knows it.
	csrf string
	// notice is what the holder's window shows after a refused PIN.
	notice   string
	lastTry  bool
	result   map[string]string
	errorMsg string
	// holderMsg is why the request failed, for the holder's window only,
	// when the reason is the holder's data (errorMsg, which the site
	// reads, then says less).
	holderMsg string
	// collected: the site has taken the outcome. The site cannot see the
	// request again; the holder's window still shows how it ended until the
	// request expires, however the window's reload and the site's poll are
	// ordered.
	collected bool
	// busy: an answer of the holder is with the card. Another post of the
	// same form (a double click, Enter pressed twice) waits its turn
	// nowhere: it is dropped, so one answer is one PIN try and at most one
	// signature.
	busy bool

	// authenticate
	nonce string
	// identity (identity.go)
	ident *identityRequest
	// approve (approve.go)
	approval *approval
	// sign
	docName     string
	doc         []byte
	docHash     [32]byte
	cert        *x509.Certificate
	attrs       []byte
	signingTime time.Time
	// pdf: a PDF the site keeps (pdf.go); the holder sees its name, size,
	// hash and page count, the card signs digest.
	pdf *pdfSign
}

// New returns the agent.
func New(cfg Config) (*Agent, error) {
	if cfg.Source == nil {
		return nil, errors.New("agent: no card source")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, allowed: map[string]bool{}, requests: map[string]*request{}, renders: make(chan struct{}, maxRenders),
		card: make(chan struct{}, 1), refusals: map[string]*refusal{}}
	for _, o := range cfg.Allowed {
		a.allowed[strings.TrimRight(o, "/")] = true
	}
	var err error
	a.page, err = template.New("").Funcs(template.FuncMap{"hex": func(b []byte) string { return fmt.Sprintf("%X", b) }}).ParseFS(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Serve listens on addr, which must be a loopback address, and serves until
// ctx ends. ready, when not nil, receives the agent's URL once it listens.
func (a *Agent) Serve(ctx context.Context, addr string, ready func(url string)) error {
	if !web.Loopback(addr) {
		return fmt.Errorf("agent: %s is not a loopback address: the agent must only be reachable from this computer", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	a.self = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if ready != nil {
		ready(a.self)
	}
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// SetSelf tells the agent its own origin when the caller listens for it
// (tests with httptest).
func (a *Agent) SetSelf(origin string) { a.self = origin }

// Handler returns the agent's routes.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.status)
	mux.HandleFunc("OPTIONS /v1/", a.preflight)
	mux.HandleFunc("POST /v1/requests", a.api(a.create))
	mux.HandleFunc("GET /v1/requests/{id}", a.api(a.poll))
	mux.HandleFunc("POST /v1/requests/{id}/attributes", a.api(a.attributes))
	mux.HandleFunc("GET /prompt/{id}", a.prompt)
	mux.HandleFunc("POST /prompt/{id}", a.answer)
	mux.HandleFunc("GET /prompt.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write([]byte(promptJS))
	})
	return http.MaxBytesHandler(a.checkHost(mux), MaxDocument*4/3+64<<10)
}

// promptJS closes the holder's window once the request is answered, and
// keeps a window waiting for the page's next step up to date.
const promptJS = `"use strict";
const m = document.querySelector("meta[name=puce-next]");
if (m && m.content === "close") setTimeout(() => window.close(), 1500);
if (m && m.content === "reload") setTimeout(() => location.reload(), 700);
`

type apiHandler func(w http.ResponseWriter, r *http.Request, origin string) (int, any)

func (a *Agent) api(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin, ok := a.cors(w, r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			a.logRefused(origin)
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]string{"error": "This site may not use the card agent."})
			return
		}
		status, body := h(w, r, origin)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}
}

func apiErr(msg string) map[string]string { return map[string]string{"error": msg} }

// expire drops requests older than RequestTTL. Called with a.mu held.
func (a *Agent) expire(now time.Time) {
	for id, q := range a.requests {
		if now.Sub(q.created) > RequestTTL {
			delete(a.requests, id)
		}
	}
}

type createBody struct {
	Kind     string `json:"kind"`
	Nonce    string `json:"nonce"`
	Document string `json:"document"`
	Name     string `json:"name"`
	// PDF: what a site that keeps its PDF says of it; Document may then
	// carry the PDF's bytes for the first page's picture.
	PDF *pdfBody `json:"pdf"`
	// identity: the data groups the site requires, and those the holder
	// may choose to send.
	Require  []int `json:"require"`
	Optional []int `json:"optional"`
	// approve: the approval challenge's payload, as the site got it.
	Approval json.RawMessage `json:"approval"`
}

func (a *Agent) create(w http.ResponseWriter, r *http.Request, origin string) (int, any) {
	var b createBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		return http.StatusBadRequest, apiErr("The request is not valid JSON.")
	}
	q := &request{id: web.Token(16), origin: origin, kind: b.Kind, created: time.Now(), status: stWaiting, csrf: web.Token(32)}
	switch b.Kind {
	case "authenticate":
		// A Web eID nonce is at least 32 random bytes in base64; bound it so
		// the holder's window stays readable.
		if len(b.Nonce) < 43 || len(b.Nonce) > 128 || !base64Text(b.Nonce) {
			return http.StatusBadRequest, apiErr("The login challenge is missing or malformed.")
		}
		q.nonce = b.Nonce
	case "sign":
		if b.PDF != nil {
			if code, body := a.newPDFSign(r.Context(), q, b); code != 0 {
				return code, body
			}
			break
		}
		doc, err := base64.StdEncoding.DecodeString(b.Document)
		if err != nil || len(doc) == 0 || len(doc) > MaxDocument {
			return http.StatusBadRequest, apiErr("The document is missing, malformed or larger than 10 MB.")
		}
		q.doc, q.docHash = doc, sha256.Sum256(doc)
		q.docName = visible(b.Name)
		if b.Name == "" || len(b.Name) > 200 || !utf8.ValidString(b.Name) {
			q.docName = "(unnamed document)"
		}
	case kindIdentity:
		if code, body := newIdentity(q, b); code != 0 {
			return code, body
		}
	case kindApprove:
		if code, body := newApproval(q, b); code != 0 {
			return code, body
		}
	default:
		return http.StatusBadRequest, apiErr("Unknown request kind.")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(time.Now())
	n := 0
	for _, o := range a.requests {
		if o.origin == origin && (o.status == stWaiting || o.status == stCertificate || o.status == stReady || o.status == stReview) {
			n++
		}
	}
	if n >= maxPending {
		return http.StatusTooManyRequests, apiErr("Too many card requests are waiting; answer or cancel them first.")
	}
	a.requests[q.id] = q
	a.log.Info("request", "id", q.id, "origin", origin, "kind", q.kind)
	return http.StatusCreated, map[string]string{"id": q.id, "prompt": a.self + "/prompt/" + q.id}
}

// base64Text reports whether s is in the base64 alphabet, standard or
// URL-safe (RFC 4648 §4, §5), as a Web eID login nonce is. Anything else
// (an approval nonce, "puce-approve:1:…", with its ':') is not a login
// challenge, and the authentication key must not sign it as one.
func base64Text(s string) bool {
	for _, c := range []byte(s) {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_' || c == '=') {
			return false
		}
	}
	return true
}

// lookup finds a request of the given origin. A request is visible to the
// origin that made it only.
func (a *Agent) lookup(id, origin string) *request {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(time.Now())
	q := a.requests[id]
	if q == nil || (origin != "" && (q.origin != origin || q.collected)) {
		return nil
	}
	return q
}

// final reports whether a request has its outcome.
func final(status string) bool {
	return status == stDone || status == stFailed || status == stCancelled
}

func (a *Agent) poll(w http.ResponseWriter, r *http.Request, origin string) (int, any) {
	q := a.lookup(r.PathValue("id"), origin)
	if q == nil {
		return http.StatusNotFound, map[string]string{"status": "unknown", "error": "The card request expired or is unknown. Start again."}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]any{"status": q.status}
	switch q.status {
	case stCertificate:
		out["certificate"] = base64.StdEncoding.EncodeToString(q.cert.Raw)
	case stDone:
		// Delivered once; the result (a token, a signature, identity
		// data) is not kept once the site has it.
		out["result"] = q.result
		q.result, q.collected = nil, true
	case stFailed, stCancelled:
		out["error"] = q.errorMsg
		q.collected = true
	}
	return http.StatusOK, out
}

func (a *Agent) attributes(w http.ResponseWriter, r *http.Request, origin string) (int, any) {
	q := a.lookup(r.PathValue("id"), origin)
	if q == nil {
		return http.StatusNotFound, apiErr("The card request expired or is unknown. Start again.")
	}
	var b struct {
		SignedAttributes string `json:"signedAttributes"`
		// PDFRequest is the site's pades.SignRequest, for a PDF.
		PDFRequest json.RawMessage `json:"pdfRequest"`
	}
	// A PDF's request carries the update that adds the signature field.
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10+2*pades.MaxUpdateSize)).Decode(&b); err != nil {
		return http.StatusBadRequest, apiErr("The request is not valid JSON.")
	}
	a.mu.Lock()
	pdf, fresh := q.pdf, false
	if pdf == nil && len(b.PDFRequest) > 0 && q.status == stCertificate && bytes.HasPrefix(q.doc, []byte("%PDF-")) {
		// A page that handed over the document without saying the site
		// keeps it as a PDF (puce.js's sign): the site's answer is a PDF
		// signing request, checked against the bytes handed over.
		pdf, fresh = &pdfSign{size: len(q.doc), doc: q.doc, PageNote: "The first page cannot be shown."}, true
		q.pdf = pdf
	}
	a.mu.Unlock()
	if pdf != nil {
		return a.pdfRequest(r.Context(), q, pdf, fresh, b.PDFRequest, origin)
	}
	der, err := base64.StdEncoding.DecodeString(b.SignedAttributes)
	if err != nil || len(der) > 16<<10 {
		return http.StatusBadRequest, apiErr("The signed attributes are malformed.")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if q.status != stCertificate {
		return http.StatusConflict, apiErr("This request is not waiting for signed attributes.")
	}
	// What the card will sign must be this document: the holder was shown
	// its name, size and hash, and the signature must cover nothing else.
	// The library checks the attributes name it and the card's certificate.
	at, err := esign.CheckSignedAttributes(der, q.doc, q.cert)
	switch {
	case errors.Is(err, esign.ErrDocumentAltered):
		q.status, q.errorMsg = stFailed, "The site asked to sign something other than the document shown to the holder."
		a.log.Warn("signed attributes do not match the document", "id", q.id, "origin", origin)
		return http.StatusBadRequest, apiErr(q.errorMsg)
	case errors.Is(err, esign.ErrOtherCertificate):
		q.status, q.errorMsg = stFailed, "The site named another signing certificate than the card's."
		return http.StatusBadRequest, apiErr(q.errorMsg)
	case err != nil:
		return http.StatusBadRequest, apiErr("The signed attributes are malformed.")
	}
	q.attrs, q.signingTime, q.status = der, at, stReady
	return http.StatusOK, map[string]string{"status": q.status}
}

// status is the agent's home page: what it is and who may use it.
func (a *Agent) status(w http.ResponseWriter, r *http.Request) {
	a.promptHeaders(w)
	a.page.ExecuteTemplate(w, "status.html", map[string]any{"Allowed": a.cfg.Allowed, "Source": a.cfg.Source.Describe()})
}

// promptHeaders protect the holder's window: no framing (a page cannot
// overlay or click-jack the PIN field) and no script but the agent's own.
//
// The site's page opens the window (a popup, so that it opens within the
// holder's click) and keeps a WindowProxy for it. Same-origin policy stops
// that handle from reading the window, not from navigating it: once the
// holder has seen 127.0.0.1 there, the site could put a look-alike PIN
// prompt of its own into the same window (HTML §7.4.2.3 lets an opener
// navigate its auxiliary browsing context), or reach it again through its
// name. Cross-Origin-Opener-Policy: same-origin (HTML §7.1.3) makes the
// browser give the window a browsing context group of its own when it loads
// an agent page: the site's handle then reports the window closed, its
// window.opener is null, and its name finds it from no other group. The
// window closes itself once the request has its outcome (prompt.js), which
// COOP leaves allowed, since the site's handle no longer can.
// Cross-Origin-Resource-Policy: same-origin (Fetch §3.7) keeps another
// origin's page from loading the window's HTML, which carries the form's
// CSRF token, as a no-cors resource into its own process.
func (a *Agent) promptHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer Chromium sends
	// "Origin: null" on the window's own form posts, and the agent checks
	// that origin.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

type promptData struct {
	ID, Origin, Kind, Status, CSRF string
	Notice, Error                  string
	LastTry                        bool
	TriesLeft                      int
	// PINPad: the reader has a PIN pad, so the window asks the holder to
	// type the PIN there and shows no PIN field.
	PINPad bool
	// Busy: another request has the card; NoCard: no card (or reader, or
	// PC/SC service) answers yet. The window waits for it.
	Busy, NoCard bool
	DocName      string
	DocSize      int
	DocHash      []byte
	Preview      string
	SigningTime  time.Time
	Signer       string
	Next         string
	// Payment is the payment an approval shows, decoded from what is signed.
	Payment *identity.Transaction
	// PDF: a PDF the site keeps, its pages and level.
	PDF *pdfSign
}

func (a *Agent) prompt(w http.ResponseWriter, r *http.Request) {
	q := a.lookup(r.PathValue("id"), "")
	a.promptHeaders(w)
	if q == nil {
		w.WriteHeader(http.StatusNotFound)
		a.page.ExecuteTemplate(w, "prompt.html", promptData{Status: "unknown", Error: "This card request expired or was already answered. Go back to the site and start again."})
		return
	}
	if q.kind == kindIdentity {
		a.identityPrompt(w, r, q)
		return
	}
	a.mu.Lock()
	d := promptData{ID: q.id, Origin: q.origin, Kind: q.kind, Status: q.status, CSRF: q.csrf, Notice: q.notice, LastTry: q.lastTry,
		DocName: q.docName, DocSize: len(q.doc), DocHash: q.docHash[:], SigningTime: q.signingTime, TriesLeft: -1}
	if q.pdf != nil {
		c := *q.pdf
		d.PDF, d.DocSize = &c, c.size
	}
	if q.cert != nil {
		d.Signer = q.cert.Subject.CommonName
	}
	if q.kind == "sign" {
		d.Preview = preview(q.doc)
	}
	if q.approval != nil {
		d.Payment = &q.approval.tx
	}
	a.mu.Unlock()
	switch d.Status {
	case stCertificate:
		d.Next = "reload"
	case stDone, stFailed, stCancelled:
		d.Next = "close"
	}
	// Tell the holder how many PIN tries are left before they type: asking
	// spends none.
	if d.Status == stWaiting && (q.kind == "authenticate" || q.kind == kindApprove) || d.Status == stReady {
		var err error
		d.TriesLeft, d.PINPad, err = a.pinState(r.Context())
		// Whether the reader has a PIN pad is unknown while another
		// request holds the card, or before the card is in: a PIN field
		// then could have the holder type on the computer a PIN the
		// reader's keys would keep from it. The window waits for the card.
		switch {
		case errors.Is(err, errCardBusy):
			d.Busy, d.Next = true, "reload"
		case cardAbsent(err):
			d.NoCard, d.Next = true, "reload"
		}
	}
	a.page.ExecuteTemplate(w, "prompt.html", d)
}

// pinState returns the PIN tries left (-1 when unknown) and whether the
// reader has a PIN pad; errCardBusy when another request has the card.
func (a *Agent) pinState(ctx context.Context) (n int, pad bool, err error) {
	n = -1
	err = a.withCard(ctx, 0, func(ctx context.Context, t apdu.Transport) error {
		card, err := piv.Open(ctx, t, nil)
		if err != nil {
			return err
		}
		pad = card.HasPINPad(ctx)
		st, err := card.PINStatus(ctx)
		if err == nil && !st.Verified {
			n = st.TriesLeft
		}
		return err
	})
	return n, pad, err
}

// answer takes the holder's decision and PIN from the agent's own window.
func (a *Agent) answer(w http.ResponseWriter, r *http.Request) {
	q := a.lookup(r.PathValue("id"), "")
	if q == nil {
		a.prompt(w, r)
		return
	}
	// Only the agent's own page may answer: the form must come from the
	// agent's origin and carry the token only that page holds.
	if o := r.Header.Get("Origin"); (o != "" && o != a.self) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(q.csrf)) != 1 {
		a.promptHeaders(w)
		w.WriteHeader(http.StatusForbidden)
		a.page.ExecuteTemplate(w, "prompt.html", promptData{Status: "unknown", Error: "This answer did not come from the card agent's own window."})
		return
	}
	cancel := r.PostFormValue("action") == "cancel"
	a.mu.Lock()
	ended, busy := final(q.status), q.busy
	if !ended && !busy {
		q.busy = true
	}
	a.mu.Unlock()
	if busy && !ended && cancel {
		// The holder cancels while an earlier answer is still at the card:
		// a PIN pad waiting for keys (the browser abandoned that post for
		// this one, but the reader waits on), a slow card. The Cancel is
		// the holder's last word: the request ends now, and whatever the
		// card still answers is dropped (finish, refused), so the site
		// gets no token or signature the holder cancelled.
		a.cancel(q)
		http.Redirect(w, r, "/prompt/"+q.id, http.StatusSeeOther)
		return
	}
	if ended || busy {
		// A form posted again after the outcome (the back button, a second
		// click) changes nothing: the window shows how the request ended.
		// Posted again while the first post is still with the card, it
		// must not reach the card a second time: the holder gave one PIN
		// try, and one consent to sign (DESIGN.md: a PIN is never retried
		// automatically).
		http.Redirect(w, r, "/prompt/"+q.id, http.StatusSeeOther)
		return
	}
	defer func() {
		a.mu.Lock()
		q.busy = false
		a.mu.Unlock()
	}()
	if q.kind == kindIdentity {
		a.identityAnswer(w, r, q)
		return
	}
	if cancel {
		a.cancel(q)
		http.Redirect(w, r, "/prompt/"+q.id, http.StatusSeeOther)
		return
	}
	a.mu.Lock()
	status, kind := q.status, q.kind
	a.mu.Unlock()
	// The PIN is read from the form and handed to the card; it is never
	// logged, stored or sent anywhere else.
	pin := holderPIN(r)
	var err error
	switch {
	case kind == "authenticate" && status == stWaiting:
		err = a.authenticate(r.Context(), q, pin)
	case kind == "sign" && status == stWaiting:
		err = a.shareCertificate(r.Context(), q)
	case kind == "sign" && status == stReady:
		err = a.sign(r.Context(), q, pin)
	case kind == kindApprove && status == stWaiting:
		err = a.approvePayment(r.Context(), q, pin)
	default:
		err = nil
	}
	if err != nil {
		a.refused(q, err)
	}
	http.Redirect(w, r, "/prompt/"+q.id, http.StatusSeeOther)
}

// authenticate has the library do the holder's side of a login: select,
// PIN (verified for every login: each site's request gets the holder's own
// consent), and the 9A signature over the origin the browser reported for
// the page, so a token made for one site is useless on another.
func (a *Agent) authenticate(ctx context.Context, q *request, pin cardauth.PIN) error {
	if pin.Value == "" && !pin.PINPad {
		return errEmptyPIN
	}
	var token []byte
	err := a.withCard(ctx, cardWait, func(ctx context.Context, t apdu.Transport) (err error) {
		token, err = cardauth.LoginToken(ctx, t, q.origin, q.nonce, pin, nil)
		return err
	})
	if err != nil {
		return err
	}
	a.finish(q, stDone, map[string]string{"token": string(token)}, "")
	a.log.Info("login signed", "id", q.id, "origin", q.origin)
	return nil
}

func (a *Agent) shareCertificate(ctx context.Context, q *request) error {
	var cert *x509.Certificate
	err := a.withCard(ctx, cardWait, func(ctx context.Context, t apdu.Transport) (err error) {
		cert, err = cardauth.SigningCertificate(ctx, t)
		return err
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	if !final(q.status) {
		q.cert, q.status = cert, stCertificate
	}
	a.mu.Unlock()
	return nil
}

// sign has the card sign the digest of the attributes checked against the
// document the holder saw, with the key 9C (PIN for this signature).
func (a *Agent) sign(ctx context.Context, q *request, pin cardauth.PIN) error {
	if pin.Value == "" && !pin.PINPad {
		return errEmptyPIN
	}
	a.mu.Lock()
	attrs, cert := q.attrs, q.cert
	digest := sha256.Sum256(attrs)
	if q.pdf != nil {
		copy(digest[:], q.pdf.digest)
	}
	a.mu.Unlock()
	var sig []byte
	err := a.withCard(ctx, cardWait, func(ctx context.Context, t apdu.Transport) (err error) {
		sig, _, err = cardauth.SignDigest(ctx, t, digest[:], crypto.SHA256, cert, pin)
		return err
	})
	if err != nil {
		return err
	}
	a.finish(q, stDone, map[string]string{"signature": base64.StdEncoding.EncodeToString(sig)}, "")
	a.log.Info("document signed", "id", q.id, "origin", q.origin, "document", q.docName)
	return nil
}
