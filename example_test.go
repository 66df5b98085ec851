package puce_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
)

// A login needs two factors. A password alone reaches AAL1, so the policy
// asks for a step-up; the second proof (here a stand-in for a TOTP proof, as
// a factor's Finish returns it) brings the session to AAL2.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	passwords := &identity.Passwords{
		Store:    store,
		Throttle: &identity.Throttle{Store: store},
		Audit:    store,
		// Cheap parameters for the example; servers keep the defaults.
		Params: identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	}
	policy := &identity.Policy{}

	if err := passwords.Set(ctx, "alice", "correct horse battery"); err != nil {
		panic(err)
	}
	pw, err := passwords.Verify(ctx, "alice", "correct horse battery", "192.0.2.10")
	if err != nil {
		panic(err)
	}
	_, err = policy.Combine(*pw)
	fmt.Println("password alone:", errors.Is(err, identity.ErrStepUpRequired))

	otp := identity.Proof{Subject: "alice", Kind: identity.KindTOTP, CredentialID: "phone",
		Factors: identity.Possession, Assurance: identity.Level2, Time: pw.Time}
	session, err := policy.Combine(*pw, otp)
	if err != nil {
		panic(err)
	}
	fmt.Println("with TOTP:", session.Level, session.Level.EIDAS(), session.TwoFactor())

	if _, err := store.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
		panic(err)
	}
	// Output:
	// password alone: true
	// with TOTP: AAL2 substantial true
}
