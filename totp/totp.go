package totp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"time"
	"unicode/utf8"

	"github.com/boombuler/barcode/qr"

	"github.com/puce-id/puce/identity"
)

// Kind is the factor kind of TOTP credentials, challenges and throttle
// counters.
const Kind = identity.KindTOTP

// Factor is the TOTP factor. It is safe for concurrent use; all its state is
// in the store of its identity.Services.
type Factor struct {
	svc    *identity.Services
	sealer *identity.Sealer
	cfg    config
}

var _ identity.Authenticator = (*Factor)(nil)

type config struct {
	issuer     string
	alg        Algorithm
	digits     int
	period     time.Duration
	skew       int
	secretSize int
	qrSize     int
}

// Option configures a Factor.
type Option func(*config)

// WithAlgorithm sets the HMAC hash of new keys (default SHA1).
func WithAlgorithm(a Algorithm) Option { return func(c *config) { c.alg = a } }

// WithDigits sets the code length of new keys: 6 (default) or 8.
func WithDigits(n int) Option { return func(c *config) { c.digits = n } }

// WithPeriod sets the time step of new keys (default 30 s, as RFC 6238 §5.2
// recommends).
func WithPeriod(d time.Duration) Option { return func(c *config) { c.period = d } }

// WithSkew sets how many time steps before and after the current one a code
// may belong to (default 1; 0 accepts the current step only; at most
// MaxSkew). RFC 6238 §5.2 recommends at most one step of delay. A skew of s
// accepts 2s+1 codes at any moment, so every step added widens a guesser's
// odds per attempt.
func WithSkew(steps int) Option { return func(c *config) { c.skew = steps } }

// WithSecretSize sets the length of generated secrets in bytes (default: the
// hash's output size, 20 for SHA-1; at least MinGeneratedSecret).
func WithSecretSize(n int) Option { return func(c *config) { c.secretSize = n } }

// WithQRSize sets the width and height of QR code images in pixels (default
// 256).
func WithQRSize(px int) Option { return func(c *config) { c.qrSize = px } }

// MaxSkew bounds WithSkew.
const MaxSkew = 10

// New returns the TOTP factor. The issuer names the service in the user's
// authenticator app ("Example Bank"). svc must have a Throttle: six-digit
// codes are guessable without one. The sealer encrypts secrets at rest.
func New(svc *identity.Services, sealer *identity.Sealer, issuer string, opts ...Option) (*Factor, error) {
	if svc == nil || svc.Store == nil || sealer == nil {
		return nil, fmt.Errorf("%w: totp: services with a store, and a sealer, are required", identity.ErrBadInput)
	}
	if svc.Throttle == nil {
		return nil, fmt.Errorf("%w: totp: services have no throttle; one-time codes can be guessed without one", identity.ErrBadInput)
	}
	cfg := config{issuer: issuer, alg: SHA1, digits: DefaultDigits, period: DefaultPeriod, skew: 1, qrSize: 256}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.secretSize == 0 {
		cfg.secretSize = max(cfg.alg.size(), MinGeneratedSecret)
	}
	if err := checkLabel("issuer", cfg.issuer); err != nil {
		return nil, err
	}
	k := Key{Algorithm: cfg.alg, Digits: cfg.digits, Period: cfg.period, Secret: make([]byte, MinSecretSize)}
	if _, err := k.params(); err != nil {
		return nil, err
	}
	switch {
	case cfg.skew < 0 || cfg.skew > MaxSkew:
		return nil, fmt.Errorf("%w: totp: skew %d (want 0 to %d steps)", identity.ErrBadInput, cfg.skew, MaxSkew)
	case cfg.secretSize < MinGeneratedSecret || cfg.secretSize > MaxSecretSize:
		return nil, fmt.Errorf("%w: totp: secret size %d (want %d to %d bytes)", identity.ErrBadInput, cfg.secretSize, MinGeneratedSecret, MaxSecretSize)
	case cfg.qrSize < 64 || cfg.qrSize > 4096:
		return nil, fmt.Errorf("%w: totp: QR size %d (want 64 to 4096 pixels)", identity.ErrBadInput, cfg.qrSize)
	}
	return &Factor{svc: svc, sealer: sealer, cfg: cfg}, nil
}

