package identity

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// ErrCannotLink: the factor cannot tie its code to a transaction (a plain
// TOTP code says nothing of the amount or the payee), so it cannot approve
// a payment under PSD2's dynamic linking (RTS on SCA, Article 5).
var ErrCannotLink = errors.New("identity: this factor cannot approve a payment")

// DefaultApprovalKinds are the factors that can approve a payment when
// Policy.ApprovalKinds is empty: those that sign, or derive their challenge
// from, the transaction's digest. A factor package that links (OCRA, say)
// is added by the application.
func DefaultApprovalKinds() []Kind { return []Kind{KindCard, KindWebAuthn} }

// Approve decides whether proof, given within session, approves tx: the
// factor is one that links (ApprovalKinds), the proof was made for exactly
// this transaction (Services.Approve bound it to the digest), and the
// session with the proof reaches the login level — two independent factors,
// as PSD2's strong customer authentication asks (RTS on SCA, Article 4).
// Errors: ErrCannotLink, ErrTransactionMismatch, ErrInvalidResponse (another
// subject), *StepUpError.
func (p *Policy) Approve(session *Session, proof Proof, tx Transaction) error {
	kinds := p.ApprovalKinds
	if len(kinds) == 0 {
		kinds = DefaultApprovalKinds()
	}
	if !slices.Contains(kinds, proof.Kind) {
		return fmt.Errorf("%w (%s)", ErrCannotLink, proof.Kind)
	}
	if session == nil || proof.Subject != session.Subject {
		return fmt.Errorf("%w: approval by another subject than the session's", ErrInvalidResponse)
	}
	d, err := tx.Digest()
	if err != nil {
		return err
	}
	if !bytes.Equal(proof.Transaction, d[:]) {
		return ErrTransactionMismatch
	}
	lv, _ := level(append(slices.Clone(session.Proofs), proof))
	if need := p.loginLevel(); lv < need {
		return &StepUpError{Action: "approve payment", Need: need, Have: lv}
	}
	return nil
}

// PSD2Throttle is the throttle of the RTS on SCA (Commission Delegated
// Regulation (EU) 2018/389), Article 4(3)(b): at most five consecutive
// failed attempts, after which the factor is blocked — here until a bank's
// back office lifts the block with Services.Unlock (Article 4(4): a secure
// procedure to regain use), the block and its lifting both in the audit
// trail. The sixth attempt is refused before its code is looked at. The
// rest of Article 4(3) is kept elsewhere: an answer never says which
// element was wrong (httpauth.Public), and a session idle for five minutes
// after authentication needs a new one (httpauth's default IdleTimeout).
func PSD2Throttle(store ThrottleStore, clock Clock) *Throttle {
	return &Throttle{Store: store, Clock: clock, Free: 5, LockAfter: 5}
}
