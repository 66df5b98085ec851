package webauthn_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/webauthn"
)

var instrument = webauthn.PaymentInstrument{DisplayName: "Current account ****3000",
	Icon: "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="}

// spcRequest is the part of BeginSPC's payload a browser reads.
type spcRequest struct {
	MethodData []struct {
		SupportedMethods string `json:"supportedMethods"`
		Data             struct {
			Challenge     string                     `json:"challenge"`
			RPID          string                     `json:"rpId"`
			CredentialIDs []string                   `json:"credentialIds"`
			Instrument    webauthn.PaymentInstrument `json:"instrument"`
			PayeeName     string                     `json:"payeeName"`
			PayeeOrigin   string                     `json:"payeeOrigin"`
			Timeout       int64                      `json:"timeout"`
		} `json:"data"`
	} `json:"methodData"`
	Details struct {
		Total struct {
			Label  string `json:"label"`
			Amount struct {
				Currency string `json:"currency"`
				Value    string `json:"value"`
			} `json:"amount"`
		} `json:"total"`
	} `json:"details"`
}

// spcAnswer is the browser's side of SPC, built step by step as SPC
// §sctn-steps-to-respond-to-a-payment-request and the payment extension's
// authentication processing say (with the member order Chromium 156
// writes): a CollectedClientPaymentData of type "payment.get" whose payment
// member holds rpId, topOrigin, payeeName (and payeeOrigin), the total and
// the instrument, signed by d's credential over authenticatorData ‖
// SHA-256(clientDataJSON) (WebAuthn §6.3.3). edit may change the client
// data before it is signed: a page or browser showing something else.
func (d *device) spcAnswer(t testing.TB, payload []byte, edit func(cd map[string]any)) []byte {
	t.Helper()
	var req spcRequest
	if err := json.Unmarshal(payload, &req); err != nil || len(req.MethodData) != 1 {
		t.Fatalf("SPC payload %s: %v", payload, err)
	}
	m := req.MethodData[0]
	if m.SupportedMethods != "secure-payment-confirmation" {
		t.Fatalf("payment method %q", m.SupportedMethods)
	}
	data := m.Data
	payment := map[string]any{
		"rpId":                 data.RPID,
		"topOrigin":            origin,
		"payeeName":            data.PayeeName,
		"paymentEntitiesLogos": []any{},
		"total":                map[string]any{"value": req.Details.Total.Amount.Value, "currency": req.Details.Total.Amount.Currency},
		"instrument":           map[string]any{"icon": data.Instrument.Icon, "displayName": data.Instrument.DisplayName},
	}
	if data.PayeeOrigin != "" {
		payment["payeeOrigin"] = data.PayeeOrigin
	}
	cd := map[string]any{"type": "payment.get", "challenge": data.Challenge, "origin": origin, "crossOrigin": false, "payment": payment}
	if edit != nil {
		edit(cd)
	}
	cdj, err := json.Marshal(cd)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	found := false
	for _, id := range data.CredentialIDs {
		found = found || id == base64.RawURLEncoding.EncodeToString(d.cred.ID)
	}
	if !found {
		t.Fatalf("the device's credential is not among credentialIds %v", data.CredentialIDs)
	}
	if d.counts {
		d.cred.Counter++
	}
	rpHash := sha256.Sum256([]byte(data.RPID))
	authData := append(rpHash[:], 0x05) // UP and UV: SPC asks for user verification
	authData = binary.BigEndian.AppendUint32(authData, d.cred.Counter)
	ch := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte{}, authData...), ch[:]...))
	sig, err := d.cred.Key.Sign(digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	out, _ := json.Marshal(map[string]any{
		"id": b64(d.cred.ID), "rawId": b64(d.cred.ID), "type": "public-key",
		"response": map[string]any{"authenticatorData": b64(authData), "clientDataJSON": b64(cdj),
			"signature": b64(sig), "userHandle": b64(d.auth.Options.UserHandle)},
		"clientExtensionResults": map[string]any{"payment": map[string]any{}},
	})
	return out
}

