package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

// RSSBudget is what the login example may take while 128 sign-ups arrive at
// once, with puce's default argon2id parameters (64 MiB a hash) and
// default hashing budget (DefaultHashMemory, 256 MiB).
const RSSBudget = 1 << 30

// TestSignupBurst is issue 17's load test, against the example built and
// run as its own process on loopback: 128 sign-ups at once used to take it
// to 8.3 GB and drop connections after creating accounts. Now its peak
// resident memory stays under RSSBudget, every client hears an answer — its
// account made (303 to /setup) or 503 with Retry-After — and exactly the
// accounts whose clients were told exist.
func TestSignupBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING the sign-up burst in -short mode: 128 argon2id hashes of 64 MiB")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "login")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	db := filepath.Join(dir, "login.db")
	// 128 browsers at once, which all come from loopback here: no bound
	// per address (the bound per instance stays, above 128).
	srv := exec.Command(bin, "-addr", addr, "-origin", "http://"+addr, "-db", db, "-agent", "", "-starts-per-minute", "-1")
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var logTail []string
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logTail = append(logTail, sc.Text())
			if len(logTail) > 20 {
				logTail = logTail[1:]
			}
			logMu.Unlock()
		}
	}()
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/signup")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the login example did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	const n = 128
	told := make([]bool, n)
	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome, ok := signup(base, fmt.Sprintf("burst%03d", i), start)
			mu.Lock()
			defer mu.Unlock()
			outcomes[outcome]++
			told[i] = ok
		}()
	}
	begun := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(begun)
	peak := peakRSS(t, srv.Process.Pid)
	t.Logf("128 sign-ups at once: %v in %s; peak RSS %d MiB (budget %d MiB)", outcomes, took.Round(time.Millisecond), peak>>20, RSSBudget>>20)
	for o := range outcomes {
		if o != "created" && o != "busy" {
			logMu.Lock()
			t.Errorf("server log tail:\n%s", strings.Join(logTail, "\n"))
			logMu.Unlock()
			t.Fatalf("outcomes %v: every client must hear created or busy", outcomes)
		}
	}
	if outcomes["created"] == 0 {
		t.Fatal("no sign-up went through")
	}
	if peak > RSSBudget {
		t.Fatalf("peak RSS %d MiB, over the budget of %d MiB", peak>>20, RSSBudget>>20)
	}

	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	store, err := sqlstore.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i := range n {
		subject := identity.Subject(fmt.Sprintf("burst%03d", i))
		_, err := store.Credential(context.Background(), identity.CredentialRef{Subject: subject, Kind: identity.KindPassword, ID: string(subject)})
		if exists := err == nil; exists != told[i] {
			t.Errorf("%s: account exists %v, client told it was made %v (%v)", subject, exists, told[i], err)
		}
	}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// signup runs one browser's sign-up and says how it ended: "created",
// "busy" (503 with Retry-After), or what else happened.
func signup(base, user string, start <-chan struct{}) (outcome string, created bool) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/signup")
	if err != nil {
		return "get: " + err.Error(), false
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		return "no csrf token", false
	}
	<-start
	form := url.Values{"csrf_token": {string(m[1])}, "username": {user}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}}
	req, _ := http.NewRequest("POST", base+"/signup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		return "post: " + err.Error(), false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/setup"):
		return "created", true
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		return "busy", false
	}
	return fmt.Sprintf("status %d", resp.StatusCode), false
}

// peakRSS reads the process's high-water mark of resident memory (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("SKIPPING the memory check: %v (Linux /proc needed)", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
