// Command loadtest puts the login example under a bounded load on loopback
// and measures second-factor verifications: the HTTP POST of a TOTP code
// (challenge consumed, code checked, step advanced atomically, audit event
// chained, session combined) against the bare library call
// (totp.Factor.Begin + Finish) on the same store as the anchor. It stops by
// itself after -duration per run, or when its prepared users are used up:
// each user's code can be accepted once only, by design.
//
//	go run ./examples/loadtest                          # SQLite
//	PUCE_POSTGRES_DSN=postgres://… go run ./examples/loadtest   # and PostgreSQL
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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	otptotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/examples/internal/loginsrv"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/totp"
)

// cheap password hashing: this measures second factors, not argon2id.
var cheap = identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const password = "load test password"

func main() {
	duration := flag.Duration("duration", 5*time.Second, "how long each measurement runs at most")
	users := flag.Int("users", 3000, "users prepared per measurement (each verifies once)")
	workers := flag.Int("workers", 4*runtime.GOMAXPROCS(0), "concurrent clients")
	out := flag.String("out", "", "write the Markdown table here (e.g. examples/BENCHMARKS.part.md)")
	flag.Parse()
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
		"(the challenge was fetched before, and is not timed); the anchor is the bare library call `totp.Factor.Begin`+`Finish` on the same store.\n\n"+
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
	srv, err := loginsrv.New(loginsrv.Config{Store: store, Sealer: sealer, Origin: "http://127.0.0.1", Argon2: cheap, Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	origin := "http://" + ln.Addr().String()
	// The server must know its origin; build it again now that it listens.
	srv, err = loginsrv.New(loginsrv.Config{Store: store, Sealer: sealer, Origin: origin, Argon2: cheap, Logger: log})
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
	var httpRes result
	httpUsers, err := prepare("http", true)
	if errors.Is(err, identity.ErrExists) {
		// identity.Passwords gives every subject's password credential the
		// same ID, which the stores keep unique per kind: a second account
		// cannot get a password. Reported; the HTTP rows wait for the fix.
		fmt.Fprintf(os.Stderr, "%s: HTTP measurement BLOCKED: %v (identity.Passwords uses one credential ID for every subject)\n", name, err)
		httpRes.n = -1
	} else if err != nil {
		return nil, err
	} else if httpRes, err = measure(d, workers, httpUsers, func(s string) (time.Duration, error) { return httpVerify(origin, s, secretB32) }); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: preparing %d users for the library call…\n", name, nusers)
	libUsers, err := prepare("lib", false)
	if err != nil {
		return nil, err
	}
	libRes, err := measure(d, workers, libUsers, func(s string) (time.Duration, error) {
		code, _ := otptotp.GenerateCodeCustom(secretB32, time.Now(), otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		start := time.Now()
		ch, err := factor.Begin(ctx, identity.Request{Subject: identity.Subject(s), Origin: origin})
		if err == nil {
			_, err = factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: identity.Subject(s), Origin: origin, Data: []byte(code)})
		}
		return time.Since(start), err
	})
	if err != nil {
		return nil, err
	}
	row := func(path string, r result, ratio string) string {
		return fmt.Sprintf("| %s | %s | %d | %.0f | %s | %s | %s |", name, path, r.n, r.rate(), r.pct(0.5).Round(10*time.Microsecond), r.pct(0.99).Round(10*time.Microsecond), ratio)
	}
	httpRow := fmt.Sprintf("| %s | HTTP POST /login/second | blocked: a second account cannot get a password (identity.Passwords credential ID) | | | | |", name)
	if httpRes.n >= 0 {
		httpRow = row("HTTP POST /login/second", httpRes, fmt.Sprintf("%.2f", httpRes.rate()/libRes.rate()))
	}
	return []string{httpRow, row("library Begin+Finish (anchor)", libRes, "1")}, nil
}

// measure runs op over the users from several workers until d passes or
// the users run out.
func measure(d time.Duration, workers int, users []string, op func(string) (time.Duration, error)) (result, error) {
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
						firstErr = fmt.Errorf("user %s: %w", users[i], err)
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
	csrfRE      = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	challengeRE = regexp.MustCompile(`name="challenge" value="([^"]+)"`)
)

var transport = &http.Transport{MaxIdleConnsPerHost: 256}

// httpVerify logs a user in with the password (untimed), fetches the
// second-factor page (untimed), and times the POST of the code.
func httpVerify(origin, subject, secret string) (time.Duration, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (string, error) {
		resp, err := c.Get(origin + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	post := func(path string, v url.Values) (*http.Response, error) {
		req, _ := http.NewRequest("POST", origin+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	page, err := get("/login")
	if err != nil {
		return 0, err
	}
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		return 0, errors.New("no CSRF token on the login page")
	}
	if _, err := post("/login", url.Values{"csrf": {m[1]}, "username": {subject}, "password": {password}}); err != nil {
		return 0, err
	}
	page, err = get("/login/second")
	if err != nil {
		return 0, err
	}
	m, ch := csrfRE.FindStringSubmatch(page), challengeRE.FindStringSubmatch(page)
	if m == nil || ch == nil {
		return 0, errors.New("no second-factor form after the password")
	}
	code, _ := otptotp.GenerateCodeCustom(secret, time.Now(), otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	start := time.Now()
	resp, err := post("/login/second", url.Values{"csrf": {m[1]}, "method": {"totp"}, "challenge": {ch[1]}, "code": {code}})
	lat := time.Since(start)
	if err != nil {
		return 0, err
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/account") {
		return 0, fmt.Errorf("second factor refused: %d %s", resp.StatusCode, loc)
	}
	return lat, nil
}
