package identity

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"
)

// UnitStore is a Store that runs the second half of a login as one unit:
// one read of everything the verification needs, the factor's check, then
// one transaction with every write — the challenge consumed, the throttle
// counted or cleared, the counter or sign count moved, the credential
// created, the audit events appended — all applied or none. Services.Prove,
// Approve and Enroll, and Passwords.Verify, use it when their store
// implements it. The guarantees are those of the single steps: each write
// is conditional on what was read (the challenge still unused, the
// throttle record at the version read, the counter still below the new
// value, the credential at the revision read, a new credential's ID still
// free), and when a condition no longer holds CommitUnit writes nothing
// and reports a conflict (UnitConflict), after which the verification is
// read and checked afresh. So of many concurrent uses of one challenge or
// one code exactly one commits, and a verification's outcome is never
// revealed unless its attempt was counted with it.
type UnitStore interface {
	Store
	// ReadUnit fills in r's results (replacing any it held), in as few
	// round trips as the store can. It changes nothing.
	ReadUnit(ctx context.Context, r *UnitRead) error
	// CommitUnit applies w in one transaction, all or nothing: an error
	// wrapping UnitConflict when one of w's conditions fails.
	CommitUnit(ctx context.Context, w *UnitWrites) error
}

// UnitRead is what a verification reads before its check.
type UnitRead struct {
	// Challenge to read (not consume); a zero ID, as a password login
	// has, finds none.
	Challenge ChallengeID
	// Throttle and Client are throttle records to read; a zero key (no
	// Kind) is not read.
	Throttle, Client ThrottleKey
	// Subject's credentials of Kind are read too when Subject is set: those
	// a factor's check asks for (see Services.Credentials).
	Subject Subject
	Kind    Kind

	// Found reports whether the challenge exists; Consumed whether it was
	// used already. Ch is the challenge when found.
	Found, Consumed bool
	Ch              Challenge
	// Unlocks are more of Subject's throttle records to read, by kind: those
	// a success clears (Services.ProveUnlocking). Not read without Subject.
	Unlocks []Kind

	// ThrottleState and ClientState are the records read (zero: none).
	ThrottleState, ClientState ThrottleState
	Credentials                []Credential
	// UnlockStates are the records of Unlocks, one per kind in their order
	// (zero: none). A store that leaves it shorter than Unlocks has not
	// read them, and the unlock runs after the unit.
	UnlockStates []ThrottleState
}

// UnitWrites is what one verification writes, with the conditions under
// which it may.
type UnitWrites struct {
	// Challenge is consumed at ConsumedAt: it must exist and be unused. A
	// zero ID consumes nothing.
	Challenge  ChallengeID
	ConsumedAt time.Time
	// Throttle moves the record of ThrottleKey: with Count, from the version
	// of Prev (0: no record) to Next; with Clear, the record is deleted if
	// it is still at the version of Prev, and must still be absent when
	// Prev.Version is 0 (a success clears the failures it was judged on; a
	// failure counted since conflicts, so that the success is judged again
	// on it, lock included). Neither: untouched.
	ThrottleKey  ThrottleKey
	Count, Clear bool
	Prev, Next   ThrottleState
	// Resets are throttle records deleted whatever they hold (an unlock).
	Resets []ThrottleKey
	// Counters move forward, each only if the stored counter is below N.
	Counters []CounterAdvance
	// Updates rewrite credentials as UpdateCredential does, each only at the
	// Revision it carries.
	Updates []Credential
	// Deletes remove credentials, each only if it is still there.
	Deletes []CredentialRef
	// Creates add credentials (an enrolment), after the deletes, each only
	// if no credential of its kind has its ID.
	Creates []Credential
	// Events are appended to the audit trail.
	Events []Event

	// after are events of a success, appended after its outcome's (the
	// unlocks it granted).
	after []Event
}

// CounterAdvance is one AdvanceCounter inside a unit.
type CounterAdvance struct {
	Ref CredentialRef
	N   uint64
	At  time.Time
}

// errConflict is what UnitConflict wraps.
var errConflict = errors.New("identity: the state changed during the verification")

// UnitConflict returns the error a UnitStore's CommitUnit returns when the
// condition named by what failed: nothing was written.
func UnitConflict(what string) error { return fmt.Errorf("%w: %s", errConflict, what) }

// IsUnitConflict reports whether err is, or wraps, a UnitConflict.
func IsUnitConflict(err error) bool { return errors.Is(err, errConflict) }

