// Package cardauth is the smart-card factor for servers: a web backend
// verifies a card holder without touching a reader. Begin issues a nonce; the
// holder's machine signs it with the card's authentication key (PIV slot 9A)
// in the Web eID token format; Finish checks the token — certificate validity
// and purpose, a chain to the trusted CAs, revocation by OCSP, the signature
// over the origin and nonce — and matches the card to the account.
//
// The same checks apply to a client certificate of a mutual-TLS connection
// (VerifyConnection). Tokens of any web-eid:1.x client are accepted, so
// national eID cards used through the Web eID browser extension work too.
//
// cardauth does not import the cgo package pcsc: a web backend builds
// without libpcsclite. The holder's half is here too, as calls on an open
// card (an apdu.Transport: a pcsc.Tx, or the virtual card): LoginToken
// (select, PIN with tries left, 9A signature, the Web eID token),
// SignDigest (a 9C signature of a pending document, PIN for each; a PDF's
// through pades.SignOnCard, which checks first what the card signs) and
// ApprovalToken (a payment); NewToken takes any crypto.Signer instead.
package cardauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"

	"github.com/puce-id/puce/internal/decodecache"
)

// Kind is the factor's kind.
const Kind = identity.KindCard

// Unreachable says what to do when no OCSP answer can be had.
type Unreachable int

const (
	// FailClosed rejects the login (the default): a revoked card must not
	// get in because the responder is down.
	FailClosed Unreachable = iota
	// FailOpen accepts it and says so in the proof's claims and the audit
	// trail.
	FailOpen
)

// Config configures the card factor.
type Config struct {
	// Roots are the trusted CAs; Intermediates the issuing CAs between them
	// and the cards. Roots is required unless only pinned keys are used.
	Roots, Intermediates *x509.CertPool
	// OCSP queries responders; nil means HTTPOCSP. With the fields below
	// it configures the factor's ocsp.Checker.
	OCSP OCSPClient
	// OCSPResponderURL overrides the responder the certificate names.
	OCSPResponderURL string
	// SkipRevocation turns OCSP off. Only for closed deployments whose CA
	// publishes no responder; pinned keys never use OCSP.
	SkipRevocation bool
	// OnUnreachable: FailClosed (default) or FailOpen.
	OnUnreachable Unreachable
	// OCSPTimeout bounds one query (default 5 s); OCSPMaxAge how old a
	// response's thisUpdate may be (default 15 min); OCSPClockSkew the
	// tolerance between our clock and the responder's (default 1 min).
	OCSPTimeout, OCSPMaxAge, OCSPClockSkew time.Duration
	// OCSPNonceOptional lists responders known not to echo nonces
	// (ocsp.Checker.NonceOptional); every other must.
	OCSPNonceOptional []string
	// AllowSelfIssued lets FinishEnroll pin the key of a card whose
	// certificate is self-signed and chains nowhere.
	AllowSelfIssued bool
	// NoPIN says the cards' authentication key works without a PIN, which
	// makes the card a single possession factor (Level2) instead of a
	// multi-factor device (Level3).
	NoPIN bool
}

// Factor is the card factor. It is an identity.Authenticator, safe for
// concurrent use. It remembers, bounded, the chains it verified and the
// parses of the certificates and card records of past logins (keyed by
// their exact bytes); every check still runs at every login.
type Factor struct {
	svc           *identity.Services
	cfg           Config
	roots         *x509.CertPool
	intermediates *x509.CertPool
	checker       *ocsp.Checker
	chains        chainCache
	certs         decodecache.Cache[*parsedCert] // see cache.go
	cardRecords   decodecache.Cache[*Card]
}

var _ identity.Authenticator = (*Factor)(nil)

// Revocation returns the OCSP checker the factor asks about cards, or nil
// when Config.SkipRevocation turned it off, so that a signature made with
// the same cards (esign.VerifyOptions.OCSP) is judged as a login is.
func (f *Factor) Revocation() *ocsp.Checker {
	if f.cfg.SkipRevocation {
		return nil
	}
	return f.checker
}

