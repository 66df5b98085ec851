package identity_test

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// Secrets at rest are sealed for their row: the ciphertext names its key and
// opens only for the credential it was sealed for.
func ExampleSealer() {
	sealer, err := identity.NewSealer("2026-11", map[string][]byte{"2026-11": identity.GenerateSealerKey()})
	if err != nil {
		panic(err)
	}
	row := identity.CredentialRef{Subject: "alice", Kind: identity.KindTOTP, ID: "phone"}
	sealed := sealer.Seal([]byte("seed bytes"), row)

	plain, err := sealer.Open(sealed, row)
	fmt.Println(string(plain), err)
	keyID, _ := identity.KeyID(sealed)
	fmt.Println("sealed with", keyID)

	other := identity.CredentialRef{Subject: "mallory", Kind: identity.KindTOTP, ID: "phone"}
	_, err = sealer.Open(sealed, other)
	fmt.Println(errors.Is(err, identity.ErrUnseal))
	// Output:
	// seed bytes <nil>
	// sealed with 2026-11
	// true
}

// A server reads its sealer keys from a secret store or the environment:
// the current key first, older ones after it so that what they sealed still
// opens. After a rotation, values sealed with the old key open as before,
// and new ones are sealed with the new key.
func ExampleParseSealer() {
	oldKey := "k1=" + base64.StdEncoding.EncodeToString(identity.GenerateSealerKey())
	before, err := identity.ParseSealer(oldKey) // os.Getenv("BANK_SEALER_KEYS")
	if err != nil {
		log.Fatal(err)
	}
	row := identity.CredentialRef{Subject: "alice", Kind: identity.KindTOTP, ID: "phone"}
	sealed := before.Seal([]byte("seed bytes"), row)

	after, err := identity.ParseSealer("k2=" + base64.StdEncoding.EncodeToString(identity.GenerateSealerKey()) + "," + oldKey)
	if err != nil {
		log.Fatal(err)
	}
	plain, err := after.Open(sealed, row)
	fmt.Println(string(plain), err)
	id, _ := identity.KeyID(after.Seal([]byte("new seed"), row))
	fmt.Println("new values sealed with", id)

	_, err = identity.ParseSealer("") // the variable was not set
	fmt.Println(errors.Is(err, identity.ErrBadInput))
	// Output:
	// seed bytes <nil>
	// new values sealed with k2
	// true
}

// Each attempt is counted before it is evaluated; after the free failures
// the wait doubles, and the error says how long.
func ExampleThrottle() {
	ctx := context.Background()
	clock := identitytest.NewClock(identitytest.Epoch())
	th := &identity.Throttle{Store: memstore.New(), Clock: clock, Free: 2, BaseDelay: time.Second, LockAfter: 10}
	for i := 1; i <= 4; i++ {
		// A real factor calls Attempt, evaluates, and calls Succeed on success.
		err := th.Attempt(ctx, "alice", identity.KindTOTP)
		fmt.Printf("attempt %d: %v\n", i, err)
	}
	clock.Advance(time.Second)
	fmt.Println("after a second:", th.Attempt(ctx, "alice", identity.KindTOTP))
	// Output:
	// attempt 1: <nil>
	// attempt 2: <nil>
	// attempt 3: <nil>
	// attempt 4: identity: throttled: 3 consecutive failures; retry after 1s
	// after a second: <nil>
}

// Timed locks grow with each failure past LockAfter, and the count goes on
// through them: at Limit the lock holds until an audited Services.Unlock.
func ExampleThrottle_timedLocks() {
	ctx := context.Background()
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: store, Clock: clock, Throttle: &identity.Throttle{Store: store, Clock: clock,
		Free: 2, LockAfter: 2, LockFor: time.Minute, Limit: 4}}
	for range 7 {
		err := svc.Throttle.Attempt(ctx, "alice", identity.KindTOTP)
		fmt.Println(err)
		var te *identity.ThrottledError
		if errors.As(err, &te) {
			clock.Advance(te.RetryAfter)
		}
	}
	fmt.Println(svc.Unlock(ctx, "alice", "admin:carol", "192.0.2.1", identity.KindTOTP))
	fmt.Println(svc.Throttle.Attempt(ctx, "alice", identity.KindTOTP))
	// Output:
	// <nil>
	// <nil>
	// identity: throttled: locked after 2 consecutive failures; retry after 1m0s
	// <nil>
	// identity: throttled: locked after 3 consecutive failures; retry after 2m0s
	// <nil>
	// identity: throttled: locked after 4 consecutive failures; an administrator must unlock the account
	// <nil>
	// <nil>
}

