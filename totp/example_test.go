package totp_test

import (
	"context"
	"fmt"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp"
)

// Enrol a user's authenticator app, then log in with it.
func Example() {
	ctx := context.Background()
	store := memstore.New() // sqlstore in production
	// A test clock, so that the example can move to the next time step
	// instead of waiting 30 seconds.
	clock := identitytest.NewClock(time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC))
	svc := &identity.Services{Store: store, Clock: clock, Throttle: &identity.Throttle{Store: store, Clock: clock}}
	sealer, _ := identity.NewSealer("2026-11", map[string][]byte{"2026-11": identity.GenerateSealerKey()})
	factor, err := totp.New(svc, sealer, "Example Bank")
	if err != nil {
		panic(err)
	}

	// Enrolment, first handler: show the QR code.
	ch, err := factor.BeginEnroll(ctx, identity.Request{Subject: "u-1001", Origin: "https://bank.example", UserName: "alice@example.com"})
	if err != nil {
		panic(err)
	}
	png, _ := factor.QRCode(ch) // serve as image/png; keep ch.ID in the session
	fmt.Println("QR code is a PNG:", string(png[1:4]) == "PNG")

	// The user's app scans it and shows a code.
	key, _ := totp.ParseURI(string(ch.Payload))
	app := func() string { code, _ := pqtotp.GenerateCode(key.Base32(), clock.Now()); return code }

	// Enrolment, second handler: the code the user typed activates the key.
	cred, err := factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "u-1001",
		Origin: "https://bank.example", Data: []byte(app()), Name: "phone"})
	if err != nil {
		panic(err)
	}
	fmt.Println("enrolled:", cred.Name, cred.Active)

	// Later, after the password: log in with the next code.
	clock.Advance(30 * time.Second)
	ch, _ = factor.Begin(ctx, identity.Request{Subject: "u-1001", Origin: "https://bank.example"})
	proof, err := factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "u-1001",
		Origin: "https://bank.example", Data: []byte(app())})
	if err != nil {
		panic(err)
	}
	fmt.Println("proof:", proof.Kind, proof.Factors, proof.Assurance)

	// Output:
	// QR code is a PNG: true
	// enrolled: phone true
	// proof: totp possession AAL2
}

// Issue recovery codes, then use one when the phone is lost.
func ExampleRecovery() {
	ctx := context.Background()
	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	sealer, _ := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	rec, _ := totp.NewRecovery(svc, sealer, 10)

	ch, _ := rec.BeginEnroll(ctx, identity.Request{Subject: "u-1001", Origin: "https://bank.example"})
	codes := totp.RecoveryCodes(ch) // show once, for printing
	fmt.Println(len(codes), "codes like", len(codes[0]), "characters")
	// The user types one back to show they kept them.
	if _, err := rec.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "u-1001",
		Origin: "https://bank.example", Data: []byte(codes[4])}); err != nil {
		panic(err)
	}

	ch, _ = rec.Begin(ctx, identity.Request{Subject: "u-1001", Origin: "https://bank.example"})
	proof, err := rec.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "u-1001",
		Origin: "https://bank.example", Data: []byte(codes[0])})
	if err != nil {
		panic(err)
	}
	fmt.Println(proof.Assurance, "codes left:", proof.Claims[totp.ClaimRemaining])
	// Output:
	// 10 codes like 19 characters
	// AAL1 codes left: 9
}
