package webauthn

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/puce-id/puce/identity"

	"github.com/puce-id/puce/internal/decodecache"
)

// Kind is the factor kind of WebAuthn credentials, challenges and throttle
// counters.
const Kind = identity.KindWebAuthn

// MaxResponseSize bounds Response.Data. A registration with a full
// attestation certificate chain takes a few kilobytes; nothing legitimate
// comes near this.
const MaxResponseSize = 64 << 10

// UserVerification is the relying party's wish for user verification (a PIN
// or biometric on the authenticator; W3C WebAuthn §5.8.6).
type UserVerification string

const (
	// VerificationRequired fails a ceremony without user verification.
	VerificationRequired UserVerification = "required"
	// VerificationPreferred asks for it where the authenticator can (default).
	VerificationPreferred UserVerification = "preferred"
	// VerificationDiscouraged asks authenticators not to verify the user.
	VerificationDiscouraged UserVerification = "discouraged"
)

// ResidentKey is the relying party's wish for a client-side discoverable
// credential, a passkey (§5.4.6).
type ResidentKey string

const (
	// ResidentKeyRequired creates passkeys only.
	ResidentKeyRequired ResidentKey = "required"
	// ResidentKeyPreferred creates a passkey where the authenticator can
	// (default).
	ResidentKeyPreferred ResidentKey = "preferred"
	// ResidentKeyDiscouraged prefers server-side credentials (security keys
	// used with a username).
	ResidentKeyDiscouraged ResidentKey = "discouraged"
)

// Conveyance is the attestation conveyance preference (§5.4.7).
type Conveyance string

const (
	// ConveyanceNone asks for no attestation; clients strip it.
	ConveyanceNone Conveyance = "none"
	// ConveyanceIndirect lets the client anonymise the attestation.
	ConveyanceIndirect Conveyance = "indirect"
	// ConveyanceDirect asks for the authenticator's own attestation.
	ConveyanceDirect Conveyance = "direct"
	// ConveyanceEnterprise asks for uniquely identifying attestation, for
	// managed devices of RP IDs the browser is configured for.
	ConveyanceEnterprise Conveyance = "enterprise"
)

// Attachment restricts registration to platform authenticators (built into
// the device) or roaming ones (security keys, phones) (§5.4.5).
type Attachment string

const (
	AttachmentAny           Attachment = ""
	AttachmentPlatform      Attachment = "platform"
	AttachmentCrossPlatform Attachment = "cross-platform"
)

// Config configures the relying party.
type Config struct {
	// RPID is the relying party ID (§4 "RP ID", §5.4.2): a registrable domain
	// suffix of every origin, e.g. "bank.example". Credentials are bound to
	// it: changing it later orphans every credential.
	RPID string
	// RPDisplayName names the relying party in authenticator prompts; the
	// RPID when empty.
	RPDisplayName string
	// Origins are the web origins allowed in clientDataJSON (§7.1/§7.2 origin
	// step), e.g. "https://bank.example". Each must be https (or http on
	// localhost) on the RPID or a subdomain of it. A ceremony is bound to the
	// origin of its Request, which must be one of these.
	Origins []string
	// UserVerification defaults to VerificationPreferred.
	UserVerification UserVerification
	// ResidentKey defaults to ResidentKeyPreferred.
	ResidentKey ResidentKey
	// Attachment restricts the authenticators offered at registration.
	Attachment Attachment
	// Conveyance defaults to ConveyanceNone when Policy accepts any
	// authenticator, and to ConveyanceDirect otherwise.
	Conveyance Conveyance
	// Policy decides which authenticators may register. The zero value
	// accepts any.
	Policy AttestationPolicy
	// AcceptCounterRegression lets a login through when the signature counter
	// did not increase, flagging it in the proof's claims ("clone_warning")
	// and the audit event instead. The default refuses it: a counter going
	// backwards is the signal of a cloned authenticator (§6.1.1).
	AcceptCounterRegression bool
}

// Factor is the WebAuthn factor. It is safe for concurrent use; its state is
// in the store of its identity.Services (challenges hold go-webauthn's session
// data, credentials hold a Record). It remembers, bounded, the records it
// decoded, keyed by their exact stored bytes.
type Factor struct {
	svc         *identity.Services
	cfg         Config
	origins     []string
	wa          *gowebauthn.WebAuthn
	uv          protocol.UserVerificationRequirement
	recordCache decodecache.Cache[*Record] // see cache.go
}

