package main

// A database across a network. On one machine every server process, the
// clients and PostgreSQL share the same cores over loopback, where a round
// trip costs microseconds: one login-server process then keeps the CPUs
// busy by itself, and no second process can add anything, whatever the
// locks. In a deployment the database is a network hop away (a fraction of
// a millisecond to a few), and it is that wait, multiplied by the round
// trips a login makes, that a lock held across round trips turns into a
// queue for every instance. -db-rtt puts such a hop between the server
// processes and PostgreSQL: a TCP relay that holds each chunk of bytes for
// half the round trip in each direction, in order.

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"
)

// relayRTT is the round trip last measured through the relay (roundTrip):
// the relay sleeps with the Go runtime's timers, whose wake-ups are late by
// up to a millisecond or so, so the round trip it adds is at least -db-rtt,
// and the table says what it was.
var relayRTT time.Duration

const rttProbes = 50

// roundTrip returns the median time of a SELECT 1 over one connection of
// dsn, after a first one that opens it.
func roundTrip(ctx context.Context, dsn string) (time.Duration, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return 0, fmt.Errorf("through the relay: %w", err)
	}
	ts := make([]time.Duration, rttProbes)
	for i := range ts {
		start := time.Now()
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return 0, fmt.Errorf("through the relay: %w", err)
		}
		ts[i] = time.Since(start)
	}
	slices.Sort(ts)
	return ts[len(ts)/2], nil
}

// relay forwards loopback connections to a database address, delayed.
type relay struct {
	ln      net.Listener
	target  string
	oneWay  time.Duration
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
	stopped bool
}

// startRelay listens on a loopback port and forwards to target with rtt/2
// of delay each way.
func startRelay(target string, rtt time.Duration) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, target: target, oneWay: rtt / 2}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		if !r.track(c, up) {
			return
		}
		r.wg.Add(2)
		go r.pipe(up, c)
		go r.pipe(c, up)
	}
}

func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	r.conns = append(r.conns, cs...)
	return true
}

type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, each chunk written oneWay after it was read.
func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		b := make([]byte, 32<<10)
		for {
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{append([]byte(nil), b[:n]...), time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at.Add(r.oneWay)))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	// Either side ending ends both.
	dst.Close()
	src.Close()
	for range q {
	}
}

func (r *relay) stop() {
	r.ln.Close()
	r.mu.Lock()
	r.stopped = true
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// viaRelay returns dsn (a postgres:// URL) with its host replaced by addr.
func viaRelay(dsn, addr string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("-db-rtt needs a postgres:// URL with a host: %v", err)
	}
	u.Host = addr
	return u.String(), nil
}

// dsnHost returns the host:port of a postgres:// URL.
func dsnHost(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("-db-rtt needs a postgres:// URL with a host: %v", err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5432"), nil
	}
	return u.Host, nil
}
