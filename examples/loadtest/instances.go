package main

// Several login-server processes on one database (issue 22): the question
// is whether a second instance adds logins per second, or whether every
// instance waits on the same lock (today the audit chain's head row). The
// load test starts its own executable again in -serve mode, once per
// instance, each a login server with its own connection pool on the shared
// store, listening on a loopback port; users are spread over the instances
// (a user stays on one, because a challenge is bound to the origin that
// issued it), and the same clients as in the single-process rows post the
// codes. PostgreSQL runs each count of -instances; SQLite runs one process,
// a file being shared by one machine's processes only and its writers
// queueing on one lock anyway.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/puce-id/puce/examples/internal/loginsrv"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/totp"
)

// The parent hands a child its store and sealer key in the environment,
// not on the command line, where other users of the machine could read the
// key in the process list.
const (
	envDSN      = "PUCE_LOADTEST_DSN"
	envKey      = "PUCE_LOADTEST_SEALER_KEY"
	envAuditKey = "PUCE_LOADTEST_AUDIT_KEY"
)

// serveLimit bounds a child's life whatever happens to its parent.
const serveLimit = 10 * time.Minute

// serve is a child: a login server on a loopback port, whose address it
// prints on its first line of output. It stops when its standard input
// closes (the parent is done, or gone) or after serveLimit.
func serve() error {
	ctx := context.Background()
	key, err := hex.DecodeString(os.Getenv(envKey))
	if err != nil || len(key) == 0 {
		return errors.New("serve: no sealer key in " + envKey + " (run without -serve)")
	}
	auditKey, err := hex.DecodeString(os.Getenv(envAuditKey))
	if err != nil || len(auditKey) == 0 {
		return errors.New("serve: no audit key in " + envAuditKey + " (run without -serve)")
	}
	store, err := sqlstore.Open(ctx, os.Getenv(envDSN), sqlstore.WithAudit(identity.AuditConfig{Key: auditKey}))
	if err != nil {
		return err
	}
	defer store.Close()
	sealer, err := identity.NewSealer("k", map[string][]byte{"k": key})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	origin := "http://" + ln.Addr().String()
	srv, err := loginsrv.New(loginsrv.Config{Store: store, Sealer: sealer, Origin: origin, Argon2: cheap,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Starts: unlimited})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	fmt.Println(origin)
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(serveLimit):
	}
	return nil
}

// child is one started login-server process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	origin string
}

// startChild starts a login-server process; procs > 0 sets its GOMAXPROCS.
func startChild(dsn string, key, auditKey []byte, procs int) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve")
	cmd.Env = append(os.Environ(), envDSN+"="+dsn, envKey+"="+hex.EncodeToString(key), envAuditKey+"="+hex.EncodeToString(auditKey))
	if procs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://127.0.0.1:") {
		c.stop()
		return nil, fmt.Errorf("login server process did not start (%q): %v", line, err)
	}
	c.origin = strings.TrimSpace(line)
	return c, nil
}

// stop closes the child's input, which ends it, and kills it if it has not
// ended within a few seconds.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// parseInstances reads -instances: a comma-separated list of process
// counts, each between 1 and 16.
func parseInstances(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 16 {
			return nil, fmt.Errorf("-instances: %q is not a count from 1 to 16", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runInstances measures HTTP verifications against k login-server
// processes for each k of counts, on one store, and returns table rows.
func runInstances(dsn string, counts []int, d time.Duration, nusers, workers int) ([]string, error) {
	ctx := context.Background()
	name := "PostgreSQL"
	if dsn == "sqlite" {
		dir, err := os.MkdirTemp("", "puce-load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		dsn, name, counts = filepath.Join(dir, "load.db"), "SQLite", []int{1}
	}
	if name == "PostgreSQL" {
		// A schema of its own per run: the trail is verified under this
		// run's key, and one left by an earlier run was sealed with
		// another.
		schemaDSN, drop, err := freshSchema(ctx, dsn)
		if err != nil {
			return nil, err
		}
		defer drop()
		dsn = schemaDSN
	}
	// Every process seals audit checkpoints with one key, which the
	// database never sees; the trail all of them wrote is verified at the
	// end.
	auditKey := identity.GenerateSealerKey()
	store, err := sqlstore.Open(ctx, dsn, sqlstore.WithAudit(identity.AuditConfig{Key: auditKey}))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	key := identity.GenerateSealerKey()
	sealer, err := identity.NewSealer("k", map[string][]byte{"k": key})
	if err != nil {
		return nil, err
	}
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}, Audit: store}
	factor, err := totp.New(svc, sealer, "load")
	if err != nil {
		return nil, err
	}
	var rows []string
	var base float64
	for _, k := range counts {
		res, err := measureInstances(ctx, name, dsn, key, auditKey, store, factor, k, d, nusers, workers)
		if err != nil {
			return nil, err
		}
		if _, err := store.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey}); err != nil {
			return nil, fmt.Errorf("%s, %d processes: the audit trail does not verify: %w", name, k, err)
		}
		fmt.Fprintf(os.Stderr, "%s: the audit trail written by %d processes verifies under the checkpoint key\n", name, k)
		ratio := "1"
		if base == 0 {
			base = res.rate()
		} else {
			ratio = fmt.Sprintf("%.2f", res.rate()/base)
		}
		// SQLite has no database processes: it runs inside the server.
		cpu := res.cpu.cells(name != "SQLite")
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %.0f | %s | %s | %s | %s |", name, k, res.n, res.rate(),
			res.pct(0.5).Round(10*time.Microsecond), res.pct(0.99).Round(10*time.Microsecond), ratio, cpu))
	}
	return rows, nil
}