// Kind returns identity.KindTOTP.
func (f *Factor) Kind() identity.Kind { return Kind }

// newCredentialID returns 128 random bits in base64url: unguessable, and
// unique per kind without asking the store.
func newCredentialID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// enrollState is the server-side half of an enrolment in progress, kept in
// the challenge's State. The secret is sealed for the row the credential will
// have, so FinishEnroll stores it as it is, and it opens for no other row.
type enrollState struct {
	ID     string `json:"id"`
	Params []byte `json:"params"`
	Sealed []byte `json:"secret"`
}

// BeginEnroll generates a new key for req.Subject and starts its enrolment.
// The challenge's Payload is the otpauth:// URI to show the user, as a QR code
// (QRCode) or as text; the account name in it is req.UserName, or the subject
// when that is empty.
//
// The Payload is handed to the caller only: the store keeps the secret
// sealed in the challenge's State, so render the QR code from the returned
// challenge. The credential exists only once FinishEnroll has seen a valid
// code.
func (f *Factor) BeginEnroll(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	secret := make([]byte, f.cfg.secretSize)
	rand.Read(secret)
	account := req.UserName
	if account == "" {
		account = string(req.Subject)
	}
	k := &Key{Issuer: f.cfg.issuer, Account: account, Secret: secret, Algorithm: f.cfg.alg, Digits: f.cfg.digits, Period: f.cfg.period}
	uri, err := k.URI()
	if err != nil {
		return nil, err
	}
	ch, err := f.beginEnroll(ctx, req, k)
	if err != nil {
		return nil, err
	}
	ch.Payload = []byte(uri)
	return ch, nil
}

// BeginImport starts the enrolment of a key the user already has in an app
// (migration from another system, the user pasting a secret). FinishEnroll
// then needs one valid code from it, as after BeginEnroll. The challenge has
// no Payload.
func (f *Factor) BeginImport(ctx context.Context, req identity.Request, key *Key) (*identity.Challenge, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrBadURI)
	}
	return f.beginEnroll(ctx, req, key)
}

func (f *Factor) beginEnroll(ctx context.Context, req identity.Request, k *Key) (*identity.Challenge, error) {
	if req.Subject == "" {
		return nil, fmt.Errorf("%w: totp: enrolment needs a subject", identity.ErrBadInput)
	}
	p, err := k.params()
	if err != nil {
		return nil, err
	}
	id := newCredentialID()
	st, err := json.Marshal(enrollState{
		ID:     id,
		Params: p.encode(),
		Sealed: f.sealer.Seal(k.Secret, identity.CredentialRef{Subject: req.Subject, Kind: Kind, ID: id}),
	})
	if err != nil {
		return nil, fmt.Errorf("totp: encode enrolment state: %w", err)
	}
	return f.svc.Issue(ctx, Kind, identity.PurposeEnroll, req, nil, st)
}

// maxNameLen bounds the credential name a user gives.
const maxNameLen = 128

func checkName(name string) error {
	if len(name) > maxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: credential name must be valid UTF-8 of at most %d bytes", identity.ErrBadInput, maxNameLen)
	}
	return nil
}

