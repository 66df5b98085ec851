package totp_test

import (
	"context"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/totp"
)

// totpClient is an authenticator app holding one key, reading the suite's
// clock.
type totpClient struct {
	key   *totp.Key
	clock *identitytest.Clock
}

func (c totpClient) Answer(t *testing.T, ch *identity.Challenge, good bool) []byte {
	if good {
		return []byte(codeAt(t, c.key, c.clock.Now()))
	}
	return []byte(wrongCodeAt(t, c.key, c.clock.Now(), 1))
}

func totpHarness(store func(*testing.T) identity.Store) identitytest.Harness {
	return identitytest.Harness{
		Store: store,
		New: func(t *testing.T, env *identitytest.Env) identity.Authenticator {
			f, err := totp.New(env.Services, newSealer(t), "Example Bank")
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
		Enroll: func(t *testing.T, env *identitytest.Env, a identity.Authenticator, subject identity.Subject) identitytest.Client {
			ctx := context.Background()
			ch, err := a.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: env.Origin, UserName: string(subject) + "@bank.example"})
			if err != nil {
				t.Fatal(err)
			}
			k, err := totp.ParseURI(string(ch.Payload))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: env.Origin,
				Data: []byte(codeAt(t, k, env.Clock.Now()))}); err != nil {
				t.Fatal(err)
			}
			return totpClient{key: k, clock: env.Clock}
		},
	}
}

// recoveryClient holds a printed set and uses a fresh code for each good
// answer.
type recoveryClient struct {
	codes []string
	next  *int
}

func (c recoveryClient) Answer(t *testing.T, ch *identity.Challenge, good bool) []byte {
	if !good {
		return []byte("0000-0000-0000-0001") // 1 in 10^16 to be right
	}
	if *c.next >= len(c.codes) {
		t.Fatal("recovery client ran out of codes")
	}
	code := c.codes[*c.next]
	*c.next++
	return []byte(code)
}

func recoveryHarness(store func(*testing.T) identity.Store) identitytest.Harness {
	return identitytest.Harness{
		Store: store,
		New: func(t *testing.T, env *identitytest.Env) identity.Authenticator {
			r, err := totp.NewRecovery(env.Services, newSealer(t), 0)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		Enroll: func(t *testing.T, env *identitytest.Env, a identity.Authenticator, subject identity.Subject) identitytest.Client {
			ctx := context.Background()
			ch, err := a.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: env.Origin})
			if err != nil {
				t.Fatal(err)
			}
			codes := totp.RecoveryCodes(ch)
			if _, err := a.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: env.Origin,
				Data: []byte(codes[len(codes)-1])}); err != nil {
				t.Fatal(err)
			}
			return recoveryClient{codes: codes, next: new(int)}
		},
	}
}

func TestConformance(t *testing.T) {
	t.Run("TOTP", func(t *testing.T) { identitytest.Run(t, totpHarness(nil)) })
	t.Run("Recovery", func(t *testing.T) { identitytest.Run(t, recoveryHarness(nil)) })
}
