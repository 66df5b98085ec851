package identity

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Session is the result of a login: the proofs a subject gave and the level
// they reach together. Keep it server-side (or sealed) for the session's life
// and add step-up proofs to it.
type Session struct {
	Subject Subject
	Level   Level
	// Factors are the categories the proofs cover together.
	Factors Factors
	Proofs  []Proof
}

// AuthTime is when the most recent proof was given.
func (s *Session) AuthTime() time.Time {
	var t time.Time
	for _, p := range s.Proofs {
		if p.Time.After(t) {
			t = p.Time
		}
	}
	return t
}

// TwoFactor reports whether the proofs cover at least two distinct categories.
func (s *Session) TwoFactor() bool { return s.Factors.Count() >= 2 }

// StepUp names what an action needs.
type StepUp struct {
	// Level is the minimum level of the session.
	Level Level
	// MaxAge is how recent a possession proof of at least Level must be; zero
	// accepts a proof of any age.
	MaxAge time.Duration
}

// Policy turns proofs into sessions and guards sensitive actions.
//
// A session's level is the highest Assurance among its possession proofs whose
// missing category (usually knowledge) another proof, or the proof itself,
// supplies: password + TOTP is Level2, a card with its PIN is Level3 alone. A
// session without a possession proof is Level1.
type Policy struct {
	Clock Clock
	// Login is the level a login must reach (default Level2: two factors).
	Login Level
	// Actions map an action name to what it needs. An action not listed needs
	// only the login level.
	Actions map[string]StepUp
	// SecondFactorKinds are the kinds SecondFactors counts (default
	// DefaultSecondFactors).
	SecondFactorKinds []Kind
	// ApprovalKinds are the factors Approve accepts for a payment (default
	// DefaultApprovalKinds).
	ApprovalKinds []Kind
}

func (p *Policy) loginLevel() Level {
	if p.Login == LevelNone {
		return Level2
	}
	return p.Login
}

// level computes the level and factor coverage of a set of proofs.
func level(proofs []Proof) (Level, Factors) {
	var all Factors
	for _, p := range proofs {
		all |= p.Factors
	}
	best := LevelNone
	if all != 0 {
		best = Level1
	}
	for _, p := range proofs {
		if !p.Factors.Has(Possession) {
			continue
		}
		// The proof stands as a multi-factor proof when it covers two
		// categories itself, or when another proof brings knowledge.
		if (p.Factors.Count() >= 2 || all.Has(Knowledge|Possession)) && p.Assurance > best {
			best = p.Assurance
		}
	}
	return best, all
}

// Combine builds a session from the proofs of one login. All proofs must name
// the same subject. It fails with ErrStepUpRequired when they do not reach the
// login level; the session is returned even then, so that a caller can show
// what is missing.
func (p *Policy) Combine(proofs ...Proof) (*Session, error) {
	if len(proofs) == 0 {
		return nil, fmt.Errorf("%w: no proofs", ErrBadInput)
	}
	subject := proofs[0].Subject
	for _, pr := range proofs[1:] {
		if pr.Subject != subject {
			return nil, fmt.Errorf("%w: proofs for different subjects", ErrInvalidResponse)
		}
	}
	s := &Session{Subject: subject, Proofs: slices.Clone(proofs)}
	s.Level, s.Factors = level(s.Proofs)
	if need := p.loginLevel(); s.Level < need {
		return s, &StepUpError{Action: "login", Need: need, Have: s.Level}
	}
	return s, nil
}

// Add puts a step-up proof into the session and recomputes its level.
func (p *Policy) Add(s *Session, proof Proof) error {
	if proof.Subject != s.Subject {
		return fmt.Errorf("%w: step-up proof for another subject", ErrInvalidResponse)
	}
	s.Proofs = append(s.Proofs, proof)
	s.Level, s.Factors = level(s.Proofs)
	return nil
}

// Authorize reports whether the session may perform action now; otherwise a
// *StepUpError (errors.Is ErrStepUpRequired) says what to ask for.
func (p *Policy) Authorize(s *Session, action string) error {
	rule, ok := p.Actions[action]
	if !ok {
		rule = StepUp{Level: p.loginLevel()}
	}
	if s.Level < rule.Level {
		return &StepUpError{Action: action, Need: rule.Level, MaxAge: rule.MaxAge, Have: s.Level}
	}
	if rule.MaxAge <= 0 {
		return nil
	}
	// A fresh possession proof must reach the level with the session's other
	// proofs, so a fresh recovery code does not refresh an AAL3 session.
	now := clockOr(p.Clock).Now()
	for _, pr := range s.Proofs {
		if !pr.Factors.Has(Possession) || pr.Assurance < rule.Level || now.Sub(pr.Time) > rule.MaxAge || pr.Time.After(now.Add(time.Minute)) {
			continue
		}
		if pr.Factors.Count() >= 2 || s.Factors.Has(Knowledge|Possession) {
			return nil
		}
	}
	return &StepUpError{Action: action, Need: rule.Level, MaxAge: rule.MaxAge, Have: s.Level}
}

// ErrFactorUnavailable: the account has second factors, but none of them can
// be used on this server now (switched off, or not configured). Refuse the
// login and say so; never treat the account as having no second factor,
// which would let the password alone enrol a new one.
var ErrFactorUnavailable = errors.New("identity: second factor unavailable")

// DefaultSecondFactors are the kinds that count as an account's second
// factor when Policy.SecondFactorKinds is empty. Recovery codes are not among
// them: they lead to enrolling a new factor, not into the account.
func DefaultSecondFactors() []Kind { return []Kind{KindTOTP, KindWebAuthn, KindCard} }

// SecondFactors decides what a login needs after the password, from what
// the account has, not from what the server offers. creds are the
// account's credentials; usable reports whether this server can run a
// factor kind now. It returns:
//
//   - the usable kinds the account has, in the order of creds;
//   - ErrNotEnrolled when the account has no active second factor at all
//     (sign-up not finished: it may enrol its first one on the password);
//   - ErrFactorUnavailable when it has some, but none usable here.
func (p *Policy) SecondFactors(creds []Credential, usable func(Kind) bool) ([]Kind, error) {
	kinds := p.SecondFactorKinds
	if len(kinds) == 0 {
		kinds = DefaultSecondFactors()
	}
	var have, can []Kind
	for i := range creds {
		k := creds[i].Kind
		if !creds[i].Active || !slices.Contains(kinds, k) || slices.Contains(have, k) {
			continue
		}
		have = append(have, k)
		if usable(k) {
			can = append(can, k)
		}
	}
	switch {
	case len(have) == 0:
		return nil, fmt.Errorf("%w: no second factor yet", ErrNotEnrolled)
	case len(can) == 0:
		return nil, fmt.Errorf("%w: the account has %v, none usable on this server now", ErrFactorUnavailable, have)
	}
	return can, nil
}