// enrollPayment registers d with the payment extension.
func (e *testEnv) enrollPayment(t testing.TB, subject identity.Subject, d *device) {
	t.Helper()
	ctx := context.Background()
	ch, err := e.f.BeginEnrollPayment(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		PublicKey struct {
			AuthenticatorSelection map[string]any `json:"authenticatorSelection"`
			Extensions             map[string]any `json:"extensions"`
		} `json:"publicKey"`
	}
	json.Unmarshal(ch.Payload, &opts)
	sel, ext := opts.PublicKey.AuthenticatorSelection, opts.PublicKey.Extensions
	// SPC §sctn-payment-extension-registration: anything else is a TypeError.
	if sel["authenticatorAttachment"] != "platform" || sel["residentKey"] != "required" || sel["userVerification"] != "required" {
		t.Fatalf("authenticatorSelection %v", sel)
	}
	if p, _ := ext["payment"].(map[string]any); p["isPayment"] != true {
		t.Fatalf("extensions %v", ext)
	}
	if _, err := e.f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: d.create(t, ch.Payload), Name: "phone"}); err != nil {
		t.Fatal(err)
	}
}

// spc begins an SPC approval of issued and answers it for answered, the
// browser's client data edited by edit.
func (e *testEnv) spc(t testing.TB, d *device, issued, answered identity.Transaction, edit func(map[string]any)) (*identity.Proof, error) {
	t.Helper()
	ctx := context.Background()
	// Past any throttle delay of earlier refusals.
	e.clock.Advance(time.Hour)
	ch, err := e.f.BeginSPC(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &issued},
		webauthn.SPCOptions{Instrument: instrument})
	if err != nil {
		t.Fatalf("BeginSPC: %v", err)
	}
	return e.f.FinishSPC(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin,
		Data: d.spcAnswer(t, ch.Payload, edit), Transaction: &answered})
}

func setPayment(key string, v any) func(map[string]any) {
	return func(cd map[string]any) { cd["payment"].(map[string]any)[key] = v }
}