// maxUnitRounds bounds the verifications run again after a conflict: each
// conflict means another request's unit committed, so the rounds make
// progress; the bound only stops a store that conflicts forever.
const maxUnitRounds = 8

// unitRun is a verification in progress: what was read, and the writes the
// check asked for. Services finds it in the check's context.
type unitRun struct {
	read   *UnitRead
	writes *UnitWrites
}

type unitKey struct{}

func runOf(ctx context.Context) *unitRun {
	r, _ := ctx.Value(unitKey{}).(*unitRun)
	return r
}

// unitStore returns the store as a UnitStore when a login can run as a unit
// on it: the throttle must live in the same store, and so must the audit
// trail — Audit nil, the store itself, or Auditors that hold the store once
// (the others, returned as extra, hear of the events after the commit).
func (s *Services) unitStore() (us UnitStore, extra Auditors, ok bool) {
	return unitStoreOf(s.Store, s.Throttle, s.Audit, true)
}

// unitStoreOf is unitStore for any store, throttle and audit; nilAudit
// tells whether a nil audit means the store (Services) or no audit at all
// (Passwords, which then has no unit: a login must be audited).
func unitStoreOf(store any, t *Throttle, audit Auditor, nilAudit bool) (us UnitStore, extra Auditors, ok bool) {
	us, ok = store.(UnitStore)
	if !ok || (t != nil && !same(t.Store, store)) {
		return nil, nil, false
	}
	switch a := audit.(type) {
	case nil:
		return us, nil, nilAudit
	case Auditors:
		n := 0
		for _, x := range a {
			if same(x, store) {
				n++
			} else {
				extra = append(extra, x)
			}
		}
		return us, extra, n == 1
	default:
		return us, nil, same(a, store)
	}
}

// same reports whether a and b are the same comparable value (a store is
// a pointer), without the panic of == on incomparable dynamic types.
func same(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || ta == nil || !ta.Comparable() {
		return false
	}
	return a == b
}

// Credentials returns subject's credentials of kind (all kinds for ""),
// as CredentialStore.Credentials. Inside a check of Prove or Approve it
// answers from what the verification read with its challenge, at no
// round trip: a check reaches the store through Services' methods.
func (s *Services) Credentials(ctx context.Context, subject Subject, kind Kind) ([]Credential, error) {
	if r := runOf(ctx); r != nil && r.read.Subject == subject && r.read.Kind == kind && subject != "" {
		return cloneCredentials(r.read.Credentials), nil
	}
	return s.Store.Credentials(ctx, subject, kind)
}

// Credential loads one credential, as CredentialStore.Credential, from what
// the verification read when it can.
func (s *Services) Credential(ctx context.Context, ref CredentialRef) (*Credential, error) {
	if r := runOf(ctx); r != nil && r.read.Subject == ref.Subject && r.read.Kind == ref.Kind && ref.Subject != "" {
		for i := range r.read.Credentials {
			if r.read.Credentials[i].ID == ref.ID {
				return &cloneCredentials(r.read.Credentials[i : i+1])[0], nil
			}
		}
		return nil, fmt.Errorf("%w: no %s credential %q for %q", ErrNotEnrolled, ref.Kind, ref.ID, ref.Subject)
	}
	return s.Store.Credential(ctx, ref)
}

// CredentialByID finds a credential by its ID, as
// CredentialStore.CredentialByID, from what the verification read when it
// can.
func (s *Services) CredentialByID(ctx context.Context, kind Kind, id string) (*Credential, error) {
	if r := runOf(ctx); r != nil && r.read.Kind == kind {
		for i := range r.read.Credentials {
			if r.read.Credentials[i].ID == id {
				return &cloneCredentials(r.read.Credentials[i : i+1])[0], nil
			}
		}
	}
	return s.Store.CredentialByID(ctx, kind, id)
}

// AdvanceCounter moves a credential's counter to n, as
// CredentialStore.AdvanceCounter. Inside a check of Prove or Approve the
// move commits with the verification, and fails it if another request
// moved the counter first.
func (s *Services) AdvanceCounter(ctx context.Context, ref CredentialRef, n uint64, at time.Time) error {
	r := runOf(ctx)
	if r == nil {
		return s.Store.AdvanceCounter(ctx, ref, n, at)
	}
	for i := range r.writes.Creates {
		if c := &r.writes.Creates[i]; c.Ref() == ref {
			// Created by this unit: the counter is written with it.
			if c.Counter >= n {
				return fmt.Errorf("%w: counter already at %d", ErrReplayed, c.Counter)
			}
			c.Counter, c.LastUsedAt = n, at
			return nil
		}
	}
	if r.read.Subject == ref.Subject && r.read.Kind == ref.Kind {
		for _, c := range r.read.Credentials {
			if c.ID == ref.ID && c.Counter >= n {
				return fmt.Errorf("%w: counter already at %d", ErrReplayed, c.Counter)
			}
		}
	}
	r.writes.Counters = append(r.writes.Counters, CounterAdvance{Ref: ref, N: n, At: at})
	return nil
}

