package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
)

// What the holder reads in the agent's window, and what a card failure
// tells the page.

// preview shows the beginning of a text document; binary documents get
// none (the holder sees the name, size and hash).
func preview(doc []byte) string {
	const max = 2000
	p := doc
	if len(p) > max {
		p = p[:max]
	}
	for len(p) > 0 && !utf8.Valid(p) {
		p = p[:len(p)-1] // cut at a character boundary
	}
	for _, c := range string(p) {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return ""
		}
	}
	s := visible(string(p))
	if len(doc) > len(p) {
		s += "\n…"
	}
	return s
}

// visible names the format characters of s (Unicode category Cf:
// bidirectional overrides and isolates, zero-width characters), which
// change how the text around them shows without being seen themselves:
// "0001" can read as "1000", "Mal\u200Blory" as "Mallory" (Unicode UAX #9;
// CVE-2021-42574). The holder is shown the characters that are signed.
func visible(s string) string {
	var b strings.Builder
	for _, c := range s {
		if unicode.Is(unicode.Cf, c) {
			fmt.Fprintf(&b, "[U+%04X]", c)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// plainCard says what a card failure means for the holder.
func plainCard(err error) string {
	switch {
	case errors.Is(err, apdu.ErrBlocked):
		return "The card's PIN is blocked. Unblock it with the PUK, or ask the card issuer."
	case errors.Is(err, apdu.ErrNotFound):
		return "The card has no key or certificate for this (is it the right card?)."
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "The card operation was interrupted. Start again."
	case errors.Is(err, cardauth.ErrUnknownCard):
		return "This is not the card that shared its certificate for this signature: put that card back and start again."
	}
	return "The card could not be used: " + cardHint(err)
}

// errCardHint is what the page reads of a card failure that has no plain
// meaning for the holder. The page is another party: the error chain (the
// card client's packages, the status word, the reader's name) stays in the
// agent's log (OWASP ASVS 4.0.3 V7.4.1: a generic message, no internal
// detail).
const errCardHint = "the card refused or failed the operation (the card agent's log has the details)."
