package virtual

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"
)

// DefaultVPCDAddr is where pcscd's vpcd driver listens for the first virtual
// reader ("Virtual PCD 00 00"); the second listens on port 35964.
const DefaultVPCDAddr = "127.0.0.1:35963"

// Control messages of the vpcd protocol: one-byte frames from the reader.
// Only vpcdGetATR expects an answer.
const (
	vpcdPowerOff = 0x00
	vpcdPowerOn  = 0x01
	vpcdReset    = 0x02
	vpcdGetATR   = 0x04
)

// ErrFrame reports a vpcd frame cut short by the peer.
var ErrFrame = errors.New("virtual: truncated vpcd frame")

// Bridge attaches a Card to pcscd through the vsmartcard vpcd driver: the
// card is a TCP client of the driver, and pcscd sees it inserted in the
// virtual reader while the connection lasts.
//
// Every message, both ways, is a two-byte big-endian length and a payload. A
// one-byte payload from the reader is a control message: 00 power off, 01
// power on, 02 reset (all three reset the card's volatile state, unanswered),
// 04 get ATR (answered with the ATR). A longer payload is a command APDU,
// answered with the response APDU.
type Bridge struct {
	// Card is the card to attach. Required.
	Card *Card
	// Addr is the vpcd driver's address; DefaultVPCDAddr when empty.
	Addr string
	// Logger receives connection events (info) and failures (warn); nil
	// discards. APDUs are logged by the Card's own logger.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between connection attempts
	// while pcscd is away; the wait doubles from MinBackoff after each failure
	// up to MaxBackoff. Defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Dialer connects to Addr; a zero net.Dialer when nil.
	Dialer *net.Dialer
}

// Run keeps the card attached until ctx ends, and then returns ctx's error.
// It connects while the card is inserted, closes the connection when the card
// is removed or a Drop fault fires, and reconnects with back-off when pcscd
// goes away or restarts. It returns early only when the Bridge is misconfigured.
func (b *Bridge) Run(ctx context.Context) error {
	if b.Card == nil {
		return fmt.Errorf("%w: Bridge without a Card", ErrConfig)
	}
	addr := cmp.Or(b.Addr, DefaultVPCDAddr)
	minB := cmp.Or(b.MinBackoff, 100*time.Millisecond)
	maxB := max(cmp.Or(b.MaxBackoff, 5*time.Second), minB)
	log := b.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer := b.Dialer
	if dialer == nil {
		dialer = &net.Dialer{}
	}

	backoff := minB
	for {
		present, changed := b.Card.presence()
		if !present {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
				continue
			}
		}
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Full jitter keeps several cards from reconnecting in lock step
			// after a pcscd restart.
			wait := backoff/2 + rand.N(backoff/2+1)
			log.LogAttrs(ctx, slog.LevelDebug, "vpcd connect failed", slog.String("addr", addr),
				slog.Duration("retry_in", wait), slog.Any("err", err))
			if !sleep(ctx, wait) {
				return ctx.Err()
			}
			backoff = min(backoff*2, maxB)
			continue
		}
		backoff = minB
		log.LogAttrs(ctx, slog.LevelInfo, "vpcd connected: card inserted", slog.String("addr", addr))
		err = b.serve(ctx, conn)
		conn.Close()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrDropped):
			log.LogAttrs(ctx, slog.LevelInfo, "vpcd connection dropped by fault injection", slog.String("addr", addr))
		case errors.Is(err, ErrRemoved):
			log.LogAttrs(ctx, slog.LevelInfo, "vpcd disconnected: card removed", slog.String("addr", addr))
		default:
			// pcscd closed the socket (stopped or restarting): try again
			// after a pause rather than hammer a daemon that is starting.
			log.LogAttrs(ctx, slog.LevelWarn, "vpcd connection lost", slog.String("addr", addr), slog.Any("err", err))
			if !sleep(ctx, minB) {
				return ctx.Err()
			}
		}
	}
}

// serve answers the reader on conn until the connection fails, the card is
// removed (ErrRemoved) or a Drop fault fires (ErrDropped).
func (b *Bridge) serve(ctx context.Context, conn net.Conn) error {
	// A new connection is a freshly inserted card: nothing survives from the
	// previous one.
	b.Card.Reset()

	done := make(chan struct{})
	defer close(done)
	removed := make(chan struct{})
	go func() {
		// Pulling the card out closes the socket, which pcscd sees as removal;
		// ending ctx closes it too, to unblock the read.
		for {
			present, changed := b.Card.presence()
			if !present {
				close(removed)
				conn.Close()
				return
			}
			select {
			case <-done:
				return
			case <-ctx.Done():
				conn.Close()
				return
			case <-changed:
			}
		}
	}()

	r := bufio.NewReader(conn)
	var buf []byte
	for {
		quickAck(conn)
		msg, err := readFrame(r, buf)
		if err != nil {
			select {
			case <-removed:
				return ErrRemoved
			default:
			}
			return err
		}
		buf = msg[:0]
		switch len(msg) {
		case 0:
			// Not part of the protocol; nothing to answer.
			continue
		case 1:
			switch msg[0] {
			case vpcdPowerOff:
				b.Card.Reset()
			case vpcdPowerOn:
				b.Card.Reset()
			case vpcdReset:
				b.Card.Reset()
			case vpcdGetATR:
				if err := writeFrame(conn, b.Card.atr); err != nil {
					return err
				}
			}
			continue
		}
		resp, err := b.Card.Transmit(ctx, msg)
		if err != nil {
			return err
		}
		if err := writeFrame(conn, resp); err != nil {
			return err
		}
	}
}

// readFrame reads one vpcd frame into buf (grown as needed) and returns the
// payload. A clean end of stream before a frame gives io.EOF; one inside a
// frame gives ErrFrame.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: length field cut short", ErrFrame)
		}
		return nil, err
	}
	n := int(hdr[0])<<8 | int(hdr[1])
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %d-byte payload cut short", ErrFrame, n)
		}
		return nil, err
	}
	return buf, nil
}

// writeFrame writes one vpcd frame in a single write.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) > 0xFFFF {
		return fmt.Errorf("virtual: %d-byte vpcd payload exceeds the 16-bit length", len(payload))
	}
	msg := make([]byte, 2+len(payload))
	msg[0], msg[1] = byte(len(payload)>>8), byte(len(payload))
	copy(msg[2:], payload)
	_, err := w.Write(msg)
	return err
}

// sleep waits d or until ctx ends, and reports whether the whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
