package httpauth

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// ActionSign is the action the signing endpoints authorize with
// Manager.Authorize: an application may ask more for it in Policy.Actions.
const ActionSign = "sign document"

// Signing serves the signature of documents with the account's card
// (esign.Ceremony) as two JSON endpoints, POST /sign/begin and
// /sign/finish, for a signed-in session:
//
//	begin:  {documentId, certificate}  the card's 9C certificate, as the
//	        holder's agent read it; the answer's payload is the
//	        esign.SignRequest whose digest the card signs
//	finish: {challengeId, documentId, signature}  the card's signature;
//	        Signed keeps the .p7s
//
// With PDF set, a PDF document (one that begins "%PDF-") is signed in the
// document instead, as PAdES (pades.Ceremony): the challenge's kind is
// pades.Kind and its payload a pades.SignRequest (the digest to sign, the
// document's size, SHA-256 and page count, the level, and the update that
// adds the signature field, without the PDF); SignedPDF keeps the signed
// PDF. Without
// PDF, every document, PDFs too, is signed as a detached CAdES signature
// (.p7s) kept beside it; with PDF and no Signed, the site signs PDFs only
// and refuses other documents at begin.
//
// The holder's side checks the payload before its card signs, so that the
// card signs CMS signed attributes naming its certificate and the document
// shown, never a bare digest of the server's choosing: esign.SignOnCard
// and pades.SignOnCard do it (puce.js's agent does it for a browser). For
// a PDF, a holder's side that holds the PDF rebuilds the signed bytes from
// it and the request's update and refuses an update that does more than
// add the signature field; one shown no bytes takes them on the server's
// word (pades.SignRequest.Check).
//
// The pending signature waits in the identity store between the two, so a
// finish may reach another instance, or this one after a restart. The
// library checks that the card is the one enrolled on the account.
type Signing struct {
	// Ceremony makes and checks the detached signatures (NewSite makes one
	// over the site's cards when Signed is set).
	Ceremony *esign.Ceremony
	// Document returns the document id names, as the application holds
	// it, if the session's user may sign it; nil (or an error) otherwise.
	// The bytes signed are these, never what a client posts.
	Document func(r *http.Request, s *Session, id string) (*Document, error)
	// Signed runs once a detached signature is made and verified: the
	// application keeps signed.P7S beside the document. Optional with
	// PDF: a site without it signs PDFs only.
	Signed func(r *http.Request, s *Session, doc *Document, signed *esign.Signed) error
	// PDF, when set, signs PDF documents in the document, at its level;
	// SignedPDF, then required, keeps the signed PDF.
	PDF       *pades.Ceremony
	SignedPDF func(r *http.Request, s *Session, doc *Document, signed *pades.Signed) error
}

// pdf reports whether doc is signed as a PDF: a PDF's header comes first
// (ISO 32000-1 §7.5.2).
func (s *Signing) pdf(doc *Document) bool {
	return s.PDF != nil && bytes.HasPrefix(doc.Data, []byte("%PDF-"))
}

// Document is a document to sign.
type Document struct {
	// ID is the application's name for it, which the client sends back.
	ID string
	// Name is what the user sees (a file name).
	Name string
	Data []byte
}

func (s *Signing) check() error {
	switch {
	case s.Document == nil:
		return fmt.Errorf("%w: httpauth: Signing needs Document, which returns the document to sign", identity.ErrBadInput)
	case s.Signed == nil && s.PDF == nil:
		return fmt.Errorf("%w: httpauth: Signing needs Signed, which keeps a detached signature, or PDF and SignedPDF, which sign PDFs in the document", identity.ErrBadInput)
	case s.Signed != nil && s.Ceremony == nil:
		return fmt.Errorf("%w: httpauth: Signing with Signed needs Ceremony (NewSite makes one over SiteConfig.Cards)", identity.ErrBadInput)
	case s.PDF != nil && s.SignedPDF == nil:
		return fmt.Errorf("%w: httpauth: Signing with PDF needs SignedPDF, which keeps the signed PDF", identity.ErrBadInput)
	case s.PDF == nil && s.SignedPDF != nil:
		return fmt.Errorf("%w: httpauth: Signing with SignedPDF needs PDF, the PDF signing ceremony (NewSite makes one from SiteConfig.PDF)", identity.ErrBadInput)
	}
	return nil
}

// errPDFOnly: a site that signs PDFs only was asked to sign another
// document.
var errPDFOnly = fmt.Errorf("%w: httpauth: this site signs PDF documents only", identity.ErrBadInput)

func (e *Endpoints) signRoutes() []route {
	if e.cfg.Signing == nil {
		return nil
	}
	return []route{
		{"POST", "/sign/begin", (*Endpoints).signBegin},
		{"POST", "/sign/finish", (*Endpoints).signFinish},
	}
}

type signBeginBody struct {
	DocumentID string `json:"documentId"`
	// Certificate is the DER of the card's signing certificate; JSON
	// carries it in standard base64.
	Certificate []byte `json:"certificate"`
}