var _ identity.Authenticator = (*Factor)(nil)

// New returns the WebAuthn factor. svc must have a store; its throttle guards
// logins by username (username-less logins are not throttled: they have no
// subject to count against, and a signature cannot be guessed).
func New(svc *identity.Services, cfg Config) (*Factor, error) {
	if svc == nil || svc.Store == nil {
		return nil, fmt.Errorf("%w: webauthn: services with a store are required", identity.ErrBadInput)
	}
	if err := protocol.ValidateRPID(cfg.RPID); err != nil {
		return nil, fmt.Errorf("%w: webauthn: RP ID %q: %v", identity.ErrBadInput, cfg.RPID, err)
	}
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = cfg.RPID
	}
	if len(cfg.Origins) == 0 {
		return nil, fmt.Errorf("%w: webauthn: no allowed origins", identity.ErrBadInput)
	}
	origins := make([]string, 0, len(cfg.Origins))
	for _, o := range cfg.Origins {
		canon, err := checkOrigin(o, cfg.RPID)
		if err != nil {
			return nil, err
		}
		origins = append(origins, canon)
	}
	if cfg.UserVerification == "" {
		cfg.UserVerification = VerificationPreferred
	}
	if cfg.ResidentKey == "" {
		cfg.ResidentKey = ResidentKeyPreferred
	}
	if cfg.Conveyance == "" {
		cfg.Conveyance = ConveyanceNone
		if cfg.Policy.requiresAttestation() {
			cfg.Conveyance = ConveyanceDirect
		}
	}
	switch {
	case !slices.Contains([]UserVerification{VerificationRequired, VerificationPreferred, VerificationDiscouraged}, cfg.UserVerification):
		return nil, fmt.Errorf("%w: webauthn: user verification %q", identity.ErrBadInput, cfg.UserVerification)
	case !slices.Contains([]ResidentKey{ResidentKeyRequired, ResidentKeyPreferred, ResidentKeyDiscouraged}, cfg.ResidentKey):
		return nil, fmt.Errorf("%w: webauthn: resident key %q", identity.ErrBadInput, cfg.ResidentKey)
	case !slices.Contains([]Attachment{AttachmentAny, AttachmentPlatform, AttachmentCrossPlatform}, cfg.Attachment):
		return nil, fmt.Errorf("%w: webauthn: attachment %q", identity.ErrBadInput, cfg.Attachment)
	case !slices.Contains([]Conveyance{ConveyanceNone, ConveyanceIndirect, ConveyanceDirect, ConveyanceEnterprise}, cfg.Conveyance):
		return nil, fmt.Errorf("%w: webauthn: attestation conveyance %q", identity.ErrBadInput, cfg.Conveyance)
	case cfg.Conveyance == ConveyanceNone && cfg.Policy.requiresAttestation():
		// Clients strip the attestation when asked for none (§5.4.7), so no
		// registration could ever pass the policy.
		return nil, fmt.Errorf("%w: webauthn: the attestation policy needs attestation, but the conveyance is %q", identity.ErrBadInput, ConveyanceNone)
	}
	if err := cfg.Policy.check(); err != nil {
		return nil, err
	}

	ttl := svc.ChallengeTTL
	if ttl <= 0 {
		ttl = identity.DefaultChallengeTTL
	}
	wcfg := &gowebauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPDisplayName,
		RPOrigins:             origins,
		AttestationPreference: protocol.ConveyancePreference(cfg.Conveyance),
		// The options' timeout is the challenge lifetime, so the browser
		// gives up when the server would. The challenge store enforces
		// expiry against the services' clock; go-webauthn would check
		// SessionData.Expires against the wall clock, so Enforce stays false
		// and Expires zero.
		Timeouts: gowebauthn.TimeoutsConfig{
			Login:        gowebauthn.TimeoutConfig{Timeout: ttl, TimeoutUVD: ttl},
			Registration: gowebauthn.TimeoutConfig{Timeout: ttl, TimeoutUVD: ttl},
		},
		// Client extension outputs nobody asked for cannot change a decision
		// here (only credProps is requested, and only recorded), so a client
		// or password manager that adds some is not turned away (§7.1 and
		// §7.2 leave unsolicited extensions to RP policy).
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	}
	if cfg.Policy.MDS != nil {
		wcfg.MDS = cfg.Policy.MDS.provider()
	}
	wa, err := gowebauthn.New(wcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: webauthn: %v", identity.ErrBadInput, err)
	}
	return &Factor{svc: svc, cfg: cfg, origins: origins, wa: wa,
		uv: protocol.UserVerificationRequirement(cfg.UserVerification)}, nil
}

