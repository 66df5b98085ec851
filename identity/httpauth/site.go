package httpauth

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/totp"
	"github.com/puce-id/puce/webauthn"
)

// SiteStore is what a whole site keeps its state in: credentials,
// challenges, throttle counters, the audit trail and the sessions
// (sqlstore.Store, memstore.Store).
type SiteStore interface {
	identity.Store
	identity.SessionStore
}

// SiteConfig is a site with the usual factors, for NewSite. Store, Origin
// and at least one second factor are required.
type SiteConfig struct {
	Store  SiteStore
	Origin string
	// Development serves plain http://localhost (see Config.Development).
	Development bool
	// Name names the site in authenticator apps and security-key prompts
	// (default: the origin's host).
	Name string
	// Sealer turns on authenticator apps (TOTP); their keys are sealed
	// with it. Instances that share a store need the same keys.
	Sealer *identity.Sealer
	// WebAuthn turns on security keys and passkeys. Its empty fields are
	// filled in: RPID the origin's host, Origins the origin, RPDisplayName
	// Name. &webauthn.Config{} is enough.
	WebAuthn *webauthn.Config
	// Cards turns on smart cards (Roots: the CAs that issue them).
	Cards *cardauth.Config
	// SignUp lets a visitor create an account (EndpointsConfig.SignUp).
	SignUp bool
	// Clock and Logger go to every part (default: the system clock and
	// slog.Default()).
	Clock  identity.Clock
	Logger *slog.Logger
	// Throttle limits guessing (default: identity.Throttle's defaults).
	// A payment service under PSD2 sets identity.PSD2Throttle(Store,
	// Clock): five consecutive failures block a factor until the back
	// office's Services.Unlock (RTS on SCA, Article 4(3)(b)).
	Throttle *identity.Throttle
	// Sessions tunes the Manager (timeouts, cookie, policy); its Store,
	// Origin, Development, Clock and Logger come from the fields above,
	// and its Audit, when nil, is the Store's audit trail.
	Sessions Config
	// Endpoints tunes the endpoints (Prefix, payments, user names,
	// signing); the factors above are added to its Factors, and its
	// Passwords and SignUp are set. A Signing with Signed and without a
	// Ceremony gets one over the site's cards, which checks signatures
	// against Cards.Roots and Cards.Intermediates, and asks OCSP as Cards
	// does (Cards is then required).
	Endpoints EndpointsConfig
	// PDF, with Endpoints.Signing, signs PDFs in the document (PAdES):
	// NewSite makes Signing.PDF from it over the site's cards. Its Cards is
	// the site's card factor, Verify.Roots and Verify.Intermediates
	// default to Cards.Roots and Cards.Intermediates, and Verify.OCSP to
	// the card factor's revocation checker (unless SkipRevocation); set Level,
	// Services.TSA (from B-T on) and Sign. Signing.SignedPDF keeps the
	// signed PDF.
	PDF *pades.CeremonyConfig
}

// Site is a Manager and its Endpoints over a password and the factors a
// SiteConfig turned on, built on one store. Mount it at the endpoints'
// Prefix + "/" (default "/auth/"); it serves the browser client there too.
// The parts are exported for the application's own handlers: Manager.Load
// and Authorize on its pages, the factors for an administrator's tools.
// The Site checks CSRF on its own endpoints only: wrap the application's
// handlers that change anything in Manager.Protect, since Load alone checks
// no CSRF token (ExampleNewSite_payment). A test may lower
// Passwords.Params (argon2id's cost) before the Site serves its first request.
type Site struct {
	*Endpoints
	Manager   *Manager
	Services  *identity.Services
	Passwords *identity.Passwords
	TOTP      *totp.Factor     // nil unless SiteConfig.Sealer was set
	WebAuthn  *webauthn.Factor // nil unless SiteConfig.WebAuthn was set
	Cards     *cardauth.Factor // nil unless SiteConfig.Cards was set
	// Signatures is the detached signing ceremony and PDFSignatures the
	// PDF one, when the Endpoints sign such documents.
	Signatures    *esign.Ceremony
	PDFSignatures *pades.Ceremony
}