type signFinishBody struct {
	ChallengeID string `json:"challengeId"`
	DocumentID  string `json:"documentId"`
	// Signature is the card's signature of the payload's digest, standard
	// base64.
	Signature []byte `json:"signature"`
}

type documentJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

func docJSON(d *Document) documentJSON {
	h := sha256.Sum256(d.Data)
	return documentJSON{ID: d.ID, Name: d.Name, Size: len(d.Data), SHA256: hex.EncodeToString(h[:])}
}

// signChallengeJSON is a signature's challenge with the document it is
// for, as the application holds it: what the page and the holder's agent
// show.
type signChallengeJSON struct {
	challengeJSON
	Document documentJSON `json:"document"`
}

type signedJSON struct {
	Signed       bool         `json:"signed"`
	Document     documentJSON `json:"document"`
	Signer       string       `json:"signer"`
	SigningTime  string       `json:"signingTime"`
	CredentialID string       `json:"credentialId"`
	// P7S is the signature, so that the page can offer it at once; none
	// for a PDF, signed in the document, which the application serves.
	P7S []byte `json:"p7s,omitempty"`
	// Level is a PDF signature's PAdES level ("B-LT").
	Level string `json:"level,omitempty"`
}

// signing reads a signing step's body, the session, which must be allowed
// to sign, and the document the body names; when one fails it has
// answered.
func (e *Endpoints) signing(w http.ResponseWriter, r *http.Request, body any, id *string) (*Session, *Document, bool) {
	err := decode(r, body)
	var s *Session
	if err == nil {
		s, err = e.m.Load(r)
	}
	if err == nil {
		err = e.m.Authorize(s, ActionSign)
	}
	var doc *Document
	if err == nil {
		doc, err = e.cfg.Signing.Document(r, s, *id)
	}
	if err == nil && doc == nil {
		err = fmt.Errorf("%w: httpauth: no document %q to sign", identity.ErrExpired, *id)
	}
	if err != nil {
		e.fail(w, r, err)
		return nil, nil, false
	}
	return s, doc, true
}

func (e *Endpoints) signBegin(w http.ResponseWriter, r *http.Request) {
	var b signBeginBody
	s, doc, ok := e.signing(w, r, &b, &b.DocumentID)
	if !ok {
		return
	}
	cert, err := x509.ParseCertificate(b.Certificate)
	if err != nil {
		e.fail(w, r, fmt.Errorf("%w: httpauth: signing certificate: %w", identity.ErrBadInput, err))
		return
	}
	req := identity.Request{Subject: s.Subject(), Origin: e.m.cfg.Origin, RemoteAddr: e.cfg.RemoteAddr(r)}
	var ch *identity.Challenge
	switch {
	case e.cfg.Signing.pdf(doc):
		ch, err = e.cfg.Signing.PDF.Begin(r.Context(), req, doc.Data, cert)
	case e.cfg.Signing.Signed == nil:
		err = errPDFOnly
	default:
		ch, err = e.cfg.Signing.Ceremony.Begin(r.Context(), req, doc.Data, cert)
	}
	var out challengeJSON
	if err == nil {
		out, err = e.challenge(r, s, ch)
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signChallengeJSON{out, docJSON(doc)})
}

func (e *Endpoints) signFinish(w http.ResponseWriter, r *http.Request) {
	var b signFinishBody
	s, doc, ok := e.signing(w, r, &b, &b.DocumentID)
	if !ok {
		return
	}
	id, err := boundChallenge(s, b.ChallengeID)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	resp := identity.Response{ChallengeID: id, Subject: s.Subject(), Origin: e.m.cfg.Origin, Data: b.Signature, RemoteAddr: e.cfg.RemoteAddr(r)}
	if e.cfg.Signing.pdf(doc) {
		e.signFinishPDF(w, r, s, doc, resp)
		return
	}
	if e.cfg.Signing.Signed == nil {
		e.fail(w, r, errPDFOnly)
		return
	}
	signed, err := e.cfg.Signing.Ceremony.Finish(r.Context(), resp, doc.Data)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	if err := e.cfg.Signing.Signed(r, s, doc, signed); err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signedJSON{Signed: true, Document: docJSON(doc), Signer: signed.Report.Signer.Subject.CommonName,
		SigningTime: signed.Report.SigningTime.UTC().Format(time.RFC3339), CredentialID: signed.CredentialID, P7S: signed.P7S})
}

func (e *Endpoints) signFinishPDF(w http.ResponseWriter, r *http.Request, s *Session, doc *Document, resp identity.Response) {
	signed, err := e.cfg.Signing.PDF.Finish(r.Context(), resp, doc.Data)
	if err == nil {
		err = e.cfg.Signing.SignedPDF(r, s, doc, signed)
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, signedJSON{Signed: true, Document: docJSON(doc), Signer: signed.Report.Signer.Subject.CommonName,
		SigningTime: signed.Report.ClaimedTime.UTC().Format(time.RFC3339), CredentialID: signed.CredentialID, Level: signed.Report.Level.String()})
}
