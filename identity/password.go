package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params are the argon2id cost parameters (RFC 9106).
type Argon2Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen and KeyLen in bytes.
	SaltLen, KeyLen uint32
}

// DefaultArgon2Params is RFC 9106 §4's second recommended option (64 MiB,
// three passes, four lanes), for servers that cannot spend 2 GiB per login.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}
}

// Bounds on parsed parameters: a stored hash is outside data too, and must not
// make a login allocate gigabytes or spin for minutes.
const (
	maxArgon2Memory  = 4 * 1024 * 1024 // 4 GiB in KiB
	maxArgon2Time    = 64
	minArgon2SaltLen = 8
	maxArgon2SaltLen = 64
	minArgon2KeyLen  = 16
	maxArgon2KeyLen  = 128
	// MaxPasswordLen bounds what is hashed, so a megabyte "password" cannot
	// be used to burn CPU.
	MaxPasswordLen = 1024
)

// ErrWeakPassword: a new password is shorter than the policy allows.
var ErrWeakPassword = fmt.Errorf("%w: password too short", ErrBadInput)

func (p Argon2Params) check() error {
	switch {
	case p.Time < 1 || p.Time > maxArgon2Time:
		return fmt.Errorf("%w: argon2id t=%d outside 1..%d", ErrBadInput, p.Time, maxArgon2Time)
	case p.Threads < 1:
		return fmt.Errorf("%w: argon2id p=0", ErrBadInput)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgon2Memory:
		return fmt.Errorf("%w: argon2id m=%d KiB outside %d..%d", ErrBadInput, p.Memory, 8*uint32(p.Threads), maxArgon2Memory)
	case p.SaltLen < minArgon2SaltLen || p.SaltLen > maxArgon2SaltLen:
		return fmt.Errorf("%w: argon2id salt of %d bytes outside %d..%d", ErrBadInput, p.SaltLen, minArgon2SaltLen, maxArgon2SaltLen)
	case p.KeyLen < minArgon2KeyLen || p.KeyLen > maxArgon2KeyLen:
		return fmt.Errorf("%w: argon2id hash of %d bytes outside %d..%d", ErrBadInput, p.KeyLen, minArgon2KeyLen, maxArgon2KeyLen)
	}
	return nil
}

// PasswordHash is a parsed argon2id hash in PHC string format:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//
// with salt and hash in unpadded standard base64.
type PasswordHash struct {
	Params Argon2Params
	Salt   []byte
	Key    []byte
}

var phcB64 = base64.RawStdEncoding.Strict()

// String encodes the hash in PHC string format.
func (h *PasswordHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.Params.Memory, h.Params.Time, h.Params.Threads,
		phcB64.EncodeToString(h.Salt), phcB64.EncodeToString(h.Key))
}

// ParsePasswordHash parses a PHC string. Only argon2id version 19 is accepted;
// parameters must be in m, t, p order, as the PHC format and every common
// implementation write them.
func ParsePasswordHash(s string) (*PasswordHash, error) {
	bad := func(why string) error { return fmt.Errorf("%w: password hash: %s", ErrBadInput, why) }
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return nil, bad("not a PHC string")
	}
	if parts[1] != "argon2id" {
		return nil, bad("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, bad("unsupported argon2 version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return nil, bad("want parameters m, t and p")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(kv[i], "=")
		if !ok || k != name {
			return nil, bad("want parameters m, t and p")
		}
		// Decimal digits only, no sign, no leading zero (PHC §"Decimal Encoding").
		if v == "" || (len(v) > 1 && v[0] == '0') || strings.TrimLeft(v, "0123456789") != "" {
			return nil, bad("parameter " + name + " is not a decimal number")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, bad("parameter " + name + " out of range")
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return nil, bad("parameter p out of range")
	}
	// encoding/base64 skips \r and \n even in strict mode: refuse them, or
	// two strings would parse to one hash.
	if strings.ContainsAny(parts[4]+parts[5], "\r\n") {
		return nil, bad("line break in salt or hash")
	}
	salt, err := phcB64.DecodeString(parts[4])
	if err != nil {
		return nil, bad("salt is not base64")
	}
	key, err := phcB64.DecodeString(parts[5])
	if err != nil {
		return nil, bad("hash is not base64")
	}
	h := &PasswordHash{
		Params: Argon2Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]),
			SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		Salt: salt, Key: key,
	}
	if err := h.Params.check(); err != nil {
		return nil, err
	}
	return h, nil
}

