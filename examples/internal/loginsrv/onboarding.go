package loginsrv

// "Verify my identity document": onboarding of a logged-in account with the
// holder's identity document (the sovereign eMRTD applet of the card).
//
// The server issues a single-use challenge (identity.Services, as every
// ceremony), the page hands it to the card agent with the data groups the
// site wants, the agent's own window takes the CAN, shows the holder every
// field and sends only what the holder accepts: an emrtd.Disclosure in the
// agent's envelope, which carries the origin the holder saw and the
// challenge. The server consumes the challenge (single use, five minutes,
// bound to this account and origin), checks that the envelope names both,
// runs passive authentication against its CSCA certificates, refuses an
// expired document, and records the minimum: when, which data groups, the
// issuing state, the document type and expiry, and a keyed fingerprint of
// the document number — so one document verifies one account — but no name,
// birth date, photo or document number.
//
// What this proves: that the issuing state signed the data shown, and —
// when the document's EF.SOD covers an Active Authentication key (DG15),
// which then is required — that the chip itself signed a challenge derived
// from this exchange's nonce and origin, so a copy or a replay of the data
// fails (ErrNoChipProof). A chip without DG15 can show only the first: a
// copy of its disclosure passes as well as the original. Neither proves that
// the person submitting is the holder; identity proofing at a high level
// needs more (a face comparison with the DG2 photo, say); the page says so.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/pcsc/emrtd"
)

// KindIdentityDocument is the kind under which the server keeps a verified
// identity document. It is a record of onboarding, not a login factor: it
// never opens a session.
const KindIdentityDocument identity.Kind = "identity-document"

// MaxDisclosure bounds the posted disclosure (emrtd.MaxEnvelope: EF.SOD,
// the MRZ and a face image of a real document, base64 in a form field).
const MaxDisclosure = emrtd.MaxEnvelope

// The data groups the site asks for: the MRZ (names, nationality, birth
// date, document number and expiry) is required; the photo is the
// holder's choice.
var (
	requiredGroups = []emrtd.DG{emrtd.DG1}
	optionalGroups = []emrtd.DG{emrtd.DG2}
)

// Errors of onboarding; the passive authentication errors are emrtd's.
var (
	// ErrWrongChallenge: the disclosure's envelope names another challenge
	// or origin than the one this server issued for it.
	ErrWrongChallenge = fmt.Errorf("%w: the disclosure answers another challenge or site", identity.ErrChallengeMismatch)
	// ErrDocumentExpired: the document's expiry date (DG1) has passed.
	ErrDocumentExpired = errors.New("loginsrv: the identity document has expired")
	// ErrMissingGroup: a required data group was not disclosed.
	ErrMissingGroup = fmt.Errorf("%w: a required data group is missing", identity.ErrInvalidResponse)
	// ErrDocumentTaken: the document already verified another account.
	ErrDocumentTaken = fmt.Errorf("%w: the identity document is linked to another account", identity.ErrExists)
	// ErrMalformedDisclosure: the posted answer is not an envelope.
	ErrMalformedDisclosure = fmt.Errorf("%w: malformed disclosure", identity.ErrInvalidResponse)
	// ErrNoChipProof: the document's chip can prove its presence (EF.SOD
	// covers an Active Authentication key) but the disclosure carries no
	// valid proof for this exchange: a copy of the data, or a replay.
	ErrNoChipProof = fmt.Errorf("%w: the chip did not sign this exchange (a copy of the document's data?)", identity.ErrInvalidResponse)
)

// DocumentRecord is what the server keeps of a verified document, in the
// credential's Public field.
type DocumentRecord struct {
	VerifiedAt   time.Time `json:"verifiedAt"`
	IssuingState string    `json:"issuingState"`
	DocumentType string    `json:"documentType"`
	Expires      string    `json:"expires"` // YYYY-MM-DD
	DataGroups   []int     `json:"dataGroups"`
	CSCA         string    `json:"csca"`
	// ChipPresent: the chip signed this exchange's challenge (Active
	// Authentication), so the data came from the card itself, not a copy.
	ChipPresent bool `json:"chipPresent,omitempty"`
}

// Groups names the verified data groups.
func (d *DocumentRecord) Groups() string {
	var s []string
	for _, g := range d.DataGroups {
		s = append(s, fmt.Sprintf("DG%d", g))
	}
	return strings.Join(s, ", ")
}

