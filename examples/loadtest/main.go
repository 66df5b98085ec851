// Command loadtest puts the login example under a bounded load on loopback
// and measures second-factor verifications: the HTTP POST of a TOTP code
// (form and CSRF check, challenge consumed, code checked, step advanced
// atomically, audit event chained, session combined and renewed) against
// the bare library call totp.Factor.Finish on the same store as the anchor.
// Both sides are prepared before the clock starts — each HTTP user has
// logged in with the password and fetched the second-factor page, each
// library user has a challenge from Begin — so both rows time the same
// step. It stops by itself after -duration per run, or when its prepared
// users are used up: each user's code can be accepted once only, by design.
//
//	go run ./examples/loadtest                          # SQLite
//	PUCE_POSTGRES_DSN=postgres://… go run ./examples/loadtest   # and PostgreSQL
//
// With -instances 1,2,4 it measures the HTTP verifications against that
// many login-server processes sharing the store instead (instances.go),
// with the CPU each verification costs in the clients, the servers, the
// PostgreSQL backends and the whole machine (cpu.go). On one machine over
// loopback one process already keeps the cores busy; -db-rtt 1ms puts a
// network's round trip between the servers and PostgreSQL and
// -clients-per-process 4 grows the load with the processes, which is where
// a lock shared by the instances would show (latency.go):
//
//	PUCE_POSTGRES_DSN=postgres://… go run ./examples/loadtest -instances 1,2,4 -db-rtt 1ms -clients-per-process 4
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	otptotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/examples/internal/loginsrv"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/totp"
)

// cheap password hashing: this measures second factors, not argon2id.
var cheap = identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// unlimited switches httpauth's start limit off: every simulated user
// comes from this one loopback address, which a real site would bound
// (httpauth.Config.Starts) as one client.
var unlimited = httpauth.StartLimit{PerMinute: -1, AnonymousPerMinute: -1}

const password = "load test password"

func main() {
	duration := flag.Duration("duration", 5*time.Second, "how long each measurement runs at most")
	users := flag.Int("users", 3000, "users prepared per measurement (each verifies once)")
	workers := flag.Int("workers", 4*runtime.GOMAXPROCS(0), "concurrent clients")
	out := flag.String("out", "", "write the Markdown table here (e.g. examples/BENCHMARKS.part.md)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the HTTP measurements (server and clients, one process) to this file")
	instances := flag.String("instances", "", "instead, measure HTTP verifications against this many login server processes on one store, e.g. 1,2,4 (PostgreSQL; SQLite runs one)")
	flag.BoolVar(&shareCPUs, "share-cpus", true, "with -instances, give each server process GOMAXPROCS = CPUs / processes, as a container's CPU quota would")
	flag.DurationVar(&dbRTT, "db-rtt", 0, "with -instances, put a relay adding this round trip between the server processes and PostgreSQL, as a network would (latency.go)")
	flag.IntVar(&clientsPerProcess, "clients-per-process", 0, "with -instances, this many clients per server process instead of -workers in all")
	serveMode := flag.Bool("serve", false, "run as one login server process of -instances (started by the load test itself)")
	flag.Parse()
	if *serveMode {
		if err := serve(); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		return
	}
	if *instances != "" {
		if err := mainInstances(*instances, *duration, *users, *workers, *out); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		return
	}
	if *cpuProfile != "" {
		profile = *cpuProfile
	}
	var rows []string
	dsns := []string{"sqlite"}
	if os.Getenv("PUCE_POSTGRES_DSN") != "" {
		dsns = append(dsns, os.Getenv("PUCE_POSTGRES_DSN"))
	}
	for _, dsn := range dsns {
		r, err := run(dsn, *duration, *users, *workers)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		rows = append(rows, r...)
	}
	table := fmt.Sprintf("### Login server under load: second-factor verifications (examples/loadtest)\n\n"+
		"Loopback HTTP, %d concurrent clients, at most %s per row, %d CPUs, %s. Each verification is one POST of a fresh TOTP code "+
		"(the password step and the second-factor page came before, untimed); the anchor is the bare library call `totp.Factor.Finish` on the same store, its challenge issued before, untimed.\n\n"+
		"| store | path | verifications | per second | p50 | p99 | ratio (HTTP / library, per second) |\n|---|---|---|---|---|---|---|\n%s\n",
		*workers, *duration, runtime.NumCPU(), runtime.Version(), strings.Join(rows, "\n"))
	fmt.Print(table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
	}
}

