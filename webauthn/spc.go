package webauthn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/puce-id/puce/identity"
)

// Secure Payment Confirmation (W3C SPC, https://w3c.github.io/secure-payment-confirmation/,
// cited below as "SPC §anchor"): the browser itself shows the amount, the
// payee and the payment instrument in a dialog of its own, and the
// authenticator's signature covers a clientDataJSON of type "payment.get"
// whose "payment" member repeats what the dialog showed. The server checks
// that member against the payment it asked for. go-webauthn knows only
// "webauthn.get"; this file checks what it cannot (the client data type and
// the payment member) and leaves the rest of WebAuthn's §7.2 to it.

// SPCMethod is the payment method identifier of SPC (SPC §sctn-authentication).
const SPCMethod = "secure-payment-confirmation"

// spcClientDataType is CollectedClientData.type of an SPC assertion (SPC
// §sctn-payment-extension-registration, authentication client extension
// processing, step "In step 10").
const spcClientDataType = "payment.get"

// Sentinels of SPC approvals; each also matches identity's sentinels.
var (
	// ErrPaymentMismatch: the payment data the authenticator signed (the
	// clientDataJSON "payment" member: RP ID, top origin, payee, total,
	// instrument) is not what the server asked the browser to show (SPC
	// §sctn-verifying-assertion, the steps after step 13). It matches
	// identity.ErrTransactionMismatch and identity.ErrInvalidResponse.
	ErrPaymentMismatch = identity.Sentinel("webauthn: the signed payment data is not the payment shown", identity.ErrTransactionMismatch, identity.ErrInvalidResponse)

	// ErrNotPayment: FinishSPC was given an assertion whose client data is
	// not of type "payment.get" (a plain WebAuthn assertion, made without
	// the browser's payment dialog), or which carries no payment member
	// (SPC §sctn-verifying-assertion, step 11). It matches
	// identity.ErrInvalidResponse.
	ErrNotPayment = identity.Sentinel("webauthn: not a Secure Payment Confirmation assertion", identity.ErrInvalidResponse)
)

// PaymentInstrument is the means of payment SPC's dialog shows and the
// authenticator signs (SPC §sctn-paymentcredentialinstrument-dictionary):
// the bank's name for the holder's account or card, and its icon.
type PaymentInstrument struct {
	// DisplayName names the instrument ("Current account ****3000").
	DisplayName string `json:"displayName"`
	// Icon is the URL of its icon. A data: URL is best: the icon then
	// travels inside the signed data, so the signature covers the very
	// image shown (SPC §sctn-paymentcredentialinstrument-dictionary).
	Icon string `json:"icon"`
	// Details is an optional second line.
	Details string `json:"details,omitempty"`
}

// SPCOptions says what the browser's dialog shows besides the
// transaction. The page that calls SPC must be one of the factor's origins
// and the top-level document.
type SPCOptions struct {
	// Instrument is required.
	Instrument PaymentInstrument
	// PayeeOrigin is the payee's web origin, shown beside the payee's name
	// (optional).
	PayeeOrigin string
	// TotalLabel labels the total in the Payment Request; "Total" when
	// empty. The label is not signed (SPC signs only the amount).
	TotalLabel string
}

// spcState is the State of an SPC challenge: go-webauthn's session and the
// payment member the signed client data must carry.
type spcState struct {
	gowebauthn.SessionData
	Payment *spcPayment `json:"puce_spc,omitempty"`
}

// spcPayment is CollectedClientAdditionalPaymentData (SPC
// §sctn-collectedclientadditionalpaymentdata-dictionary), as the server
// expects it and as the browser signs it.
type spcPayment struct {
	RPID        string  `json:"rpId"`
	TopOrigin   string  `json:"topOrigin"`
	PayeeName   *string `json:"payeeName,omitempty"`
	PayeeOrigin *string `json:"payeeOrigin,omitempty"`
	// PaymentEntitiesLogos is never asked for by this server, so any logo
	// in signed data was not one it had shown.
	PaymentEntitiesLogos []json.RawMessage `json:"paymentEntitiesLogos,omitempty"`
	Total                *spcAmount        `json:"total"`
	Instrument           *spcInstrument    `json:"instrument"`
	// RP is the member's older name; when present it equals rpId (SPC
	// §sctn-collectedclientadditionalpaymentdata-dictionary, note on rpId).
	RP *string `json:"rp,omitempty"`
	// BrowserBoundPublicKey is recorded by browsers that keep a browser
	// bound key; not used here.
	BrowserBoundPublicKey string `json:"browserBoundPublicKey,omitempty"`
}