// documentKey returns the configured fingerprint key, or a random one.
func documentKey(k []byte) []byte {
	if len(k) > 0 {
		return k
	}
	k = make([]byte, 32)
	rand.Read(k)
	return k
}

// fingerprint names a document without revealing its number: a document
// number has too little entropy for a plain hash, so the hash is keyed.
func (s *Server) fingerprint(state, number string) string {
	m := hmac.New(sha256.New, s.docKey)
	m.Write([]byte("puce identity document v1\x00" + state + "\x00" + number))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// withOnboarding routes the disclosure POST around the 64 kB limit of every
// other form: a disclosure with a photo is larger.
func (s *Server) withOnboarding(next, onboarding http.Handler) http.Handler {
	post := http.MaxBytesHandler(onboarding, MaxDisclosure+64<<10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/onboarding" {
			post.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type onboardingData struct {
	Configured               bool
	Challenge, Nonce, Agent  string
	Origin                   string
	Require, Optional        string
	RequireList, OptionalLst []string
	Current                  *DocumentRecord
	Verified                 *verifiedView
}

// verifiedView is what the result page shows once, and the server forgets.
type verifiedView struct {
	Fields [][2]string
	Photo  template.URL
	Record DocumentRecord
}

func groupList(dgs []emrtd.DG) (csv string, names []string) {
	var n []string
	for _, dg := range dgs {
		n = append(n, fmt.Sprint(int(dg)))
		names = append(names, dg.String())
	}
	return strings.Join(n, ","), names
}

func (s *Server) renderOnboarding(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, status int, errMsg, notice string, d *onboardingData) {
	p := s.page(r, sess, "Verify your identity document", d)
	p.Error, p.Script = errMsg, "onboarding.js"
	if notice != "" {
		p.Notice = notice
	}
	var connect []string
	if s.cfg.AgentURL != "" {
		connect = append(connect, s.cfg.AgentURL)
	}
	s.pages.Render(w, status, "onboarding.html", p, connect...)
}

func (s *Server) onboardingPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.onboardingForm(w, r, sess, http.StatusOK, "")
}

// onboardingForm issues a fresh challenge and shows the page.
func (s *Server) onboardingForm(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, status int, errMsg string) {
	subject := sess.Subject()
	d := &onboardingData{Configured: len(s.cfg.CSCAs) > 0 && s.cfg.AgentURL != "", Agent: s.cfg.AgentURL, Origin: s.cfg.Origin}
	d.Require, d.RequireList = groupList(requiredGroups)
	d.Optional, d.OptionalLst = groupList(optionalGroups)
	var err error
	if d.Current, err = s.currentDocument(r.Context(), subject); err != nil {
		errMsg = s.fail(r, err)
	}
	if d.Configured {
		ch, err := s.svc.Issue(r.Context(), KindIdentityDocument, identity.PurposeEnroll,
			identity.Request{Subject: subject, Origin: s.cfg.Origin, RemoteAddr: s.m.ClientAddr(r)}, []byte(web.Token(32)), nil)
		if err != nil {
			s.render(w, r, sess, 500, "message.html", "Verify your identity document", s.fail(r, err), nil)
			return
		}
		d.Challenge, d.Nonce = ch.ID.String(), string(ch.Payload)
	}
	s.renderOnboarding(w, r, sess, status, errMsg, "", d)
}

func (s *Server) onboardingPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	if len(s.cfg.CSCAs) == 0 {
		s.redirect(w, r, "/onboarding", "")
		return
	}
	var view *verifiedView
	id, err := identity.ParseChallengeID(r.PostFormValue("challenge"))
	if err == nil {
		err = s.svc.Finish(r.Context(), KindIdentityDocument, identity.PurposeEnroll,
			identity.Response{ChallengeID: id, Subject: sess.Subject(), Origin: s.cfg.Origin, Data: []byte(r.PostFormValue("disclosure")), RemoteAddr: s.m.ClientAddr(r)},
			func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
				var err error
				view, err = s.checkDisclosure(ctx, ch, ev, []byte(r.PostFormValue("disclosure")))
				return err
			})
	}
	if err != nil {
		s.onboardingForm(w, r, sess, http.StatusUnprocessableEntity, s.onboardingFail(r, err))
		return
	}
	d := &onboardingData{Verified: view, Current: &view.Record, Origin: s.cfg.Origin}
	s.renderOnboarding(w, r, sess, http.StatusOK, "", "Identity document verified.", d)
}

