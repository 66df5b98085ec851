package httpauth

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/puce-id/puce/identity"
)

// Config configures a Manager. Store and Origin are required.
type Config struct {
	// Store keeps the sessions; share one store between instances.
	Store identity.SessionStore
	// Origin is the site's own origin, "https://bank.example" (scheme, host
	// and port, no path). Unsafe requests from any other origin are refused.
	Origin string
	// Development serves plain HTTP on localhost: the cookie loses its
	// __Host- prefix and Secure flag, which browsers refuse without TLS.
	// New refuses it for an Origin that is not http://localhost,
	// http://127.0.0.1 or http://[::1], so it cannot weaken a real site.
	Development bool
	// CookieName is the cookie's name without the __Host- prefix (default
	// "puce_session").
	CookieName string
	// Policy combines proofs into a login and decides step-up (default: a
	// zero identity.Policy, which asks for two factors).
	Policy *identity.Policy
	// IdleTimeout ends a session with a first factor proven after this long
	// without a request (default 5 minutes).
	IdleTimeout time.Duration
	// AnonymousIdleTimeout ends the application values a session without
	// any proof stored after this long without a request (default 30
	// minutes). A visitor's session that holds only a ceremony under way
	// ends after PendingTimeout, with the ceremony. A visitor's CSRF token
	// lasts as long as their cookie: it is derived from it, not stored.
	AnonymousIdleTimeout time.Duration
	// MaxLifetime ends every session this long after its first proof (or its
	// creation, for anonymous ones), active or not (default 12 hours).
	MaxLifetime time.Duration
	// PendingTimeout is how long a first factor waits for the second,
	// and how long a visitor's ceremony keeps its session row without a
	// request (default 5 minutes, a challenge's lifetime).
	PendingTimeout time.Duration
	// MaxBodyBytes bounds request bodies under Protect (default 64 KiB).
	MaxBodyBytes int64
	// PurgeEvery is how often the Manager, when it stores a new session,
	// first deletes the expired ones (default 1 minute; negative: never,
	// when the application calls Purge itself). Without it a store would
	// keep every session that was ever stored for good.
	PurgeEvery time.Duration
	// Starts bounds how often a client address, and all anonymous clients
	// together, may start a ceremony (limit.go; AllowStart). The zero
	// value applies the defaults.
	Starts StartLimit
	// TrustedProxies are the reverse proxies (load balancers, TLS
	// terminators) in front of the site. Only a request whose peer is one
	// of them has its client address read from ClientIPHeader (see
	// ClientAddr); none (the default): the peer is the client. Without
	// this setting behind a proxy every client shares the proxy's address,
	// and one client's starts use up everyone's allowance.
	TrustedProxies []netip.Prefix
	// ClientIPHeader is the header the trusted proxies append the
	// client's address to (default "X-Forwarded-For"; "Forwarded", RFC
	// 7239, is read by its for= parameters; a one-address header such as
	// "X-Real-IP" also works).
	ClientIPHeader string
	// HSTS is the Strict-Transport-Security the library's answers carry
	// (default DefaultHSTS; "off": none, for a site whose TLS terminator
	// sets its own). Development sends none.
	HSTS string
	// Audit receives an event for every EndSessions and EndOtherSessions
	// (default: none; NewSite sets the store's audit trail).
	Audit identity.Auditor
	// Clock is the time source (default the system clock).
	Clock identity.Clock
	// Logger receives refused requests and server faults with their detail
	// (default slog.Default()).
	Logger *slog.Logger
}

// Manager manages sessions for net/http. It is safe for concurrent use;
// instances with the same Config over one store are interchangeable.
type Manager struct {
	cfg    Config
	cookie string
	policy *identity.Policy
	log    *slog.Logger
	limit  *limiter

	purgeMu   sync.Mutex
	lastPurge time.Time
}

