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
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/puce-id/puce/examples/internal/loginsrv"
	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
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
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	flag.StringVar(&o.origin, "origin", "", "the site's origin as browsers see it (default http://localhost:PORT, https:// with -tls-cert)")
	flag.StringVar(&o.db, "db", "puce-login.db", "SQLite file, or a postgres:// URL for PostgreSQL")
	flag.StringVar(&o.sealerKeys, "sealer-keys", os.Getenv("PUCE_SEALER_KEYS"), "sealer keys \"id=base64key[,...]\" (env PUCE_SEALER_KEYS); a development key when empty")
	flag.StringVar(&o.agent, "agent", "http://127.0.0.1:24727", "URL of the card agent; empty disables card login")
	flag.StringVar(&o.caFile, "ca", "", "PEM file of the CA certificates that issue login cards (e.g. from examples/virtualcard -ca); card login is off without it")
	flag.StringVar(&o.ocspURL, "ocsp", "", "OCSP responder URL overriding the one the card certificates name")
	flag.StringVar(&o.ocspNonceOptional, "ocsp-nonce-optional", "", "comma-separated OCSP responder URLs known not to echo nonces (RFC 5019 profile); every other responder must echo the request's nonce")
	flag.StringVar(&o.revocation, "revocation", "on", "card revocation checks: on (fail closed), fail-open, or off (development only)")
	flag.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (PEM); with -tls-key the site runs on HTTPS and cookies are Secure")
	flag.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	flag.StringVar(&o.csca, "csca", "", "comma-separated PEM files of the CSCA certificates identity documents must chain to (e.g. from examples/virtualcard -csca); the identity document page is off without them")
	flag.StringVar(&o.docKey, "document-key", os.Getenv("PUCE_DOCUMENT_KEY"), "base64 key (32 bytes) for the fingerprints of verified document numbers (env PUCE_DOCUMENT_KEY); a development key when empty")
	flag.StringVar(&o.auditKey, "audit-key", os.Getenv("PUCE_AUDIT_KEY"), "base64 key (32 bytes) that seals the audit trail's records and checkpoints (env PUCE_AUDIT_KEY); a development key beside a SQLite file when empty. examples/auditcheck verifies the trail with it")
	flag.StringVar(&o.policyFile, "usage-policy", "", "text file of the usage policy that card holders sign with the card's e-signature key at each login; the receipts (.p7s) are kept (needs card login)")
	flag.StringVar(&o.policyName, "usage-policy-name", "usage policy", "what the usage policy is called on the pages")
	flag.StringVar(&o.rpID, "rpid", "", "WebAuthn relying party ID (default: the origin's host); credentials are bound to it")
	flag.BoolVar(&o.noWebAuthn, "no-webauthn", false, "turn security keys and passkeys off")
	flag.IntVar(&o.starts, "starts-per-minute", 0, "ceremonies (password steps, sign-ups, second-factor and enrolment pages) one client address may start a minute (default httpauth's; negative: no bound per address)")
	flag.StringVar(&o.proxies, "trusted-proxies", "", "comma-separated CIDR prefixes of the reverse proxies in front of the site, whose X-Forwarded-For names the client")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(log, o); err != nil {
		fmt.Fprintln(os.Stderr, "login:", err)
		os.Exit(1)
	}
}

// options are the command line's settings.
type options struct {
	addr, origin, db, sealerKeys  string
	agent, caFile, ocspURL        string
	ocspNonceOptional, revocation string
	tlsCert, tlsKey               string
	csca, docKey, auditKey        string
	policyFile, policyName, rpID  string
	noWebAuthn                    bool
	starts                        int
	proxies                       string
}

// run opens the store and its keys, builds the server from o and serves
// until SIGINT or SIGTERM.
func run(log *slog.Logger, o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	site, err := web.Listen(o.addr, o.origin, o.tlsCert, o.tlsKey)
	if err != nil {
		return err
	}
	if !site.TLS() && !web.Loopback(o.addr) {
		log.Warn("serving plain HTTP on a non-loopback address: passwords and cookies travel in clear; use -tls-cert/-tls-key")
	}

	var devKey string
	if devBase := web.DevKeyBase(o.db); devBase != "" {
		devKey = devBase + ".dev-sealer-key"
	}
	store, err := web.OpenStore(ctx, o.db, o.auditKey, os.Stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	sealer, err := web.Sealer(o.sealerKeys, devKey, os.Stderr)
	if err != nil {
		return err
	}

	cfg := loginsrv.Config{Store: store, Sealer: sealer, Origin: site.Origin, Logger: log, RPID: o.rpID, DisableWebAuthn: o.noWebAuthn,
		Starts: httpauth.StartLimit{PerMinute: o.starts}}
	for p := range strings.SplitSeq(o.proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("-trusted-proxies: %w", err)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
	}
	if err := o.cards(&cfg, log); err != nil {
		return err
	}
	if err := o.documents(&cfg, devKey, log); err != nil {
		return err
	}
	if o.policyFile != "" {
		if cfg.Card == nil {
			return errors.New("-usage-policy needs card login (-ca and -agent): the policy is signed with the card")
		}
		if cfg.UsagePolicy, err = os.ReadFile(o.policyFile); err != nil {
			return fmt.Errorf("-usage-policy: %w", err)
		}
		cfg.UsagePolicyName = o.policyName
	}
	srv, err := loginsrv.New(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("login example: %s (store: %s %s)\n", site.Origin, store.Engine(), o.db)
	return site.Serve(ctx, srv.Handler(), 30*time.Second)
}

// cards turns card login on in cfg when the card CAs and the agent are
// given.
func (o *options) cards(cfg *loginsrv.Config, log *slog.Logger) error {
	if o.caFile == "" || o.agent == "" {
		log.Info("card login disabled: give -ca (the card CA certificates) and -agent")
		return nil
	}
	roots, inter, _, err := web.LoadCAs(o.caFile)
	if err != nil {
		return err
	}
	card := &cardauth.Config{Roots: roots, Intermediates: inter, OCSPResponderURL: o.ocspURL}
	for _, u := range strings.Split(o.ocspNonceOptional, ",") {
		if u = strings.TrimSpace(u); u != "" {
			card.OCSPNonceOptional = append(card.OCSPNonceOptional, u)
		}
	}
	switch o.revocation {
	case "on":
	case "fail-open":
		card.OnUnreachable = cardauth.FailOpen
	case "off":
		card.SkipRevocation = true
		log.Warn("card revocation checks are OFF: a revoked card can log in (development only)")
	default:
		return fmt.Errorf("-revocation: %q is not on, fail-open or off", o.revocation)
	}
	cfg.Card, cfg.AgentURL = card, o.agent
	return nil
}

// documents turns the identity document page on in cfg when the CSCA
// certificates and the agent are given.
func (o *options) documents(cfg *loginsrv.Config, devKey string, log *slog.Logger) error {
	if o.csca == "" || o.agent == "" {
		log.Info("identity document verification disabled: give -csca (the CSCA certificates) and -agent")
		return nil
	}
	for _, f := range strings.Split(o.csca, ",") {
		_, _, certs, err := web.LoadCAs(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-csca: %w", err)
		}
		cfg.CSCAs = append(cfg.CSCAs, certs...)
	}
	cfg.AgentURL = o.agent
	var err error
	cfg.DocumentKey, err = documentKey(o.docKey, devKey, log)
	return err
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
