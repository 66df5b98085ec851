package loginsrv

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/totp/ocra"
)

// ---- account ----------------------------------------------------------

type factorRow struct {
	Kind, KindLabel, ID, Name, Detail string
	Created, LastUsed                 time.Time
}

type accountData struct {
	Factors       []factorRow
	Recovery      int
	Card          bool
	WebAuthn      bool
	Audit         []identity.AuditRecord
	ChainOK       bool
	ChainHead     string
	ChainError    string
	Level, EIDAS  string
	AuthTime      time.Time
	PasswordSince time.Time
	// Onboarding: the page is offered; Document is the verified one.
	Onboarding bool
	Document   *DocumentRecord
	// Receipts are the signed usage-policy receipts, newest first.
	Receipts []receiptRow
	// Payments are the approved payments, newest first.
	Payments []payment
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	d, err := s.account(r.Context(), sess.Subject(), sess.Login())
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Your account", s.fail(r, err), nil)
		return
	}
	s.render(w, r, sess, 200, "account.html", "Your account", "", d)
}

func (s *Server) account(ctx context.Context, subject identity.Subject, login *identity.Session) (*accountData, error) {
	creds, err := s.cfg.Store.Credentials(ctx, subject, "")
	if err != nil {
		return nil, err
	}
	d := &accountData{Card: s.card != nil && s.cfg.AgentURL != "", WebAuthn: s.wa != nil, Level: login.Level.String(), EIDAS: login.Level.EIDAS().String(), AuthTime: login.AuthTime(),
		Onboarding: len(s.cfg.CSCAs) > 0 && s.cfg.AgentURL != "", Document: latestDocument(creds), Receipts: receiptRows(creds), Payments: paymentRows(creds)}
	for _, c := range creds {
		switch c.Kind {
		case KindIdentityDocument, KindPolicyReceipt, KindPayment:
			continue // not factors: shown apart
		case identity.KindRecovery:
			d.Recovery++
			continue
		case identity.KindPassword:
			d.PasswordSince = c.CreatedAt
			continue
		}
		if !c.Active {
			continue
		}
		row := factorRow{Kind: string(c.Kind), ID: c.ID, Name: c.Name, Created: c.CreatedAt, LastUsed: c.LastUsedAt, KindLabel: string(c.Kind)}
		switch c.Kind {
		case identity.KindTOTP:
			row.KindLabel = "Authenticator app"
		case identity.KindCard:
			row.KindLabel = "Smart card"
			if card, err := cardauth.CardOf(&c); err == nil {
				row.Detail = fmt.Sprintf("%s, serial %s, valid until %s (%s)", card.Subject, card.Serial, card.NotAfter.Format("2006-01-02"), card.Mode)
			}
		case identity.KindWebAuthn:
			row.KindLabel, row.Detail = waLabel(&c)
		case ocra.Kind:
			row.KindLabel, row.Detail = "Signing token (OCRA)", "approves payments"
		}
		d.Factors = append(d.Factors, row)
	}
	if d.Audit, err = s.cfg.Store.AuditEvents(ctx, subject, 50); err != nil {
		return nil, err
	}
	head, err := s.cfg.Store.VerifyAudit(ctx, identity.AuditKeys{})
	if err != nil {
		d.ChainError = err.Error()
	} else {
		d.ChainOK, d.ChainHead = true, fmt.Sprintf("%x", head[len(head)-8:]) // the mark's sum
	}
	return d, nil
}

// credential loads one of the logged-in user's own possession factors named
// by the form; the subject comes from the session, so nobody can touch
// another account's credential by editing the form.
func (s *Server) credential(r *http.Request, subject identity.Subject) (*identity.Credential, error) {
	kind := identity.Kind(r.PostFormValue("kind"))
	if !secondFactor(kind) && kind != ocra.Kind {
		return nil, fmt.Errorf("%w: kind", identity.ErrBadInput)
	}
	return s.cfg.Store.Credential(r.Context(), identity.CredentialRef{Subject: subject, Kind: kind, ID: r.PostFormValue("id")})
}

