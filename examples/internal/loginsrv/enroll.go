package loginsrv

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/totp"
)

// ---- enrolment --------------------------------------------------------

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	s.render(w, r, sess, 200, "setup.html", "Add a second factor", "", map[string]any{
		"Card": s.card != nil && s.cfg.AgentURL != "", "WebAuthn": s.wa != nil, "Subject": st.Subject, "Setup": st.Stage == setup})
}

// enrolled ends an enrolment: in setup, the user now logs in with the new
// factor; logged in, back to the account page.
func (s *Server) enrolled(w http.ResponseWriter, r *http.Request, sess *web.Session[state], kind, method string) {
	st := s.snapshot(sess)
	if st.Stage == setup {
		s.sessions.Renew(w, sess, state{Stage: passwordOK, Subject: st.Subject, Password: st.Password})
		s.redirect(w, r, "/login/second", fmt.Sprintf("%s added. To finish logging in, use it now.", kind))
		return
	}
	s.redirect(w, r, "/account", kind+" added.")
}

type totpData struct {
	QR      []byte
	Secret  string
	Account string
	Name    string
}

func (s *Server) enrollTOTPPage(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	ch, err := s.totp.BeginEnroll(r.Context(), identity.Request{Subject: st.Subject, Origin: s.cfg.Origin, UserName: string(st.Subject), RemoteAddr: web.ClientIP(r)})
	var qr []byte
	if err == nil {
		qr, err = s.totp.QRCode(ch)
	}
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Authenticator app", s.fail(r, err), nil)
		return
	}
	sess.With(func(d *state) { d.TOTPChallenge, d.TOTPURI, d.TOTPQR = ch.ID, string(ch.Payload), qr })
	s.renderTOTP(w, r, sess, 200, "")
}

func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, sess *web.Session[state], status int, errMsg string) {
	st := s.snapshot(sess)
	d := totpData{QR: st.TOTPQR, Account: string(st.Subject), Name: r.PostFormValue("name")}
	if k, err := totp.ParseURI(st.TOTPURI); err == nil {
		d.Secret = k.Base32()
	}
	s.render(w, r, sess, status, "enroll_totp.html", "Set up an authenticator app", errMsg, d)
}

func (s *Server) enrollTOTPPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if st.TOTPChallenge.IsZero() {
		s.redirect(w, r, "/enroll/totp", "")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = "Authenticator app"
	}
	_, err := s.totp.FinishEnroll(r.Context(), identity.Response{ChallengeID: st.TOTPChallenge, Subject: st.Subject, Origin: s.cfg.Origin,
		Data: []byte(strings.TrimSpace(r.PostFormValue("code"))), Name: name, RemoteAddr: web.ClientIP(r)})
	switch {
	case err == nil:
		sess.With(func(d *state) { d.TOTPChallenge, d.TOTPURI, d.TOTPQR = identity.ChallengeID{}, "", nil })
		s.enrolled(w, r, sess, "Authenticator app", "totp")
	case errors.Is(err, identity.ErrBadInput):
		// A malformed code or name changed nothing: same QR code, try again.
		s.renderTOTP(w, r, sess, http.StatusBadRequest, s.fail(r, err))
	default:
		// A wrong code used the enrolment up: the user starts over with a
		// new secret, and must scan the new QR code.
		sess.With(func(d *state) { d.TOTPChallenge, d.TOTPURI, d.TOTPQR = identity.ChallengeID{}, "", nil })
		s.render(w, r, sess, http.StatusUnauthorized, "message.html", "Set up an authenticator app",
			s.fail(r, err)+" For your safety this setup was cancelled: start again, and scan the new QR code.",
			map[string]string{"Link": "/enroll/totp", "LinkText": "Start again"})
	}
}

type cardData struct {
	Challenge, Nonce, Agent, Origin string
}

func (s *Server) enrollCardPage(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	if !s.usable(identity.KindCard) {
		s.noCard(w, r, sess)
		return
	}
	s.renderCard(w, r, sess, 200, "")
}

func (s *Server) noCard(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	s.render(w, r, sess, 404, "message.html", "Smart card", "Card login is not configured on this server.", nil)
}

func (s *Server) renderCard(w http.ResponseWriter, r *http.Request, sess *web.Session[state], status int, errMsg string) {
	st := s.snapshot(sess)
	ch, err := s.card.BeginEnroll(r.Context(), identity.Request{Subject: st.Subject, Origin: s.cfg.Origin, UserName: string(st.Subject), RemoteAddr: web.ClientIP(r)})
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Smart card", s.fail(r, err), nil)
		return
	}
	s.render(w, r, sess, status, "enroll_card.html", "Register your smart card", errMsg,
		cardData{Challenge: ch.ID.String(), Nonce: string(ch.Payload), Agent: s.cfg.AgentURL, Origin: s.cfg.Origin})
}

func (s *Server) enrollCardPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if !s.usable(identity.KindCard) {
		s.noCard(w, r, sess)
		return
	}
	id, err := identity.ParseChallengeID(r.PostFormValue("challenge"))
	if err == nil {
		_, err = s.card.FinishEnroll(r.Context(), identity.Response{ChallengeID: id, Subject: st.Subject, Origin: s.cfg.Origin,
			Data: []byte(r.PostFormValue("token")), Name: strings.TrimSpace(r.PostFormValue("name")), RemoteAddr: web.ClientIP(r)})
	}
	if err != nil {
		s.renderCard(w, r, sess, http.StatusUnauthorized, s.fail(r, err))
		return
	}
	s.enrolled(w, r, sess, "Smart card", "card")
}

func (s *Server) recoveryPage(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	ch, err := s.recovery.BeginEnroll(r.Context(), identity.Request{Subject: st.Subject, Origin: s.cfg.Origin, RemoteAddr: web.ClientIP(r)})
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Recovery codes", s.fail(r, err), nil)
		return
	}
	codes := totp.RecoveryCodes(ch)
	sess.With(func(d *state) { d.RecChallenge, d.RecCodes = ch.ID, codes })
	s.render(w, r, sess, 200, "recovery.html", "Your recovery codes", "", codes)
}

func (s *Server) recoveryPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if st.RecChallenge.IsZero() {
		s.redirect(w, r, "/account", "")
		return
	}
	_, err := s.recovery.FinishEnroll(r.Context(), identity.Response{ChallengeID: st.RecChallenge, Subject: st.Subject, Origin: s.cfg.Origin,
		Data: []byte(strings.TrimSpace(r.PostFormValue("code"))), RemoteAddr: web.ClientIP(r)})
	if errors.Is(err, identity.ErrBadInput) {
		s.render(w, r, sess, http.StatusBadRequest, "recovery.html", "Your recovery codes", "Type one of the codes exactly as shown, digits only or with its dashes.", st.RecCodes)
		return
	}
	sess.With(func(d *state) { d.RecChallenge, d.RecCodes = identity.ChallengeID{}, nil })
	if err != nil {
		s.render(w, r, sess, http.StatusUnauthorized, "message.html", "Recovery codes",
			s.fail(r, err)+" These codes were not saved; make a new set.", map[string]string{"Link": "/recovery", "LinkText": "Make a new set"})
		return
	}
	s.redirect(w, r, "/account", "Recovery codes saved. Each works once; keep them somewhere safe.")
}