func measureInstances(ctx context.Context, name, dsn string, key, auditKey []byte, store *sqlstore.Store, factor *totp.Factor,
	k int, d time.Duration, nusers, workers int) (result, error) {
	fmt.Fprintf(os.Stderr, "%s: starting %d login server processes…\n", name, k)
	children := make([]*child, 0, k)
	defer func() {
		for _, c := range children {
			c.stop()
		}
	}()
	// The servers' connections carry a name of this row, so that the CPU
	// of the PostgreSQL backends serving them can be read (cpu.go).
	app := fmt.Sprintf("puce-loadtest-%d-%d", k, time.Now().UnixNano())
	serverDSN, groups := dsn, cpuGroups{}
	if name == "PostgreSQL" {
		if dbRTT > 0 {
			target, err := dsnHost(dsn)
			if err != nil {
				return result{}, err
			}
			r, err := startRelay(target, dbRTT)
			if err != nil {
				return result{}, err
			}
			defer r.stop()
			if serverDSN, err = viaRelay(dsn, r.addr()); err != nil {
				return result{}, err
			}
		}
		serverDSN, groups.app = withApp(serverDSN, app), app
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return result{}, err
		}
		defer db.Close()
		groups.db = db
		if dbRTT > 0 {
			if relayRTT, err = roundTrip(ctx, serverDSN); err != nil {
				return result{}, err
			}
		}
	}
	// Each process gets its share of the machine's CPUs, as a container's
	// CPU quota gives it (the Go runtime sets GOMAXPROCS from the quota
	// since Go 1.25): k runtimes each scheduling on every CPU spin and
	// preempt each other for nothing.
	procs := 0
	if shareCPUs {
		procs = max(1, runtime.NumCPU()/k)
	}
	for range k {
		c, err := startChild(serverDSN, key, auditKey, procs)
		if err != nil {
			return result{}, err
		}
		children = append(children, c)
	}
	// A few verifications per process before the clock starts: a new
	// process opens its connections and prepares its statements on its
	// first logins, which would otherwise land in the p99.
	warm := warmUsers * k
	fmt.Fprintf(os.Stderr, "%s: preparing %d users over %d processes…\n", name, nusers+warm, k)
	subs, err := prepareUsers(ctx, store, factor, fmt.Sprintf("p%d-%d", k, time.Now().UnixNano()), nusers+warm)
	if err != nil {
		return result{}, err
	}
	var next atomic.Int64
	sessions, err := prepareEach(subs, func(s string) (*session, error) {
		return httpLogin(children[int(next.Add(1))%k].origin, s)
	})
	if err != nil {
		return result{}, err
	}
	verify := func(s *session) (time.Duration, error) { return s.verify(secretBase32) }
	if clientsPerProcess > 0 {
		workers = clientsPerProcess * k
	}
	if _, err := measure(time.Minute, workers, sessions[:warm], verify); err != nil {
		return result{}, fmt.Errorf("warming up: %w", err)
	}
	for _, c := range children {
		groups.servers = append(groups.servers, c.cmd.Process.Pid)
	}
	before := groups.sample(ctx)
	res, err := measure(d, workers, sessions[warm:], verify)
	res.cpu = before.until(groups.sample(ctx), res.n)
	return res, err
}

