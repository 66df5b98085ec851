package totp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/puce-id/puce/identity"
)

// A recovery code is 16 decimal digits, shown in four groups of four
// ("0123-4567-8901-2345") so that it can be read aloud and typed on a phone.
// That is log2(10^16) ≈ 53 random bits, above the 50 puce requires. Digits
// read the same in every language and have no look-alikes (O/0, l/1).
const (
	recoveryDigits = 16
	recoveryGroup  = 4
)

// Recovery code sets.
const (
	// DefaultRecoveryCodes is the size of a set unless NewRecovery is told
	// otherwise.
	DefaultRecoveryCodes = 10
	// MaxRecoveryCodes bounds a set: every login compares with all of them.
	MaxRecoveryCodes = 50
	// ClaimRemaining is the Proof claim holding how many codes are left after
	// a recovery login, in decimal.
	ClaimRemaining = "recovery_codes_left"
)

// Recovery is the recovery-code factor (identity.KindRecovery). A recovery
// login proves possession of the printed codes only, so its proof has
// Assurance identity.Level1: with a password it does not reach AAL2. Let it
// in far enough to enrol a new authenticator, and no further.
//
// Codes are stored one credential per code, each only as a hash, sealed; a
// login consumes its code with DeleteCredential, which succeeds for exactly
// one of any number of concurrent requests.
type Recovery struct {
	svc    *identity.Services
	sealer *identity.Sealer
	count  int
}

var _ identity.Authenticator = (*Recovery)(nil)

// NewRecovery returns the recovery-code factor, issuing sets of count codes
// (0 means DefaultRecoveryCodes). svc must have a Throttle.
func NewRecovery(svc *identity.Services, sealer *identity.Sealer, count int) (*Recovery, error) {
	if svc == nil || svc.Store == nil || sealer == nil {
		return nil, fmt.Errorf("%w: recovery: services with a store, and a sealer, are required", identity.ErrBadInput)
	}
	if svc.Throttle == nil {
		return nil, fmt.Errorf("%w: recovery: services have no throttle", identity.ErrBadInput)
	}
	if count == 0 {
		count = DefaultRecoveryCodes
	}
	if count < 1 || count > MaxRecoveryCodes {
		return nil, fmt.Errorf("%w: recovery: %d codes (want 1 to %d)", identity.ErrBadInput, count, MaxRecoveryCodes)
	}
	return &Recovery{svc: svc, sealer: sealer, count: count}, nil
}

// Kind returns identity.KindRecovery.
func (r *Recovery) Kind() identity.Kind { return identity.KindRecovery }

// recoveryHash is what a code's credential keeps (sealed): SHA-256 over a
// domain label, the credential ID and the code.
//
// A fast hash is enough here, unlike for passwords: the code is 53 random
// bits, not something a person chose, so there is no dictionary to run and a
// slow KDF would add nothing against online guessing, which the throttle
// bounds. The credential ID salts it, so one guess tests one code of one
// user, never all codes at once. Sealing the hash for its row means that a
// database dump does not even yield the hashes without the sealer key.
func recoveryHash(id string, code []byte) []byte {
	h := sha256.New()
	h.Write([]byte("puce-recovery-v1"))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(id))))
	h.Write([]byte(id))
	h.Write(code)
	return h.Sum(nil)
}

// newRecoveryCode returns 16 uniformly random decimal digits.
func newRecoveryCode() []byte {
	const limit = 10_000_000_000_000_000 // 10^16
	// Rejection sampling: drawing below the largest multiple of 10^16 that
	// fits in 64 bits keeps every code equally likely.
	const ceiling = (1<<64 - 1) / limit * limit
	var b [8]byte
	for {
		rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v < ceiling {
			s := strconv.FormatUint(v%limit, 10)
			return []byte(strings.Repeat("0", recoveryDigits-len(s)) + s)
		}
	}
}

// formatRecovery groups a code for reading: 0123-4567-8901-2345.
func formatRecovery(code []byte) string {
	var sb strings.Builder
	for i := 0; i < len(code); i += recoveryGroup {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.Write(code[i : i+recoveryGroup])
	}
	return sb.String()
}

