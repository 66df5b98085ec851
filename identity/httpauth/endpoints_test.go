package httpauth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	stdpng "image/png"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/totp"
)

func memSite(t testing.TB) *site { return newSite(t, newShared(memstore.New())) }

// publicMessage is what the endpoints answer for err.
func publicMessage(err error) (int, string) { return httpauth.Public(err) }

// A whole login over the JSON endpoints: the password, then a TOTP code.
// A wrong password, a wrong code and a replayed code read the same; each
// step renews the session.
func TestEndpointsPasswordAndTOTP(t *testing.T) {
	s := memSite(t)
	s.signUpPassword(t, "alice")
	code := s.enrollTOTP(t, "alice")
	c := &client{t: t}

	var st stateAnswer
	c.must(s, 200, "GET", "/auth/session", nil, &st)
	if st.Subject != "" || st.Complete || st.CSRFToken == "" || st.Level != "none" {
		t.Fatalf("anonymous session: %+v", st)
	}

	status, _, raw := c.call(s, "POST", "/auth/password", map[string]string{"username": "alice", "password": "wrong horse battery"})
	var wrongPassword errorAnswer
	json.Unmarshal(raw, &wrongPassword)
	if want, msg := publicMessage(identity.ErrPasswordMismatch); status != want || wrongPassword.Error != msg {
		t.Fatalf("wrong password: %d %s", status, raw)
	}

	anonymous := c.cookie
	c.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, &st)
	if st.Subject != "alice" || st.Complete || !hasKind(st.Next, totp.Kind) || len(st.Enroll) != 0 {
		t.Fatalf("after the password: %+v", st)
	}
	if c.cookie == anonymous {
		t.Fatal("the password step did not renew the session")
	}

	// A wrong code: the same answer as a wrong password.
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
	if ch.Kind != "totp" || ch.ChallengeID == "" || len(ch.Payload) != 0 {
		t.Fatalf("TOTP challenge: %+v", ch)
	}
	status, _, raw = c.call(s, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": wrongCode(code())})
	var wrong errorAnswer
	json.Unmarshal(raw, &wrong)
	if status != http.StatusUnauthorized || wrong != wrongPassword {
		t.Fatalf("wrong code: %d %s; wrong password: %q", status, raw, wrongPassword.Error)
	}

	afterPassword := c.cookie
	good := code()
	c.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
	c.must(s, 200, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": good}, &st)
	if !st.Complete || st.Subject != "alice" || st.Level != "AAL2" || c.cookie == afterPassword {
		t.Fatalf("after the code: %+v (renewed: %v)", st, c.cookie != afterPassword)
	}

	// The same code again, in another browser that knows the password:
	// refused with the answer of a wrong password, which names no code.
	other := &client{t: t}
	other.must(s, 200, "GET", "/auth/session", nil, nil)
	other.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
	other.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
	s.log.take()
	status, _, raw = other.call(s, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": good})
	var replay errorAnswer
	json.Unmarshal(raw, &replay)
	if status != http.StatusUnauthorized || replay != wrongPassword || strings.Contains(replay.Error, good) {
		t.Fatalf("replayed code: %d %s", status, raw)
	}
	// The detail stays in the log, for the server's eyes.
	if logged := s.log.take(); !strings.Contains(logged, "already used") {
		t.Fatalf("the log does not say the code was replayed: %s", logged)
	}
	// The challenge is spent: the right answer to it comes too late.
	status, _, _ = other.call(s, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": good})
	if status == 200 {
		t.Fatal("a challenge answered twice")
	}

	c.must(s, 200, "GET", "/auth/session", nil, &st)
	if !st.Complete || st.Level != "AAL2" {
		t.Fatalf("session after login: %+v", st)
	}
	c.must(s, 204, "POST", "/auth/logout", nil, nil)
	if c.cookie != "" {
		t.Fatalf("logout left cookie %q", c.cookie)
	}
}

// The endpoints guard themselves: no CSRF token, another origin, a body
// too large, a body not JSON, an unknown member, an unknown factor.
func TestEndpointsRefuse(t *testing.T) {
	s := memSite(t)
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	token := c.csrf

	c.csrf = ""
	if status, _, _ := c.call(s, "POST", "/auth/login/totp/begin", nil); status != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", status)
	}
	c.csrf = token
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
	}{
		{"too large", "/auth/password", `{"username":"` + strings.Repeat("a", httpauth.DefaultMaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge},
		{"not JSON", "/auth/password", "username=alice&password=x", http.StatusBadRequest},
		{"unknown member", "/auth/password", `{"username":"alice","password":"x","admin":true}`, http.StatusBadRequest},
		{"two values", "/auth/login/totp/begin", `{}{}`, http.StatusBadRequest},
		{"unknown factor", "/auth/login/sms/begin", nil, http.StatusNotFound},
		{"an account named at login", "/auth/login/webauthn/begin", `{"username":"alice"}`, http.StatusBadRequest},
		{"response neither string nor object", "/auth/login/totp/finish", `{"challengeId":"AAAAAAAAAAAAAAAAAAAAAA","response":123456}`, http.StatusBadRequest},
		{"anonymous enrolment", "/auth/enroll/totp/begin", nil, http.StatusForbidden},
		{"anonymous approval", "/auth/approve/webauthn/begin", nil, http.StatusForbidden},
	} {
		status, _, raw := c.call(s, "POST", tc.path, tc.body)
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, raw, tc.status)
		}
		var e errorAnswer
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			t.Errorf("%s: answer %s is not a public error", tc.name, raw)
		}
	}
}

