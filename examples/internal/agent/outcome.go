package agent

// How a request ends: the holder's Cancel, an outcome, or a card's refusal
// that the holder may answer in the same window.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/piv"
)

// cancel ends q at the holder's word.
func (a *Agent) cancel(q *request) {
	if q.kind == kindIdentity {
		a.finishIdentity(q, stCancelled, nil, "The holder cancelled: nothing was sent.")
	} else {
		a.finish(q, stCancelled, nil, "The holder cancelled.")
	}
	a.log.Info("cancelled by the holder", "id", q.id, "origin", q.origin)
}

// finish gives q its outcome, unless it has one already: an operation that
// ends after the holder cancelled changes nothing, and its result (a token,
// a signature) is dropped.
func (a *Agent) finish(q *request, status string, result map[string]string, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if final(q.status) {
		a.log.Info("outcome dropped: the request had ended", "id", q.id, "origin", q.origin, "status", q.status)
		return
	}
	q.status, q.result, q.errorMsg, q.notice = status, result, msg, ""
}

// refused decides, from the card's typed error, whether the holder may try
// again in the same window (wrong PIN, last try not confirmed) or the
// request ends.
func (a *Agent) refused(q *request, err error) {
	var wrong *apdu.WrongPINError
	a.mu.Lock()
	defer a.mu.Unlock()
	if final(q.status) {
		return // the holder cancelled meanwhile
	}
	switch {
	// The request's own context ended: the holder's window left this post
	// (reloaded, or another button pressed), not the reader's Cancel key,
	// which pcsc reports as ErrCancelled too but with no context.Canceled.
	case errors.Is(err, context.Canceled):
		q.notice = "The card operation was interrupted before the card answered; nothing was sent to the site. Try again, or cancel."
	// A wrong PIN with no try left (63C0) blocked the card: it matches
	// apdu.ErrBlocked, and plainCard ends the request saying so.
	case errors.As(err, &wrong) && wrong.TriesLeft > 0:
		q.notice = fmt.Sprintf("Wrong PIN. %d tries left before the card blocks.", wrong.TriesLeft)
		if wrong.TriesLeft == 1 {
			q.lastTry = true
		}
	case errors.Is(err, piv.ErrLastTry):
		q.notice, q.lastTry = "Only one PIN try is left: if this PIN is wrong too, the card blocks. Tick the box to confirm you want to try.", true
	case errors.Is(err, piv.ErrPINRequired), errors.Is(err, piv.ErrBadInput), errors.Is(err, errEmptyPIN):
		q.notice = "Type your card PIN (6 to 8 characters)."
	case errors.Is(err, errCardBusy):
		q.notice = busyNotice
	case errors.Is(err, apdu.ErrNoPINPad):
		q.notice = "This reader has no PIN pad (was the reader changed?). Type your card PIN here instead."
	case pinPadAgain(err) != "":
		q.notice = pinPadAgain(err)
	default:
		q.status, q.errorMsg, q.notice = stFailed, plainCard(err), ""
		a.log.Info("card operation failed", "id", q.id, "origin", q.origin, "err", err)
	}
}

var errEmptyPIN = errors.New("no PIN typed")

// pinPadTimeout bounds how long the reader waits for the holder's keys.
const pinPadTimeout = 60 * time.Second

// holderPIN is how the holder gave the PIN: typed in the agent's window, or
// on the reader's PIN pad (then the agent never sees it).
func holderPIN(r *http.Request) cardauth.PIN {
	return cardauth.PIN{Value: r.PostFormValue("pin"), PINPad: r.PostFormValue("pinpad") == "yes",
		PINPadTimeout: pinPadTimeout, AllowLastTry: r.PostFormValue("last-try") == "yes"}
}