// checkOrigin accepts an https origin (http only for localhost, as browsers
// treat it as a secure context) whose host is the RP ID or a subdomain of it
// (§5.1.3: the RP ID must equal the origin's effective domain or be a
// registrable domain suffix of it). It returns the origin in canonical form.
func checkOrigin(origin, rpID string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: webauthn: origin %q is not scheme://host[:port]", identity.ErrBadInput, origin)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (host == "localhost" || strings.HasSuffix(host, ".localhost")):
	default:
		return "", fmt.Errorf("%w: webauthn: origin %q is not https", identity.ErrBadInput, origin)
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", fmt.Errorf("%w: webauthn: origin %q is not on RP ID %q or a subdomain of it", identity.ErrBadInput, origin, rpID)
	}
	// Browsers serialise an origin without its scheme's default port.
	hostport := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		hostport = host
	}
	return u.Scheme + "://" + hostport, nil
}

// Kind returns identity.KindWebAuthn.
func (f *Factor) Kind() identity.Kind { return Kind }

// RPID returns the relying party ID.
func (f *Factor) RPID() string { return f.cfg.RPID }

// ceremonyOrigin returns the configured origin a request runs for: the
// ceremony is bound to it, so an answer collected on another of the relying
// party's origins is refused (§7.1 / §7.2, the origin step).
func (f *Factor) ceremonyOrigin(origin string) (string, error) {
	canon, err := checkOrigin(origin, f.cfg.RPID)
	if err == nil && slices.Contains(f.origins, canon) {
		return canon, nil
	}
	return "", fmt.Errorf("%w: webauthn: origin %q is not one of the configured origins", identity.ErrBadInput, origin)
}

// records loads a subject's active credentials.
func (f *Factor) records(ctx context.Context, subject identity.Subject) ([]*Record, error) {
	creds, err := f.svc.Store.Credentials(ctx, subject, Kind)
	if err != nil {
		return nil, fmt.Errorf("webauthn: load credentials: %w", err)
	}
	out := make([]*Record, 0, len(creds))
	for i := range creds {
		if !creds[i].Active {
			continue
		}
		r, err := DecodeRecord(&creds[i])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// newUserHandle returns a fresh user handle: 32 random bytes (§14.6.1 asks
// for an opaque value with no personal data; 64 bytes is the maximum).
func newUserHandle() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// user adapts a subject to go-webauthn's User.
type user struct {
	handle      []byte
	name        string
	displayName string
	creds       []gowebauthn.Credential
}

func (u *user) WebAuthnID() []byte                           { return u.handle }
func (u *user) WebAuthnName() string                         { return u.name }
func (u *user) WebAuthnDisplayName() string                  { return u.displayName }
func (u *user) WebAuthnCredentials() []gowebauthn.Credential { return u.creds }

// issue stores a ceremony: the options go to the client, the session data
// stays on the server in the challenge's State. session is go-webauthn's
// SessionData, or a struct embedding it with more of the ceremony's state
// (session decodes the embedded part alike).
func (f *Factor) issue(ctx context.Context, purpose identity.Purpose, req identity.Request, options any, session any) (*identity.Challenge, error) {
	payload, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("webauthn: encode options: %w", err)
	}
	state, err := json.Marshal(session)
	if err != nil {
		return nil, fmt.Errorf("webauthn: encode session: %w", err)
	}
	return f.svc.Issue(ctx, Kind, purpose, req, payload, state)
}

// session decodes the go-webauthn session kept in a challenge.
func session(ch *identity.Challenge) (*gowebauthn.SessionData, error) {
	var s gowebauthn.SessionData
	if err := json.Unmarshal(ch.State, &s); err != nil {
		return nil, fmt.Errorf("webauthn: challenge %s holds no session data: %w", ch.ID, err)
	}
	// The identity challenge store enforces expiry; see New.
	s.Expires = time.Time{}
	return &s, nil
}