// checkDisclosure is the ceremony's own check: the envelope answers this
// challenge for this site, the data groups pass passive authentication,
// the document is in force; then the record is kept.
func (s *Server) checkDisclosure(ctx context.Context, ch *identity.Challenge, ev *identity.Event, data []byte) (*verifiedView, error) {
	// The challenge store already bound the challenge to this account and
	// origin. emrtd checks that the envelope names the same, passive
	// authentication, the groups against this request, the chip's Active
	// Authentication signature over this exchange's challenge (required
	// when EF.SOD covers DG15) and the document's expiry. Its errors are
	// wrapped in this server's, which say what identity.Services counts.
	now := s.now()
	rec, err := emrtd.VerifyEnvelope(data, ch.Origin, string(ch.Payload), emrtd.DisclosureOptions{CSCAs: s.cfg.CSCAs, Time: now,
		DisclosureRequest: emrtd.DisclosureRequest{Required: requiredGroups, Optional: optionalGroups}})
	switch {
	case errors.Is(err, emrtd.ErrEnvelope):
		return nil, fmt.Errorf("%w: %w", ErrMalformedDisclosure, err)
	case errors.Is(err, emrtd.ErrWrongExchange):
		return nil, fmt.Errorf("%w: %w", ErrWrongChallenge, err)
	case errors.Is(err, emrtd.ErrExpired):
		return nil, fmt.Errorf("%w: %w", ErrDocumentExpired, err)
	case errors.Is(err, emrtd.ErrNoChipProof):
		return nil, fmt.Errorf("%w: %w", ErrNoChipProof, err)
	case errors.Is(err, emrtd.ErrMissingDataGroup):
		return nil, fmt.Errorf("%w: %w", ErrMissingGroup, err)
	case errors.Is(err, emrtd.ErrUnrequestedDataGroup):
		return nil, fmt.Errorf("%w: %w", ErrMalformedDisclosure, err)
	case err != nil:
		return nil, err
	}
	m := rec.MRZ
	expires, err := m.Expiry(now) // VerifyEnvelope read it already
	if err != nil {
		return nil, err
	}
	doc := DocumentRecord{VerifiedAt: now.UTC(), IssuingState: m.IssuingState, DocumentType: documentType(m.DocumentCode),
		Expires: expires.Format("2006-01-02"), ChipPresent: rec.ActiveAuthenticated}
	for _, dg := range slices.Sorted(maps.Keys(rec.DataGroups)) {
		if dg == emrtd.DG14 || dg == emrtd.DG15 {
			continue
		}
		doc.DataGroups = append(doc.DataGroups, int(dg))
	}
	if c := rec.Verification.CSCA; c != nil {
		doc.CSCA = c.Subject.String()
	}
	fp := s.fingerprint(m.IssuingState, m.DocumentNumber)
	ev.CredentialID = fp
	ev.Reason = fmt.Sprintf("%s %s, %s verified by passive authentication", doc.IssuingState, doc.DocumentType, doc.Groups())
	if doc.ChipPresent {
		ev.Reason += " and the chip's Active Authentication"
	}
	if err := s.keepDocument(ctx, ch.Subject, fp, &doc); err != nil {
		return nil, err
	}
	v := &verifiedView{Record: doc, Fields: [][2]string{
		{"Surname", m.PrimaryID}, {"Given names", m.SecondaryID}, {"Nationality", m.Nationality},
		{"Date of birth", mrzBirth(m.DateOfBirth, now)},
		{"Document", doc.DocumentType + " of " + doc.IssuingState + ", valid until " + doc.Expires},
	}}
	if f := rec.Face(); f != nil && f.MIMEType == "image/jpeg" {
		v.Photo = template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(f.Image))
	}
	return v, nil
}

