package loginsrv

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/totp"
)

// ---- enrolment --------------------------------------------------------

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	st := s.stageOf(sess)
	s.render(w, r, sess, 200, "setup.html", "Add a second factor", "", map[string]any{
		"Card": s.card != nil && s.cfg.AgentURL != "", "WebAuthn": s.wa != nil, "OCRA": st == loggedIn, "Subject": sess.Subject(), "Setup": st == setup})
}

// enrolled ends an enrolment: in setup, the user now logs in with the new
// factor; logged in, back to the account page.
func (s *Server) enrolled(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, kind, method string) {
	if s.stageOf(sess) == setup {
		// Back to the second step, with the password still pending: the
		// new factor completes the login.
		if err := s.set(r.Context(), sess, valSetup, ""); err != nil {
			s.sessionFault(w, r, sess, err)
			return
		}
		s.redirect(w, r, "/login/second", fmt.Sprintf("%s added. To finish logging in, use it now.", kind))
		return
	}
	// A new way into the account: whoever held another session of it
	// from before loses it (OWASP ASVS 4.0.3 V3.3.3, 5.0 V7.4.3), as
	// after a password change or a removal. During setup the user has no
	// complete login yet, and no other session could have one.
	s.redirect(w, r, "/account", kind+" added."+s.endOthers(r, sess, "second factor added ("+method+")"))
}

type totpData struct {
	QR      []byte
	Secret  string
	Account string
	Name    string
}

func (s *Server) enrollTOTPPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	subject := sess.Subject()
	ch, err := s.totp.BeginEnroll(r.Context(), identity.Request{Subject: subject, Origin: s.cfg.Origin, UserName: string(subject), RemoteAddr: s.m.ClientAddr(r)})
	if err == nil {
		// The new secret waits in the session, sealed, until the code
		// that proves the app has it.
		err = s.set(r.Context(), sess, valTOTP, s.sealed(sess, valTOTP, ch.ID.String(), ch.Payload))
	}
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Authenticator app", s.fail(r, err), nil)
		return
	}
	s.renderTOTP(w, r, sess, 200, "")
}

// totpEnrolment is the enrolment under way: its challenge and key URI.
func (s *Server) totpEnrolment(sess *httpauth.Session) (identity.ChallengeID, string, bool) {
	tag, uri, ok := s.unseal(sess, valTOTP)
	if !ok {
		return identity.ChallengeID{}, "", false
	}
	id, err := identity.ParseChallengeID(tag)
	return id, string(uri), err == nil
}

func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, status int, errMsg string) {
	_, uri, _ := s.totpEnrolment(sess)
	d := totpData{Account: string(sess.Subject()), Name: r.PostFormValue("name")}
	d.QR, _ = s.totp.QRCode(&identity.Challenge{Payload: []byte(uri)})
	if k, err := totp.ParseURI(uri); err == nil {
		d.Secret = k.Base32()
	}
	s.render(w, r, sess, status, "enroll_totp.html", "Set up an authenticator app", errMsg, d)
}

func (s *Server) enrollTOTPPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	id, _, ok := s.totpEnrolment(sess)
	if !ok {
		s.redirect(w, r, "/enroll/totp", "")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = "Authenticator app"
	}
	_, err := s.totp.FinishEnroll(r.Context(), identity.Response{ChallengeID: id, Subject: sess.Subject(), Origin: s.cfg.Origin,
		Data: []byte(strings.TrimSpace(r.PostFormValue("code"))), Name: name, RemoteAddr: s.m.ClientAddr(r)})
	if errors.Is(err, identity.ErrBadInput) {
		// A malformed code or name changed nothing: same QR code, try again.
		s.renderTOTP(w, r, sess, http.StatusBadRequest, s.fail(r, err))
		return
	}
	// Done, or a wrong code used the enrolment up: the secret goes.
	if serr := s.set(r.Context(), sess, valTOTP, ""); serr != nil {
		s.sessionFault(w, r, sess, serr)
		return
	}
	if err != nil {
		// The user starts over with a new secret, and must scan the new
		// QR code.
		s.render(w, r, sess, http.StatusUnauthorized, "message.html", "Set up an authenticator app",
			s.fail(r, err)+" For your safety this setup was cancelled: start again, and scan the new QR code.",
			map[string]string{"Link": "/enroll/totp", "LinkText": "Start again"})
		return
	}
	s.enrolled(w, r, sess, "Authenticator app", "totp")
}