// EditCredential applies edit to c and writes it, as the function
// EditCredential does on Services.Store. Inside a check of Prove or
// Approve the write commits with the verification, at the revision c was
// read at; if another request changed the credential meanwhile, the
// verification runs again on the fresh credential.
func (s *Services) EditCredential(ctx context.Context, c *Credential, edit func(*Credential) error) error {
	r := runOf(ctx)
	if r == nil {
		return EditCredential(ctx, s.Store, c, edit)
	}
	if err := edit(c); err != nil {
		return err
	}
	r.writes.Updates = append(r.writes.Updates, *c)
	c.Revision++
	return nil
}

// DeleteCredential removes a credential, as CredentialStore.DeleteCredential
// (ErrNotEnrolled when absent). Inside a check of Prove or Approve the
// removal commits with the verification, which fails if another request
// removed it first: a single-use consume.
func (s *Services) DeleteCredential(ctx context.Context, ref CredentialRef) error {
	r := runOf(ctx)
	if r == nil {
		return s.Store.DeleteCredential(ctx, ref)
	}
	r.writes.Deletes = append(r.writes.Deletes, ref)
	return nil
}

// CreateCredential stores a new credential, as
// CredentialStore.CreateCredential (ErrExists when its kind and ID are
// taken). Inside a check of Enroll the credential commits with the
// enrolment, or not at all; the ID is looked up first, so that a taken ID
// fails the check, and one taken between the look-up and the commit makes
// the enrolment run again, and fail then.
func (s *Services) CreateCredential(ctx context.Context, c *Credential) error {
	r := runOf(ctx)
	if r == nil {
		return s.Store.CreateCredential(ctx, c)
	}
	for _, o := range r.writes.Creates {
		if o.Kind == c.Kind && o.ID == c.ID {
			return fmt.Errorf("%w: %s credential %q", ErrExists, c.Kind, c.ID)
		}
	}
	switch _, err := s.Store.CredentialByID(ctx, c.Kind, c.ID); {
	case err == nil:
		return fmt.Errorf("%w: %s credential %q", ErrExists, c.Kind, c.ID)
	case !errors.Is(err, ErrNotEnrolled):
		return err
	}
	c.Revision = 1
	r.writes.Creates = append(r.writes.Creates, cloneCredentials([]Credential{*c})[0])
	return nil
}

func cloneCredentials(cs []Credential) []Credential {
	out := slices.Clone(cs)
	for i := range out {
		out[i].Secret = slices.Clone(out[i].Secret)
		out[i].Public = slices.Clone(out[i].Public)
	}
	return out
}

// runUnit is Services.finish and the audit of its outcome, as one unit on
// us (see UnitStore). It returns the error the caller should see.
//
// With unlock, a success also clears the subject's records of unlock's
// kinds that the unit read, and audits each unlock, in the same commit;
// *unlocked then tells whether it did (it cannot when the challenge's
// subject is not the one the unit read: the caller unlocks afterwards).
func (s *Services) runUnit(ctx context.Context, us UnitStore, extra Auditors, kind Kind, purpose Purpose, resp Response, check Check, ev *Event, unlock *Unlocking, unlocked *bool) error {
	u := unit{us: us, extra: extra, throttle: s.Throttle, store: s.Store, remote: resp.RemoteAddr,
		read: func() *UnitRead {
			rd := &UnitRead{Challenge: resp.ChallengeID, Subject: resp.Subject, Kind: kind}
			if s.Throttle != nil && resp.Subject != "" {
				rd.Throttle = ThrottleKey{resp.Subject, kind}
				if s.Throttle.Clients != nil && resp.RemoteAddr != "" {
					rd.Client = clientKey(ClientAddress(resp.RemoteAddr))
				}
				if unlock != nil {
					rd.Unlocks = unlock.Kinds
				}
			}
			return rd
		},
		eval: func(ctx context.Context, rd *UnitRead, w *UnitWrites, ev *Event) (error, bool, *ThrottledError) {
			outcome, failed, lock := s.evaluate(ctx, rd, w, kind, purpose, resp, check, ev)
			if unlock != nil {
				*unlocked = false
				// A store that did not read the records (one written before
				// Unlocks, filling no UnlockStates) leaves the unlock to
				// the caller, after the commit.
				if outcome == nil && len(rd.Unlocks) > 0 && len(rd.UnlockStates) == len(rd.Unlocks) && rd.Subject == ev.Subject {
					unlockInUnit(rd, w, ev, unlock)
					*unlocked = true
				}
			}
			return outcome, failed, lock
		},
	}
	if resp.ChallengeID.IsZero() && ctx.Err() == nil {
		return RecordOutcome(ctx, u.audit(), *ev, fmt.Errorf("%w: no challenge ID in the response", ErrUnknownChallenge))
	}
	return u.run(ctx, ev)
}

