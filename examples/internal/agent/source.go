package agent

import (
	"context"
	"errors"
	"sync"
	"time"

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

// errCardBusy: another request of this agent has the card.
var errCardBusy = errors.New("agent: the card is busy with another request")

// busyNotice tells the holder why nothing happened.
const busyNotice = "Your card is busy with another request of the card agent (is another of its windows waiting for your PIN on the reader?). Nothing was sent to the card: finish or cancel the other one, then try again here."

// cardWait bounds how long a holder's answer waits for another request's
// card operation to end. Operations are short, but a PIN typed on a
// reader's PIN pad holds the card for up to pinPadTimeout; a second window
// must not hang meanwhile. ASVS 4.0.3 V11.1.4 (anti-automation, resources
// held by one flow) and V1.11.3 (shared resources are not held without
// bound): the second request is told at once instead.
const cardWait = 2 * time.Second

// withCard runs fn on the card, one request at a time, waiting at most
// wait for the request that holds it (not at all when wait is 0). A
// request that finds the card held fails with errCardBusy and has not
// reached the card: no PIN try spent, nothing signed. The source's own
// lock (pcsc-lite's one mutex per PC/SC context, the card's PC/SC
// transaction, InProcess's lock) would otherwise make it wait, with the
// holder's window not loading, for as long as the other holds the card.
func (a *Agent) withCard(ctx context.Context, wait time.Duration, fn func(ctx context.Context, t apdu.Transport) error) error {
	select {
	case a.card <- struct{}{}:
	default:
		if wait <= 0 {
			return errCardBusy
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case a.card <- struct{}{}:
		case <-t.C:
			return errCardBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-a.card }()
	return a.cfg.Source.Do(ctx, fn)
}