// TestSPC: a phone registered for SPC approves "100.00 EUR to Muster
// GmbH, DE89…" through the browser's payment dialog; the signed payment
// data names the amount, payee and instrument; a dialog that showed 100.01
// EUR or another payee, an answer posted for another amount or IBAN, and a
// replay are refused with typed errors.
func TestSPC(t *testing.T) {
	e := newEnv(t, nil)
	phone := newDevice()
	e.enrollPayment(t, "alice", phone)
	tx := payment("100.00")
	ctx := context.Background()

	recs, _ := e.f.Credentials(ctx, "alice")
	if len(recs) != 1 || !recs[0].Payment {
		t.Fatalf("records %+v", recs)
	}

	// The payload is what the page hands to new PaymentRequest.
	ch, err := e.f.BeginSPC(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}, webauthn.SPCOptions{Instrument: instrument})
	if err != nil {
		t.Fatal(err)
	}
	var req spcRequest
	json.Unmarshal(ch.Payload, &req)
	data := req.MethodData[0].Data
	if data.PayeeName != "Muster GmbH, DE89 3704 0044 0532 0130 00" || req.Details.Total.Amount.Value != "100.00" ||
		req.Details.Total.Amount.Currency != "EUR" || data.RPID != rpID || data.Instrument != instrument || data.Timeout <= 0 {
		t.Fatalf("SPC request %s", ch.Payload)
	}
	signed, _ := base64.RawURLEncoding.DecodeString(data.Challenge)
	d, _ := tx.Digest()
	if len(signed) != 64 || string(signed[:32]) != string(d[:]) {
		t.Fatalf("the challenge %x does not start with the digest %x", signed, d)
	}

	p, err := e.f.FinishSPC(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: phone.spcAnswer(t, ch.Payload, nil), Transaction: &tx})
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Transaction) != string(d[:]) || p.Kind != webauthn.Kind || p.Assurance != identity.Level2 || p.Claims["spc"] != "true" {
		t.Fatalf("proof %+v", p)
	}
	pol := &identity.Policy{}
	if err := pol.Approve(&identity.Session{Subject: "alice"}, *p, tx); err != nil {
		t.Fatalf("Policy.Approve: %v", err)
	}

	// Replayed: the same answer to the same challenge.
	if _, err := e.f.FinishSPC(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: phone.spcAnswer(t, ch.Payload, nil), Transaction: &tx}); !errors.Is(err, identity.ErrReplayed) {
		t.Errorf("replayed: %v", err)
	}

	otherIBAN := tx
	otherIBAN.PayeeAccount = "GB82 WEST 1234 5698 7654 32"
	for _, c := range []struct {
		name     string
		answered identity.Transaction
		edit     func(map[string]any)
		want     []error
	}{
		// The dialog showed another amount or payee: the signed data says so.
		{"dialog showed 100.01 EUR", tx, setPayment("total", map[string]any{"value": "100.01", "currency": "EUR"}), []error{webauthn.ErrPaymentMismatch, identity.ErrTransactionMismatch}},
		{"dialog showed USD", tx, setPayment("total", map[string]any{"value": "100.00", "currency": "USD"}), []error{webauthn.ErrPaymentMismatch}},
		{"dialog showed another payee", tx, setPayment("payeeName", "Evil Ltd, GB82 WEST 1234 5698 7654 32"), []error{webauthn.ErrPaymentMismatch}},
		{"dialog showed another instrument", tx, setPayment("instrument", map[string]any{"icon": instrument.Icon, "displayName": "Savings"}), []error{webauthn.ErrPaymentMismatch}},
		{"dialog for another RP", tx, setPayment("rpId", "evil.example"), []error{webauthn.ErrPaymentMismatch}},
		{"framed by another site", tx, setPayment("topOrigin", "https://evil.example"), []error{webauthn.ErrPaymentMismatch}},
		{"a logo never shown", tx, setPayment("paymentEntitiesLogos", []any{map[string]any{"url": "https://evil.example/l.png", "label": "Evil"}}), []error{webauthn.ErrPaymentMismatch}},
		{"payee origin never shown", tx, setPayment("payeeOrigin", "https://evil.example"), []error{webauthn.ErrPaymentMismatch}},
		// The page posts another transaction than the one it was given.
		{"answered for 100.01 EUR", payment("100.01"), nil, []error{identity.ErrTransactionMismatch}},
		{"answered for another IBAN", otherIBAN, nil, []error{identity.ErrTransactionMismatch}},
		// A plain WebAuthn assertion, made without the payment dialog.
		{"webauthn.get", tx, func(cd map[string]any) { cd["type"] = "webauthn.get"; delete(cd, "payment") }, []error{webauthn.ErrNotPayment, identity.ErrInvalidResponse}},
		{"no payment member", tx, func(cd map[string]any) { delete(cd, "payment") }, []error{webauthn.ErrNotPayment}},
		{"called from a frame", tx, func(cd map[string]any) { cd["crossOrigin"] = true; cd["topOrigin"] = "https://shop.example" }, []error{identity.ErrInvalidResponse}},
		{"another origin", tx, func(cd map[string]any) { cd["origin"] = "https://evil.example" }, []error{identity.ErrInvalidResponse}},
	} {
		_, err := e.spc(t, phone, tx, c.answered, c.edit)
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", c.name, err, w)
			}
		}
	}

	// The same 100.00 in another spelling is the same total.
	if _, err := e.spc(t, phone, tx, tx, setPayment("total", map[string]any{"value": "100.0", "currency": "EUR"})); err != nil {
		t.Errorf("100.0 for 100.00: %v", err)
	}

	// A forged signature over other payment data is no mismatch: the
	// signature is checked first, so ErrPaymentMismatch always means the
	// holder's authenticator signed another payment.
	if _, err := e.spc(t, phone.forger(), tx, tx, setPayment("total", map[string]any{"value": "1.00", "currency": "EUR"})); errors.Is(err, webauthn.ErrPaymentMismatch) || !errors.Is(err, identity.ErrInvalidResponse) {
		t.Errorf("forged: %v", err)
	}

	// An SPC answer to a plain approval challenge, and the reverse.
	e.clock.Advance(time.Hour)
	ap, _ := e.f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
	if _, err := e.f.FinishSPC(ctx, identity.Response{ChallengeID: ap.ID, Subject: "alice", Origin: origin, Data: phone.get(t, ap.Payload), Transaction: &tx}); !errors.Is(err, identity.ErrChallengeMismatch) {
		t.Errorf("FinishSPC on a BeginApprove challenge: %v", err)
	}
	e.clock.Advance(time.Hour)
	sc, _ := e.f.BeginSPC(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}, webauthn.SPCOptions{Instrument: instrument})
	if _, err := e.f.FinishApprove(ctx, identity.Response{ChallengeID: sc.ID, Subject: "alice", Origin: origin, Data: phone.spcAnswer(t, sc.Payload, nil), Transaction: &tx}); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Errorf("FinishApprove of a payment.get assertion: %v", err)
	}
}