// New returns the card factor over the core services.
func New(svc *identity.Services, cfg Config) (*Factor, error) {
	if svc == nil || svc.Store == nil {
		return nil, fmt.Errorf("%w: cardauth: services with a store are required", identity.ErrBadInput)
	}
	if cfg.Roots == nil && !cfg.AllowSelfIssued {
		return nil, fmt.Errorf("%w: cardauth: no trusted CAs (Config.Roots) and self-issued cards not allowed", identity.ErrBadInput)
	}
	if cfg.OCSPTimeout <= 0 {
		cfg.OCSPTimeout = 5 * time.Second
	}
	if cfg.OCSPMaxAge <= 0 {
		cfg.OCSPMaxAge = 15 * time.Minute
	}
	if cfg.OCSPClockSkew <= 0 {
		cfg.OCSPClockSkew = time.Minute
	}
	f := &Factor{svc: svc, cfg: cfg, roots: cfg.Roots, intermediates: cfg.Intermediates,
		checker: &ocsp.Checker{Client: cfg.OCSP, ResponderURL: cfg.OCSPResponderURL,
			Timeout: cfg.OCSPTimeout, MaxAge: cfg.OCSPMaxAge, ClockSkew: cfg.OCSPClockSkew, NonceOptional: cfg.OCSPNonceOptional}}
	if f.roots == nil {
		f.roots = x509.NewCertPool()
	}
	if f.intermediates == nil {
		f.intermediates = x509.NewCertPool()
	}
	return f, nil
}

// Kind implements identity.Authenticator.
func (f *Factor) Kind() identity.Kind { return Kind }

// Mode says how a card credential is matched.
type Mode string

const (
	// ModeCertificate: the card's CA-issued certificate is enrolled; it must
	// chain to a trusted CA and pass OCSP at every login.
	ModeCertificate Mode = "certificate"
	// ModePinnedKey: the card's public key is pinned (self-issued cards);
	// any certificate carrying that key is accepted, nothing is chained.
	ModePinnedKey Mode = "pinned-key"
)

