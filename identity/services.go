package identity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Services are the core services a factor runs on: the store, the clock, the
// throttle and the audit trail. A factor keeps one and lets it run the parts
// of every ceremony that must not differ between factors.
type Services struct {
	Store Store
	// Clock; nil means the system clock.
	Clock Clock
	// Throttle counts failures per subject and factor. Nil disables throttling,
	// which only a factor whose answers cannot be guessed may afford. In
	// Finish and Prove, a throttle without a Clock of its own keeps the
	// services' time.
	Throttle *Throttle
	// Audit receives an event per ceremony; nil means Store.
	Audit Auditor
	// ChallengeTTL is the lifetime of challenges; zero means
	// DefaultChallengeTTL.
	ChallengeTTL time.Duration
	// Anonymous bounds, per client address, the challenges issued without a
	// subject (zero value: 30 a minute, bursts of 10). Beyond it Issue fails
	// with a *RateLimitedError (ErrRateLimited).
	Anonymous RateLimit
	// PurgeEvery is how often Issue also deletes expired challenges from the
	// store (default DefaultPurgeEvery; negative: never, for a deployment
	// that purges on its own schedule).
	PurgeEvery time.Duration

	anon      limiter
	purgeMu   sync.Mutex
	lastPurge time.Time
}

// DefaultPurgeEvery is how often Services.Issue purges expired challenges.
const DefaultPurgeEvery = time.Minute

// Now returns the services' clock time.
func (s *Services) Now() time.Time { return clockOr(s.Clock).Now() }

func (s *Services) book() *challenges {
	return &challenges{Store: s.Store, Clock: s.Clock, TTL: s.ChallengeTTL}
}

func (s *Services) auditor() Auditor {
	if s.Audit != nil {
		return s.Audit
	}
	return s.Store
}

// Issue stores and returns a new challenge, bound to the request's subject,
// origin and transaction, for kind and purpose. A challenge without a subject counts against the client address's
// Anonymous rate. Now and then (PurgeEvery) it first deletes the challenges
// that expired more than a lifetime ago, so the store stays small.
func (s *Services) Issue(ctx context.Context, kind Kind, purpose Purpose, req Request, payload, state []byte) (*Challenge, error) {
	now := s.Now()
	if req.Subject == "" {
		if ok, wait := s.anon.allow(s.Anonymous, ClientAddress(req.RemoteAddr), now); !ok {
			return nil, &RateLimitedError{RetryAfter: wait}
		}
	}
	if err := s.purge(ctx, now); err != nil {
		return nil, err
	}
	return s.book().Issue(ctx, kind, purpose, req, payload, state)
}

// purge deletes expired challenges when the last purge of this instance is
// PurgeEvery old. One caller purges; the others go on without waiting.
func (s *Services) purge(ctx context.Context, now time.Time) error {
	every := s.PurgeEvery
	if every < 0 {
		return nil
	}
	if every == 0 {
		every = DefaultPurgeEvery
	}
	if !s.purgeMu.TryLock() {
		return nil
	}
	defer s.purgeMu.Unlock()
	if now.Sub(s.lastPurge) < every {
		return nil
	}
	// Keep what expired within one more lifetime, so that a late answer
	// still hears "expired" rather than "unknown challenge".
	ttl := s.ChallengeTTL
	if ttl <= 0 {
		ttl = DefaultChallengeTTL
	}
	if _, err := s.Store.PurgeChallenges(ctx, now.Add(-ttl)); err != nil {
		return fmt.Errorf("identity: purge expired challenges: %w", err)
	}
	s.lastPurge = now
	return nil
}

// Check is a factor's own verification of a response to its challenge. It
// fills in the event's CredentialID (and Subject, when the challenge had
// none) and returns nil when the response proves what the ceremony asks. A
// Reason it sets is kept on success (a warning worth auditing, such as an
// accepted counter regression); on failure the error's message replaces it.
//
// ev.Time is already set: it is the instant of this verification, at which
// the challenge's expiry and the throttle were judged. A check that needs the
// time uses it, so that one verification sees one reading of the clock.
type Check func(ctx context.Context, ch *Challenge, ev *Event) error

// Finish runs the common part of a ceremony's second half, in this order:
// consume the challenge (single use, expiry, binding to kind, purpose,
// subject and origin), count the attempt with the throttle, run the factor's
// check, clear the throttle on success, and audit the outcome. The error is
// the check's, or the first step that failed.
//
// The clock is read once: the challenge's expiry, the throttle (unless it has
// a Clock of its own), the check and the audit event all see that instant.
func (s *Services) Finish(ctx context.Context, kind Kind, purpose Purpose, resp Response, check Check) error {
	ev := s.event(kind, purpose, resp)
	err := s.finish(ctx, kind, purpose, resp, check, &ev)
	return RecordOutcome(ctx, s.auditor(), ev, err)
}