// unit is a verification run as one unit: what it reads, how it decides,
// and where it commits.
type unit struct {
	us       UnitStore
	extra    Auditors
	throttle *Throttle
	store    Auditor // us as the auditor of failures outside the unit
	remote   string
	read     func() *UnitRead
	// eval decides on what was read, recording the writes in w: the
	// outcome, whether the factor's check failed (for the per-address
	// count), and the lock the failure sets.
	eval func(ctx context.Context, rd *UnitRead, w *UnitWrites, ev *Event) (outcome error, checkFailed bool, lock *ThrottledError)
}

func (u *unit) audit() Auditor {
	if u.extra != nil {
		return append(Auditors{u.store}, u.extra...)
	}
	return u.store
}

// run reads, decides and commits, again after a conflict, and returns the
// error the caller should see.
func (u *unit) run(ctx context.Context, ev *Event) error {
	if err := ctx.Err(); err != nil {
		return RecordOutcome(ctx, u.audit(), *ev, err)
	}
	base := *ev
	for round := 1; ; round++ {
		*ev = base
		outcome, events, checkFailed, err := u.round(ctx, ev)
		switch {
		case err == nil:
			if checkFailed && u.throttle != nil {
				if cerr := u.throttle.clientFailed(ctx, u.remote, throttleTime(u.throttle, ev.Time)); cerr != nil {
					outcome = errors.Join(outcome, cerr)
				}
			}
			// The other auditors hear of what the store committed; one that
			// fails refuses the login, as RecordOutcome does.
			for _, e := range events {
				if aerr := u.extra.Audit(ctx, e); aerr != nil {
					outcome = errors.Join(outcome, fmt.Errorf("identity: audit: %w", aerr))
				}
			}
			return outcome
		case errors.Is(err, errConflict) && round < maxUnitRounds && ctx.Err() == nil:
			// Another request's unit committed first: read again, decide
			// again. Nothing of this round was written, and its outcome is
			// not told.
			continue
		case errors.Is(err, errConflict):
			err = &BusyError{RetryAfter: time.Second}
		}
		// Nothing of the unit was written, its audit event neither: record
		// the failure on its own, as a verification without units would.
		if outcome != nil {
			err = errors.Join(outcome, err)
		}
		return RecordOutcome(ctx, u.audit(), *ev, err)
	}
}

func throttleTime(t *Throttle, at time.Time) time.Time {
	if t != nil && t.Clock != nil {
		return t.Clock.Now()
	}
	return at
}

func (s *Services) throttleTime(at time.Time) time.Time { return throttleTime(s.Throttle, at) }

// round reads, decides and commits once. It returns the verification's
// outcome, the audit events it wrote, whether the check failed, and the
// error that kept the unit from being written, if any.
func (u *unit) round(ctx context.Context, ev *Event) (outcome error, events []Event, checkFailed bool, err error) {
	rd := u.read()
	if err := u.us.ReadUnit(ctx, rd); err != nil {
		return nil, nil, false, fmt.Errorf("identity: read the verification's state: %w", err)
	}
	w := &UnitWrites{}
	outcome, checkFailed, lock := u.eval(ctx, rd, w, ev)
	if outcome != nil {
		// A failed verification changes the challenge, the throttle and the
		// trail, nothing the check asked for.
		w.Counters, w.Updates, w.Deletes, w.Creates, w.Resets, w.after = nil, nil, nil, nil, nil, nil
	}
	// The block first, then the attempt that caused it, as Finish writes
	// them.
	if lock != nil {
		b := *ev
		b.Action, b.Result, b.Reason = "block", Failure, lock.Error()
		b.RemoteAddr = clean(b.RemoteAddr, maxFieldLen)
		w.Events = append(w.Events, b)
	}
	w.Events = append(w.Events, outcomeEvent(*ev, outcome))
	if outcome == nil {
		w.Events = append(w.Events, w.after...)
	}
	return outcome, w.Events, checkFailed, u.us.CommitUnit(ctx, w)
}