// parseRecovery accepts a code as printed or as typed: 16 ASCII digits, with
// hyphens or spaces anywhere between them. Anything else is ErrMalformedCode.
func parseRecovery(b []byte) ([]byte, error) {
	if len(b) > 2*recoveryDigits {
		return nil, fmt.Errorf("%w: a recovery code is %d digits", ErrMalformedCode, recoveryDigits)
	}
	code := make([]byte, 0, recoveryDigits)
	for _, c := range b {
		switch {
		case c == '-' || c == ' ':
		case '0' <= c && c <= '9':
			code = append(code, c)
		default:
			return nil, fmt.Errorf("%w: a recovery code holds only digits and hyphens", ErrMalformedCode)
		}
	}
	if len(code) != recoveryDigits {
		return nil, fmt.Errorf("%w: a recovery code is %d digits, got %d", ErrMalformedCode, recoveryDigits, len(code))
	}
	return code, nil
}

// RecoveryCodes returns the codes of an enrolment challenge from
// Recovery.BeginEnroll, formatted for printing.
func RecoveryCodes(ch *identity.Challenge) []string {
	if ch == nil || ch.Kind != identity.KindRecovery || len(ch.Payload) == 0 {
		return nil
	}
	return strings.Split(string(ch.Payload), "\n")
}

// recoveryEntry is one code of a set being enrolled: the ID its credential
// will have and its hash, sealed for that row.
type recoveryEntry struct {
	ID   string `json:"id"`
	Hash []byte `json:"hash"`
}

// BeginEnroll generates a new set of codes for req.Subject. The challenge's
// Payload holds them, one per line (RecoveryCodes splits them); it is handed
// to the caller only, while the store keeps just their sealed hashes. Show
// the codes once, then ask the user to type one of them back: FinishEnroll
// checks it and replaces any previous set.
//
// Issuing codes changes how an account can be taken over: require a fresh
// two-factor session before calling it.
func (r *Recovery) BeginEnroll(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	if req.Subject == "" {
		return nil, fmt.Errorf("%w: recovery: enrolment needs a subject", identity.ErrBadInput)
	}
	entries := make([]recoveryEntry, r.count)
	lines := make([]string, r.count)
	for i := range entries {
		code := newRecoveryCode()
		id := newCredentialID()
		ref := identity.CredentialRef{Subject: req.Subject, Kind: identity.KindRecovery, ID: id}
		entries[i] = recoveryEntry{ID: id, Hash: r.sealer.Seal(recoveryHash(id, code), ref)}
		lines[i] = formatRecovery(code)
	}
	st, err := json.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("recovery: encode enrolment state: %w", err)
	}
	ch, err := r.svc.Issue(ctx, identity.KindRecovery, identity.PurposeEnroll, req, nil, st)
	if err != nil {
		return nil, err
	}
	ch.Payload = []byte(strings.Join(lines, "\n"))
	return ch, nil
}