type result struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
	cpu     cpuUse
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }
func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r.lat[int(float64(len(r.lat)-1)*p)]
}

func run(dsn string, d time.Duration, nusers, workers int) ([]string, error) {
	ctx := context.Background()
	name := "SQLite"
	if dsn == "sqlite" {
		dir, err := os.MkdirTemp("", "puce-load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		dsn = filepath.Join(dir, "load.db")
	} else {
		name = "PostgreSQL"
	}
	store, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := loginsrv.New(loginsrv.Config{Store: store, Sealer: sealer, Origin: "http://127.0.0.1", Argon2: cheap, Logger: log, Starts: unlimited})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	origin := "http://" + ln.Addr().String()
	// The server must know its origin; build it again now that it listens.
	srv, err = loginsrv.New(loginsrv.Config{Store: store, Sealer: sealer, Origin: origin, Argon2: cheap, Logger: log, Starts: unlimited})
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()

	// Each run gets users of its own: a run uses each user's current code.
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}, Audit: store}
	factor, err := totp.New(svc, sealer, "load")
	if err != nil {
		return nil, err
	}
	prepare := func(prefix string, withPassword bool) ([]string, error) {
		pw := &identity.Passwords{Store: store, Params: cheap}
		secret := make([]byte, 20)
		for i := range secret {
			secret[i] = byte(i + 1)
		}
		subs := make([]string, nusers)
		var wg sync.WaitGroup
		var firstErr atomic.Value
		sem := make(chan struct{}, 16)
		for i := range subs {
			subs[i] = fmt.Sprintf("%s-%s-%d", prefix, run, i)
			wg.Add(1)
			sem <- struct{}{}
			go func(s string) {
				defer func() { <-sem; wg.Done() }()
				if withPassword {
					if err := pw.Set(ctx, identity.Subject(s), password); err != nil {
						firstErr.Store(err)
						return
					}
				}
				if _, err := factor.Import(ctx, identity.Subject(s), "app", &totp.Key{Issuer: "load", Account: s, Secret: secret}); err != nil {
					firstErr.Store(err)
				}
			}(subs[i])
		}
		wg.Wait()
		if e, ok := firstErr.Load().(error); ok {
			return nil, e
		}
		return subs, nil
	}
	secretB32 := (&totp.Key{Secret: func() []byte {
		b := make([]byte, 20)
		for i := range b {
			b[i] = byte(i + 1)
		}
		return b
	}()}).Base32()

	fmt.Fprintf(os.Stderr, "%s: preparing %d users for HTTP…\n", name, nusers)
	httpUsers, err := prepare("http", true)
	if err != nil {
		return nil, err
	}
	sessions, err := prepareEach(httpUsers, func(s string) (*session, error) { return httpLogin(origin, s) })
	if err != nil {
		return nil, err
	}
	stopProfile, err := startProfile()
	if err != nil {
		return nil, err
	}
	httpRes, err := measure(d, workers, sessions, func(s *session) (time.Duration, error) { return s.verify(secretB32) })
	stopProfile()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: preparing %d users for the library call…\n", name, nusers)
	libUsers, err := prepare("lib", false)
	if err != nil {
		return nil, err
	}
	type pending struct {
		subject identity.Subject
		id      identity.ChallengeID
	}
	challenges, err := prepareEach(libUsers, func(s string) (pending, error) {
		ch, err := factor.Begin(ctx, identity.Request{Subject: identity.Subject(s), Origin: origin})
		if err != nil {
			return pending{}, err
		}
		return pending{identity.Subject(s), ch.ID}, nil
	})
	if err != nil {
		return nil, err
	}
	libRes, err := measure(d, workers, challenges, func(p pending) (time.Duration, error) {
		code, _ := otptotp.GenerateCodeCustom(secretB32, time.Now(), otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		start := time.Now()
		_, err := factor.Finish(ctx, identity.Response{ChallengeID: p.id, Subject: p.subject, Origin: origin, Data: []byte(code)})
		return time.Since(start), err
	})
	if err != nil {
		return nil, err
	}
	row := func(path string, r result, ratio string) string {
		return fmt.Sprintf("| %s | %s | %d | %.0f | %s | %s | %s |", name, path, r.n, r.rate(), r.pct(0.5).Round(10*time.Microsecond), r.pct(0.99).Round(10*time.Microsecond), ratio)
	}
	return []string{
		row("HTTP POST /login/second", httpRes, fmt.Sprintf("%.2f", httpRes.rate()/libRes.rate())),
		row("library Finish (anchor)", libRes, "1"),
	}, nil
}

