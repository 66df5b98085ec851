package memstore

import (
	"context"
	"slices"

	"github.com/puce-id/puce/identity"
)

var _ identity.UnitStore = (*Store)(nil)

// ReadUnit implements identity.UnitStore under the store's lock.
func (s *Store) ReadUnit(ctx context.Context, r *identity.UnitRead) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Found, r.Consumed, r.Ch = false, false, identity.Challenge{}
	r.ThrottleState, r.ClientState, r.Credentials = identity.ThrottleState{}, identity.ThrottleState{}, r.Credentials[:0]
	if c, ok := s.challenges[r.Challenge]; ok {
		r.Found, r.Consumed = true, c.consumed
		if !c.consumed {
			r.Ch = c.ch
			r.Ch.Payload = slices.Clone(c.ch.Payload)
			r.Ch.State = slices.Clone(c.ch.State)
			r.Ch.Transaction = slices.Clone(c.ch.Transaction)
		}
	}
	if r.Throttle.Kind != "" {
		r.ThrottleState = s.throttles[r.Throttle]
	}
	if r.Client.Kind != "" {
		r.ClientState = s.throttles[r.Client]
	}
	r.UnlockStates = r.UnlockStates[:0]
	for _, k := range r.Unlocks {
		var st identity.ThrottleState
		if r.Subject != "" {
			st = s.throttles[identity.ThrottleKey{Subject: r.Subject, Kind: k}]
		}
		r.UnlockStates = append(r.UnlockStates, st)
	}
	if r.Subject != "" {
		for _, c := range s.bySubject[r.Subject] {
			if r.Kind == "" || c.Kind == r.Kind {
				r.Credentials = append(r.Credentials, *copyCredential(c))
			}
		}
	}
	return nil
}

// CommitUnit implements identity.UnitStore: under the store's one lock it
// checks every condition of w, then applies all of w, or nothing.
func (s *Store) CommitUnit(ctx context.Context, w *identity.UnitWrites) error {
	// What sqlstore refuses before it writes, refused alike.
	if w.Count {
		if err := identity.ValidateKeys(w.ThrottleKey.Subject, w.ThrottleKey.Kind, ""); err != nil {
			return err
		}
	}
	for _, a := range w.Counters {
		if err := identity.ValidateCounter(a.N); err != nil {
			return err
		}
	}
	for i := range w.Creates {
		if err := identity.ValidateKeys(w.Creates[i].Subject, w.Creates[i].Kind, w.Creates[i].ID); err != nil {
			return err
		}
		if err := identity.ValidateText("credential name", w.Creates[i].Name); err != nil {
			return err
		}
		if err := identity.ValidateCounter(w.Creates[i].Counter); err != nil {
			return err
		}
	}
	for i := range w.Events {
		if err := identity.ValidateEvent(&w.Events[i]); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ch *challenge
	if !w.Challenge.IsZero() {
		ch = s.challenges[w.Challenge]
		if ch == nil || ch.consumed {
			return identity.UnitConflict("the challenge was used meanwhile")
		}
	}
	// With Clear and Prev.Version 0 the record must still be absent: an
	// absent record reads as version 0.
	if (w.Count || w.Clear) && s.throttles[w.ThrottleKey].Version != w.Prev.Version {
		return identity.UnitConflict("the throttle record changed meanwhile")
	}
	// The credential writes apply in order (counters, updates, deletes,
	// creates), each judged on what the ones before it leave, as a SQL
	// store's transaction runs them one by one: staged is that state for
	// the credentials they touch.
	staged := map[credKey]*stagedCredential{}
	get := func(ref identity.CredentialRef) *stagedCredential {
		k := credKey{ref.Kind, ref.ID}
		x, ok := staged[k]
		if !ok {
			cur, err := s.lookup(ref)
			if err != nil {
				return nil
			}
			x = &stagedCredential{subject: cur.Subject, counter: cur.Counter, revision: cur.Revision}
			staged[k] = x
		}
		if x.gone || x.subject != ref.Subject {
			return nil
		}
		return x
	}
	for _, a := range w.Counters {
		x := get(a.Ref)
		if x == nil || x.counter >= a.N {
			return identity.UnitConflict("the counter moved meanwhile")
		}
		x.counter = a.N
	}
	for i := range w.Updates {
		x := get(w.Updates[i].Ref())
		if x == nil || x.revision != w.Updates[i].Revision {
			return identity.UnitConflict("the credential changed meanwhile")
		}
		x.revision++
	}
	for _, ref := range w.Deletes {
		x := get(ref)
		if x == nil {
			return identity.UnitConflict("the credential was removed meanwhile")
		}
		x.gone = true
	}
	for i := range w.Creates {
		c := &w.Creates[i]
		k := credKey{c.Kind, c.ID}
		x, ok := staged[k]
		if (ok && !x.gone) || (!ok && s.credentials[k] != nil) {
			return identity.UnitConflict("a credential with this ID was created meanwhile")
		}
		staged[k] = &stagedCredential{subject: c.Subject, counter: c.Counter, revision: 1}
	}
	// Every condition holds: apply.
	if ch != nil {
		ch.consumed = true
	}
	switch {
	case w.Count:
		s.throttles[w.ThrottleKey] = w.Next
	case w.Clear && w.Prev.Version != 0:
		delete(s.throttles, w.ThrottleKey)
	}
	for _, k := range w.Resets {
		delete(s.throttles, k)
	}
	for _, a := range w.Counters {
		cur, _ := s.lookup(a.Ref)
		cur.Counter, cur.LastUsedAt = a.N, a.At
	}
	for i := range w.Updates {
		c := &w.Updates[i]
		cur, _ := s.lookup(c.Ref())
		cur.Revision++
		cur.Name, cur.Active, cur.LastUsedAt = c.Name, c.Active, c.LastUsedAt
		cur.Secret, cur.Public = slices.Clone(c.Secret), slices.Clone(c.Public)
	}
	for _, ref := range w.Deletes {
		s.deleteLocked(ref)
	}
	for i := range w.Creates {
		c := w.Creates[i]
		s.createLocked(&c)
	}
	for _, e := range w.Events {
		s.appendAudit(e)
	}
	return nil
}

// stagedCredential is what CommitUnit's checks know of a credential the
// unit's earlier writes touched.
type stagedCredential struct {
	subject           identity.Subject
	counter, revision uint64
	gone              bool
}