// normalizePassword applies NFKC, as NIST SP 800-63B §5.1.1.2 recommends, so a
// password typed on another keyboard or OS still matches.
func normalizePassword(pw string) ([]byte, error) {
	if !utf8.ValidString(pw) {
		return nil, fmt.Errorf("%w: password is not valid UTF-8", ErrBadInput)
	}
	if len(pw) > MaxPasswordLen {
		return nil, fmt.Errorf("%w: password longer than %d bytes", ErrBadInput, MaxPasswordLen)
	}
	return []byte(norm.NFKC.String(pw)), nil
}

// HashPassword hashes a password with argon2id and a fresh random salt and
// returns the PHC string.
func HashPassword(password string, p Argon2Params) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	pw, err := normalizePassword(password)
	if err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return (&PasswordHash{Params: p, Salt: salt, Key: key}).String(), nil
}

// ErrPasswordMismatch: the password does not match the hash. It wraps
// ErrInvalidResponse.
var ErrPasswordMismatch = fmt.Errorf("%w: wrong password", ErrInvalidResponse)

// VerifyPassword checks a password against a PHC string in constant time. On a
// match, rehash reports that the hash was made with other parameters than
// current (or another salt or key length), so the caller should store a new
// hash of the password it now knows is right.
func VerifyPassword(encoded, password string, current Argon2Params) (rehash bool, err error) {
	h, err := ParsePasswordHash(encoded)
	if err != nil {
		return false, err
	}
	pw, err := normalizePassword(password)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey(pw, h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, h.Params.KeyLen)
	if subtle.ConstantTimeCompare(got, h.Key) != 1 {
		return false, ErrPasswordMismatch
	}
	return h.Params != current, nil
}

// passwordRef names a subject's one password credential. Credential IDs are
// unique per kind across subjects, so the ID is the subject itself.
func passwordRef(subject Subject) CredentialRef {
	return CredentialRef{Subject: subject, Kind: KindPassword, ID: string(subject)}
}

// Passwords is the knowledge factor: it keeps argon2id hashes as credentials
// of kind KindPassword, throttles guessing, audits every attempt, and rehashes
// on login when the parameters change.
type Passwords struct {
	Store    CredentialStore
	Throttle *Throttle
	Audit    Auditor
	Clock    Clock
	// Params for new hashes; zero means DefaultArgon2Params.
	Params Argon2Params
	// MinLength is the shortest password Set accepts, in characters (default
	// 8, NIST SP 800-63B §5.1.1.2).
	MinLength int
	// MemoryBudget bounds the memory, in bytes, of the argon2id hashes that
	// run at once (default DefaultHashMemory). Each takes Params.Memory KiB,
	// so with the default parameters and budget four run at once; the
	// others wait, up to MaxWait (default DefaultHashWait), and then fail
	// with a *BusyError (ErrBusy) having changed nothing. Every sign-up and
	// login hashes, also for names that do not exist, so without a bound a
	// burst of requests could take all the server's memory.
	MemoryBudget int64
	MaxWait      time.Duration

	gate gateOnce
}

func (p *Passwords) params() Argon2Params {
	if p.Params == (Argon2Params{}) {
		return DefaultArgon2Params()
	}
	return p.Params
}

// Set stores a new password for subject, replacing any previous one (a
// password change, or a reset by an administrator).
func (p *Passwords) Set(ctx context.Context, subject Subject, password string) error {
	c, err := p.credential(ctx, subject, password)
	if err != nil {
		return err
	}
	if err := p.replace(ctx, c); err != nil {
		return fmt.Errorf("identity: store password: %w", err)
	}
	return nil
}

