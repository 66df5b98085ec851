package loginsrv

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/puce-id/puce/identity"
)

// spcRequest is the Payment Request the server hands the page for SPC
// (webauthn.Factor.BeginSPC).
type spcRequest struct {
	MethodData []struct {
		SupportedMethods string `json:"supportedMethods"`
		Data             struct {
			Challenge     string          `json:"challenge"`
			RPID          string          `json:"rpId"`
			CredentialIDs []string        `json:"credentialIds"`
			Instrument    json.RawMessage `json:"instrument"`
			PayeeName     string          `json:"payeeName"`
		} `json:"data"`
	} `json:"methodData"`
	Details struct {
		Total struct {
			Amount struct{ Currency, Value string } `json:"amount"`
		} `json:"total"`
	} `json:"details"`
}

// spcAssert answers the Payment Request as a browser's SPC dialog does
// (SPC §sctn-steps-to-respond-to-a-payment-request): client data of type
// "payment.get" whose payment member repeats what the dialog showed — the
// amount shown is amount — signed by the device's passkey with the user
// verified.
func (d *device) spcAssert(t *testing.T, req spcRequest, amount string) json.RawMessage {
	t.Helper()
	m := req.MethodData[0].Data
	var inst map[string]any
	json.Unmarshal(m.Instrument, &inst)
	cd, _ := json.Marshal(map[string]any{
		"type": "payment.get", "challenge": m.Challenge, "origin": d.rp.Origin, "crossOrigin": false,
		"payment": map[string]any{"rpId": m.RPID, "topOrigin": d.rp.Origin, "payeeName": m.PayeeName,
			"total": map[string]string{"currency": req.Details.Total.Amount.Currency, "value": amount}, "instrument": inst},
	})
	d.cred.Counter++
	rpHash := sha256.Sum256([]byte(m.RPID))
	auth := append(rpHash[:], 0x05) // user present, user verified
	auth = binary.BigEndian.AppendUint32(auth, d.cred.Counter)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), auth...), cdHash[:]...))
	sig, err := d.cred.Key.Sign(digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	id := b64(d.cred.ID)
	out, _ := json.Marshal(map[string]any{"id": id, "rawId": id, "type": "public-key", "response": map[string]string{
		"clientDataJSON": b64(cd), "authenticatorData": b64(auth), "signature": b64(sig), "userHandle": b64(d.auth.Options.UserHandle)}})
	return out
}

