package totp_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/totp"
)

// TestOathtool enrols with codes computed by OATH Toolkit's oathtool, a
// TOTP implementation puce does not use (pquerna/otp and puce's own HOTP
// are checked against each other and the RFC vectors elsewhere): the
// secret, algorithm, digits and period are read out of the enrolment URI
// with net/url, as an authenticator app would, and handed to oathtool
// (--base32, --totp=ALG, --digits, --time-step-size, --now). Its code
// enrols and logs in; its code for a time outside the window does not.
func TestOathtool(t *testing.T) {
	bin, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("oathtool not installed under CI")
		}
		t.Skip("oathtool not installed")
	}
	for _, tc := range []struct {
		name string
		opts []totp.Option
	}{
		{"default", nil},
		{"SHA256, 8 digits, 60 s", []totp.Option{totp.WithAlgorithm(totp.SHA256), totp.WithDigits(8), totp.WithPeriod(time.Minute)}},
		{"SHA512", []totp.Option{totp.WithAlgorithm(totp.SHA512)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, nil, tc.opts...)
			ch, err := e.factor.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(string(ch.Payload))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			args := []string{"--base32", "--totp=" + q.Get("algorithm"), "--digits=" + q.Get("digits"), "--time-step-size=" + q.Get("period") + "s"}
			code := func(at time.Time) string {
				t.Helper()
				out, err := exec.Command(bin, append(args, "--now=@"+fmt.Sprint(at.Unix()), q.Get("secret"))...).CombinedOutput()
				if err != nil {
					t.Fatalf("oathtool %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return strings.TrimSpace(string(out))
			}
			first := code(e.clock.Now())
			if len(first) != map[string]int{"": 6, "6": 6, "8": 8}[q.Get("digits")] {
				t.Fatalf("oathtool's code %q for %s", first, u.Redacted())
			}
			if _, err := e.factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(first)}); err != nil {
				t.Fatalf("enrol with oathtool's code: %v", err)
			}
			e.clock.Advance(5 * time.Minute)
			if _, err := e.login(t, "alice", code(e.clock.Now())); err != nil {
				t.Fatalf("login with oathtool's code: %v", err)
			}
			e.clock.Advance(10 * time.Minute)
			_, err = e.login(t, "alice", code(e.clock.Now().Add(-5*time.Minute)))
			wantErr(t, err, identity.ErrInvalidResponse, "oathtool's code of five minutes ago")
		})
	}
}
