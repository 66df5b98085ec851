package identitytest_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// hmacFactor is the smallest honest factor: the client holds a key and
// answers a random nonce with its HMAC. It exists to run the conformance
// suite against the core alone.
type hmacFactor struct {
	svc    *identity.Services
	sealer *identity.Sealer
}

const kindHMAC identity.Kind = "hmac-test"

func (f *hmacFactor) Kind() identity.Kind { return kindHMAC }

func (f *hmacFactor) BeginEnroll(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	key := make([]byte, 32)
	rand.Read(key)
	// The key travels to the client in the payload; the server keeps it sealed
	// for this challenge only.
	return f.svc.Issue(ctx, kindHMAC, identity.PurposeEnroll, req, key, nil)
}

func (f *hmacFactor) FinishEnroll(ctx context.Context, resp identity.Response) (*identity.Credential, error) {
	var cred *identity.Credential
	err := f.svc.Finish(ctx, kindHMAC, identity.PurposeEnroll, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		if !hmac.Equal(resp.Data, mac(ch.Payload, []byte("enroll"))) {
			return identity.ErrInvalidResponse
		}
		c := &identity.Credential{Subject: ch.Subject, Kind: kindHMAC, ID: ch.ID.String(), Name: resp.Name, Active: true, CreatedAt: f.svc.Now()}
		c.Secret = f.sealer.Seal(ch.Payload, c.Ref())
		ev.CredentialID = c.ID
		if err := f.svc.Store.CreateCredential(ctx, c); err != nil {
			return err
		}
		cred = c
		return nil
	})
	return cred, err
}

func (f *hmacFactor) Begin(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	nonce := make([]byte, 32)
	rand.Read(nonce)
	return f.svc.Issue(ctx, kindHMAC, identity.PurposeAuthenticate, req, nonce, nil)
}

func (f *hmacFactor) Finish(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	var proof *identity.Proof
	err := f.svc.Finish(ctx, kindHMAC, identity.PurposeAuthenticate, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		creds, err := f.svc.Store.Credentials(ctx, ch.Subject, kindHMAC)
		if err != nil {
			return err
		}
		if len(creds) == 0 {
			return identity.ErrNotEnrolled
		}
		c := creds[0]
		ev.CredentialID = c.ID
		key, err := f.sealer.Open(c.Secret, c.Ref())
		if err != nil {
			return err
		}
		if !hmac.Equal(resp.Data, mac(key, ch.Payload)) {
			return fmt.Errorf("%w: MAC does not verify", identity.ErrInvalidResponse)
		}
		proof = &identity.Proof{Subject: ch.Subject, Kind: kindHMAC, CredentialID: c.ID, Factors: identity.Possession,
			Assurance: identity.Level2, Time: f.svc.Now()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return proof, nil
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

type hmacClient struct{ key []byte }

func (c hmacClient) Answer(t *testing.T, ch *identity.Challenge, good bool) []byte {
	if !good {
		return mac([]byte("not the key"), ch.Payload)
	}
	return mac(c.key, ch.Payload)
}

func hmacHarness(store func(*testing.T) identity.Store) identitytest.Harness {
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	return identitytest.Harness{
		Store: store,
		New: func(t *testing.T, env *identitytest.Env) identity.Authenticator {
			return &hmacFactor{svc: env.Services, sealer: sealer}
		},
		Enroll: func(t *testing.T, env *identitytest.Env, a identity.Authenticator, subject identity.Subject) identitytest.Client {
			ctx := context.Background()
			ch, err := a.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: env.Origin})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: env.Origin,
				Data: mac(ch.Payload, []byte("enroll")), Name: "test key"})
			if err != nil {
				t.Fatal(err)
			}
			return hmacClient{key: ch.Payload}
		},
	}
}

func TestConformanceOnCore(t *testing.T) {
	identitytest.Run(t, hmacHarness(func(*testing.T) identity.Store { return memstore.New() }))
}