// spcAmount is a PaymentCurrencyAmount (W3C Payment Request).
type spcAmount struct {
	Currency string `json:"currency"`
	Value    string `json:"value"`
}

// spcInstrument is PaymentCredentialInstrument as signed;
// iconMustBeShown defaults to true (SPC
// §sctn-paymentcredentialinstrument-dictionary).
type spcInstrument struct {
	DisplayName     string  `json:"displayName"`
	Icon            string  `json:"icon"`
	IconMustBeShown *bool   `json:"iconMustBeShown,omitempty"`
	Details         *string `json:"details,omitempty"`
}

// SPCPayeeName is the payee as SPC's dialog shows it for tx: the payee's
// name and account (an IBAN in groups of four), so that the holder sees
// the account the money goes to. SPC has no member for an account, and a
// payee name alone would let a payment to another account of the same name
// look identical; the account is bound by the challenge as well (the
// transaction's digest), but only what the dialog shows is what the holder
// confirms.
func SPCPayeeName(tx identity.Transaction) (string, error) {
	c, err := canonicalTx(tx)
	if err != nil {
		return "", err
	}
	var acct strings.Builder
	for i, r := range c.PayeeAccount {
		if i > 0 && i%4 == 0 {
			acct.WriteByte(' ')
		}
		acct.WriteRune(r)
	}
	return c.PayeeName + ", " + acct.String(), nil
}

// canonicalTx returns tx with its fields in canonical form (the amount with
// the currency's minor digits, the account without spaces).
func canonicalTx(tx identity.Transaction) (*identity.Transaction, error) {
	b, err := tx.Canonical()
	if err != nil {
		return nil, err
	}
	return identity.ParseTransaction(b)
}

// BeginEnrollPayment starts registering a credential for Secure Payment
// Confirmation: as BeginEnroll, with the "payment" extension
// ({"payment": {"isPayment": true}}, SPC §sctn-registration) and the
// authenticator selection SPC demands of it — a platform authenticator, a
// discoverable credential, user verification required (SPC
// §sctn-payment-extension-registration, registration client extension
// processing: the browser throws a TypeError otherwise). FinishEnroll
// completes it and marks the Record with Payment.
func (f *Factor) BeginEnrollPayment(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	return f.beginEnroll(ctx, req, true)
}

// spcSelection adapts a registration's options to SPC's registration rules.
func spcSelection(sel protocol.AuthenticatorSelection, exts []gowebauthn.ExtensionOption) (protocol.AuthenticatorSelection, []gowebauthn.ExtensionOption) {
	sel.AuthenticatorAttachment = protocol.Platform
	sel.ResidentKey = protocol.ResidentKeyRequirementRequired
	sel.UserVerification = protocol.VerificationRequired
	return sel, append(exts, gowebauthn.WithExtension("payment", map[string]any{"isPayment": true}))
}

