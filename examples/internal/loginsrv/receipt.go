package loginsrv

// Usage-policy receipts, optional per deployment (Config.UsagePolicy): at
// each login, a holder whose account has a smart card signs the site's
// current usage policy with the card's e-signature key (9C, PIN asked for
// this signature), through the card agent, which shows the holder the text
// it signs. The detached CAdES signature (.p7s) is the receipt. The library's
// signing ceremony (esign.Ceremony) does the security work: the pending
// signature waits in the challenge store (single use, expiry, any instance
// may finish it), the signer must be the card enrolled on the account, and
// the assembled .p7s is verified as a receiver would; the server then keeps
// the receipt, audits it, and only then lets the session reach the rest of
// the site. Accounts without a
// card are told the policy applies but cannot be signed, and go on.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
)

// KindPolicyReceipt is the kind under which the server keeps signed
// usage-policy receipts. Like a verified identity document it is a record,
// not a login factor.
const KindPolicyReceipt identity.Kind = "policy-receipt"

// policyName names the policy in pages and receipts.
func (s *Server) policyName() string {
	if s.cfg.UsagePolicyName != "" {
		return s.cfg.UsagePolicyName
	}
	return "usage policy"
}

// policyVersion identifies the text signed: the first bytes of its
// SHA-256, so a changed policy needs a new receipt.
func (s *Server) policyVersion() string {
	h := sha256.Sum256(s.cfg.UsagePolicy)
	return fmt.Sprintf("%x", h[:6])
}

// receiptsOn reports whether this deployment asks for receipts: a policy is
// configured and card logins work.
func (s *Server) receiptsOn() bool {
	return len(s.cfg.UsagePolicy) > 0 && s.card != nil && s.cfg.AgentURL != ""
}

// withReceipt sends a logged-in session that has not dealt with the usage
// policy since it logged in to /policy, whatever page it asks for; the
// policy's own endpoints, the static files and logging out stay open.
func (s *Server) withReceipt(next http.Handler) http.Handler {
	if !s.receiptsOn() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/policy" || strings.HasPrefix(p, "/policy/") || strings.HasPrefix(p, "/static/") || p == "/logout" {
			next.ServeHTTP(w, r)
			return
		}
		sess, err := s.m.Load(r)
		if err == nil && s.stageOf(sess) == loggedIn && sess.Value(valPolicy) == "" && p != "/stepup" {
			// Keep the login's notice ("Logged in with two factors…"):
			// its key passes on untaken.
			to := "/policy"
			if key := r.URL.Query().Get("notice"); key != "" {
				to += "?notice=" + url.QueryEscape(key)
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type policyData struct {
	Name, Version, Text string
	Agent               string
	// Signed is set once this session's receipt is kept.
	Signed *receiptRow
}

// receiptRow is a kept receipt as the account page lists it.
type receiptRow struct {
	ID, Name, Signer string
	Signed           time.Time
}

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	if !s.receiptsOn() {
		s.redirect(w, r, "/", "")
		return
	}
	cards, err := s.cards(r.Context(), sess.Subject())
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Usage policy", s.fail(r, err), nil)
		return
	}
	if len(cards) == 0 {
		if err := s.set(r.Context(), sess, valPolicy, "done"); err != nil {
			s.sessionFault(w, r, sess, err)
			return
		}
		s.redirect(w, r, "/account", fmt.Sprintf("This site asks card holders to sign its %s at each login; your account has no smart card, so there is nothing to sign.", s.policyName()))
		return
	}
	d := policyData{Name: s.policyName(), Version: s.policyVersion(), Text: string(s.cfg.UsagePolicy), Agent: s.cfg.AgentURL}
	p := s.page(r, sess, "Sign the "+s.policyName(), d)
	p.Script = "sign.js"
	s.pages.Render(w, http.StatusOK, "policy.html", p, s.cfg.AgentURL)
}

// policyDocument serves the exact bytes the card signs, to the page that
// hands them to the agent.
func (s *Server) policyDocument(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	if !s.receiptsOn() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(s.cfg.UsagePolicy)
}