// replace writes the new password credential c over the stored one, or
// creates it, whatever other requests do meanwhile: a concurrent login's
// bookkeeping must not make a password change fail, nor undo it.
func (p *Passwords) replace(ctx context.Context, c *Credential) error {
	for range maxEditRounds {
		cur, err := p.Store.Credential(ctx, c.Ref())
		if errors.Is(err, ErrNotEnrolled) {
			err = p.Store.CreateCredential(ctx, c)
			if errors.Is(err, ErrExists) {
				continue // created meanwhile: replace that one
			}
			return err
		}
		if err != nil {
			return err
		}
		err = EditCredential(ctx, p.Store, cur, func(cur *Credential) error {
			cur.Name, cur.Secret, cur.Public, cur.Active, cur.LastUsedAt = c.Name, c.Secret, c.Public, c.Active, c.LastUsedAt
			return nil
		})
		if !errors.Is(err, ErrNotEnrolled) {
			return err
		}
		// Deleted meanwhile: create it.
	}
	return fmt.Errorf("%w: password credential %q kept changing", ErrChanged, c.ID)
}

// Create stores the first password of a new subject and fails with
// ErrExists when the subject already has one: sign-up, which must not
// overwrite an account that another request created first. It returns the
// knowledge proof (Level1) the new password gives, so that sign-up needs no
// second argon2id run to log the account in. A sign-up that is stored is
// audited ("signup"); one refused before anything was written is not.
func (p *Passwords) Create(ctx context.Context, subject Subject, password, remoteAddr string) (*Proof, error) {
	c, err := p.credential(ctx, subject, password)
	if err != nil {
		return nil, err
	}
	if err := p.Store.CreateCredential(ctx, c); err != nil {
		return nil, fmt.Errorf("identity: create password: %w", err)
	}
	ev := Event{Time: c.CreatedAt, Subject: subject, Kind: KindPassword, CredentialID: c.ID, Action: "signup", RemoteAddr: remoteAddr}
	if err := RecordOutcome(ctx, p.Audit, ev, nil); err != nil {
		return nil, err
	}
	return &Proof{Subject: subject, Kind: KindPassword, CredentialID: c.ID, Factors: Knowledge, Assurance: Level1, Time: c.CreatedAt}, nil
}

func (p *Passwords) credential(ctx context.Context, subject Subject, password string) (*Credential, error) {
	if err := subject.Validate(); err != nil {
		return nil, err
	}
	minLen := p.MinLength
	if minLen <= 0 {
		minLen = 8
	}
	if utf8.RuneCountInString(password) < minLen {
		return nil, fmt.Errorf("%w: at least %d characters", ErrWeakPassword, minLen)
	}
	params := p.params()
	release, err := p.acquire(ctx, params.Memory)
	if err != nil {
		return nil, err
	}
	enc, err := HashPassword(password, params)
	release()
	if err != nil {
		return nil, err
	}
	ref := passwordRef(subject)
	return &Credential{Subject: subject, Kind: KindPassword, ID: ref.ID, Name: "password",
		Public: []byte(enc), Active: true, CreatedAt: clockOr(p.Clock).Now()}, nil
}

// burn runs one argon2id derivation with the current parameters and a random
// salt, the cost of checking a password that exists.
func (p *Passwords) burn(password string, params Argon2Params) {
	_, _ = HashPassword(password, params)
}

// Verify checks subject's password and returns a knowledge proof (Level1).
// An unknown subject costs the same time as a wrong password and fails with
// ErrNotEnrolled; show both to users with the same message. With the
// throttle's Clients set, failures also count against remoteAddr. When the
// server is at its hashing budget it fails with a *BusyError before
// anything is counted.
//
// When Store is a UnitStore that also holds the throttle and the audit
// trail (Audit the store, or Auditors holding it once), the verification
// is one unit, as Services.Prove's: one read, the comparison, one commit.
func (p *Passwords) Verify(ctx context.Context, subject Subject, password, remoteAddr string) (*Proof, error) {
	if us, extra, ok := unitStoreOf(p.Store, p.Throttle, p.Audit, false); ok {
		return p.verifyUnit(ctx, us, extra, subject, password, remoteAddr)
	}
	ev := Event{Subject: subject, Kind: KindPassword, CredentialID: string(subject), Action: "login", RemoteAddr: remoteAddr}
	proof, err := p.verify(ctx, subject, password, remoteAddr)
	ev.Time = clockOr(p.Clock).Now()
	if err := RecordOutcome(ctx, p.Audit, ev, err); err != nil {
		return nil, err
	}
	return proof, nil
}

