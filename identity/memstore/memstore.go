// Package memstore keeps puce's state in memory: for tests, and for a single
// process that can afford to lose its state on restart. Every operation holds
// one lock, so each is atomic as identity.Store requires.
package memstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
)

// Store implements identity.Store in memory. The zero value is not ready; use
// New.
type Store struct {
	mu          sync.Mutex
	credentials map[credKey]*identity.Credential
	// bySubject indexes credentials by owner, in the order Credentials
	// returns them (creation time, kind, ID), so that a login neither scans
	// every account nor sorts.
	bySubject  map[identity.Subject][]*identity.Credential
	challenges map[identity.ChallengeID]*challenge
	throttles  map[identity.ThrottleKey]identity.ThrottleState
	sessions   map[identity.SessionID]*identity.SessionRecord
	audit      auditState
	// hashes holds the audit records' hashes, many to an allocation.
	hashes []byte
}

// auditState is the audit trail and the store's writer of it.
type auditState struct {
	trail auditchain.Trail
	w     auditWriter
}

// auditWriter is what one writer of the trail holds: its configuration,
// the clock that dates its checkpoints (nil: the system clock) and its
// count of appends since its last checkpoint. A store has one; tests add
// others on the same trail, as the instances of a rolling deploy would be.
type auditWriter struct {
	cfg   identity.AuditConfig
	clock identity.Clock
	since int
	// first is when the first append since the last checkpoint came: a
	// checkpoint follows the first append CheckpointInterval later.
	first time.Time
	// seals is cfg.Key's RecordKey, made at the first append.
	seals *auditchain.RecordKey
}

// Option configures a Store.
type Option func(*Store) error

// WithAudit configures the audit trail: its partitions and the key that
// seals its records and checkpoints (see identity.AuditConfig). The key is fixed for
// the store's life, which is its trail's; the rotation of a key across
// server instances is sqlstore's (identity.AuditKeys).
func WithAudit(c identity.AuditConfig) Option {
	return func(s *Store) error {
		c, err := c.Check()
		if err != nil {
			return err
		}
		s.audit.w.cfg = c
		return nil
	}
}

type credKey struct {
	kind identity.Kind
	id   string
}

// challenge is a stored challenge. Once consumed, ch belongs to the caller:
// the store reads only consumed and expires, which tell a replay from an
// unknown ID until the entry is purged.
type challenge struct {
	ch       identity.Challenge
	expires  time.Time
	consumed bool
}

var (
	_ identity.Store          = (*Store)(nil)
	_ identity.SessionRevoker = (*Store)(nil)
)

// New returns an empty store with the default audit configuration (no
// checkpoint key); NewWith takes options.
func New() *Store {
	s, _ := NewWith() // no option, no error
	return s
}