// BeginSPC starts the approval of req.Transaction by req.Subject through
// Secure Payment Confirmation. Like BeginApprove, the WebAuthn challenge is
// the transaction's digest and a fresh nonce, single use and bound to the
// subject, the origin and the transaction; the subject must hold a
// credential registered with BeginEnrollPayment (identity.ErrNotEnrolled
// otherwise).
//
// The Payload is JSON for the Payment Request constructor:
//
//	{"methodData": [{"supportedMethods": "secure-payment-confirmation",
//	                 "data": {"challenge": B64URL, "rpId": ..., "credentialIds": [B64URL, ...],
//	                          "instrument": {...}, "payeeName": ..., "payeeOrigin": ..., "timeout": MS}}],
//	 "details": {"total": {"label": "Total", "amount": {"currency": "EUR", "value": "100.00"}}}}
//
// The page decodes challenge and credentialIds from base64url to
// ArrayBuffers, calls new PaymentRequest(methodData, details).show() and
// posts response.details (a PublicKeyCredential, toJSON) to FinishSPC after
// response.complete("success"). payeeName is SPCPayeeName(tx).
func (f *Factor) BeginSPC(ctx context.Context, req identity.Request, opts SPCOptions) (*identity.Challenge, error) {
	if req.Subject == "" || req.Transaction == nil {
		return nil, fmt.Errorf("%w: webauthn: an SPC approval needs the subject and the transaction", identity.ErrBadInput)
	}
	in := opts.Instrument
	if in.DisplayName == "" || in.Icon == "" {
		return nil, fmt.Errorf("%w: webauthn: SPC needs the instrument's display name and icon", identity.ErrBadInput)
	}
	origin, err := f.ceremonyOrigin(req.Origin)
	if err != nil {
		return nil, err
	}
	// The page calling SPC is the top-level document: a framed call (by a
	// merchant's page, SPC §sctn-use-case-merchant-authentication) carries
	// crossOrigin true, which this factor refuses as for any assertion.
	top := origin
	tx, err := canonicalTx(*req.Transaction)
	if err != nil {
		return nil, err
	}
	payee, err := SPCPayeeName(*tx)
	if err != nil {
		return nil, err
	}
	recs, err := f.records(ctx, req.Subject)
	if err != nil {
		return nil, err
	}
	var ids [][]byte
	for _, r := range recs {
		if r.Payment {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: webauthn: %q has no credential registered for payments", identity.ErrNotEnrolled, req.Subject)
	}
	challenge, err := approvalChallenge(tx)
	if err != nil {
		return nil, err
	}
	// The session is go-webauthn's, as for a login with an allow list of
	// the payment credentials; its options are not sent, the Payment
	// Request below is (SPC §sctn-steps-to-respond-to-a-payment-request
	// builds the same request options in the browser, user verification
	// "required").
	u := &user{handle: recs[0].UserHandle}
	for _, r := range recs {
		if r.Payment {
			u.creds = append(u.creds, r.credential())
		}
	}
	_, sess, err := f.wa.BeginLogin(u, gowebauthn.WithChallenge(challenge),
		gowebauthn.WithUserVerification(protocol.VerificationRequired), gowebauthn.WithLoginOrigin(origin))
	if err != nil {
		return nil, fmt.Errorf("webauthn: begin SPC: %w", err)
	}
	want := &spcPayment{
		RPID:       f.cfg.RPID,
		TopOrigin:  top,
		PayeeName:  &payee,
		Total:      &spcAmount{Currency: tx.Currency, Value: tx.Amount},
		Instrument: &spcInstrument{DisplayName: in.DisplayName, Icon: in.Icon},
	}
	if opts.PayeeOrigin != "" {
		po, err := canonicalOrigin(opts.PayeeOrigin)
		if err != nil {
			return nil, err
		}
		want.PayeeOrigin = &po
	}
	if in.Details != "" {
		want.Instrument.Details = &in.Details
	}
	label := opts.TotalLabel
	if label == "" {
		label = "Total"
	}
	ttl := f.svc.ChallengeTTL
	if ttl <= 0 {
		ttl = identity.DefaultChallengeTTL
	}
	// SPC §sctn-securepaymentconfirmationrequest-dictionary: at most an hour.
	timeout := min(ttl, time.Hour).Milliseconds()
	data := map[string]any{
		"challenge":     base64.RawURLEncoding.EncodeToString(challenge),
		"rpId":          f.cfg.RPID,
		"credentialIds": encodeIDs(ids),
		"instrument":    in,
		"payeeName":     payee,
		"timeout":       timeout,
	}
	if want.PayeeOrigin != nil {
		data["payeeOrigin"] = *want.PayeeOrigin
	}
	payload := map[string]any{
		"methodData": []any{map[string]any{"supportedMethods": SPCMethod, "data": data}},
		"details": map[string]any{"total": map[string]any{"label": label,
			"amount": map[string]string{"currency": tx.Currency, "value": tx.Amount}}},
	}
	return f.issue(ctx, identity.PurposeApprove, req, payload, &spcState{SessionData: *sess, Payment: want})
}

func encodeIDs(ids [][]byte) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = base64.RawURLEncoding.EncodeToString(id)
	}
	return out
}

