package webauthn_test

import (
	"context"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/webauthn"
)

// webauthnClient answers with a virtual authenticator. A wrong answer is an
// assertion for the enrolled credential signed by another key.
type webauthnClient struct{ d *device }

func (c webauthnClient) Answer(t *testing.T, ch *identity.Challenge, good bool) []byte {
	t.Helper()
	if len(ch.Payload) == 0 {
		// Another factor's challenge: there are no options to answer, but
		// the answer must still be well-formed so that the binding check
		// is what refuses it.
		ch = &identity.Challenge{Payload: []byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rpId":"bank.example"}}`)}
	}
	if good {
		return c.d.get(t, ch.Payload)
	}
	return c.d.forger().get(t, ch.Payload)
}

func webauthnHarness(store func(*testing.T) identity.Store) identitytest.Harness {
	return identitytest.Harness{
		Store: store,
		New: func(t *testing.T, env *identitytest.Env) identity.Authenticator {
			f, err := webauthn.New(env.Services, webauthn.Config{RPID: rpID, RPDisplayName: "Example Bank", Origins: []string{env.Origin}})
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
			d := newDevice()
			if _, err := a.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: env.Origin,
				Data: d.create(t, ch.Payload), Name: "security key"}); err != nil {
				t.Fatal(err)
			}
			return webauthnClient{d}
		},
	}
}

func TestConformance(t *testing.T) {
	identitytest.Run(t, webauthnHarness(nil))
}

func TestConformanceSQLite(t *testing.T) {
	identitytest.Run(t, webauthnHarness(func(t *testing.T) identity.Store { return sqlstoretest.SQLite(t) }))
}