// NewWith returns an empty store configured by opts: ErrBadInput for an
// invalid option.
func NewWith(opts ...Option) (*Store, error) {
	s := &Store{
		credentials: map[credKey]*identity.Credential{},
		bySubject:   map[identity.Subject][]*identity.Credential{},
		challenges:  map[identity.ChallengeID]*challenge{},
		throttles:   map[identity.ThrottleKey]identity.ThrottleState{},
		sessions:    map[identity.SessionID]*identity.SessionRecord{},
	}
	s.audit.w.cfg, _ = identity.AuditConfig{}.Check()
	s.audit.trail.LegacyHead = auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// copyCredential returns a deep copy, so callers never share the store's bytes.
func copyCredential(c *identity.Credential) *identity.Credential {
	d := new(identity.Credential)
	copyInto(d, c)
	return d
}

// copyOne returns a deep copy of c as a slice of one, in a single allocation
// when its bytes are few: the usual answer at login is one credential of
// the kind asked for.
func copyOne(c *identity.Credential) []identity.Credential {
	if len(c.Secret)+len(c.Public) > len(oneCredential{}.buf) {
		out := make([]identity.Credential, 1)
		copyInto(&out[0], c)
		return out
	}
	p := new(oneCredential)
	copyWith(&p.c[0], c, p.buf[:0])
	return p.c[:]
}

// oneCredential is a credential and room for its bytes (a TOTP credential's
// sealed secret and parameters take about 70), sized to fill the 320-byte
// allocation class; TestOneCredentialSize keeps it there.
type oneCredential struct {
	c   [1]identity.Credential
	buf [136]byte
}

// copyInto sets *d to a deep copy of c.
func copyInto(d, c *identity.Credential) {
	copyWith(d, c, make([]byte, 0, len(c.Secret)+len(c.Public)))
}

// copyWith sets *d to a deep copy of c, its byte fields copied into buf's
// spare capacity (which must hold both). Capacities are capped so that an
// append to one field cannot write into the other.
func copyWith(d, c *identity.Credential, buf []byte) {
	*d = *c
	d.Secret, d.Public = nil, nil
	if c.Secret != nil {
		buf = append(buf, c.Secret...)
		d.Secret = buf[:len(buf):len(buf)]
	}
	if c.Public != nil {
		start := len(buf)
		buf = append(buf, c.Public...)
		d.Public = buf[start:len(buf):len(buf)]
	}
}

func notEnrolled(ref identity.CredentialRef) error {
	return fmt.Errorf("%w: no %s credential %q for %q", identity.ErrNotEnrolled, ref.Kind, ref.ID, ref.Subject)
}

// CreateCredential implements identity.CredentialStore.
func (s *Store) CreateCredential(ctx context.Context, c *identity.Credential) error {
	if err := identity.ValidateKeys(c.Subject, c.Kind, c.ID); err != nil {
		return err
	}
	if err := identity.ValidateText("credential name", c.Name); err != nil {
		return err
	}
	if err := identity.ValidateCounter(c.Counter); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.credentials[credKey{c.Kind, c.ID}]; ok {
		return fmt.Errorf("%w: %s credential %q", identity.ErrExists, c.Kind, c.ID)
	}
	c.Revision = 1
	s.createLocked(c)
	return nil
}

// createLocked stores a copy of c, whose kind and ID are free, at revision 1.
func (s *Store) createLocked(c *identity.Credential) {
	d := copyCredential(c)
	d.Revision = 1
	s.credentials[credKey{c.Kind, c.ID}] = d
	own := s.bySubject[c.Subject]
	i, _ := slices.BinarySearchFunc(own, d, order)
	s.bySubject[c.Subject] = slices.Insert(own, i, d)
}

// lookup returns the credential if it belongs to ref.Subject.
func (s *Store) lookup(ref identity.CredentialRef) (*identity.Credential, error) {
	c, ok := s.credentials[credKey{ref.Kind, ref.ID}]
	if !ok || c.Subject != ref.Subject {
		return nil, notEnrolled(ref)
	}
	return c, nil
}

// Credential implements identity.CredentialStore.
func (s *Store) Credential(ctx context.Context, ref identity.CredentialRef) (*identity.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	return copyCredential(c), nil
}

// CredentialByID implements identity.CredentialStore.
func (s *Store) CredentialByID(ctx context.Context, kind identity.Kind, id string) (*identity.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.credentials[credKey{kind, id}]
	if !ok {
		return nil, fmt.Errorf("%w: no %s credential %q", identity.ErrNotEnrolled, kind, id)
	}
	return copyCredential(c), nil
}

// Credentials implements identity.CredentialStore.
func (s *Store) Credentials(ctx context.Context, subject identity.Subject, kind identity.Kind) ([]identity.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	own := s.bySubject[subject]
	n := 0
	var match *identity.Credential
	for _, c := range own {
		if kind == "" || c.Kind == kind {
			n, match = n+1, c
		}
	}
	switch n {
	case 0:
		return nil, nil
	case 1:
		return copyOne(match), nil
	}
	out := make([]identity.Credential, n)
	i := 0
	for _, c := range own {
		if kind == "" || c.Kind == kind {
			copyInto(&out[i], c)
			i++
		}
	}
	return out, nil
}

// order is the order of Credentials: creation time, kind, ID.
func order(a, b *identity.Credential) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// UpdateCredential implements identity.CredentialStore.
func (s *Store) UpdateCredential(ctx context.Context, c *identity.Credential) error {
	if err := identity.ValidateText("credential name", c.Name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.lookup(c.Ref())
	if err != nil {
		return err
	}
	if cur.Revision != c.Revision {
		return fmt.Errorf("%w: %s credential %q is at revision %d, the update was built on %d", identity.ErrChanged, c.Kind, c.ID, cur.Revision, c.Revision)
	}
	cur.Revision++
	c.Revision = cur.Revision
	cur.Name = c.Name
	cur.Secret = slices.Clone(c.Secret)
	cur.Public = slices.Clone(c.Public)
	cur.Active = c.Active
	cur.LastUsedAt = c.LastUsedAt
	return nil
}

// AdvanceCounter implements identity.CredentialStore.
func (s *Store) AdvanceCounter(ctx context.Context, ref identity.CredentialRef, n uint64, at time.Time) error {
	if err := identity.ValidateCounter(n); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.lookup(ref)
	if err != nil {
		return err
	}
	if cur.Counter >= n {
		return fmt.Errorf("%w: counter already at %d", identity.ErrReplayed, cur.Counter)
	}
	cur.Counter = n
	cur.LastUsedAt = at
	return nil
}

// DeleteCredential implements identity.CredentialStore.
func (s *Store) DeleteCredential(ctx context.Context, ref identity.CredentialRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.lookup(ref); err != nil {
		return err
	}
	s.deleteLocked(ref)
	return nil
}

// deleteLocked removes a credential that lookup found.
func (s *Store) deleteLocked(ref identity.CredentialRef) {
	k := credKey{ref.Kind, ref.ID}
	cur := s.credentials[k]
	delete(s.credentials, k)
	own := slices.DeleteFunc(s.bySubject[ref.Subject], func(c *identity.Credential) bool { return c == cur })
	if len(own) == 0 {
		delete(s.bySubject, ref.Subject)
	} else {
		s.bySubject[ref.Subject] = own
	}
}

// PutChallenge implements identity.ChallengeStore.
func (s *Store) PutChallenge(ctx context.Context, ch *identity.Challenge) error {
	if err := identity.ValidateKeys(ch.Subject, ch.Kind, ""); err != nil {
		return err
	}
	if err := identity.ValidateText("challenge origin", ch.Origin); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.challenges[ch.ID]; ok {
		return fmt.Errorf("%w: challenge %s", identity.ErrExists, ch.ID)
	}
	c := &challenge{ch: *ch, expires: ch.ExpiresAt}
	c.ch.Payload = slices.Clone(ch.Payload)
	c.ch.State = slices.Clone(ch.State)
	c.ch.Transaction = slices.Clone(ch.Transaction)
	s.challenges[ch.ID] = c
	return nil
}

// ConsumeChallenge implements identity.ChallengeStore.
func (s *Store) ConsumeChallenge(ctx context.Context, id identity.ChallengeID, now time.Time) (*identity.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.challenges[id]
	if !ok {
		return nil, identity.ErrUnknownChallenge
	}
	if c.consumed {
		return nil, fmt.Errorf("%w: challenge already used", identity.ErrReplayed)
	}
	// The stored copy is handed over rather than copied again.
	c.consumed = true
	return &c.ch, nil
}

// PurgeChallenges implements identity.ChallengeStore.
func (s *Store) PurgeChallenges(ctx context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, c := range s.challenges {
		if c.expires.Before(before) {
			delete(s.challenges, id)
			n++
		}
	}
	return n, nil
}

// LoadThrottle implements identity.ThrottleStore.
func (s *Store) LoadThrottle(ctx context.Context, key identity.ThrottleKey) (identity.ThrottleState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttles[key], nil
}

// SwapThrottle implements identity.ThrottleStore.
func (s *Store) SwapThrottle(ctx context.Context, key identity.ThrottleKey, prev, next identity.ThrottleState) (bool, error) {
	if err := identity.ValidateKeys(key.Subject, key.Kind, ""); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttles[key].Version != prev.Version {
		return false, nil
	}
	s.throttles[key] = next
	return true, nil
}

// ResetThrottle implements identity.ThrottleStore.
func (s *Store) ResetThrottle(ctx context.Context, key identity.ThrottleKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.throttles, key)
	return nil
}

func copySession(s *identity.SessionRecord) *identity.SessionRecord {
	d := *s
	d.Data = slices.Clone(s.Data)
	return &d
}

// CreateSession implements identity.SessionStore.
func (s *Store) CreateSession(ctx context.Context, r *identity.SessionRecord) error {
	if err := identity.ValidateKeys(r.Subject, "", ""); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[r.ID]; ok {
		return fmt.Errorf("%w: session", identity.ErrExists)
	}
	r.Version = 1
	s.sessions[r.ID] = copySession(r)
	return nil
}

// Session implements identity.SessionStore.
func (s *Store) Session(ctx context.Context, id identity.SessionID, now time.Time) (*identity.SessionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.sessions[id]
	if !ok || !r.ExpiresAt.After(now) {
		return nil, identity.ErrNoSession
	}
	return copySession(r), nil
}

// UpdateSession implements identity.SessionStore.
func (s *Store) UpdateSession(ctx context.Context, r *identity.SessionRecord) error {
	if err := identity.ValidateKeys(r.Subject, "", ""); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.sessions[r.ID]
	if !ok {
		return identity.ErrNoSession
	}
	if cur.Version != r.Version {
		return fmt.Errorf("%w: session is at version %d, the update was built on %d", identity.ErrChanged, cur.Version, r.Version)
	}
	r.Version++
	s.sessions[r.ID] = copySession(r)
	s.sessions[r.ID].CreatedAt = cur.CreatedAt
	return nil
}

// DeleteSession implements identity.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id identity.SessionID, version uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.sessionAt(id, version); err != nil {
		return err
	}
	delete(s.sessions, id)
	return nil
}