// canonicalOrigin checks an origin (scheme://host[:port]) and writes it as
// browsers serialise it.
func canonicalOrigin(o string) (string, error) {
	host := o
	if _, rest, ok := strings.Cut(o, "://"); ok {
		host, _, _ = strings.Cut(rest, ":")
	}
	// checkOrigin's RP ID test passes trivially against the origin's own host.
	return checkOrigin(o, strings.ToLower(host))
}

// FinishSPC verifies the PublicKeyCredential that the SPC payment handler
// returned for a challenge of BeginSPC, answered for resp.Transaction, and
// returns a proof carrying the transaction's digest for
// identity.Policy.Approve. It is SPC §sctn-verifying-assertion:
//
//   - step 11: the client data type is "payment.get" (ErrNotPayment);
//   - steps 5, 12, 13 and WebAuthn's others (credential offered, challenge,
//     origin, RP ID hash, user presence and verification, signature, sign
//     count) are go-webauthn's and Finish's, as for a login;
//   - after step 13: the payment member names this RP ID, the expected top
//     origin, the payee name and origin shown, no logo, the total of the
//     transaction and the instrument shown (ErrPaymentMismatch).
//
// The other errors are FinishApprove's; a replayed or reused challenge is
// identity.ErrReplayed or identity.ErrUnknownChallenge, an answer for
// another transaction identity.ErrTransactionMismatch.
func (f *Factor) FinishSPC(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	parsed, err := parseAssertion(resp.Data)
	if err != nil {
		return nil, err
	}
	// A client data that is no payment.get is refused once the challenge
	// is taken, so that the refusal is audited and the challenge spent.
	got, notPayment := spcClientPayment(parsed.Raw.AssertionResponse.ClientDataJSON)
	if errors.Is(notPayment, ErrMalformedResponse) {
		return nil, notPayment
	}
	return f.svc.Approve(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		var st spcState
		if err := json.Unmarshal(ch.State, &st); err != nil || st.Payment == nil {
			return fmt.Errorf("%w: webauthn: the challenge was not issued for Secure Payment Confirmation", identity.ErrChallengeMismatch)
		}
		if err := checkSignedDigest(ch, &st.SessionData); err != nil {
			return err
		}
		if notPayment != nil {
			return notPayment
		}
		if !parsed.Response.AuthenticatorData.Flags.UserVerified() {
			return ErrUserNotVerified
		}
		// The type is checked; go-webauthn's client data step compares it
		// with "webauthn.get", so the parsed copy says so. The signature is
		// verified over the raw clientDataJSON, which keeps "payment.get".
		parsed.Response.CollectedClientData.Type = protocol.AssertCeremony
		if err := f.verify(ctx, ch, ev, parsed, p); err != nil {
			return err
		}
		// After step 13, checked on signed data only: the signature held.
		if err := st.Payment.check(got); err != nil {
			return err
		}
		p.Claims["spc"] = "true"
		return nil
	})
}

