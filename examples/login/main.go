// Command login is puce's example of a two-factor login web application:
// sign up with a password, then add and use a second factor — a code from
// an authenticator app (TOTP, with recovery codes), a security key or passkey
// (WebAuthn), or a smart card through the card agent (examples/cardagent) —
// or log in with a passkey alone. "Send money" asks for an approval bound
// to the amount and the payee (PSD2 dynamic linking) from the card, a
// security key or passkey, or an OCRA signing token the account page
// issues. The account page lists the factors, the approved payments and
// the audit trail with its hash-chain check; changing the password or the
// factors asks for a fresh second factor. With -csca, a logged-in user can
// verify their identity document: the card agent reads it with the CAN and
// sends what the holder accepts, and the server checks it by passive
// authentication against those CSCA certificates.
//
//	go run ./examples/login                             # SQLite in puce-login.db
//	go run ./examples/login -db postgres://user@host/db # PostgreSQL
//	go run ./examples/login -ca puce-test-ca.pem -agent http://127.0.0.1:24727
//	go run ./examples/login -csca puce-test-csca.pem   # identity documents of that CSCA
//	go run ./examples/login token -key HEX -question Q -counter N  # the demo's signing token
//
// WebAuthn needs a secure context: it runs on an https origin, or on
// http://localhost (the default origin), with the origin's host as relying
// party ID unless -rpid names a parent domain.
//
// Pages are rendered on the server; their scripts talk to the card agent and
// to the browser's WebAuthn API. Sessions (identity/httpauth), the factors'
// state, throttle counters and audit trail are all in the database, so
// several instances can serve one site.
package main

import (
	"context"
	"encoding/base64"
	"errors"
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
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/pcsc/cardauth"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		if err := token(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "login token:", err)
			os.Exit(2)
		}
		return
	}
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
	csca := flag.String("csca", "", "comma-separated PEM files of the CSCA certificates identity documents must chain to (e.g. from examples/virtualcard -csca); the identity document page is off without them")
	docKey := flag.String("document-key", os.Getenv("PUCE_DOCUMENT_KEY"), "base64 key (32 bytes) for the fingerprints of verified document numbers (env PUCE_DOCUMENT_KEY); a development key when empty")
	auditKey := flag.String("audit-key", os.Getenv("PUCE_AUDIT_KEY"), "base64 key (32 bytes) that seals the audit trail's checkpoints (env PUCE_AUDIT_KEY); a development key beside a SQLite file when empty. examples/auditcheck verifies the trail with it")
	policyFile := flag.String("usage-policy", "", "text file of the usage policy that card holders sign with the card's e-signature key at each login; the receipts (.p7s) are kept (needs card login)")
	policyName := flag.String("usage-policy-name", "usage policy", "what the usage policy is called on the pages")
	rpID := flag.String("rpid", "", "WebAuthn relying party ID (default: the origin's host); credentials are bound to it")
	noWebAuthn := flag.Bool("no-webauthn", false, "turn security keys and passkeys off")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Settings that go to the server as they are.
	opts := loginsrv.Config{RPID: *rpID, DisableWebAuthn: *noWebAuthn, UsagePolicyName: *policyName}
	if err := run(log, *addr, *origin, *db, *sealerKeys, *agent, *caFile, *ocspURL, *revocation, *tlsCert, *tlsKey, *csca, *docKey, *auditKey, *policyFile, opts); err != nil {
		fmt.Fprintln(os.Stderr, "login:", err)
		os.Exit(1)
	}
}

// run starts the server; opts carries the settings passed through as they
// are (WebAuthn, the usage policy's name).
func run(log *slog.Logger, addr, origin, db, sealerKeys, agent, caFile, ocspURL, revocation, tlsCert, tlsKey, csca, docKey, auditKey, policyFile string, opts loginsrv.Config) error {
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

	devBase := web.DevKeyBase(db)
	var auditDev string
	if devBase != "" {
		auditDev = devBase + ".dev-audit-key"
	}
	key, err := web.AuditKey(auditKey, auditDev, os.Stderr)
	if err != nil {
		return err
	}
	store, err := sqlstore.Open(ctx, db, sqlstore.WithAudit(identity.AuditConfig{Key: key}))
	if err != nil {
		return err
	}
	defer store.Close()
	devKey := ""
	if devBase != "" {
		devKey = devBase + ".dev-sealer-key"
	}
	sealer, err := web.Sealer(sealerKeys, devKey, os.Stderr)
	if err != nil {
		return err
	}

	cfg := loginsrv.Config{Store: store, Sealer: sealer, Origin: origin, Logger: log, RPID: opts.RPID, DisableWebAuthn: opts.DisableWebAuthn}
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
	if csca != "" && agent != "" {
		for _, f := range strings.Split(csca, ",") {
			_, _, certs, err := web.LoadCAs(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("-csca: %w", err)
			}
			cfg.CSCAs = append(cfg.CSCAs, certs...)
		}
		cfg.AgentURL = agent
		if cfg.DocumentKey, err = documentKey(docKey, devKey, log); err != nil {
			return err
		}
	} else {
		log.Info("identity document verification disabled: give -csca (the CSCA certificates) and -agent")
	}
	if policyFile != "" {
		if cfg.Card == nil {
			return errors.New("-usage-policy needs card login (-ca and -agent): the policy is signed with the card")
		}
		if cfg.UsagePolicy, err = os.ReadFile(policyFile); err != nil {
			return fmt.Errorf("-usage-policy: %w", err)
		}
		cfg.UsagePolicyName = opts.UsagePolicyName
	}
	srv, err := loginsrv.New(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("login example: %s (store: %s %s)\n", origin, store.Engine(), db)
	return site.Serve(ctx, srv.Handler(), 30*time.Second)
}

// documentKey decodes the key of document fingerprints. Without one it uses
// a development key, kept beside the SQLite file when there is one, so that
// a restarted demo still recognises a verified document.
func documentKey(spec, devSealerFile string, log *slog.Logger) ([]byte, error) {
	if spec == "" && devSealerFile != "" {
		file := strings.TrimSuffix(devSealerFile, ".dev-sealer-key") + ".dev-document-key"
		data, err := os.ReadFile(file)
		switch {
		case err == nil:
			spec = strings.TrimSpace(string(data))
		case errors.Is(err, os.ErrNotExist):
			spec = base64.StdEncoding.EncodeToString(identity.GenerateSealerKey())
			if err := os.WriteFile(file, []byte(spec+"\n"), 0o600); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		log.Warn("document fingerprints use a DEVELOPMENT key kept beside the database; production passes -document-key", "file", file)
	}
	if spec == "" {
		log.Warn("document fingerprints use a random key: a verified document is recognised only until a restart; pass -document-key")
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(spec)
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("-document-key: want at least 16 bytes in base64")
	}
	return k, nil
}