// sessionAt checks, with s.mu held, that session id exists and is at
// version (0: any).
func (s *Store) sessionAt(id identity.SessionID, version uint64) error {
	cur, ok := s.sessions[id]
	if !ok {
		return identity.ErrNoSession
	}
	if version != 0 && cur.Version != version {
		return fmt.Errorf("%w: session is at version %d, not %d", identity.ErrChanged, cur.Version, version)
	}
	return nil
}

// RenewSession implements identity.SessionRenewer.
func (s *Store) RenewSession(ctx context.Context, old identity.SessionID, version uint64, next *identity.SessionRecord) error {
	if err := identity.ValidateKeys(next.Subject, "", ""); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.sessionAt(old, version); err != nil {
		return err
	}
	if _, ok := s.sessions[next.ID]; ok {
		return fmt.Errorf("%w: session", identity.ErrExists)
	}
	delete(s.sessions, old)
	next.Version = 1
	s.sessions[next.ID] = copySession(next)
	return nil
}

// RevokeSessions implements identity.SessionRevoker. It scans every
// session, which suits a test store; the lock makes it atomic.
func (s *Store) RevokeSessions(ctx context.Context, subject identity.Subject, keep identity.SessionID) (int64, error) {
	if err := subject.Validate(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, r := range s.sessions {
		if r.Subject == subject && id != keep {
			delete(s.sessions, id)
			n++
		}
	}
	return n, nil
}

// PurgeSessions implements identity.SessionStore.
func (s *Store) PurgeSessions(ctx context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, r := range s.sessions {
		if r.ExpiresAt.Before(before) {
			delete(s.sessions, id)
			n++
		}
	}
	return n, nil
}

// Audit implements identity.Auditor, appending to the partition of the
// event's subject and, every CheckpointEvery appends, sealing a checkpoint.
func (s *Store) Audit(ctx context.Context, e identity.Event) error {
	if err := identity.ValidateEvent(&e); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendAudit(e)
	return nil
}

func (s *Store) appendAudit(e identity.Event) { s.appendAuditBy(&s.audit.w, e) }

// appendAuditBy appends e as w writes it, with s.mu held.
func (s *Store) appendAuditBy(w *auditWriter, e identity.Event) {
	a := &s.audit
	// Keep the precision the chain hash covers, as a SQL store would.
	e.Time = time.UnixMicro(e.Time.UnixMicro()).UTC()
	p := auditchain.Partition(e.Subject, w.cfg.Partitions)
	h := a.head(p)
	if cap(s.hashes)-len(s.hashes) < sha256.Size {
		s.hashes = make([]byte, 0, 256*sha256.Size)
	}
	start := len(s.hashes)
	var nonce, mac []byte
	if w.cfg.Key != nil {
		if w.seals == nil {
			w.seals = auditchain.NewRecordKey(w.cfg.Key)
		}
		nonce, mac = w.seals.Seal(p, e)
		s.hashes = auditchain.AppendSealedHash(s.hashes, p, h.Hash, h.Seq+1, e, nonce, mac)
	} else {
		s.hashes = auditchain.AppendHash(s.hashes, p, h.Hash, h.Seq+1, e)
	}
	hash := s.hashes[start:len(s.hashes):len(s.hashes)]
	a.trail.Records = append(a.trail.Records, identity.AuditRecord{Partition: p, Seq: h.Seq + 1, Event: e, Prev: h.Hash, Hash: hash, Nonce: nonce, MAC: mac})
	h.Seq, h.Hash = h.Seq+1, hash
	if w.cfg.Key != nil {
		now := w.now()
		if w.since == 0 {
			w.first = now
		}
		w.since++
		if w.since >= w.cfg.CheckpointEvery || (w.cfg.CheckpointInterval > 0 && now.Sub(w.first) >= w.cfg.CheckpointInterval) {
			s.checkpointLocked(w)
		}
	}
}

func (w *auditWriter) now() time.Time {
	if w.clock != nil {
		return w.clock.Now()
	}
	return time.Now()
}

// head returns partition p's head row, creating it at its genesis.
func (a *auditState) head(p int) *auditchain.Head {
	for i := range a.trail.Heads {
		if a.trail.Heads[i].Partition == p {
			return &a.trail.Heads[i]
		}
	}
	a.trail.Heads = append(a.trail.Heads, auditchain.Head{Partition: p, Hash: auditchain.Genesis(p, a.trail.LegacyHead.Hash)})
	return &a.trail.Heads[len(a.trail.Heads)-1]
}

// Checkpoint seals the partitions' heads now with the audit key (see
// identity.AuditConfig); the store also does so every CheckpointEvery
// appends. Without a key it does nothing.
func (s *Store) Checkpoint(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.audit.w.cfg.Key != nil {
		s.checkpointLocked(&s.audit.w)
	}
	return nil
}

// checkpointLocked seals a checkpoint with w's key, with s.mu held. It is
// not dated before the last one, whichever writer's clock dated that
// (unless more than auditchain.MaxCheckpointLead ahead of w's):
// VerifyAudit compares the times of checkpoints under different keys (see
// identity/auditchain).
func (s *Store) checkpointLocked(w *auditWriter) {
	a := &s.audit
	now := w.now()
	c := auditchain.Checkpoint{Seq: 1, Time: time.UnixMicro(now.UnixMicro()).UTC(), Legacy: a.trail.LegacyHead, Prev: auditchain.Zero()}
	if n := len(a.trail.Checkpoints); n > 0 {
		last := a.trail.Checkpoints[n-1]
		c.Seq, c.Prev = last.Seq+1, last.MAC
		// Not blindly last.Time: a date pushed ahead would carry over
		// (auditchain.CheckpointTime says why).
		c.Time, _ = auditchain.CheckpointTime(c.Time, last.Time)
	}
	c.Heads = slices.Clone(a.trail.Heads)
	slices.SortFunc(c.Heads, func(x, y auditchain.Head) int { return x.Partition - y.Partition })
	c.Seal(w.cfg.Key)
	a.trail.Checkpoints = append(a.trail.Checkpoints, c)
	w.since = 0
}

// AuditEvents implements identity.AuditLog.
func (s *Store) AuditEvents(ctx context.Context, subject identity.Subject, limit int) ([]identity.AuditRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []identity.AuditRecord
	for _, list := range [][]identity.AuditRecord{s.audit.trail.Records, s.audit.trail.Legacy} {
		for i := len(list) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
			if subject == "" || list[i].Event.Subject == subject {
				out = append(out, list[i])
			}
		}
	}
	return out, nil
}

// VerifyAudit implements identity.AuditLog.
func (s *Store) VerifyAudit(ctx context.Context, keys identity.AuditKeys) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return auditchain.Verify(&s.audit.trail, keys)
}

// TamperAudit lets tests change the trail as an attacker with memory access
// would: f may change, drop, add or reorder records, heads and checkpoints.
// It exists to prove that VerifyAudit notices.
func (s *Store) TamperAudit(f func(*auditchain.Trail)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.audit.trail)
}

// ImportLegacyAudit starts the trail with records of the single chain of
// older versions of puce, and its head, as sqlstore's migration keeps a
// database's: for tests of that migration on memstore. The store must hold
// no audit record yet.
func (s *Store) ImportLegacyAudit(records []identity.AuditRecord, head auditchain.Head) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.audit.trail.Records) > 0 || len(s.audit.trail.Heads) > 0 {
		return fmt.Errorf("%w: memstore: the trail has records already", identity.ErrExists)
	}
	s.audit.trail.Legacy = slices.Clone(records)
	s.audit.trail.LegacyHead = head
	return nil
}
