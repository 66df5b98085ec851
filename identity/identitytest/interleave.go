package identitytest

import (
	"context"
	"sync"

	"github.com/puce-id/puce/identity"
)

// Interleave wraps a store so that a function runs once, right after the
// next credential load: another request acting between a ceremony's read and
// its write, deterministically. Tests use it to prove that such a request's
// change is not lost (see identity.EditCredential).
type Interleave struct {
	identity.Store
	mu   sync.Mutex
	then func()
}

// Then arranges for f to run after the next credential load.
func (s *Interleave) Then(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.then = f
}

func (s *Interleave) loaded() {
	s.mu.Lock()
	f := s.then
	s.then = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
}

// Credential loads, then runs the pending function.
func (s *Interleave) Credential(ctx context.Context, ref identity.CredentialRef) (*identity.Credential, error) {
	c, err := s.Store.Credential(ctx, ref)
	s.loaded()
	return c, err
}

// CredentialByID loads, then runs the pending function.
func (s *Interleave) CredentialByID(ctx context.Context, kind identity.Kind, id string) (*identity.Credential, error) {
	c, err := s.Store.CredentialByID(ctx, kind, id)
	s.loaded()
	return c, err
}

// Credentials loads, then runs the pending function.
func (s *Interleave) Credentials(ctx context.Context, subject identity.Subject, kind identity.Kind) ([]identity.Credential, error) {
	c, err := s.Store.Credentials(ctx, subject, kind)
	s.loaded()
	return c, err
}