// Enrolment over the endpoints: a new account signs up, enrols TOTP on its
// password (it has no second factor yet), and logs in with the next code.
// The password alone does not enrol a factor on an account that has one.
func TestEndpointsEnrollTOTP(t *testing.T) {
	s := memSite(t)
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	var st stateAnswer
	c.must(s, 200, "POST", "/auth/signup", map[string]string{"username": "bob", "password": "correct horse battery"}, &st)
	if st.Subject != "bob" || st.Complete || !hasKind(st.Enroll, totp.Kind) || len(st.Next) != 0 {
		t.Fatalf("after sign-up: %+v", st)
	}
	if status, _, _ := c.call(s, "POST", "/auth/signup", map[string]string{"username": "bob", "password": "another horse battery"}); status != http.StatusConflict {
		t.Fatalf("second sign-up of bob: %d", status)
	}

	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/enroll/totp/begin", nil, &ch)
	uri := unquote(t, ch.Payload)
	if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "bob") {
		t.Fatalf("enrolment payload %q", uri)
	}
	// The same key drawn for the phone's camera, ready for an <img>.
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(ch.QRCode, "data:image/png;base64,"))
	if !strings.HasPrefix(ch.QRCode, "data:image/png;base64,") || err != nil {
		t.Fatalf("QR code %.40q: %v", ch.QRCode, err)
	}
	if cfg, err := stdpng.DecodeConfig(bytes.NewReader(png)); err != nil || cfg.Width < 100 {
		t.Fatalf("QR code image: %+v, %v", cfg, err)
	}
	code := codeFor(t, s.clock, uri)
	var cred struct {
		Kind, CredentialID, Name string
	}
	c.must(s, 200, "POST", "/auth/enroll/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": code(), "name": "phone"}, &cred)
	if cred.Kind != "totp" || cred.Name != "phone" || cred.CredentialID == "" {
		t.Fatalf("credential %+v", cred)
	}

	// Now bob has a second factor: the password no longer enrols another.
	if status, _, raw := c.call(s, "POST", "/auth/enroll/totp/begin", nil); status != http.StatusForbidden {
		t.Fatalf("a second enrolment on the password alone: %d %s", status, raw)
	}
	c.must(s, 200, "GET", "/auth/session", nil, &st)
	if st.Complete || !hasKind(st.Next, totp.Kind) {
		t.Fatalf("after enrolment: %+v", st)
	}

	s.clock.Advance(30 * time.Second) // the enrolment spent its code
	c.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
	c.must(s, 200, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": code()}, &st)
	if !st.Complete || st.Level != "AAL2" {
		t.Fatalf("login with the new key: %+v", st)
	}
	// Signed in, bob may enrol more.
	c.must(s, 200, "POST", "/auth/enroll/totp/begin", nil, &ch)

	// Someone with alice's password, but not her TOTP, cannot enrol theirs.
	s.signUpPassword(t, "alice")
	s.enrollTOTP(t, "alice")
	thief := &client{t: t}
	thief.must(s, 200, "GET", "/auth/session", nil, nil)
	var stolen stateAnswer
	thief.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, &stolen)
	if len(stolen.Enroll) != 0 || !hasKind(stolen.Next, totp.Kind) {
		t.Fatalf("alice's password offers enrolment: %+v", stolen)
	}
	if status, _, _ := thief.call(s, "POST", "/auth/enroll/totp/begin", nil); status != http.StatusForbidden {
		t.Fatalf("enrolment on a stolen password: %d", status)
	}
}