// TestSPCNeedsPaymentCredential: BeginSPC offers only credentials created
// with the payment extension, and needs an instrument.
func TestSPCNeedsPaymentCredential(t *testing.T) {
	e := newEnv(t, nil)
	e.enroll(t, "alice", newDevice())
	tx := payment("100.00")
	ctx := context.Background()
	if _, err := e.f.BeginSPC(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}, webauthn.SPCOptions{Instrument: instrument}); !errors.Is(err, identity.ErrNotEnrolled) {
		t.Errorf("no payment credential: %v", err)
	}
	e.enrollPayment(t, "alice", newDevice())
	if _, err := e.f.BeginSPC(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}, webauthn.SPCOptions{}); !errors.Is(err, identity.ErrBadInput) {
		t.Errorf("no instrument: %v", err)
	}
	bad := payment("100.001")
	if _, err := e.f.BeginSPC(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &bad}, webauthn.SPCOptions{Instrument: instrument}); !errors.Is(err, identity.ErrAmount) {
		t.Errorf("a tenth of a cent: %v", err)
	}
}

var _ httpauth.Approver = (*webauthn.SPCApprover)(nil)

// TestSPCApprover: the adapter an approval router (httpauth.ApprovalOnly)
// takes approves as BeginSPC/FinishSPC do, with the instrument its Options
// give, and refuses a payment shown otherwise.
func TestSPCApprover(t *testing.T) {
	e := newEnv(t, nil)
	phone := newDevice()
	e.enrollPayment(t, "alice", phone)
	a := &webauthn.SPCApprover{Factor: e.f, Options: func(ctx context.Context, req identity.Request) (webauthn.SPCOptions, error) {
		return webauthn.SPCOptions{Instrument: instrument}, nil
	}}
	tx := payment("100.00")
	ctx := context.Background()
	run := func(edit func(map[string]any)) error {
		e.clock.Advance(time.Hour)
		ch, err := a.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: phone.spcAnswer(t, ch.Payload, edit), Transaction: &tx})
		return err
	}
	if err := run(nil); err != nil {
		t.Fatal(err)
	}
	if err := run(setPayment("total", map[string]any{"value": "100.01", "currency": "EUR"})); !errors.Is(err, webauthn.ErrPaymentMismatch) {
		t.Errorf("100.01 shown: %v", err)
	}
	if _, err := (&webauthn.SPCApprover{Factor: e.f}).BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}); !errors.Is(err, identity.ErrBadInput) {
		t.Errorf("no Options: %v", err)
	}
	if err := webauthn.SPCKind.Validate(); err != nil {
		t.Error(err)
	}
}

// TestSPCNotAnsweredByPlainAssertion: a challenge of BeginSPC is answered
// only through the browser's payment dialog. A script on the page (or a
// client that skips the dialog) could otherwise ask the authenticator for
// a plain navigator.credentials.get over the same challenge — a generic
// prompt that shows neither amount nor payee — and post it to
// FinishApprove, which knows no "payment" member to check: the holder
// would approve a payment they were never shown (SPC
// §sctn-verifying-assertion step 11 requires type "payment.get"; RTS on
// SCA Article 5(1)(a)).
func TestSPCNotAnsweredByPlainAssertion(t *testing.T) {
	e := newEnv(t, nil)
	phone := newDevice()
	e.enrollPayment(t, "alice", phone)
	tx := payment("100.00")
	ctx := context.Background()
	ch, err := e.f.BeginSPC(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}, webauthn.SPCOptions{Instrument: instrument})
	if err != nil {
		t.Fatal(err)
	}
	plain := phone.spcAnswer(t, ch.Payload, func(cd map[string]any) {
		cd["type"] = "webauthn.get"
		delete(cd, "payment")
	})
	p, err := e.f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: plain, Transaction: &tx})
	if !errors.Is(err, identity.ErrChallengeMismatch) || p != nil {
		t.Fatalf("a plain assertion answered an SPC challenge through FinishApprove: %v, %+v", err, p)
	}
	// The challenge is spent all the same.
	if _, err := e.f.FinishSPC(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin,
		Data: phone.spcAnswer(t, ch.Payload, nil), Transaction: &tx}); !errors.Is(err, identity.ErrReplayed) && !errors.Is(err, identity.ErrUnknownChallenge) {
		t.Fatalf("the SPC challenge after a refused answer: %v", err)
	}
}