// FinishEnroll stores the set once resp.Data repeats one of its codes (proof
// that the user kept them), deleting the subject's previous codes. It returns
// the credential of the code typed; that code stays valid.
func (r *Recovery) FinishEnroll(ctx context.Context, resp identity.Response) (*identity.Credential, error) {
	code, err := parseRecovery(resp.Data)
	if err != nil {
		return nil, err
	}
	var confirmed *identity.Credential
	err = r.svc.Enroll(ctx, identity.KindRecovery, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		var entries []recoveryEntry
		if err := json.Unmarshal(ch.State, &entries); err != nil {
			return fmt.Errorf("recovery: enrolment state: %w", err)
		}
		now := ev.Time
		creds := make([]identity.Credential, len(entries))
		hit := -1
		for i, e := range entries {
			creds[i] = identity.Credential{Subject: ch.Subject, Kind: identity.KindRecovery, ID: e.ID, Name: "recovery code",
				Secret: e.Hash, Active: true, CreatedAt: now}
			ok, err := r.matches(&creds[i], code)
			if err != nil {
				return err
			}
			if ok {
				hit = i
			}
		}
		if hit < 0 {
			return fmt.Errorf("%w: the code is not one of the new set", identity.ErrInvalidResponse)
		}
		ev.CredentialID = entries[hit].ID
		// Delete the old set first: if we stop half-way, the user has fewer
		// codes, never two sets at once.
		old, err := r.svc.Credentials(ctx, ch.Subject, identity.KindRecovery)
		if err != nil {
			return fmt.Errorf("recovery: load codes: %w", err)
		}
		for _, c := range old {
			if err := r.svc.DeleteCredential(ctx, c.Ref()); err != nil && !errors.Is(err, identity.ErrNotEnrolled) {
				return fmt.Errorf("recovery: delete old code: %w", err)
			}
		}
		for i := range creds {
			if err := r.svc.CreateCredential(ctx, &creds[i]); err != nil {
				return fmt.Errorf("recovery: store code: %w", err)
			}
		}
		ev.Reason = fmt.Sprintf("%d recovery codes issued", len(creds))
		confirmed = &creds[hit]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return confirmed, nil
}

// matches opens a code credential and compares its hash with code's, in
// constant time.
func (r *Recovery) matches(c *identity.Credential, code []byte) (bool, error) {
	want := recoveryHash(c.ID, code)
	var ok bool
	err := r.sealer.OpenFunc(c.Secret, c.Ref(), func(h []byte) error {
		ok = subtle.ConstantTimeCompare(h, want) == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("recovery: code %s: %w", c.ID, err)
	}
	return ok, nil
}

// Begin starts a recovery login; the challenge has no Payload.
func (r *Recovery) Begin(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	return r.svc.Issue(ctx, identity.KindRecovery, identity.PurposeAuthenticate, req, nil, nil)
}

// Finish checks a recovery code and consumes it. The proof has Assurance
// identity.Level1 and the claim ClaimRemaining; the audit event says how many
// codes are left. A malformed code (ErrMalformedCode) changes nothing. A
// good code also unlocks the account's TOTP, card and WebAuthn throttles.
func (r *Recovery) Finish(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	code, err := parseRecovery(resp.Data)
	if err != nil {
		return nil, err
	}
	return r.prove(ctx, resp, code)
}

// recoveryUnlocks says what a good code unlocks: a recovery code is the holder's way back when an
// attacker who knows the password keeps their second factors locked: a good
// code clears those locks (each unlock audited), in the login's own commit.
func recoveryUnlocks() identity.Unlocking {
	return identity.Unlocking{By: "recovery code", Kinds: []identity.Kind{identity.KindTOTP, identity.KindCard, identity.KindWebAuthn}}
}

func (r *Recovery) prove(ctx context.Context, resp identity.Response, code []byte) (*identity.Proof, error) {
	return r.svc.ProveUnlocking(ctx, identity.KindRecovery, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		creds, err := r.svc.Credentials(ctx, ch.Subject, identity.KindRecovery)
		if err != nil {
			return fmt.Errorf("recovery: load codes: %w", err)
		}
		// Compare with every code, not stopping at a match, so the time taken
		// does not tell which position matched.
		hit, active := -1, 0
		for i := range creds {
			if !creds[i].Active {
				continue
			}
			active++
			ok, err := r.matches(&creds[i], code)
			if err != nil {
				return err
			}
			if ok {
				hit = i
			}
		}
		switch {
		case active == 0:
			return fmt.Errorf("%w: no recovery codes", identity.ErrNotEnrolled)
		case hit < 0:
			return fmt.Errorf("%w: not a recovery code of this account, or already used", identity.ErrInvalidResponse)
		}
		c := &creds[hit]
		ev.CredentialID = c.ID
		// The single-use step: of concurrent logins with one code, exactly
		// one deletes it.
		if err := r.svc.DeleteCredential(ctx, c.Ref()); err != nil {
			if errors.Is(err, identity.ErrNotEnrolled) {
				return fmt.Errorf("recovery: this code was just used: %w", identity.ErrReplayed)
			}
			return fmt.Errorf("recovery: consume code: %w", err)
		}
		left := active - 1
		ev.Reason = fmt.Sprintf("recovery code used, %d left", left)
		p.CredentialID, p.Factors, p.Assurance = c.ID, identity.Possession, identity.Level1
		p.Claims = map[string]string{ClaimRemaining: strconv.Itoa(left)}
		return nil
	}, recoveryUnlocks())
}

// Remaining returns how many unused recovery codes subject has.
func (r *Recovery) Remaining(ctx context.Context, subject identity.Subject) (int, error) {
	creds, err := r.svc.Store.Credentials(ctx, subject, identity.KindRecovery)
	if err != nil {
		return 0, fmt.Errorf("recovery: load codes: %w", err)
	}
	n := 0
	for _, c := range creds {
		if c.Active {
			n++
		}
	}
	return n, nil
}
