package httpauth_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/totp"
	"github.com/puce-id/puce/totp/ocra"
	"github.com/puce-id/puce/webauthn"
)

// sentinels is every exported sentinel error of the server-side packages
// and the public status it must map to. TestEverySentinelListed keeps it
// complete: a new Err* variable without a line here fails.
var sentinels = map[string]struct {
	err    error
	status int
}{
	"identity.ErrNotEnrolled":         {identity.ErrNotEnrolled, 401},
	"identity.ErrExpired":             {identity.ErrExpired, 400},
	"identity.ErrReplayed":            {identity.ErrReplayed, 401},
	"identity.ErrThrottled":           {identity.ErrThrottled, 429},
	"identity.ErrInvalidResponse":     {identity.ErrInvalidResponse, 401},
	"identity.ErrUntrusted":           {identity.ErrUntrusted, 403},
	"identity.ErrRevoked":             {identity.ErrRevoked, 403},
	"identity.ErrUnknownChallenge":    {identity.ErrUnknownChallenge, 400},
	"identity.ErrChallengeMismatch":   {identity.ErrChallengeMismatch, 401},
	"identity.ErrExists":              {identity.ErrExists, 409},
	"identity.ErrChanged":             {identity.ErrChanged, 409},
	"identity.ErrStepUpRequired":      {identity.ErrStepUpRequired, 403},
	"identity.ErrBadInput":            {identity.ErrBadInput, 400},
	"identity.ErrBusy":                {identity.ErrBusy, 503},
	"identity.ErrRateLimited":         {identity.ErrRateLimited, 429},
	"identity.ErrUnseal":              {identity.ErrUnseal, 500},
	"identity.ErrWeakPassword":        {identity.ErrWeakPassword, 400},
	"identity.ErrPasswordMismatch":    {identity.ErrPasswordMismatch, 401},
	"identity.ErrFactorUnavailable":   {identity.ErrFactorUnavailable, 503},
	"identity.ErrAuditBroken":         {identity.ErrAuditBroken, 500},
	"identity.ErrNoSession":           {identity.ErrNoSession, 401},
	"identity.ErrCannotLink":          {identity.ErrCannotLink, 403},
	"identity.ErrTransaction":         {identity.ErrTransaction, 400},
	"identity.ErrAmount":              {identity.ErrAmount, 400},
	"identity.ErrIBAN":                {identity.ErrIBAN, 400},
	"identity.ErrTransactionMismatch": {identity.ErrTransactionMismatch, 401},

	"totp/ocra.ErrMalformedResponse": {ocra.ErrMalformedResponse, 400},
	"totp/ocra.ErrQuestionTooShort":  {ocra.ErrQuestionTooShort, 403},
	"totp/ocra.ErrCurrency":          {ocra.ErrCurrency, 403},
	"totp/ocra.ErrPayee":             {ocra.ErrPayee, 403},
	"totp/ocra.ErrSuite":             {ocra.ErrSuite, 400},
	"totp/ocra.ErrInput":             {ocra.ErrInput, 400},

	"pcsc/cardauth/ocsp.ErrUnavailable":  {ocsp.ErrUnavailable, 503},
	"pcsc/cardauth/ocsp.ErrUnacceptable": {ocsp.ErrUnacceptable, 403},
	"pcsc/cardauth/ocsp.ErrRevoked":      {ocsp.ErrRevoked, 403},
	"webauthn.ErrUserNotVerified":        {webauthn.ErrUserNotVerified, 401},
	"webauthn.ErrPaymentMismatch":        {webauthn.ErrPaymentMismatch, 401},
	"webauthn.ErrNotPayment":             {webauthn.ErrNotPayment, 401},
	"pcsc/esign.ErrKeyUsage":             {esign.ErrKeyUsage, 422},
	"pcsc/esign.ErrExtKeyUsage":          {esign.ErrExtKeyUsage, 422},
	"pcsc/esign.ErrRevoked":              {esign.ErrRevoked, 403},
	"pcsc/esign.ErrTimestamp":            {esign.ErrTimestamp, 422},
	"pcsc/esign.ErrAuthorityRevoked":     {esign.ErrAuthorityRevoked, 422},
	"pcsc/esign.ErrRevocationUnknown":    {esign.ErrRevocationUnknown, 503},

	"identity/httpauth.ErrCSRF":                 {httpauth.ErrCSRF, 403},
	"identity/httpauth.ErrRateLimited":          {httpauth.ErrRateLimited, 429},
	"identity/httpauth.ErrUnsupportedMediaType": {httpauth.ErrUnsupportedMediaType, 415},
	"identity/httpauth.ErrCannotEndSessions":    {httpauth.ErrCannotEndSessions, 500},
	"identity/httpauth.ErrTooLarge":             {httpauth.ErrTooLarge, 413},
	"identity/httpauth.ErrUnknownFactor":        {httpauth.ErrUnknownFactor, 404},

	// A server misconfigured (no audit key on a sealed trail): the
	// operator's to fix, and nothing of it is the user's.
	"identity/sqlstore.ErrNoAuditKey": {sqlstore.ErrNoAuditKey, 500},

	"totp.ErrMalformedCode": {totp.ErrMalformedCode, 400},
	"totp.ErrBadSecret":     {totp.ErrBadSecret, 400},
	"totp.ErrBadURI":        {totp.ErrBadURI, 400},

	"webauthn.ErrMalformedResponse":   {webauthn.ErrMalformedResponse, 400},
	"webauthn.ErrClonedAuthenticator": {webauthn.ErrClonedAuthenticator, 401},

	"pcsc/cardauth.ErrMalformedToken":       {cardauth.ErrMalformedToken, 400},
	"pcsc/cardauth.ErrUnsupportedAlgorithm": {cardauth.ErrUnsupportedAlgorithm, 400},
	"pcsc/cardauth.ErrBadSignature":         {cardauth.ErrBadSignature, 401},
	"pcsc/cardauth.ErrCertificateNotValid":  {cardauth.ErrCertificateNotValid, 403},
	"pcsc/cardauth.ErrKeyUsage":             {cardauth.ErrKeyUsage, 403},
	"pcsc/cardauth.ErrUntrustedCA":          {cardauth.ErrUntrustedCA, 403},
	"pcsc/cardauth.ErrOCSP":                 {cardauth.ErrOCSP, 403},
	"pcsc/cardauth.ErrOCSPUnavailable":      {cardauth.ErrOCSPUnavailable, 503},
	"pcsc/cardauth.ErrRevoked":              {cardauth.ErrRevoked, 403},
	"pcsc/cardauth.ErrUnknownCard":          {cardauth.ErrUnknownCard, 401},

	"pcsc/esign.ErrMalformed":        {esign.ErrMalformed, 400},
	"pcsc/esign.ErrDocumentAltered":  {esign.ErrDocumentAltered, 422},
	"pcsc/esign.ErrRequest":          {esign.ErrRequest, 400},
	"pcsc/esign.ErrBadSignature":     {esign.ErrBadSignature, 422},
	"pcsc/esign.ErrUntrustedSigner":  {esign.ErrUntrustedSigner, 422},
	"pcsc/esign.ErrUnsupported":      {esign.ErrUnsupported, 422},
	"pcsc/esign.ErrTimeNotProven":    {esign.ErrTimeNotProven, 422},
	"pcsc/esign.ErrNoValidationData": {esign.ErrNoValidationData, 503},
	"pcsc/esign.ErrNotAccountCard":   {esign.ErrNotAccountCard, 403},
	"pcsc/esign.ErrOtherCertificate": {esign.ErrOtherCertificate, 422},

	"pcsc/esign/pades.ErrMalformed":   {pades.ErrMalformed, 400},
	"pcsc/esign/pades.ErrTooLarge":    {pades.ErrTooLarge, 413},
	"pcsc/esign/pades.ErrUnsupported": {pades.ErrUnsupported, 422},
	"pcsc/esign/pades.ErrNoSignature": {pades.ErrNoSignature, 422},
	"pcsc/esign/pades.ErrChanged":     {pades.ErrChanged, 422},
	"pcsc/esign/pades.ErrRequest":     {pades.ErrRequest, 400},
}