// dbRTT is the round trip -db-rtt puts between the server processes and
// PostgreSQL (latency.go); zero: none.
var dbRTT time.Duration

// clientsPerProcess, when set (-clients-per-process), makes the clients
// grow with the server processes: each process serves that many.
var clientsPerProcess int

// shareCPUs gives each server process GOMAXPROCS = CPUs / processes (-share-cpus).
var shareCPUs = true

// warmUsers is how many logins each process serves before the clock starts.
const warmUsers = 16

// loadSecret is every load-test user's TOTP secret: each verifies once, at
// the current step, so sharing it costs nothing.
var loadSecret = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}

var secretBase32 = (&totp.Key{Secret: loadSecret}).Base32()

// prepareUsers creates n users with the load-test password and TOTP secret,
// 16 at a time.
func prepareUsers(ctx context.Context, store *sqlstore.Store, factor *totp.Factor, prefix string, n int) ([]string, error) {
	pw := &identity.Passwords{Store: store, Params: cheap}
	subs := make([]string, n)
	for i := range subs {
		subs[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	_, err := prepareEach(subs, func(s string) (struct{}, error) {
		if err := pw.Set(ctx, identity.Subject(s), password); err != nil {
			return struct{}{}, err
		}
		_, err := factor.Import(ctx, identity.Subject(s), "app", &totp.Key{Issuer: "load", Account: s, Secret: loadSecret})
		return struct{}{}, err
	})
	return subs, err
}

// mainInstances runs the -instances measurement on SQLite and, with
// PUCE_POSTGRES_DSN set, PostgreSQL, and prints (and writes to out) the
// table.
func mainInstances(list string, d time.Duration, nusers, workers int, out string) error {
	counts, err := parseInstances(list)
	if err != nil {
		return err
	}
	dsns := []string{"sqlite"}
	if dsn := os.Getenv("PUCE_POSTGRES_DSN"); dsn != "" {
		dsns = append(dsns, dsn)
	} else {
		fmt.Fprintln(os.Stderr, "loadtest: PUCE_POSTGRES_DSN is unset: SQLite only, one process")
	}
	var rows []string
	for _, dsn := range dsns {
		r, err := runInstances(dsn, counts, d, nusers, workers)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	table := fmt.Sprintf("### Login server processes on one store (examples/loadtest -instances %s)\n\n"+
		"Loopback HTTP, %s in the load test's process spread over the server processes, at most %s per row, %d CPUs, %s, %s%s. "+
		"Each verification is one POST of a fresh TOTP code (password step and second-factor page before, untimed).\n\n"+
		"CPU per verification, in µs, from /proc: the load test's clients, the server processes, the PostgreSQL backends serving them, and the whole machine (everything running on it).\n\n"+
		"| store | processes | verifications | per second | p50 | p99 | per second vs 1 process | CPU: clients | servers | database | machine |\n|---|---|---|---|---|---|---|---|---|---|---|\n%s\n",
		list, clientsNote(workers), d, runtime.NumCPU(), runtime.Version(), cpuNote(), rttNote(), strings.Join(rows, "\n"))
	fmt.Print(table)
	if out != "" {
		return os.WriteFile(out, []byte(table), 0o644)
	}
	return nil
}

func cpuNote() string {
	if shareCPUs {
		return "each server process with GOMAXPROCS = CPUs / processes (at least 1)"
	}
	return "each server process with GOMAXPROCS = all CPUs"
}

func clientsNote(workers int) string {
	if clientsPerProcess > 0 {
		return fmt.Sprintf("%d concurrent clients per server process", clientsPerProcess)
	}
	return fmt.Sprintf("%d concurrent clients", workers)
}

func rttNote() string {
	if dbRTT > 0 {
		return fmt.Sprintf(", a relay adding a %s round trip between the server processes and PostgreSQL (-db-rtt; measured: a `SELECT 1` through it takes %s, median of %d)",
			dbRTT, relayRTT.Round(10*time.Microsecond), rttProbes)
	}
	return ""
}

// freshSchema creates a schema for one run on the PostgreSQL server of dsn
// and returns a DSN whose connections use it, and a function that drops it.
func freshSchema(ctx context.Context, dsn string) (string, func(), error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-instances needs a postgres:// URL: %q", dsn)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	schema := "puce_load_" + hex.EncodeToString(identity.GenerateSealerKey()[:6])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	}, nil
}
