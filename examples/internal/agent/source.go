package agent

import (
	"context"
	"sync"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Source reaches the card. Each operation gets the card for itself: a PC/SC
// source connects and holds a transaction for the whole select, verify PIN,
// sign sequence, so no other program slips a command in between.
type Source interface {
	// Do runs fn with the card.
	Do(ctx context.Context, fn func(ctx context.Context, t apdu.Transport) error) error
	// Describe says where the card is, for the agent's status page.
	Describe() string
}

// InProcess is a card in this process — puce's virtual test card — for
// development and tests without pcscd.
type InProcess struct {
	Transport apdu.Transport
	Name      string
	mu        sync.Mutex
}

// Do implements Source, one operation at a time.
func (s *InProcess) Do(ctx context.Context, fn func(ctx context.Context, t apdu.Transport) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(ctx, s.Transport)
}

// Describe implements Source.
func (s *InProcess) Describe() string { return s.Name }