// Sensitive actions name what they need; a session that is too weak or too
// old gets a StepUpError saying what to ask for.
func ExamplePolicy_Authorize() {
	clock := identitytest.NewClock(identitytest.Epoch())
	policy := &identity.Policy{Clock: clock, Actions: map[string]identity.StepUp{
		"change-password": {Level: identity.Level2, MaxAge: 5 * time.Minute},
	}}
	session, _ := policy.Combine(
		identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: clock.Now()},
		identity.Proof{Subject: "alice", Kind: identity.KindTOTP, Factors: identity.Possession, Assurance: identity.Level2, Time: clock.Now()},
	)
	fmt.Println(policy.Authorize(session, "change-password"))
	clock.Advance(time.Hour)
	fmt.Println(policy.Authorize(session, "change-password"))
	// Output:
	// <nil>
	// identity: step-up required for "change-password": need AAL2 within the last 5m0s, session has AAL2
}

// Two requests change one credential from the same read: the user renames
// it while a login records its use. Written back whole, one would undo the
// other; as edits, both land.
func ExampleEditCredential() {
	ctx := context.Background()
	store := memstore.New()
	ref := identity.CredentialRef{Subject: "alice", Kind: identity.KindWebAuthn, ID: "key-1"}
	if err := store.CreateCredential(ctx, &identity.Credential{Subject: ref.Subject, Kind: ref.Kind, ID: ref.ID,
		Name: "key", Active: true, CreatedAt: identitytest.Epoch()}); err != nil {
		panic(err)
	}
	login, _ := store.Credential(ctx, ref)
	rename, _ := store.Credential(ctx, ref)

	err := identity.EditCredential(ctx, store, rename, func(c *identity.Credential) error {
		c.Name = "blue key"
		return nil
	})
	fmt.Println("rename:", err)

	// A plain update from the login's older read is refused...
	stale := *login
	stale.LastUsedAt = identitytest.Epoch().Add(time.Minute)
	fmt.Println("update:", errors.Is(store.UpdateCredential(ctx, &stale), identity.ErrChanged))
	// ...an edit reads again and applies its change on top.
	err = identity.EditCredential(ctx, store, login, func(c *identity.Credential) error {
		c.LastUsedAt = identitytest.Epoch().Add(time.Minute)
		return nil
	})
	fmt.Println("login:", err)

	c, _ := store.Credential(ctx, ref)
	fmt.Println(c.Name, c.LastUsedAt.Sub(c.CreatedAt), "revision", c.Revision)
	// Output:
	// rename: <nil>
	// update: true
	// login: <nil>
	// blue key 1m0s revision 3
}

// A factor's login runs on Services: Issue for the first request, Prove for
// the second. Prove consumes the challenge once, counts the attempt, runs the
// factor's own check, clears the throttle on success and audits the outcome;
// the check only verifies the answer and completes the proof. Here the
// "factor" asks the client to echo the challenge's payload.
func ExampleServices_Prove() {
	ctx := context.Background()
	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	const echo identity.Kind = "echo"
	finish := func(resp identity.Response) (*identity.Proof, error) {
		return svc.Prove(ctx, echo, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
			ev.CredentialID = "echo-1"
			if subtle.ConstantTimeCompare(resp.Data, ch.Payload) != 1 {
				return fmt.Errorf("%w: not the payload", identity.ErrInvalidResponse)
			}
			p.CredentialID, p.Factors, p.Assurance = "echo-1", identity.Possession, identity.Level1
			return nil
		})
	}

	req := identity.Request{Subject: "alice", Origin: "https://rp.example"}
	ch, err := svc.Issue(ctx, echo, identity.PurposeAuthenticate, req, []byte("nonce-1234"), nil)
	if err != nil {
		panic(err)
	}
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: req.Origin, Data: ch.Payload}
	proof, err := finish(resp)
	fmt.Println(proof.Subject, proof.Kind, proof.CredentialID, proof.Assurance, err)
	_, err = finish(resp) // the same challenge again
	fmt.Println(errors.Is(err, identity.ErrReplayed))

	ch, _ = svc.Issue(ctx, echo, identity.PurposeAuthenticate, req, []byte("nonce-5678"), nil)
	_, err = finish(identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: req.Origin, Data: []byte("guess")})
	fmt.Println(err)
	// Output:
	// alice echo echo-1 AAL1 <nil>
	// true
	// identity: invalid response: not the payload
}

// A payment's digest is what a factor binds its approval to: the same
// payment written another way has the same digest, one cent more another.
func ExampleTransaction_Digest() {
	tx := identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}
	a, _ := tx.Digest()
	tx.Amount, tx.PayeeAccount = "100", "de89370400440532013000"
	b, _ := tx.Digest()
	tx.Amount = "100.01"
	c, _ := tx.Digest()
	fmt.Println(a == b, a == c)
	tx.PayeeAccount = "DE88 3704 0044 0532 0130 00"
	_, err := tx.Digest()
	fmt.Println(errors.Is(err, identity.ErrTransaction))
	// Output:
	// true false
	// true
}