// FinishEnroll activates the key of an enrolment once resp.Data holds a valid
// code from the user's app, and returns the new credential (its Secret is
// sealed). That code is spent: it cannot also log in.
//
// A malformed code (ErrMalformedCode) or name (identity.ErrBadInput) changes
// nothing; the challenge can still be answered. A wrong code uses the
// challenge up: start again with BeginEnroll (a new key) or BeginImport.
func (f *Factor) FinishEnroll(ctx context.Context, resp identity.Response) (*identity.Credential, error) {
	code, err := parseCode(resp.Data)
	if err != nil {
		return nil, err
	}
	if err := checkName(resp.Name); err != nil {
		return nil, err
	}
	var cred *identity.Credential
	err = f.svc.Enroll(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		var st enrollState
		if err := json.Unmarshal(ch.State, &st); err != nil {
			return fmt.Errorf("totp: enrolment state: %w", err)
		}
		ev.CredentialID = st.ID
		p, err := decodeParams(st.Params)
		if err != nil {
			return err
		}
		ref := identity.CredentialRef{Subject: ch.Subject, Kind: Kind, ID: st.ID}
		now := ev.Time
		var step uint64
		var ok bool
		err = f.sealer.OpenFunc(st.Sealed, ref, func(secret []byte) error {
			step, ok, _ = p.match(secret, code, now, f.cfg.skew, 0)
			return nil
		})
		if err != nil {
			return fmt.Errorf("totp: enrolment secret: %w", err)
		}
		if !ok {
			return fmt.Errorf("%w: the code does not match the new key (is the device's clock right?)", identity.ErrInvalidResponse)
		}
		name := resp.Name
		if name == "" {
			name = "authenticator app"
		}
		c := &identity.Credential{Subject: ch.Subject, Kind: Kind, ID: st.ID, Name: name, Secret: st.Sealed,
			Public: st.Params, Counter: step + 1, Active: true, CreatedAt: now, LastUsedAt: now}
		if err := f.svc.CreateCredential(ctx, c); err != nil {
			return fmt.Errorf("totp: store credential: %w", err)
		}
		// Spend the enrolment code whether or not the store kept Counter on
		// create; ErrReplayed means it did (or a login already moved on).
		if err := f.svc.AdvanceCounter(ctx, c.Ref(), step+1, now); err != nil && !errors.Is(err, identity.ErrReplayed) {
			return fmt.Errorf("totp: spend enrolment code: %w", err)
		}
		cred = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cred, nil
}

// Import stores a key enrolled elsewhere as an active credential of subject,
// without asking for a code: the system it comes from has already seen the
// user prove it. Use it for bulk migration; for a user bringing their own
// key, BeginImport asks for a code first. It writes an "import" audit event.
func (f *Factor) Import(ctx context.Context, subject identity.Subject, name string, key *Key) (*identity.Credential, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrBadURI)
	}
	if err := subject.Validate(); err != nil {
		return nil, fmt.Errorf("totp: import: %w", err)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	p, err := key.params()
	if err != nil {
		return nil, err
	}
	now := f.svc.Now()
	c := &identity.Credential{Subject: subject, Kind: Kind, ID: newCredentialID(), Name: name,
		Public: p.encode(), Active: true, CreatedAt: now}
	c.Secret = f.sealer.Seal(key.Secret, c.Ref())
	// The credential and its "import" event commit together.
	if err := f.svc.ImportCredential(ctx, c, identity.Event{Time: now, Subject: subject, Kind: Kind,
		CredentialID: c.ID, Action: "import"}); err != nil {
		return nil, fmt.Errorf("totp: import: %w", err)
	}
	return c, nil
}

// QRCode renders the otpauth:// URI of an enrolment challenge from
// BeginEnroll as a PNG image of the configured size (WithQRSize).
func (f *Factor) QRCode(ch *identity.Challenge) ([]byte, error) {
	if ch == nil || ch.Kind != Kind || ch.Purpose != identity.PurposeEnroll || len(ch.Payload) == 0 {
		return nil, fmt.Errorf("%w: totp: not a challenge from BeginEnroll", identity.ErrBadInput)
	}
	return qrPNG(string(ch.Payload), f.cfg.qrSize)
}

// quietZone is the white border a QR symbol needs around it, in modules
// (ISO/IEC 18004). pquerna's Key.Image stretches the symbol over the whole
// image and can leave less; scanners then miss it now and then.
const quietZone = 4