// The pair of instances over one store: a login begun on one finishes on
// the other, and the session it makes is valid on both.
func TestEndpointsTwoInstances(t *testing.T) {
	run := func(t *testing.T, one, two fullStore) {
		sh := newShared(one)
		sh2 := *sh
		sh2.store = two
		a, b := newSite(t, sh), newSite(t, &sh2)
		a.signUpPassword(t, "alice")
		code := a.enrollTOTP(t, "alice")
		c := &client{t: t}
		c.must(a, 200, "GET", "/auth/session", nil, nil)
		c.must(b, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
		var ch challengeAnswer
		c.must(a, 200, "POST", "/auth/login/totp/begin", nil, &ch)
		var st stateAnswer
		c.must(b, 200, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": code()}, &st)
		if !st.Complete || st.Level != "AAL2" {
			t.Fatalf("finished on instance 2: %+v", st)
		}
		for i, s := range []*site{a, b} {
			c.must(s, 200, "GET", "/auth/session", nil, &st)
			if !st.Complete || st.Subject != "alice" {
				t.Fatalf("instance %d: %+v", i+1, st)
			}
		}
	}
	t.Run("SQLite", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "puce.db")
		run(t, sqlstoretest.SQLiteAt(t, p), sqlstoretest.SQLiteAt(t, p))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		one, second := sqlstoretest.Postgres(t)
		run(t, one, second())
	})
}

// Guessing is slowed by the throttle, and the endpoints say when to come
// back: 429 with Retry-After, the same answer for a password and a code.
func TestEndpointsThrottledSayWhen(t *testing.T) {
	s := memSite(t)
	s.signUpPassword(t, "alice")
	code := s.enrollTOTP(t, "alice")
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	throttled := func(step func() (int, http.Header, []byte)) (http.Header, errorAnswer) {
		t.Helper()
		for range 10 {
			status, h, raw := step()
			if status == http.StatusTooManyRequests {
				var e errorAnswer
				json.Unmarshal(raw, &e)
				return h, e
			}
			if status != http.StatusUnauthorized {
				t.Fatalf("a wrong guess answered %d %s", status, raw)
			}
		}
		t.Fatal("ten wrong guesses, never throttled")
		return nil, errorAnswer{}
	}
	h, pw := throttled(func() (int, http.Header, []byte) {
		return c.call(s, "POST", "/auth/password", map[string]string{"username": "alice", "password": "wrong horse battery"})
	})
	if ra := h.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("throttled password: Retry-After %q", ra)
	}
	if want, msg := publicMessage(identity.ErrThrottled); pw.Error != msg || want != http.StatusTooManyRequests {
		t.Fatalf("throttled password: %q", pw.Error)
	}

	s.clock.Advance(time.Hour) // past the delay; the idle session is gone too
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	c.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
	h, totpErr := throttled(func() (int, http.Header, []byte) {
		var ch challengeAnswer
		c.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
		return c.call(s, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": wrongCode(code())})
	})
	if h.Get("Retry-After") == "" || totpErr != pw {
		t.Fatalf("throttled code: Retry-After %q, %q", h.Get("Retry-After"), totpErr.Error)
	}
}

// Endpoints refuses a configuration it could not serve safely, and serves
// under any clean prefix.
func TestEndpointsConfig(t *testing.T) {
	s := memSite(t)
	pay := func(*http.Request, *httpauth.Session) (*identity.Transaction, error) { return nil, nil }
	for name, cfg := range map[string]httpauth.EndpointsConfig{
		"no factors":               {},
		"a factor twice":           {Factors: []identity.Authenticator{s.totp, s.totp}},
		"a nil factor":             {Factors: []identity.Authenticator{nil}},
		"prefix with a slash":      {Factors: []identity.Authenticator{s.totp}, Prefix: "/auth/"},
		"relative prefix":          {Factors: []identity.Authenticator{s.totp}, Prefix: "auth"},
		"pending without approved": {Factors: []identity.Authenticator{s.totp}, PendingPayment: pay},
	} {
		if _, err := s.m.Endpoints(cfg); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("%s: %v", name, err)
		}
	}

	api, err := s.m.Endpoints(httpauth.EndpointsConfig{Prefix: "/api/v2/auth", Factors: []identity.Authenticator{s.totp}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/api/v2/auth/session": 200, "/auth/session": 404, "/api/v2/auth/logout": 405, "/api/v2/auth/password": 404} {
		w := httptest.NewRecorder()
		api.ServeHTTP(w, httptest.NewRequest("GET", origin+path, nil))
		if w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
}