// Enroll is Finish for an enrolment (PurposeEnroll). When Services.Store
// is a UnitStore holding the throttle and the audit trail (as for Prove),
// the enrolment is one unit: the challenge consumed, the attempt counted or
// cleared, the new credential and the audit event commit together or not
// at all. The check then writes through Services' CreateCredential,
// DeleteCredential, EditCredential and AdvanceCounter, and reads through
// Credentials, Credential and CredentialByID; a check that wrote to the
// store directly would write outside the unit, and might write twice, as
// a unit whose commit conflicts runs its check again.
func (s *Services) Enroll(ctx context.Context, kind Kind, resp Response, check Check) error {
	ev := s.event(kind, PurposeEnroll, resp)
	if us, extra, ok := s.unitStore(); ok {
		return s.runUnit(ctx, us, extra, kind, PurposeEnroll, resp, check, &ev, nil, nil)
	}
	err := s.finish(ctx, kind, PurposeEnroll, resp, check, &ev)
	return RecordOutcome(ctx, s.auditor(), ev, err)
}

// ProofCheck is a login's Check that also completes the proof: Prove has
// filled in its Subject (the challenge's, empty for a username-less login,
// where the check sets it as it sets ev.Subject), Kind and Time (ev.Time),
// and the check sets at least CredentialID, Factors and Assurance.
type ProofCheck func(ctx context.Context, ch *Challenge, ev *Event, p *Proof) error

// Prove is Finish for a login (PurposeAuthenticate) that returns the proof
// check completed, or nil and the error. The proof and the audit event share
// one allocation: this runs for every login.
//
// When Services.Store is a UnitStore (memstore and sqlstore are) and the
// throttle and the audit trail live in it (Audit nil, the store, or
// Auditors holding the store and others, such as a SlogAuditor, which hear
// of the events after the commit), the whole verification is one
// unit: one read with the challenge, the check, one transaction with every
// write. The check then reaches the store through Services' Credentials,
// Credential, CredentialByID, AdvanceCounter, EditCredential and
// DeleteCredential, whose reads come from that one read and whose writes
// commit with the verification, or not at all.
func (s *Services) Prove(ctx context.Context, kind Kind, resp Response, check ProofCheck) (*Proof, error) {
	return s.prove(ctx, kind, PurposeAuthenticate, resp, check, nil)
}

// Unlocking names the locks a successful verification clears
// (ProveUnlocking): the subject's failure counts of Kinds, each unlock
// audited as "unlocked by " + By, as Unlock does.
type Unlocking struct {
	By    string
	Kinds []Kind
}

// ProveUnlocking is Prove for a factor whose success also clears the
// subject's failure counts and locks of u.Kinds (a recovery code is the
// holder's way back when an attacker keeps the other factors locked),
// auditing each as Unlock does; a kind without failures is skipped. On a
// unit store the records are read with the verification and cleared in its
// commit, so an unlock costs no round trip; otherwise, and when the
// challenge's subject is not the response's, Unlock runs after the
// verification. A failed verification unlocks nothing.
func (s *Services) ProveUnlocking(ctx context.Context, kind Kind, resp Response, check ProofCheck, u Unlocking) (*Proof, error) {
	for _, k := range u.Kinds {
		if err := k.Validate(); err != nil {
			return nil, err
		}
	}
	if s.Throttle == nil || len(u.Kinds) == 0 {
		return s.Prove(ctx, kind, resp, check)
	}
	return s.prove(ctx, kind, PurposeAuthenticate, resp, check, &u)
}

// Approve is Prove for the approval of a payment (PurposeApprove): the
// challenge must have been issued for resp.Transaction (else
// ErrTransactionMismatch, before the check runs), and the proof carries the
// transaction's digest. The audit event's action is "approve".
func (s *Services) Approve(ctx context.Context, kind Kind, resp Response, check ProofCheck) (*Proof, error) {
	return s.prove(ctx, kind, PurposeApprove, resp, check, nil)
}

func (s *Services) prove(ctx context.Context, kind Kind, purpose Purpose, resp Response, check ProofCheck, unlock *Unlocking) (*Proof, error) {
	out := &struct {
		proof Proof
		ev    Event
	}{ev: s.event(kind, purpose, resp)}
	c := func(ctx context.Context, ch *Challenge, ev *Event) error {
		out.proof = Proof{Subject: ch.Subject, Kind: kind, Time: ev.Time}
		if err := check(ctx, ch, ev, &out.proof); err != nil {
			return err
		}
		// The binding is the core's: set after the check, whatever the
		// factor wrote into the proof.
		out.proof.Transaction = ch.Transaction
		return nil
	}
	var err error
	unlocked := false
	if us, extra, ok := s.unitStore(); ok {
		err = s.runUnit(ctx, us, extra, kind, purpose, resp, c, &out.ev, unlock, &unlocked)
	} else {
		err = RecordOutcome(ctx, s.auditor(), out.ev, s.finish(ctx, kind, purpose, resp, c, &out.ev))
	}
	if err != nil {
		return nil, err
	}
	if unlock != nil && !unlocked {
		if err := s.Unlock(ctx, out.proof.Subject, unlock.By, resp.RemoteAddr, unlock.Kinds...); err != nil {
			return nil, err
		}
	}
	return &out.proof, nil
}