// serverPackages are the module's packages whose errors reach a web
// backend: their directories and everything beneath them.
var serverPackages = []string{"identity", "totp", "webauthn", "pcsc/cardauth", "pcsc/esign"}

// notServed are packages beneath those that no server returns errors from:
// test tools.
var notServed = []string{"pcsc/cardauth/ocspresponder", "identity/identitytest"}

// scanSentinels lists the exported package-level Err* variables of the
// server packages, read from the sources as "dir.ErrName".
func scanSentinels(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..")
	var found []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if name := d.Name(); rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "internal" || slices.Contains(notServed, rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		served := false
		for _, p := range serverPackages {
			if dir == p || strings.HasPrefix(dir, p+"/") {
				served = true
			}
		}
		if !served || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") && len(n.Name) > 3 && unicode.IsUpper(rune(n.Name[3])) {
						found = append(found, dir+"."+n.Name)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 30 {
		t.Fatalf("the scan found only %d sentinels: it is not reading the module", len(found))
	}
	return found
}

func TestEverySentinelListed(t *testing.T) {
	found := scanSentinels(t)
	for _, name := range found {
		if _, ok := sentinels[name]; !ok {
			t.Errorf("%s has no line in sentinels: add it, with the status httpauth.Public must give it (and a rule in errors.go if none fits)", name)
		}
	}
	for name := range sentinels {
		if !slices.Contains(found, name) {
			t.Errorf("sentinels lists %s, which the sources no longer declare", name)
		}
	}
}

// leaks reports what of err's own text or of the added detail the public
// message shows.
func leaks(msg string, err error) []string {
	var out []string
	low := strings.ToLower(msg)
	for _, s := range []string{err.Error(), "secret detail", "1234", "identity:", "totp:", "webauthn:", "cardauth:", "esign:", "httpauth:", "*", "%!"} {
		if strings.Contains(low, strings.ToLower(s)) {
			out = append(out, s)
		}
	}
	// Nor the sentinel's own words after its package prefix ("wrong
	// password", "certificate revoked").
	text := err.Error()
	if i := strings.LastIndex(text, ": "); i >= 0 && len(text)-i > 12 && strings.Contains(low, strings.ToLower(text[i+2:])) {
		out = append(out, text[i+2:])
	}
	return out
}

func TestPublicLeaksNothing(t *testing.T) {
	for name, c := range sentinels {
		status, msg := httpauth.Public(c.err)
		if status != c.status {
			t.Errorf("%s: status %d, want %d", name, status, c.status)
		}
		if msg == "" {
			t.Errorf("%s: empty message", name)
		}
		if l := leaks(msg, c.err); l != nil {
			t.Errorf("%s: public message %q shows %q", name, msg, l)
		}
		wrapped := fmt.Errorf("%w: secret detail 1234", c.err)
		ws, wm := httpauth.Public(wrapped)
		if ws != status || wm != msg {
			t.Errorf("%s wrapped with detail: %d %q, bare: %d %q", name, ws, wm, status, msg)
		}
		if l := leaks(wm, wrapped); l != nil {
			t.Errorf("%s wrapped: public message %q shows %q", name, wm, l)
		}
		// Twice wrapped, as a store error inside a factor error is.
		deep := fmt.Errorf("factor: %w", fmt.Errorf("store: %w: row 1234", c.err))
		if ds, dm := httpauth.Public(deep); ds != status || dm != msg {
			t.Errorf("%s wrapped twice: %d %q", name, ds, dm)
		}
	}
}

// The typed errors carry counters and waits; the message shows none, and
// the wait goes to Retry-After only.
func TestPublicTypedErrors(t *testing.T) {
	cases := []struct {
		err        error
		status     int
		retryAfter time.Duration
	}{
		{&identity.ThrottledError{RetryAfter: 1234 * time.Millisecond, Failures: 1234}, 429, 2 * time.Second},
		{&identity.ThrottledError{RetryAfter: 30 * time.Second, Locked: true, Failures: 1234}, 429, 30 * time.Second},
		{&identity.ThrottledError{Locked: true, Failures: 1234}, 429, 0},
		{&identity.BusyError{RetryAfter: 1234 * time.Millisecond}, 503, 2 * time.Second},
		{&identity.RateLimitedError{RetryAfter: 2500 * time.Millisecond}, 429, 3 * time.Second},
		{&httpauth.RateLimitError{RetryAfter: 1234 * time.Millisecond, Addr: "192.0.2.34"}, 429, 2 * time.Second},
		{&identity.StepUpError{Action: "secret detail 1234", Need: identity.Level3, MaxAge: time.Minute, Have: identity.Level2}, 403, 0},
		{&http.MaxBytesError{Limit: 1234}, 413, 0},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("login: %w", c.err)
		status, msg := httpauth.Public(wrapped)
		if status != c.status {
			t.Errorf("%T: status %d, want %d", c.err, status, c.status)
		}
		if l := leaks(msg, c.err); l != nil || strings.Contains(msg, "AAL") || strings.Contains(msg, "30") {
			t.Errorf("%T: public message %q shows %q", c.err, msg, l)
		}
		if got := httpauth.RetryAfter(wrapped); got != c.retryAfter {
			t.Errorf("%v: RetryAfter %s, want %s", c.err, got, c.retryAfter)
		}
	}
	// A lock an administrator must lift says so, unlike a wait.
	_, wait := httpauth.Public(&identity.ThrottledError{RetryAfter: time.Second})
	_, lock := httpauth.Public(&identity.ThrottledError{Locked: true})
	if wait == lock {
		t.Error("a permanent lock and a short wait give the same message")
	}
	if s, m := httpauth.Public(nil); s != 200 || m != "" {
		t.Errorf("nil: %d %q", s, m)
	}
	if s, m := httpauth.Public(errors.New("pq: relation puce_sessions does not exist at 10.0.0.7")); s != 500 || strings.Contains(m, "pq") || strings.Contains(m, "10.0") {
		t.Errorf("unknown error: %d %q", s, m)
	}
}

// A wrong password, a wrong code, a bad card signature, an unknown card
// and an unknown account look the same from outside.
func TestOneAnswerForEveryWrongFactor(t *testing.T) {
	wrong := []error{
		identity.ErrPasswordMismatch,
		fmt.Errorf("%w: no password for %q", identity.ErrNotEnrolled, "mallory"),
		fmt.Errorf("%w: the code does not match", identity.ErrInvalidResponse),
		cardauth.ErrBadSignature,
		cardauth.ErrUnknownCard,
		fmt.Errorf("%w: assertion signature", identity.ErrInvalidResponse),
		webauthn.ErrClonedAuthenticator,
	}
	s0, m0 := httpauth.Public(wrong[0])
	for _, err := range wrong[1:] {
		if s, m := httpauth.Public(err); s != s0 || m != m0 {
			t.Errorf("%v: %d %q, a wrong password: %d %q", err, s, m, s0, m0)
		}
	}
}

func TestWriteErrorRetryAfter(t *testing.T) {
	a := memApp(t)
	w := &bodyRecorder{headerRecorder: headerRecorder{h: http.Header{}}}
	r, _ := http.NewRequest("POST", origin+"/totp", nil)
	a.m.WriteError(w, r, fmt.Errorf("totp: %w", &identity.ThrottledError{RetryAfter: 90 * time.Second, Failures: 7}))
	if w.status != 429 || w.h.Get("Retry-After") != "90" || w.h.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", w.status, w.h)
	}
	if !strings.Contains(w.body.String(), `"error":`) || strings.Contains(w.body.String(), "7") {
		t.Fatalf("body %s", w.body.String())
	}
	// A nil error is a caller's slip: no panic, and no success either.
	w = &bodyRecorder{headerRecorder: headerRecorder{h: http.Header{}}}
	a.m.WriteError(w, r, nil)
	if w.status != 500 {
		t.Fatalf("WriteError(nil): status %d", w.status)
	}
}
