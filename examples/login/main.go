// Command login is puce's example of a two-factor login web application:
// sign up with a password, then add and use a second factor — a code from
// an authenticator app (TOTP, with recovery codes), a security key or passkey
// (WebAuthn), or a smart card through the card agent (examples/cardagent) —
// or log in with a passkey alone. The account page lists the factors and
// the audit trail with its hash-chain check; changing the password or the
// factors asks for a fresh second factor.
//
//	go run ./examples/login                             # SQLite in puce-login.db
//	go run ./examples/login -db postgres://user@host/db # PostgreSQL
//	go run ./examples/login -ca puce-test-ca.pem -agent http://127.0.0.1:24727
//
// WebAuthn needs a secure context: it runs on an https origin, or on
// http://localhost (the default origin), with the origin's host as relying
// party ID unless -rpid names a parent domain.
//
// Pages are rendered on the server; their scripts talk to the card agent and
// to the browser's WebAuthn API.
// Sessions are kept in memory (one instance); the factors' state, throttle
// counters and audit trail are in the database, safe across instances.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/puce-id/puce/examples/internal/loginsrv"
	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/pcsc/cardauth"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	origin := flag.String("origin", "", "the site's origin as browsers see it (default http://localhost:PORT, https:// with -tls-cert)")
	db := flag.String("db", "puce-login.db", "SQLite file, or a postgres:// URL for PostgreSQL")
	sealerKeys := flag.String("sealer-keys", os.Getenv("PUCE_SEALER_KEYS"), "sealer keys \"id=base64key[,...]\" (env PUCE_SEALER_KEYS); a development key when empty")
	agent := flag.String("agent", "http://127.0.0.1:24727", "URL of the card agent; empty disables card login")
	caFile := flag.String("ca", "", "PEM file of the CA certificates that issue login cards (e.g. from examples/virtualcard -ca); card login is off without it")
	ocspURL := flag.String("ocsp", "", "OCSP responder URL overriding the one the card certificates name")
	revocation := flag.String("revocation", "on", "card revocation checks: on (fail closed), fail-open, or off (development only)")
	tlsCert := flag.String("tls-cert", "", "TLS certificate (PEM); with -tls-key the site runs on HTTPS and cookies are Secure")
	tlsKey := flag.String("tls-key", "", "TLS private key (PEM)")
	rpID := flag.String("rpid", "", "WebAuthn relying party ID (default: the origin's host); credentials are bound to it")
	noWebAuthn := flag.Bool("no-webauthn", false, "turn security keys and passkeys off")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	wa := loginsrv.Config{RPID: *rpID, DisableWebAuthn: *noWebAuthn}
	if err := run(log, *addr, *origin, *db, *sealerKeys, *agent, *caFile, *ocspURL, *revocation, *tlsCert, *tlsKey, wa); err != nil {
		fmt.Fprintln(os.Stderr, "login:", err)
		os.Exit(1)
	}
}

// run starts the server; wa carries the WebAuthn settings.
func run(log *slog.Logger, addr, origin, db, sealerKeys, agent, caFile, ocspURL, revocation, tlsCert, tlsKey string, wa loginsrv.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	site, err := web.Listen(addr, origin, tlsCert, tlsKey)
	if err != nil {
		return err
	}
	origin = site.Origin
	if !site.TLS() && !web.Loopback(addr) {
		log.Warn("serving plain HTTP on a non-loopback address: passwords and cookies travel in clear; use -tls-cert/-tls-key")
	}

	store, err := sqlstore.Open(ctx, db)
	if err != nil {
		return err
	}
	defer store.Close()
	devKey := ""
	if store.Engine() == "sqlite" && db != ":memory:" {
		devKey = strings.TrimPrefix(db, "sqlite:") + ".dev-sealer-key"
	}
	sealer, err := web.Sealer(sealerKeys, devKey, os.Stderr)
	if err != nil {
		return err
	}

	cfg := loginsrv.Config{Store: store, Sealer: sealer, Origin: origin, Logger: log, RPID: wa.RPID, DisableWebAuthn: wa.DisableWebAuthn}
	if caFile != "" && agent != "" {
		roots, inter, _, err := web.LoadCAs(caFile)
		if err != nil {
			return err
		}
		card := &cardauth.Config{Roots: roots, Intermediates: inter, OCSPResponderURL: ocspURL}
		switch revocation {
		case "on":
		case "fail-open":
			card.OnUnreachable = cardauth.FailOpen
		case "off":
			card.SkipRevocation = true
			log.Warn("card revocation checks are OFF: a revoked card can log in (development only)")
		default:
			return fmt.Errorf("-revocation: %q is not on, fail-open or off", revocation)
		}
		cfg.Card, cfg.AgentURL = card, agent
	} else {
		log.Info("card login disabled: give -ca (the card CA certificates) and -agent")
	}
	srv, err := loginsrv.New(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("login example: %s (store: %s %s)\n", origin, store.Engine(), db)
	return site.Serve(ctx, srv.Handler(), 30*time.Second)
}