// TestPaymentSPC: a passkey registered for payments on the account page
// approves through Secure Payment Confirmation. The approval page offers
// the payment dialog; its Payment Request names the amount, the payee with
// the IBAN and the account's instrument; the signed payment.get answer
// approves and the account lists the payment as approved by SPC. A dialog
// that showed 100.01 EUR, a page that posts 100.01 EUR, and a plain
// WebAuthn assertion on the SPC route are refused; the same passkey still
// answers a plain approval where the browser has no SPC.
func TestPaymentSPC(t *testing.T) {
	clk := &clock{}
	var origin string
	_, store, _ := startServer(t, clk, func(cfg *Config) {
		origin = strings.Replace(cfg.Origin, "127.0.0.1", "localhost", 1)
		cfg.Origin = origin
	})
	alice := newAccount(t, origin, clk, "alice")
	phone := newDevice(origin, virtualwebauthn.AuthenticatorOptions{})

	page := alice.c.get("/account")
	must(t, page, `href="/enroll/payment"`)
	page = alice.c.get("/enroll/payment")
	must(t, page, "Register this device for payments")
	opts := options(t, page)
	for _, want := range []string{`"payment":{"isPayment":true}`, `"authenticatorAttachment":"platform"`, `"userVerification":"required"`} {
		if !strings.Contains(opts, want) {
			t.Fatalf("the registration options lack %s: %s", want, opts)
		}
	}
	page = alice.c.post(page, "/enroll/payment", url.Values{"credential": {phone.create(t, opts)}, "name": {"phone"}})
	must(t, page, "Passkey for payments added")
	must(t, page, "Secure Payment Confirmation")

	begin := func(page string) (approval, spcRequest) {
		t.Helper()
		status, a := alice.c.approveStep(page, "webauthn-spc", "begin", struct{}{})
		if status != 200 {
			t.Fatalf("SPC begin: %d %s", status, a.Error)
		}
		var req spcRequest
		if err := json.Unmarshal(a.Payload, &req); err != nil {
			t.Fatal(err)
		}
		return a, req
	}
	page = alice.c.startPayment(payForm)
	must(t, page, `data-spc="1"`)
	a, req := begin(page)
	m := req.MethodData[0]
	if m.SupportedMethods != "secure-payment-confirmation" || m.Data.PayeeName != "Muster GmbH, DE89 3704 0044 0532 0130 00" ||
		req.Details.Total.Amount.Value != "100.00" || !strings.Contains(string(m.Data.Instrument), "current account of alice") {
		t.Fatalf("Payment Request: %s", a.Payload)
	}

	// The dialog showed 100.01 EUR; the page posts 100.01 EUR; a plain
	// assertion comes to the SPC route.
	if status, _ := alice.c.finishApproval(page, "webauthn-spc", a, phone.spcAssert(t, req, "100.01"), nil); status == 200 {
		t.Fatal("a dialog that showed 100.01 EUR approved the payment of 100.00")
	}
	a, req = begin(page)
	if status, _ := alice.c.finishApproval(page, "webauthn-spc", a, phone.spcAssert(t, req, "100.00"), func(tx map[string]any) { tx["amount"] = "100.01" }); status == 200 {
		t.Fatal("the page's 100.01 EUR was approved")
	}
	a, _ = begin(page)
	var pr spcRequest
	json.Unmarshal(a.Payload, &pr)
	plainAssert := phone.get(t, `{"publicKey":{"challenge":"`+pr.MethodData[0].Data.Challenge+`","rpId":"localhost"}}`)
	if status, _ := alice.c.finishApproval(page, "webauthn-spc", a, json.RawMessage(plainAssert), nil); status == 200 {
		t.Fatal("a plain assertion passed for SPC")
	}
	if n := payments(t, store, "alice"); n != 0 {
		t.Fatalf("refused approvals made %d payments", n)
	}
	// Each refusal for its own reason, in the audit trail (newest first).
	recs, err := store.AuditEvents(context.Background(), "alice", 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"not a Secure Payment Confirmation assertion", "another transaction", "not the payment shown: total"} {
		if e := recs[i].Event; e.Action != "approve" || e.Result != identity.Failure || !strings.Contains(e.Reason, want) {
			t.Fatalf("audit record %d: %+v, want a refused approval saying %q", i, e, want)
		}
	}

	a, req = begin(page)
	if status, e := alice.c.finishApproval(page, "webauthn-spc", a, phone.spcAssert(t, req, "100.00"), nil); status != 200 {
		t.Fatalf("SPC finish: %d %s", status, e.Error)
	}
	paid(t, alice.c, "your passkey in your browser&#39;s payment dialog (Secure Payment Confirmation)")
	page = alice.c.get("/account")
	must(t, page, "webauthn (passkey, SPC)")
	must(t, page, "confirmed in the browser&#39;s payment dialog (SPC)")

	// A browser without SPC: the page's way out, and the same passkey in a
	// plain approval.
	page = alice.c.startPayment(payForm)
	page = alice.c.get("/pay/approve?method=webauthn&plain=1")
	if strings.Contains(page, `data-spc="1"`) {
		t.Fatal("plain=1 still offers the payment dialog")
	}
	must(t, page, `href="/pay/approve?method=webauthn&amp;plain=1">Try again`)
	status, pa := alice.c.approveStep(page, "webauthn", "begin", struct{}{})
	if status != 200 {
		t.Fatalf("plain begin: %d %s", status, pa.Error)
	}
	if status, e := alice.c.finishApproval(page, "webauthn", pa, json.RawMessage(phone.get(t, string(pa.Payload))), nil); status != 200 {
		t.Fatalf("plain finish: %d %s", status, e.Error)
	}
	paid(t, alice.c, "your security key or passkey.")
	if n := payments(t, store, "alice"); n != 2 {
		t.Fatalf("%d payments, want 2", n)
	}
}
