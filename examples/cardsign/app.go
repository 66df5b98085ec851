package main

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// Config is what the bank's server is given.
type Config struct {
	DB          string // SQLite file
	AuditKey    []byte // 32 random bytes kept outside the database
	Origin      string
	Development bool // plain http://127.0.0.1, for the test and a laptop
	// Roots and Intermediates are the cards' CAs; Chain the issuing CAs
	// put into each signature.
	Roots, Intermediates *x509.CertPool
	Chain                []*x509.Certificate
	OCSP                 ocsp.Client // nil: HTTP to the responder the certificates name
	TSA                  *esign.TSA  // its Roots are the authority's CAs
	Level                pades.Level // LevelBLT or LevelBLTA
}

// App is the bank's server.
type App struct {
	site     *httpauth.Site
	store    *sqlstore.Store
	mux      *http.ServeMux
	auditKey []byte
	verify   pades.VerifyOptions
}

const schema = `CREATE TABLE IF NOT EXISTS bank_documents (
	id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,
	pdf BLOB NOT NULL, signed BLOB, level TEXT)`

// New opens the store and builds the site.
func New(ctx context.Context, cfg Config) (*App, error) {
	store, err := sqlstore.OpenSQLite(ctx, cfg.DB, sqlstore.WithAudit(identity.AuditConfig{Key: cfg.AuditKey}))
	if err != nil {
		return nil, err
	}
	if _, err := store.DB().ExecContext(ctx, schema); err != nil {
		store.Close()
		return nil, err
	}
	a := &App{store: store, mux: http.NewServeMux(), auditKey: cfg.AuditKey}
	a.verify = pades.VerifyOptions{Roots: cfg.Roots, Intermediates: cfg.Intermediates, TSARoots: cfg.TSA.Roots}
	a.site, err = httpauth.NewSite(httpauth.SiteConfig{
		Store:       store,
		Origin:      cfg.Origin,
		Development: cfg.Development,
		Name:        "Newcomer Bank",
		Cards:       &cardauth.Config{Roots: cfg.Roots, Intermediates: cfg.Intermediates, OCSP: cfg.OCSP},
		SignUp:      true,
		// PDFs signed in the document over the site's own card factor;
		// its OCSP client serves the signatures' validation data too.
		PDF: &pades.CeremonyConfig{
			Level:    cfg.Level,
			Services: pades.Services{TSA: cfg.TSA},
			Verify:   a.verify,
			Chain:    cfg.Chain,
			Sign:     pades.SignOptions{Reason: "Signed with the holder's card", Location: "Newcomer Bank"},
		},
		// No Signed: this bank signs PDFs only.
		Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{Document: a.document, SignedPDF: a.signedPDF}},
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	a.mux.Handle("/auth/", a.site)
	a.mux.HandleFunc("GET /documents/{id}/signed.pdf", a.download)
	a.mux.HandleFunc("GET /documents/{id}/report", a.report)
	return a, nil
}

func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Close closes the store.
func (a *App) Close() error { return a.store.Close() }

// AddDocument puts a PDF up for owner to sign (the back office's job).
func (a *App) AddDocument(ctx context.Context, owner identity.Subject, id, name string, pdf []byte) error {
	_, err := a.store.DB().ExecContext(ctx, `INSERT INTO bank_documents (id, owner, name, pdf) VALUES (?, ?, ?, ?)`, id, string(owner), name, pdf)
	return err
}

// VerifyAudit checks the sealed audit trail, as the operator's cron job does.
func (a *App) VerifyAudit(ctx context.Context) error {
	if err := a.store.Checkpoint(ctx); err != nil {
		return err
	}
	_, err := a.store.VerifyAudit(ctx, identity.AuditKeys{Current: a.auditKey})
	return err
}

// Events are the subject's audit records, newest first, as the back office
// shows them.
func (a *App) Events(ctx context.Context, subject identity.Subject) ([]identity.AuditRecord, error) {
	return a.store.AuditEvents(ctx, subject, 100)
}

// document is Signing.Document: the bank's PDF, for its owner only.
func (a *App) document(r *http.Request, s *httpauth.Session, id string) (*httpauth.Document, error) {
	var doc httpauth.Document
	err := a.store.DB().QueryRowContext(r.Context(), `SELECT id, name, pdf FROM bank_documents WHERE id = ? AND owner = ? AND signed IS NULL`,
		id, string(s.Subject())).Scan(&doc.ID, &doc.Name, &doc.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &doc, err
}

// signedPDF keeps the signed PDF, once: a second signature of the same
// document does not overwrite the first.
func (a *App) signedPDF(r *http.Request, s *httpauth.Session, doc *httpauth.Document, signed *pades.Signed) error {
	res, err := a.store.DB().ExecContext(r.Context(), `UPDATE bank_documents SET signed = ?, level = ? WHERE id = ? AND owner = ? AND signed IS NULL`,
		signed.PDF, signed.Report.Level.String(), doc.ID, string(s.Subject()))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: document already signed", identity.ErrReplayed)
	}
	return nil
}

// signed loads the signed PDF of the signed-in owner.
func (a *App) signed(w http.ResponseWriter, r *http.Request) []byte {
	s, err := a.site.Manager.Load(r)
	if err == nil {
		err = a.site.Manager.Authorize(s, "documents")
	}
	if err != nil {
		a.site.Manager.WriteError(w, r, err)
		return nil
	}
	var pdf []byte
	err = a.store.DB().QueryRowContext(r.Context(), `SELECT signed FROM bank_documents WHERE id = ? AND owner = ? AND signed IS NOT NULL`,
		r.PathValue("id"), string(s.Subject())).Scan(&pdf)
	if err != nil {
		http.NotFound(w, r)
		return nil
	}
	return pdf
}

func (a *App) download(w http.ResponseWriter, r *http.Request) {
	if pdf := a.signed(w, r); pdf != nil {
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(pdf)
	}
}

// report verifies the stored signed PDF as a receiver would, offline.
func (a *App) report(w http.ResponseWriter, r *http.Request) {
	pdf := a.signed(w, r)
	if pdf == nil {
		return
	}
	rep, err := pades.Verify(r.Context(), pdf, a.verify)
	if err != nil {
		a.site.Manager.WriteError(w, r, err)
		return
	}
	type sig struct {
		Field, Level, Signer     string
		Valid, DocumentTimestamp bool
		Timestamp                time.Time
	}
	var out []sig
	for _, s := range rep.Signatures {
		v := sig{Field: s.Field, Level: s.Level.String(), Valid: s.Valid(), DocumentTimestamp: s.DocumentTimestamp}
		if s.Signer != nil {
			v.Signer = s.Signer.Subject.CommonName
		}
		if s.Timestamp != nil {
			v.Timestamp = s.Timestamp.Time
		}
		out = append(out, v)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