// spcClientPayment reads the payment member of a clientDataJSON, which
// must be of type "payment.get" (SPC §sctn-verifying-assertion, step 11
// in place of WebAuthn's "webauthn.get"). Errors: ErrMalformedResponse
// (not JSON), ErrNotPayment.
func spcClientPayment(clientDataJSON []byte) (*spcPayment, error) {
	var cd struct {
		Type    string          `json:"type"`
		Payment json.RawMessage `json:"payment"`
	}
	if err := json.Unmarshal(clientDataJSON, &cd); err != nil {
		return nil, malformed("client data", err)
	}
	if cd.Type != spcClientDataType {
		return nil, fmt.Errorf("%w: client data type %q", ErrNotPayment, cd.Type)
	}
	var got spcPayment
	if len(cd.Payment) == 0 || string(cd.Payment) == "null" {
		return nil, fmt.Errorf("%w: no payment member", ErrNotPayment)
	}
	if err := json.Unmarshal(cd.Payment, &got); err != nil {
		return nil, fmt.Errorf("%w: the payment member: %v", ErrNotPayment, err)
	}
	return &got, nil
}

// check compares the signed payment member with the expected one (SPC
// §sctn-verifying-assertion, the steps inserted after step 13).
func (want *spcPayment) check(got *spcPayment) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrPaymentMismatch, what) }
	switch {
	case got.RPID != want.RPID:
		return bad("rpId")
	case got.RP != nil && *got.RP != got.RPID:
		return bad("rp and rpId differ")
	case got.TopOrigin != want.TopOrigin:
		return bad("topOrigin")
	case !sameOptional(got.PayeeName, want.PayeeName):
		return bad("payeeName")
	case !sameOptional(got.PayeeOrigin, want.PayeeOrigin):
		return bad("payeeOrigin")
	case len(got.PaymentEntitiesLogos) != 0:
		// The strict ordered subset of no logo is no logo.
		return bad("paymentEntitiesLogos")
	case got.Total == nil || !sameAmount(*got.Total, *want.Total):
		return bad("total")
	case got.Instrument == nil || got.Instrument.DisplayName != want.Instrument.DisplayName ||
		got.Instrument.Icon != want.Instrument.Icon || !sameOptional(got.Instrument.Details, want.Instrument.Details):
		return bad("instrument")
	case got.Instrument.IconMustBeShown != nil && !*got.Instrument.IconMustBeShown:
		// The server asked for the default, true: an icon the browser may
		// have left out is not the instrument shown.
		return bad("instrument.iconMustBeShown")
	}
	return nil
}

func sameOptional(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// sameAmount compares a PaymentCurrencyAmount: the same currency (ISO 4217
// codes, which Payment Request compares without regard to case) and the
// same value once both are in canonical form ("100.0" is "100.00"); a value
// that is no decimal at all differs.
func sameAmount(got, want spcAmount) bool {
	if !strings.EqualFold(got.Currency, want.Currency) {
		return false
	}
	probe := identity.Transaction{Amount: got.Value, Currency: want.Currency, PayeeName: "-", PayeeAccount: "-"}
	c, err := canonicalTx(probe)
	return err == nil && c.Amount == want.Value
}

// SPCKind names SPC approvals where a router needs a name apart from the
// factor's own, such as httpauth.ApprovalOnly(SPCKind, approver) beside
// the factor itself. The proofs are still of Kind: add SPCKind to
// identity.Policy.ApprovalKinds for the route, Kind stays for the proofs.
const SPCKind identity.Kind = "webauthn-spc"

// SPCApprover is Secure Payment Confirmation as an approver with
// BeginApprove and FinishApprove (httpauth.Approver): BeginSPC with the
// options Options gives for the request, and FinishSPC.
type SPCApprover struct {
	Factor *Factor
	// Options gives what the dialog shows besides the transaction (the
	// instrument, whose name may depend on the account) for a request.
	Options func(ctx context.Context, req identity.Request) (SPCOptions, error)
}

// BeginApprove is BeginSPC.
func (a *SPCApprover) BeginApprove(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	if a.Options == nil {
		return nil, fmt.Errorf("%w: webauthn: SPCApprover needs Options", identity.ErrBadInput)
	}
	opts, err := a.Options(ctx, req)
	if err != nil {
		return nil, err
	}
	return a.Factor.BeginSPC(ctx, req, opts)
}

// FinishApprove is FinishSPC.
func (a *SPCApprover) FinishApprove(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	return a.Factor.FinishSPC(ctx, resp)
}