// profile names the CPU profile file; empty means none.
var profile string

// startProfile starts the CPU profile, when one was asked for, and returns
// the function that stops it. Each run (store) overwrites the file: the
// last store's profile is kept.
func startProfile() (func(), error) {
	if profile == "" {
		return func() {}, nil
	}
	f, err := os.Create(profile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// prepareEach runs prep for every user, 16 at a time, before the clock
// starts.
func prepareEach[T any](users []string, prep func(string) (T, error)) ([]T, error) {
	out := make([]T, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = prep(u)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// measure runs op over the users from several workers until d passes or
// the users run out.
func measure[T any](d time.Duration, workers int, users []T, op func(T) (time.Duration, error)) (result, error) {
	var next atomic.Int64
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var res result
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if int(i) >= len(users) {
					break
				}
				l, err := op(users[i])
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("user %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				lat = append(lat, l)
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.lat)
	return res, firstErr
}

var (
	// The form's CSRF field: "csrf_token" since the login server runs on
	// identity/httpauth, "csrf" before.
	csrfRE      = regexp.MustCompile(`name="(csrf(?:_token)?)" value="([^"]+)"`)
	challengeRE = regexp.MustCompile(`name="challenge" value="([^"]+)"`)
)

var transport = &http.Transport{MaxIdleConnsPerHost: 256}

// session is a user half-way through logging in over HTTP: the password
// accepted, the second-factor page fetched.
type session struct {
	origin                     string
	client                     *http.Client
	csrfField, csrf, challenge string
}

func (s *session) post(path string, v url.Values) (*http.Response, error) {
	req, _ := http.NewRequest("POST", s.origin+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.origin)
	resp, err := s.client.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func (s *session) get(path string) (string, error) {
	resp, err := s.client.Get(s.origin + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// httpLogin takes a user through the password step and fetches the
// second-factor page, keeping its CSRF token and challenge.
func httpLogin(origin, subject string) (*session, error) {
	jar, _ := cookiejar.New(nil)
	s := &session{origin: origin, client: &http.Client{Jar: jar, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	page, err := s.get("/login")
	if err != nil {
		return nil, err
	}
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		return nil, errors.New("no CSRF token on the login page")
	}
	if _, err := s.post("/login", url.Values{m[1]: {m[2]}, "username": {subject}, "password": {password}}); err != nil {
		return nil, err
	}
	page, err = s.get("/login/second")
	if err != nil {
		return nil, err
	}
	m, ch := csrfRE.FindStringSubmatch(page), challengeRE.FindStringSubmatch(page)
	if m == nil || ch == nil {
		return nil, errors.New("no second-factor form after the password")
	}
	s.csrfField, s.csrf, s.challenge = m[1], m[2], ch[1]
	return s, nil
}

// verify times the POST of the current code.
func (s *session) verify(secret string) (time.Duration, error) {
	code, _ := otptotp.GenerateCodeCustom(secret, time.Now(), otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	start := time.Now()
	resp, err := s.post("/login/second", url.Values{s.csrfField: {s.csrf}, "method": {"totp"}, "challenge": {s.challenge}, "code": {code}})
	lat := time.Since(start)
	if err != nil {
		return 0, err
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/account") {
		return 0, fmt.Errorf("second factor refused: %d %s", resp.StatusCode, loc)
	}
	return lat, nil
}