func (p *Passwords) verify(ctx context.Context, subject Subject, password, remote string) (*Proof, error) {
	if err := checkField("subject", string(subject)); err != nil {
		return nil, err
	}
	current := p.params()
	// Room to hash first: a request refused as busy must not count as a
	// failed attempt.
	release, err := p.acquire(ctx, current.Memory)
	if err != nil {
		return nil, err
	}
	defer func() { release() }()
	var lock *ThrottledError
	if p.Throttle != nil {
		if lock, err = p.Throttle.attempt(ctx, ThrottleKey{subject, KindPassword}, remote, time.Time{}); err != nil {
			return nil, err
		}
	}
	proof, err := p.check(ctx, subject, password, current, &release)
	if err != nil && p.Throttle != nil && !errors.Is(err, ErrBusy) {
		if cerr := p.Throttle.Failed(ctx, remote); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if lock != nil {
			ev := Event{Time: clockOr(p.Clock).Now(), Subject: subject, Kind: KindPassword, CredentialID: string(subject), RemoteAddr: remote}
			if aerr := auditBlock(ctx, p.Audit, ev, lock); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
	}
	return proof, err
}

// check is verify's evaluation, holding room for one hash of current's
// memory, which *release gives back.
func (p *Passwords) check(ctx context.Context, subject Subject, password string, current Argon2Params, release *func()) (*Proof, error) {
	c, err := p.Store.Credential(ctx, passwordRef(subject))
	if err != nil {
		// Spend the time a real verification takes, so that the answer's
		// timing does not tell who has an account.
		p.burn(password, current)
		return nil, err
	}
	if h, err := ParsePasswordHash(string(c.Public)); err == nil && h.Params.Memory > current.Memory {
		// A hash made with more memory than today's parameters: trade the
		// room held for its size. Release first, so two such logins cannot
		// each hold part and wait for the rest.
		(*release)()
		*release = func() {}
		r, err := p.acquire(ctx, h.Params.Memory)
		if err != nil {
			return nil, err
		}
		*release = r
	}
	rehash, err := VerifyPassword(string(c.Public), password, current)
	if err != nil {
		return nil, err
	}
	now := clockOr(p.Clock).Now()
	checked := c.Public
	var upgraded []byte
	err = EditCredential(ctx, p.Store, c, func(cur *Credential) error {
		if !bytes.Equal(cur.Public, checked) {
			// The hash changed while this login was checked: a new password
			// (this one must not log in, nor bring the old hash back), or
			// another login's upgrade of the same password. Check again.
			if rehash, err = VerifyPassword(string(cur.Public), password, current); err != nil {
				return err
			}
			checked, upgraded = cur.Public, nil
		}
		cur.LastUsedAt = now
		if rehash {
			if upgraded == nil {
				enc, err := HashPassword(password, current)
				if err != nil {
					return nil // keep the old hash; the login stands
				}
				upgraded = []byte(enc)
			}
			cur.Public = upgraded
		}
		return nil
	})
	if errors.Is(err, ErrPasswordMismatch) {
		return nil, fmt.Errorf("%w (the password was changed during this login)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: update password: %w", err)
	}
	if p.Throttle != nil {
		if err := p.Throttle.Succeed(ctx, subject, KindPassword); err != nil {
			return nil, err
		}
	}
	return &Proof{Subject: subject, Kind: KindPassword, CredentialID: c.ID,
		Factors: Knowledge, Assurance: Level1, Time: now}, nil
}