// qrPNG draws text as a QR code (error correction level M) in a size×size
// PNG: whole pixels per module, centred, with at least the quiet zone around.
func qrPNG(text string, size int) ([]byte, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*quietZone)
	if scale < 1 {
		return nil, fmt.Errorf("%w: totp: a %d-pixel image cannot hold this %d-module QR code; raise WithQRSize", identity.ErrBadInput, size, modules)
	}
	img := image.NewGray(image.Rect(0, 0, size, size))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	off := (size - modules*scale) / 2
	for y := range modules {
		for x := range modules {
			if c, _, _, _ := code.At(x, y).RGBA(); c != 0 {
				continue // light module
			}
			draw.Draw(img, image.Rect(off+x*scale, off+y*scale, off+(x+1)*scale, off+(y+1)*scale), image.Black, image.Point{}, draw.Src)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	return buf.Bytes(), nil
}

// Begin starts a login. TOTP needs nothing from the server, so the challenge
// has no Payload; it only binds the code to come to this ceremony.
func (f *Factor) Begin(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	return f.svc.Issue(ctx, Kind, identity.PurposeAuthenticate, req, nil, nil)
}

// Finish checks the code in resp.Data and returns a proof of possession at
// identity.Level2 (with a password, AAL2).
//
// Errors: ErrMalformedCode (nothing changed; the same challenge can be
// answered again); identity.ErrInvalidResponse (wrong code);
// identity.ErrReplayed (the code, or a later one, was already accepted: wait
// for the next code); identity.ErrNotEnrolled; identity.ErrThrottled; and the
// challenge errors of identity.Services.Prove.
//
// The credential's Counter holds the last accepted time step plus one, so
// that step 0 (the first 30 s after the Unix epoch, where RFC 4226's test
// vectors live) can be accepted too, AdvanceCounter being strict.
func (f *Factor) Finish(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	code, err := parseCode(resp.Data)
	if err != nil {
		return nil, err
	}
	return f.svc.Prove(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		now := ev.Time
		c, step, err := f.find(ctx, ch.Subject, code, now, ev)
		if err != nil {
			return err
		}
		// The atomic step of the whole check: of two requests (on any number
		// of servers) carrying codes of the same step, one moves the counter,
		// the other gets ErrReplayed.
		if err := f.svc.AdvanceCounter(ctx, c.Ref(), step+1, now); err != nil {
			if errors.Is(err, identity.ErrReplayed) {
				return fmt.Errorf("totp: this code was already used; wait for the next one: %w", err)
			}
			return fmt.Errorf("totp: record time step: %w", err)
		}
		p.CredentialID, p.Factors, p.Assurance = c.ID, identity.Possession, identity.Level2
		return nil
	})
}

// find returns the active credential of subject that code belongs to, and its
// time step.
func (f *Factor) find(ctx context.Context, subject identity.Subject, code []byte, now time.Time, ev *identity.Event) (*identity.Credential, uint64, error) {
	creds, err := f.svc.Credentials(ctx, subject, Kind)
	if err != nil {
		return nil, 0, fmt.Errorf("totp: load credentials: %w", err)
	}
	active, replayed := 0, false
	for i := range creds {
		c := &creds[i]
		if !c.Active {
			continue
		}
		active++
		ev.CredentialID = c.ID
		p, err := decodeParams(c.Public)
		if err != nil {
			return nil, 0, fmt.Errorf("totp: credential %s: %w", c.ID, err)
		}
		var step uint64
		var ok, rep bool
		err = f.sealer.OpenFunc(c.Secret, c.Ref(), func(secret []byte) error {
			step, ok, rep = p.match(secret, code, now, f.cfg.skew, c.Counter)
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("totp: credential %s: %w", c.ID, err)
		}
		if ok {
			return c, step, nil
		}
		replayed = replayed || rep
	}
	if active > 1 {
		ev.CredentialID = "" // the code matched none of several
	}
	switch {
	case active == 0:
		return nil, 0, fmt.Errorf("%w: no TOTP credential", identity.ErrNotEnrolled)
	case replayed:
		return nil, 0, fmt.Errorf("totp: this code was already used; wait for the next one: %w", identity.ErrReplayed)
	}
	return nil, 0, fmt.Errorf("%w: the code does not match", identity.ErrInvalidResponse)
}