// Card is what a card credential records, for showing the user which card
// is bound to the account.
type Card struct {
	Mode Mode `json:"mode"`
	// Certificate is the DER of the enrolled certificate: in certificate
	// mode the one logins must present; in pinned-key mode the self-issued
	// one enrolment saw, whose names logins report (empty for PinKey).
	Certificate []byte `json:"certificate,omitempty"`
	// PublicKey is the DER SubjectPublicKeyInfo (both modes).
	PublicKey []byte    `json:"publicKey"`
	Subject   string    `json:"subject,omitempty"`
	Serial    string    `json:"serial,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotAfter  time.Time `json:"notAfter,omitzero"`
}

// CardOf decodes the card record of a credential of this factor.
func CardOf(c *identity.Credential) (*Card, error) {
	var card Card
	if c.Kind != Kind {
		return nil, fmt.Errorf("%w: not a card credential", identity.ErrBadInput)
	}
	if err := json.Unmarshal(c.Public, &card); err != nil {
		return nil, fmt.Errorf("cardauth: credential %q: %w", c.ID, err)
	}
	return &card, nil
}

// credentialID names a credential: the SHA-256 of the certificate in
// certificate mode, of the public key in pinned mode. The same card cannot
// be bound to two accounts: the store refuses a second credential of one ID.
func credentialID(mode Mode, der []byte) string {
	sum := sha256.Sum256(der)
	prefix := "cert:"
	if mode == ModePinnedKey {
		prefix = "key:"
	}
	return prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// newNonce is 32 random bytes in standard base64: the Web eID challenge.
func newNonce() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return []byte(base64.StdEncoding.EncodeToString(b))
}

// BeginEnroll issues a nonce for the card to sign. Its Payload is the nonce
// string the client hands to NewToken (or the Web eID extension).
func (f *Factor) BeginEnroll(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	if req.Subject == "" {
		return nil, fmt.Errorf("%w: cardauth: enrolment needs a subject", identity.ErrBadInput)
	}
	return f.svc.Issue(ctx, Kind, identity.PurposeEnroll, req, newNonce(), nil)
}

// FinishEnroll binds the card that signed the nonce to the account: by its
// certificate when it chains to a trusted CA (after every login check), or
// by its public key when the certificate is self-signed and the
// configuration allows self-issued cards. The returned credential's card
// (CardOf) names the certificate's subject and serial for the user to see.
func (f *Factor) FinishEnroll(ctx context.Context, resp identity.Response) (*identity.Credential, error) {
	var cred *identity.Credential
	err := f.svc.Enroll(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		tok, cert, err := ParseToken(resp.Data)
		if err != nil {
			return err
		}
		if err := tok.VerifySignature(cert, ch.Origin, string(ch.Payload)); err != nil {
			return err
		}
		now := ev.Time
		card := &Card{PublicKey: cert.RawSubjectPublicKeyInfo, Subject: cert.Subject.String(),
			Serial: serialHex(cert.SerialNumber), Issuer: cert.Issuer.String(), NotAfter: cert.NotAfter}
		chainErr := f.checkCertificate(ctx, cert, nil, now)
		switch {
		case chainErr == nil:
			card.Mode, card.Certificate = ModeCertificate, cert.Raw
		case errors.Is(chainErr, ErrUntrustedCA) && f.cfg.AllowSelfIssued && selfSigned(cert):
			if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
				return fmt.Errorf("%w: self-issued certificate outside its validity period", ErrCertificateNotValid)
			}
			card.Mode, card.Certificate = ModePinnedKey, cert.Raw
		default:
			return chainErr
		}
		name := resp.Name
		if name == "" {
			name = cert.Subject.CommonName
		}
		c, err := f.store(ctx, ch.Subject, name, card, now)
		if err != nil {
			return err
		}
		ev.CredentialID = c.ID
		cred = c
		return nil
	})
	return cred, err
}

// selfSigned reports a certificate signed by its own key. CheckSignatureFrom
// would refuse it: a card certificate is not a CA.
func selfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, cert.RawSubject) &&
		cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
}

func (f *Factor) store(ctx context.Context, subject identity.Subject, name string, card *Card, now time.Time) (*identity.Credential, error) {
	public, err := json.Marshal(card)
	if err != nil {
		return nil, err
	}
	key := card.PublicKey
	if card.Mode == ModeCertificate {
		key = card.Certificate
	}
	c := &identity.Credential{Subject: subject, Kind: Kind, ID: credentialID(card.Mode, key), Name: name,
		Public: public, Active: true, CreatedAt: now}
	if err := f.svc.CreateCredential(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// PinKey binds a self-issued card to an account by its public key, as an
// administrator does when the card was personalised in-house. Logins then
// accept any certificate carrying that key, with no chain or OCSP check.
func (f *Factor) PinKey(ctx context.Context, subject identity.Subject, pub crypto.PublicKey, name string) (*identity.Credential, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: cardauth: %v", identity.ErrBadInput, err)
	}
	c, err := f.store(ctx, subject, name, &Card{Mode: ModePinnedKey, PublicKey: spki}, f.svc.Now())
	return c, f.svc.Record(ctx, identity.Event{Subject: subject, Kind: Kind, CredentialID: credentialID(ModePinnedKey, spki), Action: "pin-key"}, err)
}

// Begin issues a login nonce. With an empty subject the card itself names
// the account at Finish (its credential is looked up by certificate).
func (f *Factor) Begin(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	if req.Subject != "" {
		creds, err := f.svc.Store.Credentials(ctx, req.Subject, Kind)
		if err != nil {
			return nil, err
		}
		if len(creds) == 0 {
			return nil, fmt.Errorf("%w: no card enrolled for %q", identity.ErrNotEnrolled, req.Subject)
		}
	}
	return f.svc.Issue(ctx, Kind, identity.PurposeAuthenticate, req, newNonce(), nil)
}

// Finish verifies a Web eID token answering a Begin nonce: the token's
// shape, the certificate's validity and purpose (digitalSignature,
// clientAuth), its chain to Config.Roots, revocation by OCSP (unless
// SkipRevocation), the signature over the origin and nonce, and that the
// card is enrolled for the account. The proof is possession and knowledge
// (the card's PIN), identity.Level3; Level2 with Config.NoPIN.
//
// Errors: ErrMalformedToken and ErrUnsupportedAlgorithm (nothing proven);
// ErrBadSignature; ErrUnknownCard (identity.ErrNotEnrolled) for a card not
// enrolled on the account, identity.ErrRevoked for a disabled card
// credential; ErrCertificateNotValid, ErrKeyUsage, ErrUntrustedCA
// (identity.ErrUntrusted); ErrOCSP and ErrOCSPUnavailable (identity.ErrUntrusted),
// ErrRevoked (identity.ErrRevoked); identity.ErrThrottled; and the challenge
// errors of identity.Services.Prove. Every error matches an identity
// sentinel with errors.Is.
func (f *Factor) Finish(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	return f.svc.Prove(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		tok, pc, cached, err := f.parseToken(resp.Data)
		if err != nil {
			return err
		}
		err = f.verify(ctx, ch.Subject, pc, nil, ev, p, func() error {
			return tok.VerifySignature(pc.cert, ch.Origin, string(ch.Payload))
		})
		if err == nil && !cached {
			f.certs.Store(tok.UnverifiedCertificate, nil, pc)
		}
		return err
	})
}

// VerifyConnection applies the login checks to the client certificate of a
// mutual-TLS connection: the TLS handshake has already proved possession of
// the key. subject may be empty to let the card name the account.
func (f *Factor) VerifyConnection(ctx context.Context, subject identity.Subject, state tls.ConnectionState, remoteAddr string) (*identity.Proof, error) {
	ev := identity.Event{Time: f.svc.Now(), Subject: subject, Kind: Kind, Action: "login-tls", RemoteAddr: remoteAddr}
	proof := new(identity.Proof)
	err := func() error {
		if !state.HandshakeComplete || len(state.PeerCertificates) == 0 {
			return fmt.Errorf("%w: no client certificate on the connection", identity.ErrInvalidResponse)
		}
		return f.verify(ctx, subject, newParsedCert(state.PeerCertificates[0]), state.PeerCertificates[1:], &ev, proof, func() error { return nil })
	}()
	if err := f.svc.Record(ctx, ev, err); err != nil {
		return nil, err
	}
	return proof, nil
}

// verify runs the login checks in the order that spends least on a bad
// answer: find the enrolled card (no network), check its certificate and
// the signature, and only then ask the OCSP responder. It judges the
// certificate at ev.Time, the instant of the whole verification, and
// completes p on success.
func (f *Factor) verify(ctx context.Context, subject identity.Subject, pc *parsedCert, extra []*x509.Certificate, ev *identity.Event, p *identity.Proof, signature func() error) error {
	cred, card, err := f.enrolled(ctx, subject, pc)
	if err != nil {
		return err
	}
	ev.Subject, ev.CredentialID = cred.Subject, cred.ID
	now := ev.Time
	cert := pc.cert
	claims := pc.claimsCopy()
	if card.Mode == ModePinnedKey {
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			return fmt.Errorf("%w: certificate outside its validity period", ErrCertificateNotValid)
		}
		if err := signature(); err != nil {
			return err
		}
		// The certificate chains nowhere, so its names are whatever the
		// key's holder wrote into it at this login: the proof names what
		// was recorded when the key was pinned (nothing, for PinKey).
		claims = pinnedClaims(card)
		claims["revocation"] = "not checked: pinned key"
	} else {
		if err := checkUse(cert, now); err != nil {
			return err
		}
		chain, err := f.verifyChain(cert, extra, now)
		if err != nil {
			return err
		}
		if err := signature(); err != nil {
			return err
		}
		claims["revocation"], err = f.revocation(ctx, cert, chain, now)
		if err != nil {
			return err
		}
	}
	// Edited, not overwritten: a rename, or a revocation, made during this
	// login stays.
	err = f.svc.EditCredential(ctx, cred, func(c *identity.Credential) error {
		if !c.Active {
			return fmt.Errorf("%w: the card credential was disabled during this login", identity.ErrRevoked)
		}
		c.LastUsedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	factors, level := identity.Possession|identity.Knowledge, identity.Level3
	if f.cfg.NoPIN {
		factors, level = identity.Possession, identity.Level2
	}
	*p = identity.Proof{Subject: cred.Subject, Kind: Kind, CredentialID: cred.ID, Factors: factors,
		Assurance: level, Time: now, Claims: claims}
	return nil
}

// pinnedClaims are the claims of a pinned-key login: the names of the
// certificate enrolment saw, or, for a record without one, its subject,
// serial and issuer as recorded. Not its expiry: the validity a login
// judges is the presented certificate's.
func pinnedClaims(card *Card) map[string]string {
	if cert, err := x509.ParseCertificate(card.Certificate); err == nil {
		c := Claims(cert)
		delete(c, "certificateExpires")
		return c
	}
	c := map[string]string{}
	for k, v := range map[string]string{"subject": card.Subject, "certificateSerial": card.Serial, "issuer": card.Issuer} {
		if v != "" {
			c[k] = v
		}
	}
	return c
}

// enrolled finds the credential the certificate matches: its own enrolment,
// or a pinned key it carries.
func (f *Factor) enrolled(ctx context.Context, subject identity.Subject, pc *parsedCert) (*identity.Credential, *Card, error) {
	for _, id := range []string{pc.certID, pc.keyID} {
		var c *identity.Credential
		var err error
		if subject == "" {
			c, err = f.svc.CredentialByID(ctx, Kind, id)
		} else {
			c, err = f.svc.Credential(ctx, identity.CredentialRef{Subject: subject, Kind: Kind, ID: id})
		}
		if errors.Is(err, identity.ErrNotEnrolled) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if !c.Active {
			return nil, nil, fmt.Errorf("%w: card credential disabled", identity.ErrRevoked)
		}
		card, err := f.cardOf(c)
		if err != nil {
			return nil, nil, err
		}
		return c, card, nil
	}
	return nil, nil, ErrUnknownCard
}

// checkCertificate runs the CA-side checks for enrolment.
func (f *Factor) checkCertificate(ctx context.Context, cert *x509.Certificate, extra []*x509.Certificate, now time.Time) error {
	if err := checkUse(cert, now); err != nil {
		return err
	}
	chain, err := f.verifyChain(cert, extra, now)
	if err != nil {
		return err
	}
	_, err = f.revocation(ctx, cert, chain, now)
	return err
}

// revocation applies the OCSP policy and says what it found, for the claims.
func (f *Factor) revocation(ctx context.Context, cert *x509.Certificate, chain []*x509.Certificate, now time.Time) (string, error) {
	if f.cfg.SkipRevocation {
		return "not checked: disabled by configuration", nil
	}
	if len(chain) < 2 {
		return "", fmt.Errorf("%w: a trusted root certificate cannot be used as a card certificate", ErrUntrustedCA)
	}
	err := f.checkRevocation(ctx, cert, chain[1], now)
	switch {
	case err == nil:
		return "good (OCSP)", nil
	case errors.Is(err, ocsp.ErrUnavailable) && f.cfg.OnUnreachable == FailOpen:
		return "not checked: OCSP responder unreachable (fail-open)", nil
	case errors.Is(err, ocsp.ErrUnavailable):
		return "", fmt.Errorf("%w (%w)", ErrOCSPUnavailable, err)
	}
	return "", err
}