// keepDocument records the verified document for the account: a document
// verifies one account only (the credential ID is unique per kind), and
// verifying it again refreshes the record.
func (s *Server) keepDocument(ctx context.Context, subject identity.Subject, fp string, doc *DocumentRecord) error {
	pub, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.Credential(ctx, identity.CredentialRef{Subject: subject, Kind: KindIdentityDocument, ID: fp})
	if err == nil {
		return identity.EditCredential(ctx, s.cfg.Store, c, func(c *identity.Credential) error {
			c.Public, c.LastUsedAt, c.Active = pub, doc.VerifiedAt, true
			return nil
		})
	}
	if !errors.Is(err, identity.ErrNotEnrolled) {
		return err
	}
	err = s.cfg.Store.CreateCredential(ctx, &identity.Credential{Subject: subject, Kind: KindIdentityDocument, ID: fp,
		Name: doc.IssuingState + " " + doc.DocumentType, Public: pub, Active: true, CreatedAt: doc.VerifiedAt, LastUsedAt: doc.VerifiedAt})
	if errors.Is(err, identity.ErrExists) {
		return ErrDocumentTaken
	}
	return err
}

// currentDocument is the account's most recently verified document, nil
// when none.
func (s *Server) currentDocument(ctx context.Context, subject identity.Subject) (*DocumentRecord, error) {
	creds, err := s.cfg.Store.Credentials(ctx, subject, KindIdentityDocument)
	if err != nil {
		return nil, err
	}
	return latestDocument(creds), nil
}

func latestDocument(creds []identity.Credential) *DocumentRecord {
	var best *DocumentRecord
	for _, c := range creds {
		if c.Kind != KindIdentityDocument {
			continue
		}
		var d DocumentRecord
		if json.Unmarshal(c.Public, &d) != nil {
			continue
		}
		if best == nil || d.VerifiedAt.After(best.VerifiedAt) {
			best = &d
		}
	}
	return best
}

// mrzBirth writes an MRZ birth date as YYYY-MM-DD: it lies in the past.
func mrzBirth(s string, now time.Time) string {
	t, err := time.Parse("060102", s)
	if err != nil {
		return s
	}
	if t.After(now) {
		t = t.AddDate(-100, 0, 0)
	}
	return t.Format("2006-01-02")
}

func documentType(code string) string {
	switch {
	case strings.HasPrefix(code, "P"):
		return "passport"
	case strings.HasPrefix(code, "I"), strings.HasPrefix(code, "A"), strings.HasPrefix(code, "C"):
		return "identity card"
	}
	return "travel document"
}

// onboardingFail says plainly why a disclosure was refused; the error
// itself goes to the log.
func (s *Server) onboardingFail(r *http.Request, err error) string {
	s.log.Info("identity document refused", "path", r.URL.Path, "err", err)
	switch {
	case errors.Is(err, emrtd.ErrHashMismatch), errors.Is(err, emrtd.ErrHashMissing), errors.Is(err, emrtd.ErrSignature):
		return "The identity data was altered after it left the chip, or the document is not genuine: it failed passive authentication. Nothing was recorded."
	case errors.Is(err, emrtd.ErrCountryMismatch):
		return "This document's signer belongs to another state than the one that issued the document. Nothing was recorded."
	case errors.Is(err, emrtd.ErrUntrustedSigner):
		return "This document was signed by an authority this site does not trust (unknown CSCA), or its document signer certificate is not valid now. Nothing was recorded."
	case errors.Is(err, ErrNoChipProof):
		return "The document's chip did not sign this request: the data may be a copy, not read from the card just now. Read the card again with the card agent. Nothing was recorded."
	case errors.Is(err, ErrDocumentExpired):
		return "This identity document has expired. Use a document that is still valid."
	case errors.Is(err, ErrDocumentTaken):
		return "This identity document is already linked to another account."
	case errors.Is(err, ErrMissingGroup):
		return "The card agent did not send the document's machine readable zone (DG1), which this site needs."
	case errors.Is(err, ErrWrongChallenge), errors.Is(err, identity.ErrReplayed), errors.Is(err, identity.ErrChallengeMismatch),
		errors.Is(err, identity.ErrUnknownChallenge):
		return "This answer was made for another request (wrong or already used challenge). Start again from this page."
	case errors.Is(err, identity.ErrExpired):
		return "This page waited too long and its challenge expired. Please start again."
	case errors.Is(err, ErrMalformedDisclosure), errors.Is(err, emrtd.ErrMalformed), errors.Is(err, emrtd.ErrPassiveAuth):
		return "The identity data could not be read. Please start again."
	}
	return web.Plain(err)
}
