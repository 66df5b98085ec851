// Command ocratoken is a software OCRA token (RFC 6287) for trying payment
// approvals with examples/login: the kind of challenge–response token a bank
// hands out, whose question the holder types in and whose response the
// holder types back into the page.
//
//	ocratoken -enroll -db puce-login.db -user demo -token token.json
//	ocratoken -token token.json -question 300010000
//
// -enroll makes a token (a fresh random key and serial, the suite of
// -suite), enrols it for -user in the login server's database with its key
// sealed by the server's sealer (-sealer-keys or PUCE_SEALER_KEYS, else the
// development key the server keeps beside its SQLite file), and writes the
// token to -token. The same user signing up later finds it enrolled.
//
// -question answers a question with the token of -token and moves its
// counter on (for a token the account page issued, whose key the page
// shows, examples/login's "token" command answers with a counter given by
// hand). For an approval the page shows the question derived from the
// payment (ocra.QuestionFor): the last four digits of the payee's account,
// then the amount in minor units (an alphanumeric question has the currency
// between them); the token repeats what it reads there, so the holder checks
// the payee and amount before answering.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/totp/ocra"
)

// DefaultSuite is the suite of the tokens examples/login issues on its
// account page: it counts (C), so that the same payment's question gets a
// new response each time, and takes 12-digit questions: the account's last
// four digits and amounts up to 8 digits in minor units (HOTP-SHA256, 8
// digits; RFC 6287 §6).
const DefaultSuite = "OCRA-1:HOTP-SHA256-8:C-QN12"

// Token is the token file: what a bank prints on the token's letter.
type Token struct {
	Serial string `json:"serial"`
	User   string `json:"user"`
	Suite  string `json:"suite"`
	// Key is the shared secret, in hex.
	Key string `json:"key"`
	// Counter is the next counter value (the suite's C).
	Counter uint64 `json:"counter"`
}

func main() {
	enroll := flag.Bool("enroll", false, "make a token and enrol it for -user in -db")
	db := flag.String("db", "puce-login.db", "the login server's database (SQLite file or postgres:// URL), for -enroll")
	user := flag.String("user", "demo", "the user the token is enrolled for, with -enroll")
	suite := flag.String("suite", DefaultSuite, "OCRA suite of a new token, with -enroll")
	sealerKeys := flag.String("sealer-keys", os.Getenv("PUCE_SEALER_KEYS"), "the login server's sealer keys (env PUCE_SEALER_KEYS); its development key beside the SQLite file when empty")
	auditKey := flag.String("audit-key", os.Getenv("PUCE_AUDIT_KEY"), "the login server's audit key (env PUCE_AUDIT_KEY), which seals the enrolment's audit record; its development key beside the SQLite file when empty")
	tokenFile := flag.String("token", "ocra-token.json", "the token file")
	question := flag.String("question", "", "the question to answer")
	flag.Parse()
	var err error
	switch {
	case *enroll:
		err = enrollToken(context.Background(), os.Stdout, *db, *sealerKeys, *auditKey, *user, *suite, *tokenFile)
	case *question != "":
		err = answer(os.Stdout, *tokenFile, *question)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocratoken:", err)
		os.Exit(1)
	}
}

// enrollToken makes a token, enrols it for user and writes it to file.
func enrollToken(ctx context.Context, out io.Writer, dsn, sealerKeys, auditKey, user, suite, file string) error {
	store, err := web.OpenStore(ctx, dsn, auditKey, io.Discard)
	if err != nil {
		return err
	}
	defer store.Close()
	devKey := ""
	if store.Engine() == "sqlite" && dsn != ":memory:" {
		// Where examples/login keeps its development key.
		devKey = strings.TrimPrefix(dsn, "sqlite:") + ".dev-sealer-key"
	}
	sealer, err := web.Sealer(sealerKeys, devKey, io.Discard)
	if err != nil {
		return err
	}
	f, err := ocra.New(&identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}, sealer)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	rand.Read(key)
	serial := make([]byte, 4)
	rand.Read(serial)
	t := Token{Serial: "puce-" + hex.EncodeToString(serial), User: user, Suite: suite, Key: hex.EncodeToString(key)}
	if _, err := f.Import(ctx, identity.Subject(user), t.Serial, "OCRA test token", suite, key, nil, "local"); err != nil {
		return fmt.Errorf("enrol the token for %s: %w", user, err)
	}
	if err := save(file, &t); err != nil {
		return err
	}
	fmt.Fprintf(out, "OCRA test token %s enrolled for %q\n  suite %s\n  key   %s (hex, sealed in the database)\n  file  %s\n", t.Serial, user, suite, t.Key, file)
	return nil
}

// answer prints the response to question and moves the counter on.
func answer(out io.Writer, file, question string) error {
	t, err := load(file)
	if err != nil {
		return err
	}
	s, err := ocra.ParseSuite(t.Suite)
	if err != nil {
		return err
	}
	key, err := hex.DecodeString(t.Key)
	if err != nil {
		return fmt.Errorf("%s: the key is not hex", file)
	}
	question = strings.Join(strings.Fields(question), "")
	resp, err := s.Response(key, ocra.Input{Question: question, Counter: t.Counter})
	if err != nil {
		return err
	}
	if s.Counter {
		t.Counter++
		if err := save(file, t); err != nil {
			return err
		}
	}
	// What a signing token shows before it answers (ocra.QuestionFor).
	switch {
	case s.QuestionFormat == ocra.Numeric && len(question) > 4:
		fmt.Fprintf(out, "payee account ending %s, amount %s (minor units)\n", question[:4], question[4:])
	case s.QuestionFormat == ocra.Alphanumeric && len(question) > 7:
		fmt.Fprintf(out, "payee account ending %s, amount %s %s (minor units)\n", question[:4], question[4:7], question[7:])
	}
	fmt.Fprintln(out, resp)
	return nil
}

func load(file string) (*Token, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil || t.Suite == "" || t.Key == "" {
		return nil, errors.Join(fmt.Errorf("%s is not a token file", file), err)
	}
	return &t, nil
}

// save writes the token file, readable by its owner only: it holds the key.
func save(file string, t *Token) error {
	b, _ := json.MarshalIndent(t, "", "  ")
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