type cardData struct {
	Challenge, Nonce, Agent, Origin string
}

func (s *Server) enrollCardPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	if !s.usable(identity.KindCard) {
		s.noCard(w, r, sess)
		return
	}
	s.renderCard(w, r, sess, 200, "")
}

func (s *Server) noCard(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.render(w, r, sess, 404, "message.html", "Smart card", "Card login is not configured on this server.", nil)
}

func (s *Server) renderCard(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, status int, errMsg string) {
	subject := sess.Subject()
	ch, err := s.card.BeginEnroll(r.Context(), identity.Request{Subject: subject, Origin: s.cfg.Origin, UserName: string(subject), RemoteAddr: s.m.ClientAddr(r)})
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Smart card", s.fail(r, err), nil)
		return
	}
	s.render(w, r, sess, status, "enroll_card.html", "Register your smart card", errMsg,
		cardData{Challenge: ch.ID.String(), Nonce: string(ch.Payload), Agent: s.cfg.AgentURL, Origin: s.cfg.Origin})
}

func (s *Server) enrollCardPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	if !s.usable(identity.KindCard) {
		s.noCard(w, r, sess)
		return
	}
	id, err := identity.ParseChallengeID(r.PostFormValue("challenge"))
	if err == nil {
		_, err = s.card.FinishEnroll(r.Context(), identity.Response{ChallengeID: id, Subject: sess.Subject(), Origin: s.cfg.Origin,
			Data: []byte(r.PostFormValue("token")), Name: strings.TrimSpace(r.PostFormValue("name")), RemoteAddr: s.m.ClientAddr(r)})
	}
	if err != nil {
		s.renderCard(w, r, sess, http.StatusUnauthorized, s.fail(r, err))
		return
	}
	s.enrolled(w, r, sess, "Smart card", "card")
}

func (s *Server) recoveryPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	ch, err := s.recovery.BeginEnroll(r.Context(), identity.Request{Subject: sess.Subject(), Origin: s.cfg.Origin, RemoteAddr: s.m.ClientAddr(r)})
	var codes []string
	if err == nil {
		codes = totp.RecoveryCodes(ch)
		err = s.set(r.Context(), sess, valRecovery, s.sealed(sess, valRecovery, ch.ID.String(), []byte(strings.Join(codes, "\n"))))
	}
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Recovery codes", s.fail(r, err), nil)
		return
	}
	s.render(w, r, sess, 200, "recovery.html", "Your recovery codes", "", codes)
}

func (s *Server) recoveryPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	tag, codes, ok := s.unseal(sess, valRecovery)
	id, err := identity.ParseChallengeID(tag)
	if !ok || err != nil {
		s.redirect(w, r, "/account", "")
		return
	}
	_, err = s.recovery.FinishEnroll(r.Context(), identity.Response{ChallengeID: id, Subject: sess.Subject(), Origin: s.cfg.Origin,
		Data: []byte(strings.TrimSpace(r.PostFormValue("code"))), RemoteAddr: s.m.ClientAddr(r)})
	if errors.Is(err, identity.ErrBadInput) {
		s.render(w, r, sess, http.StatusBadRequest, "recovery.html", "Your recovery codes", "Type one of the codes exactly as shown, digits only or with its dashes.",
			strings.Split(string(codes), "\n"))
		return
	}
	if serr := s.set(r.Context(), sess, valRecovery, ""); serr != nil {
		s.sessionFault(w, r, sess, serr)
		return
	}
	if err != nil {
		s.render(w, r, sess, http.StatusUnauthorized, "message.html", "Recovery codes",
			s.fail(r, err)+" These codes were not saved; make a new set.", map[string]string{"Link": "/recovery", "LinkText": "Make a new set"})
		return
	}
	s.redirect(w, r, "/account", "Recovery codes saved. Each works once; keep them somewhere safe."+s.endOthers(r, sess, "recovery codes replaced"))
}