// NewSite builds a Site: the throttle, the core services, passwords, the
// factors cfg turns on, the signing ceremony, the Manager and the
// endpoints. Instances built
// with the same configuration over one store (PostgreSQL) are
// interchangeable: a login begun on one finishes on another. It fails with
// identity.ErrBadInput for a missing store or origin, no second factor, or
// what a factor's constructor refuses.
func NewSite(cfg SiteConfig) (*Site, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: httpauth: SiteConfig.Store is nil", identity.ErrBadInput)
	}
	var err error
	if cfg.Origin, err = checkOrigin(cfg.Origin, cfg.Development); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Origin) // checkOrigin parsed it
	if cfg.Name == "" {
		cfg.Name = u.Hostname()
	}
	throttle := cfg.Throttle
	if throttle == nil {
		throttle = &identity.Throttle{Store: cfg.Store, Clock: cfg.Clock}
	}
	s := &Site{
		Services:  &identity.Services{Store: cfg.Store, Clock: cfg.Clock, Throttle: throttle, Audit: cfg.Store},
		Passwords: &identity.Passwords{Store: cfg.Store, Throttle: throttle, Audit: cfg.Store, Clock: cfg.Clock},
	}
	ecfg := cfg.Endpoints
	ecfg.Factors = append([]identity.Authenticator(nil), ecfg.Factors...)
	if cfg.Sealer != nil {
		if s.TOTP, err = totp.New(s.Services, cfg.Sealer, cfg.Name); err != nil {
			return nil, err
		}
		ecfg.Factors = append(ecfg.Factors, s.TOTP)
	}
	if cfg.WebAuthn != nil {
		wc := *cfg.WebAuthn
		if wc.RPID == "" {
			wc.RPID = u.Hostname()
		}
		if wc.RPDisplayName == "" {
			wc.RPDisplayName = cfg.Name
		}
		if len(wc.Origins) == 0 {
			wc.Origins = []string{cfg.Origin}
		}
		if s.WebAuthn, err = webauthn.New(s.Services, wc); err != nil {
			return nil, err
		}
		ecfg.Factors = append(ecfg.Factors, s.WebAuthn)
	}
	if cfg.Cards != nil {
		if s.Cards, err = cardauth.New(s.Services, *cfg.Cards); err != nil {
			return nil, err
		}
		ecfg.Factors = append(ecfg.Factors, s.Cards)
	}
	if len(ecfg.Factors) == 0 {
		return nil, fmt.Errorf("%w: httpauth: SiteConfig turns on no second factor: set Sealer (authenticator apps), WebAuthn or Cards", identity.ErrBadInput)
	}
	if cfg.PDF != nil && ecfg.Signing != nil && ecfg.Signing.PDF != nil {
		return nil, fmt.Errorf("%w: httpauth: SiteConfig.PDF and Endpoints.Signing.PDF are both set: give one", identity.ErrBadInput)
	}
	if cfg.PDF != nil && ecfg.Signing == nil {
		return nil, fmt.Errorf("%w: httpauth: SiteConfig.PDF needs Endpoints.Signing (Document and SignedPDF)", identity.ErrBadInput)
	}
	if sg := ecfg.Signing; sg != nil {
		c := *sg
		detached := c.Ceremony == nil && c.Signed != nil
		if (detached || cfg.PDF != nil) && s.Cards == nil {
			return nil, fmt.Errorf("%w: httpauth: signing needs SiteConfig.Cards", identity.ErrBadInput)
		}
		// Both ceremonies ask the card factor's OCSP checker about the
		// signer (their Verify.OCSP default), as a login asks about the card.
		if detached {
			verify := esign.VerifyOptions{Roots: cfg.Cards.Roots, Intermediates: cfg.Cards.Intermediates}
			if c.Ceremony, err = esign.NewCeremony(s.Services, esign.CeremonyConfig{Cards: s.Cards, Verify: verify}); err != nil {
				return nil, err
			}
		}
		if cfg.PDF != nil {
			pc := *cfg.PDF
			pc.Cards = s.Cards
			if pc.Verify.Roots == nil {
				pc.Verify.Roots, pc.Verify.Intermediates = cfg.Cards.Roots, cfg.Cards.Intermediates
			}
			if c.PDF, err = pades.NewCeremony(s.Services, pc); err != nil {
				return nil, err
			}
		}
		s.Signatures, s.PDFSignatures, ecfg.Signing = c.Ceremony, c.PDF, &c
	}
	mc := cfg.Sessions
	mc.Store, mc.Origin, mc.Development, mc.Clock, mc.Logger = cfg.Store, cfg.Origin, cfg.Development, cfg.Clock, cfg.Logger
	if mc.Audit == nil {
		mc.Audit = cfg.Store
	}
	if s.Manager, err = New(mc); err != nil {
		return nil, err
	}
	ecfg.Passwords, ecfg.SignUp = s.Passwords, cfg.SignUp
	if s.Endpoints, err = s.Manager.Endpoints(ecfg); err != nil {
		return nil, err
	}
	return s, nil
}