func (s *Server) renamePost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	subject := sess.Subject()
	name := strings.TrimSpace(r.PostFormValue("name"))
	c, err := s.credential(r, subject)
	if err == nil && (name == "" || len(name) > 64) {
		err = fmt.Errorf("%w: name", identity.ErrBadInput)
	}
	if err == nil {
		err = identity.EditCredential(r.Context(), s.cfg.Store, c, func(c *identity.Credential) error {
			c.Name = name
			return nil
		})
		err = s.svc.Record(r.Context(), identity.Event{Subject: subject, Kind: c.Kind, CredentialID: c.ID, Action: "rename", RemoteAddr: s.m.ClientAddr(r), Result: result(err)}, err)
	}
	if err != nil {
		s.redirect(w, r, "/account", "Not renamed: "+s.fail(r, err))
		return
	}
	s.redirect(w, r, "/account", "Renamed.")
}

func result(err error) identity.Result {
	if err != nil {
		return identity.Failure
	}
	return identity.Success
}

func (s *Server) revokePost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	subject := sess.Subject()
	c, err := s.credential(r, subject)
	if err != nil {
		s.redirect(w, r, "/account", "Not removed: "+s.fail(r, err))
		return
	}
	creds, err := s.cfg.Store.Credentials(r.Context(), subject, "")
	if err != nil {
		s.redirect(w, r, "/account", "Not removed: "+s.fail(r, err))
		return
	}
	others := 0
	for _, o := range creds {
		if o.Active && secondFactor(o.Kind) && (o.Kind != c.Kind || o.ID != c.ID) {
			others++
		}
	}
	if others == 0 && c.Kind != ocra.Kind {
		s.redirect(w, r, "/account", "This is your only second factor: add another one before you remove it.")
		return
	}
	err = s.cfg.Store.DeleteCredential(r.Context(), c.Ref())
	err = s.svc.Record(r.Context(), identity.Event{Subject: subject, Kind: c.Kind, CredentialID: c.ID, Action: "revoke", RemoteAddr: s.m.ClientAddr(r), Result: result(err)}, err)
	if err != nil {
		s.redirect(w, r, "/account", "Not removed: "+s.fail(r, err))
		return
	}
	s.redirect(w, r, "/account", fmt.Sprintf("%q removed: it can no longer be used to log in.", c.Name)+s.endOthers(r, sess, "factor removed"))
}

// endOthers signs the user out of every other browser after a change of
// what protects the account (OWASP ASVS 5.0 V7.4.3): whoever held a session
// made with the old password, or the removed factor, loses it; this browser
// keeps its own. It returns what to add to the notice.
func (s *Server) endOthers(r *http.Request, sess *httpauth.Session, reason string) string {
	n, err := s.m.EndOtherSessions(r.Context(), sess, reason, s.m.ClientAddr(r))
	switch {
	case err != nil:
		return " Your other sessions could not be signed out: " + s.fail(r, err)
	case n == 1:
		return " Your other session was signed out."
	case n > 1:
		return fmt.Sprintf(" Your %d other sessions were signed out.", n)
	}
	return ""
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.render(w, r, sess, 200, "password.html", "Change your password", "", nil)
}

func (s *Server) passwordPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	// The route's step-up need runs again on the POST: the form may have
	// been loaded long ago.
	subject := sess.Subject()
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	if pw != pw2 {
		s.render(w, r, sess, http.StatusBadRequest, "password.html", "Change your password", "The two passwords differ. Type the same password twice.", nil)
		return
	}
	err := s.passwords.Set(r.Context(), subject, pw)
	err = s.svc.Record(r.Context(), identity.Event{Subject: subject, Kind: identity.KindPassword, Action: "password-change", RemoteAddr: s.m.ClientAddr(r), Result: result(err)}, err)
	if err != nil {
		s.render(w, r, sess, status(w, err, http.StatusBadRequest), "password.html", "Change your password", s.fail(r, err), nil)
		return
	}
	s.redirect(w, r, "/account", "Password changed."+s.endOthers(r, sess, "password changed"))
}