// cards returns the account's active card credentials.
func (s *Server) cards(ctx context.Context, subject identity.Subject) ([]*cardauth.Card, error) {
	creds, err := s.cfg.Store.Credentials(ctx, subject, identity.KindCard)
	if err != nil {
		return nil, err
	}
	var out []*cardauth.Card
	for i := range creds {
		if !creds[i].Active {
			continue
		}
		if c, err := cardauth.CardOf(&creds[i]); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// policyAPI runs a JSON step of the policy page for the logged-in subject:
// same session, CSRF token in the X-CSRF-Token header.
func (s *Server) policyAPI(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, fn func(ctx context.Context, subject identity.Subject, body map[string]string) (int, map[string]string)) {
	if !s.receiptsOn() {
		s.m.WriteError(w, r, s.m.Authorize(nil, actSignPolicy))
		return
	}
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		s.m.WriteError(w, r, fmt.Errorf("%w: %w", identity.ErrBadInput, err))
		return
	}
	status, v := fn(r.Context(), sess.Subject(), body)
	if status == http.StatusOK && v["next"] != "" {
		if err := s.set(r.Context(), sess, valPolicy, "done"); err != nil {
			s.m.WriteError(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// policyPrepare begins the signing ceremony for the signing certificate the
// agent read from the card with the holder's consent, and hands back the
// signed attributes the card is to sign. The challenge's ID waits in the
// session for policyFinish.
func (s *Server) policyPrepare(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.policyAPI(w, r, sess, func(ctx context.Context, subject identity.Subject, body map[string]string) (int, map[string]string) {
		der, err := base64.StdEncoding.DecodeString(body["certificate"])
		var cert *x509.Certificate
		if err == nil {
			cert, err = x509.ParseCertificate(der)
		}
		if err != nil {
			return http.StatusBadRequest, map[string]string{"error": "The card's certificate could not be read."}
		}
		ch, err := s.signing.Begin(ctx, identity.Request{Subject: subject, Origin: s.cfg.Origin, RemoteAddr: s.m.ClientAddr(r)}, s.cfg.UsagePolicy, cert)
		switch {
		case errors.Is(err, esign.ErrNotAccountCard):
			s.log.Info("policy receipt: another card", "subject", subject, "signer", cert.Subject.String())
			return http.StatusBadRequest, map[string]string{"error": "This card is not the one registered on your account. Use your own card."}
		case errors.Is(err, esign.ErrUnsupported), errors.Is(err, esign.ErrKeyUsage), errors.Is(err, esign.ErrUntrustedSigner):
			return http.StatusBadRequest, map[string]string{"error": "This card's key cannot make the kind of signature this site keeps."}
		case err != nil:
			return http.StatusInternalServerError, map[string]string{"error": s.fail(r, err)}
		}
		req, err := esign.ParseSignRequest(ch.Payload)
		if err == nil {
			err = s.set(ctx, sess, valReceipt, ch.ID.String())
		}
		if err != nil {
			return http.StatusInternalServerError, map[string]string{"error": s.fail(r, err)}
		}
		return http.StatusOK, map[string]string{"signedAttributes": base64.StdEncoding.EncodeToString(req.SignedAttributes)}
	})
}

// policyFinish ends the ceremony with the card's signature and keeps the
// receipt.
func (s *Server) policyFinish(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.policyAPI(w, r, sess, func(ctx context.Context, subject identity.Subject, body map[string]string) (int, map[string]string) {
		sig, err := base64.StdEncoding.DecodeString(body["signature"])
		var id identity.ChallengeID
		if err == nil {
			id, err = identity.ParseChallengeID(sess.Value(valReceipt))
		}
		if err != nil {
			return http.StatusBadRequest, map[string]string{"error": "The signature is missing or came too late. Start again."}
		}
		row, err := s.keepReceipt(ctx, identity.Response{ChallengeID: id, Subject: subject, Origin: s.cfg.Origin, Data: sig, RemoteAddr: s.m.ClientAddr(r)})
		if err != nil {
			return http.StatusBadRequest, map[string]string{"error": s.fail(r, err)}
		}
		next := "/account"
		if key := s.notices.put(fmt.Sprintf("Thank you: your signature of the %s is kept (%s).", s.policyName(), row.ID), time.Now()); key != "" {
			next += "?notice=" + key
		}
		return http.StatusOK, map[string]string{"next": next}
	})
}

// keepReceipt finishes the signing ceremony resp answers (esign.Ceremony
// consumes the challenge, checks the card and verifies the .p7s as a
// receiver would), then stores and audits the receipt.
func (s *Server) keepReceipt(ctx context.Context, resp identity.Response) (*receiptRow, error) {
	signed, err := s.signing.Finish(ctx, resp, s.cfg.UsagePolicy)
	if err != nil {
		return nil, err
	}
	now := s.now()
	h := sha256.Sum256(signed.P7S)
	row := &receiptRow{ID: base64.RawURLEncoding.EncodeToString(h[:12]), Name: s.policyName() + " " + s.policyVersion(),
		Signer: signed.Report.Signer.Subject.CommonName, Signed: now}
	ev := identity.Event{Time: now, Subject: resp.Subject, Kind: KindPolicyReceipt, Action: "policy-signed", RemoteAddr: resp.RemoteAddr,
		CredentialID: row.ID, Reason: fmt.Sprintf("%s signed by %s", row.Name, row.Signer)}
	c := &identity.Credential{Subject: resp.Subject, Kind: KindPolicyReceipt, ID: row.ID, Name: row.Name, Public: signed.P7S, CreatedAt: now}
	if err := s.cfg.Store.CreateCredential(ctx, c); err != nil {
		return nil, s.svc.Record(ctx, ev, fmt.Errorf("keep the receipt: %w", err))
	}
	if err := s.svc.Record(ctx, ev, nil); err != nil {
		return nil, err
	}
	s.log.Info("usage policy signed", "subject", resp.Subject, "receipt", row.ID)
	return row, nil
}

// receiptRows lists an account's receipts, newest first.
func receiptRows(creds []identity.Credential) []receiptRow {
	var rows []receiptRow
	for i := len(creds) - 1; i >= 0; i-- {
		c := creds[i]
		if c.Kind != KindPolicyReceipt {
			continue
		}
		rows = append(rows, receiptRow{ID: c.ID, Name: c.Name, Signed: c.CreatedAt})
	}
	return rows
}

// receiptFile downloads one of the account's receipts as a .p7s, which
// `openssl cms -verify -binary -content policy.txt` checks.
func (s *Server) receiptFile(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	c, err := s.cfg.Store.Credential(r.Context(), identity.CredentialRef{Subject: sess.Subject(), Kind: KindPolicyReceipt, ID: r.PathValue("id")})
	if errors.Is(err, identity.ErrNotEnrolled) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "receipt unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkcs7-signature")
	w.Header().Set("Content-Disposition", `attachment; filename="usage-policy-`+c.ID+`.p7s"`)
	w.Write(c.Public)
}