// Defaults, chosen for a bank: short idle time once someone has proven
// anything, an absolute bound on every session.
const (
	DefaultIdleTimeout          = 5 * time.Minute
	DefaultAnonymousIdleTimeout = 30 * time.Minute
	DefaultMaxLifetime          = 12 * time.Hour
	DefaultPendingTimeout       = 5 * time.Minute
	DefaultMaxBodyBytes         = 64 << 10
	DefaultPurgeEvery           = time.Minute
	// DefaultHSTS: a year, subdomains included (OWASP ASVS 5.0 V3.4.1).
	DefaultHSTS = "max-age=31536000; includeSubDomains"
)

// New checks cfg and returns a Manager. It fails with identity.ErrBadInput
// when Store or Origin is missing or Origin is not an https origin (an
// http://localhost one with Development).
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: httpauth: Config.Store is nil", identity.ErrBadInput)
	}
	var err error
	if cfg.Origin, err = checkOrigin(cfg.Origin, cfg.Development); err != nil {
		return nil, err
	}
	setDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	setDefault(&cfg.AnonymousIdleTimeout, DefaultAnonymousIdleTimeout)
	setDefault(&cfg.MaxLifetime, DefaultMaxLifetime)
	setDefault(&cfg.PendingTimeout, DefaultPendingTimeout)
	if cfg.PurgeEvery == 0 {
		cfg.PurgeEvery = DefaultPurgeEvery
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "puce_session"
	}
	if cfg.Clock == nil {
		cfg.Clock = identity.SystemClock{}
	}
	if cfg.HSTS == "" {
		cfg.HSTS = DefaultHSTS
	}
	if cfg.ClientIPHeader == "" {
		cfg.ClientIPHeader = "X-Forwarded-For"
	}
	cfg.TrustedProxies = slices.Clone(cfg.TrustedProxies)
	for i, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: httpauth: Config.TrustedProxies[%d] is not a prefix", identity.ErrBadInput, i)
		}
		cfg.TrustedProxies[i] = p.Masked()
	}
	m := &Manager{cfg: cfg, cookie: cfg.CookieName, policy: cfg.Policy, log: cfg.Logger, limit: newLimiter(&cfg.Starts)}
	if !cfg.Development {
		// Browsers accept a __Host- cookie only when Secure, from HTTPS,
		// with Path=/ and no Domain: no sibling host or path can plant or
		// shadow it.
		m.cookie = "__Host-" + cfg.CookieName
	}
	if m.policy == nil {
		m.policy = &identity.Policy{Clock: cfg.Clock}
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	return m, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// checkOrigin checks a configured origin and returns it serialised as a
// browser sends it in the Origin header and in WebAuthn's client data (RFC
// 6454 §6.2, WHATWG URL: scheme and host in lower case, no default port),
// so that "https://Bank.Example:443" does not refuse every request of the
// site's own pages. A host outside ASCII must be given as its A-label
// (punycode), which is what browsers send.
func checkOrigin(origin string, dev bool) (string, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" ||
		strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("%w: httpauth: Config.Origin %q is not scheme://host[:port]", identity.ErrBadInput, origin)
	}
	for _, c := range u.Host {
		if c >= utf8.RuneSelf {
			return "", fmt.Errorf("%w: httpauth: Config.Origin %q: write the host as its A-label (xn--…), as browsers send it", identity.ErrBadInput, origin)
		}
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (scheme == "https" && p == "443") || (scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	canonical := scheme + "://" + host
	switch {
	case scheme == "https" && !dev:
		return canonical, nil
	case scheme == "http" && dev:
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1":
			return canonical, nil
		}
		return "", fmt.Errorf("%w: httpauth: Development serves localhost only, not %q", identity.ErrBadInput, origin)
	case dev:
		return "", fmt.Errorf("%w: httpauth: Development is for http://localhost; %q needs no development mode", identity.ErrBadInput, origin)
	}
	return "", fmt.Errorf("%w: httpauth: Config.Origin %q is not https (set Development for http://localhost)", identity.ErrBadInput, origin)
}

// CookieName is the name of the session cookie, with its prefix.
func (m *Manager) CookieName() string { return m.cookie }

func (m *Manager) now() time.Time { return m.cfg.Clock.Now() }