// event starts the audit event of a ceremony's second half, at the one
// reading of the clock the whole verification uses.
func (s *Services) event(kind Kind, purpose Purpose, resp Response) Event {
	action := "login"
	switch purpose {
	case PurposeEnroll:
		action = "enroll"
	case PurposeApprove:
		action = "approve"
	case PurposeSign:
		action = "sign"
	}
	return Event{Time: s.Now(), Subject: resp.Subject, Kind: kind, Action: action, RemoteAddr: resp.RemoteAddr}
}

func (s *Services) finish(ctx context.Context, kind Kind, purpose Purpose, resp Response, check Check, ev *Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ch, err := s.book().take(ctx, kind, purpose, resp, ev.Time)
	if err != nil {
		return err
	}
	ev.Subject = ch.Subject
	// A username-less challenge has no subject to throttle; such factors
	// answer with signatures, which cannot be guessed.
	throttled := s.Throttle != nil && ch.Subject != ""
	key := ThrottleKey{ch.Subject, kind}
	// The throttle judges at the ceremony's instant, unless it keeps a
	// clock of its own.
	at := ev.Time
	if throttled && s.Throttle.Clock != nil {
		at = time.Time{}
	}
	var lock *ThrottledError
	if throttled {
		if lock, err = s.Throttle.attempt(ctx, key, resp.RemoteAddr, at); err != nil {
			return err
		}
	}
	if err := check(ctx, ch, ev); err != nil {
		if throttled {
			if cerr := s.Throttle.clientFailed(ctx, resp.RemoteAddr, at); cerr != nil {
				err = errors.Join(err, cerr)
			}
			if lock != nil {
				if aerr := auditBlock(ctx, s.auditor(), *ev, lock); aerr != nil {
					err = errors.Join(err, aerr)
				}
			}
		}
		return err
	}
	if throttled {
		return s.Throttle.reset(ctx, key)
	}
	return nil
}

// auditBlock audits that the failure of ceremony ev blocked its factor, as
// the RTS on SCA asks of a bank (Article 4(3)(b), 4(4)): the block is in
// the trail, and so is its lifting by Services.Unlock. It returns only the
// audit's own error.
func auditBlock(ctx context.Context, a Auditor, ev Event, lock *ThrottledError) error {
	if a == nil {
		return nil
	}
	ev.Action, ev.Result, ev.Reason = "block", Failure, lock.Error()
	ev.RemoteAddr = clean(ev.RemoteAddr, maxFieldLen)
	if err := a.Audit(ctx, ev); err != nil {
		return fmt.Errorf("identity: audit: %w", err)
	}
	return nil
}

// Record audits the outcome of a ceremony that has no challenge (a mutual-TLS
// login, an administrator's enrolment) and returns the error the caller
// should see, as RecordOutcome does.
func (s *Services) Record(ctx context.Context, ev Event, err error) error {
	if ev.Time.IsZero() {
		ev.Time = s.Now()
	}
	return RecordOutcome(ctx, s.auditor(), ev, err)
}

// Unlock clears subject's failure counts and locks for the given factors and
// audits each as an "unlock" event naming who did it (an administrator's
// name, or "recovery code"): the way back for an account that reached the
// Throttle's Limit, or that an attacker keeps locked. A factor without
// failures is skipped; without a Throttle it does nothing.
func (s *Services) Unlock(ctx context.Context, subject Subject, by, remoteAddr string, kinds ...Kind) error {
	if s.Throttle == nil {
		return nil
	}
	if err := subject.Validate(); err != nil {
		return err
	}
	for _, k := range kinds {
		if err := k.Validate(); err != nil {
			return err
		}
		st, err := s.Throttle.Store.LoadThrottle(ctx, ThrottleKey{subject, k})
		if err != nil {
			return fmt.Errorf("identity: load throttle: %w", err)
		}
		if st.Version == 0 {
			continue // no failures: nothing to unlock, nothing to audit
		}
		err = s.Throttle.Unlock(ctx, subject, k)
		ev := Event{Subject: subject, Kind: k, Action: "unlock", RemoteAddr: remoteAddr, Reason: "unlocked by " + by}
		if err := s.Record(ctx, ev, err); err != nil {
			return err
		}
	}
	return nil
}