// unlockInUnit clears, in w, the records of u's kinds that rd found for
// the subject, each with its "unlock" event, as Services.Unlock does: a
// kind without failures is skipped. The reset deletes whatever the record
// holds by then, as Throttle.Unlock does.
func unlockInUnit(rd *UnitRead, w *UnitWrites, ev *Event, u *Unlocking) {
	for i, k := range rd.Unlocks {
		if rd.UnlockStates[i].Version == 0 {
			continue
		}
		w.Resets = append(w.Resets, ThrottleKey{rd.Subject, k})
		w.after = append(w.after, outcomeEvent(Event{Time: ev.Time, Subject: rd.Subject, Kind: k, Action: "unlock",
			RemoteAddr: ev.RemoteAddr, Reason: "unlocked by " + u.By}, nil))
	}
}

// evaluate is Services.finish on what the unit read, recording its writes
// in w.
func (s *Services) evaluate(ctx context.Context, rd *UnitRead, w *UnitWrites, kind Kind, purpose Purpose, resp Response, check Check, ev *Event) (outcome error, checkFailed bool, lock *ThrottledError) {
	switch {
	case !rd.Found:
		return ErrUnknownChallenge, false, nil
	case rd.Consumed:
		return fmt.Errorf("%w: challenge already used", ErrReplayed), false, nil
	}
	// From here on the challenge is used up, whatever the outcome.
	w.Challenge, w.ConsumedAt = rd.Challenge, ev.Time
	ch := &rd.Ch
	if err := bound(ch, kind, purpose, resp, ev.Time); err != nil {
		return err, false, nil
	}
	ev.Subject = ch.Subject
	throttled := s.Throttle != nil && ch.Subject != ""
	var next ThrottleState
	if throttled {
		var err error
		if next, lock, err = throttleStep(s.Throttle, rd, w, s.throttleTime(ev.Time)); err != nil {
			return err, false, nil
		}
	}
	err := check(context.WithValue(ctx, unitKey{}, &unitRun{read: rd, writes: w}), ch, ev)
	if err != nil {
		if throttled {
			w.Count, w.Next = true, next
		}
		return err, true, lock
	}
	// A success clears the subject's failures, at the version it read: with
	// none read, the record must still be absent. A failure another request
	// counted meanwhile makes this success read again and be judged on it,
	// so that a burst of guesses at an account, even one with no failures
	// yet, is judged one at a time and a lock one of them sets holds for
	// the others.
	w.Clear = throttled
	return nil, false, nil
}

// throttleStep judges an attempt at now on what rd read of t's records:
// refused (the error), or allowed, with the state to write should it fail
// (next; w's key and condition are set) and the lock that failure sets.
func throttleStep(t *Throttle, rd *UnitRead, w *UnitWrites, now time.Time) (next ThrottleState, lock *ThrottledError, err error) {
	sc, err := t.schedule()
	if err != nil {
		return next, nil, err
	}
	if rd.Client.Kind != "" {
		csc := t.Clients.schedule()
		if err := csc.refusal(&rd.ClientState, now); err != nil {
			return next, nil, fmt.Errorf("from this address: %w", err)
		}
	}
	st := rd.ThrottleState
	if err := sc.refusal(&st, now); err != nil {
		return next, nil, err
	}
	// The attempt counts as a failure unless the check succeeds, in the
	// same commit as its outcome: an outcome is never told without it.
	n := st.Failures + 1
	d, _ := sc.wait(n)
	next = ThrottleState{Failures: n, NotBefore: now.Add(d), Version: st.Version + 1}
	if n >= sc.lockAfter {
		lock = &ThrottledError{Locked: true, RetryAfter: d, Failures: n}
	}
	w.ThrottleKey, w.Prev = rd.Throttle, st
	return next, lock, nil
}

// outcomeEvent is the audit event of a verification that ended with err, as
// RecordOutcome writes it.
func outcomeEvent(e Event, err error) Event {
	e.Result = Success
	if err != nil {
		e.Result, e.Reason = Failure, err.Error()
	}
	e.Subject = Subject(clean(string(e.Subject), maxFieldLen))
	e.CredentialID = clean(e.CredentialID, MaxCredentialIDLen)
	e.RemoteAddr = clean(e.RemoteAddr, maxFieldLen)
	e.Reason = clean(e.Reason, 1024)
	return e
}
