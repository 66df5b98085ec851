package identity

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// verifyUnit is Verify as one unit on us (see UnitStore): one read of the
// throttle records and the password credential, the hash compared with no
// transaction open, then one commit of every write: the attempt counted or
// the failures cleared, the credential's last use (and its upgraded hash),
// the audit events. A failure leaves nothing written but its audit event,
// a login that cannot be audited is refused, and a password changed during
// the comparison makes the commit conflict, so the login is judged again
// on the new hash, never on the old one.
func (p *Passwords) verifyUnit(ctx context.Context, us UnitStore, extra Auditors, subject Subject, password, remote string) (*Proof, error) {
	ev := Event{Time: clockOr(p.Clock).Now(), Subject: subject, Kind: KindPassword, CredentialID: string(subject), Action: "login", RemoteAddr: remote}
	u := unit{us: us, extra: extra, throttle: p.Throttle, store: us, remote: remote}
	if err := checkField("subject", string(subject)); err != nil {
		return nil, RecordOutcome(ctx, u.audit(), ev, err)
	}
	current := p.params()
	// Room to hash first: a request refused as busy must not count as a
	// failed attempt.
	release, err := p.acquire(ctx, current.Memory)
	if err != nil {
		return nil, RecordOutcome(ctx, u.audit(), ev, err)
	}
	defer func() { release() }()
	u.read = func() *UnitRead {
		rd := &UnitRead{Subject: subject, Kind: KindPassword}
		if p.Throttle != nil {
			rd.Throttle = ThrottleKey{subject, KindPassword}
			if p.Throttle.Clients != nil && remote != "" {
				rd.Client = clientKey(ClientAddress(remote))
			}
		}
		return rd
	}
	var proof *Proof
	u.eval = func(ctx context.Context, rd *UnitRead, w *UnitWrites, ev *Event) (error, bool, *ThrottledError) {
		proof = nil
		var next ThrottleState
		var lock *ThrottledError
		if p.Throttle != nil {
			var err error
			if next, lock, err = throttleStep(p.Throttle, rd, w, p.Throttle.now(time.Time{})); err != nil {
				return err, false, nil
			}
		}
		pr, err := p.checkRead(ctx, rd, w, subject, password, current, &release, ev.Time)
		switch {
		case err == nil:
			// As in Services' units: cleared at the version read, which
			// with none read means the record must still be absent.
			w.Clear = p.Throttle != nil
			proof = pr
			return nil, false, nil
		case p.Throttle != nil && !errors.Is(err, ErrBusy):
			w.Count, w.Next = true, next
			return err, true, lock
		}
		return err, false, nil
	}
	if err := u.run(ctx, &ev); err != nil {
		return nil, err
	}
	return proof, nil
}

// checkRead is check on what the unit read: the comparison, and on success
// the credential's update in w.
func (p *Passwords) checkRead(ctx context.Context, rd *UnitRead, w *UnitWrites, subject Subject, password string, current Argon2Params, release *func(), now time.Time) (*Proof, error) {
	var c *Credential
	for i := range rd.Credentials {
		if rd.Credentials[i].ID == string(subject) {
			c = &rd.Credentials[i]
		}
	}
	if c == nil {
		// Spend the time a real verification takes, so that the answer's
		// timing does not tell who has an account.
		p.burn(password, current)
		return nil, fmt.Errorf("%w: no password for %q", ErrNotEnrolled, subject)
	}
	if h, err := ParsePasswordHash(string(c.Public)); err == nil && h.Params.Memory > current.Memory {
		// As check: trade the room held for the hash's size.
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
	up := *c
	up.LastUsedAt = now
	if rehash {
		if enc, err := HashPassword(password, current); err == nil {
			up.Public = []byte(enc)
		} // else keep the old hash; the login stands
	}
	// At the revision read: a password set meanwhile makes the commit
	// conflict, and the login is judged again on the new hash.
	w.Updates = append(w.Updates, up)
	return &Proof{Subject: subject, Kind: KindPassword, CredentialID: c.ID,
		Factors: Knowledge, Assurance: Level1, Time: now}, nil
}
