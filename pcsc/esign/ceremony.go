package esign

// Signing a document as a ceremony, like a login: Begin prepares the
// signature for the holder's card and keeps it as a challenge in the
// identity store; Finish consumes it once, assembles the .p7s from the
// card's signature and checks it as a receiver would. Between the two the
// pending signature lives in the store, not in a server's memory: it
// survives a restart, and a Finish may reach another instance than its
// Begin. The signer must be the card enrolled on the account.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
)

// Kind is the kind of the signing ceremony's challenges and audit events:
// no factor's Finish can consume them.
const Kind identity.Kind = "esign"

// ErrNotAccountCard: the signing certificate is not that of a card
// enrolled on the account — another holder's card, or a certificate of
// another CA under the same name — (same subject, issuer and authority key
// identifier as an enrolled card's certificate, cardauth.Factor.Holder),
// or the account has no active card. Wraps cardauth.ErrUnknownCard, and so identity.ErrNotEnrolled.
var ErrNotAccountCard = fmt.Errorf("%w: the document was to be signed with a card not enrolled on the account", cardauth.ErrUnknownCard)

// CeremonyConfig configures a Ceremony. Cards and Verify.Roots are
// required.
type CeremonyConfig struct {
	// Cards is the card factor whose enrolled cards may sign: the signing
	// certificate (slot 9C) must belong to the holder of one of the
	// account's cards.
	Cards *cardauth.Factor
	// Verify is how Finish checks the assembled signature, as anyone
	// receiving it would: Roots (required) and Intermediates, Purposes,
	// and OCSP to refuse a revoked signer (default: the card factor's
	// checker, none when its Config skips revocation). Time and Now
	// default to the services' clock.
	Verify VerifyOptions
	// Chain are the certificates put into each signature after the
	// signer's (its issuing CAs), so that a receiver can build the path.
	Chain []*x509.Certificate
}

// Ceremony signs documents with the account's card, through the identity
// services' challenge store, throttle and audit trail. It is safe for
// concurrent use; instances over one store are interchangeable.
type Ceremony struct {
	svc *identity.Services
	cfg CeremonyConfig
}

// NewCeremony returns the signing ceremony over the core services.
func NewCeremony(svc *identity.Services, cfg CeremonyConfig) (*Ceremony, error) {
	if svc == nil || svc.Store == nil {
		return nil, fmt.Errorf("%w: esign: services with a store are required", identity.ErrBadInput)
	}
	if cfg.Cards == nil || cfg.Verify.Roots == nil {
		return nil, fmt.Errorf("%w: esign: the card factor and the trusted CAs (Verify.Roots) are required", identity.ErrBadInput)
	}
	if cfg.Verify.OCSP == nil {
		// A signer whose card is revoked is refused as the card is at
		// login: the factor's checker, nil when its Config skips
		// revocation.
		cfg.Verify.OCSP = cfg.Cards.Revocation()
	}
	return &Ceremony{svc: svc, cfg: cfg}, nil
}

// SignRequest is the Payload of a signing challenge: what the holder's side
// needs to sign. JSON carries the byte fields in standard base64.
type SignRequest struct {
	// SignedAttributes is the DER SET the signature covers; a holder's
	// agent checks that its message digest is the document it shows
	// (SignOnCard, or CheckSignedAttributes).
	SignedAttributes []byte `json:"signedAttributes"`
	// Digest is the SHA-256 of SignedAttributes: what the card signs
	// (cardauth.SignDigest with crypto.SHA256).
	Digest []byte `json:"digest"`
	// DocumentDigest is the SHA-256 of the document.
	DocumentDigest []byte `json:"documentDigest"`
	// SigningTime is the time claimed in the attributes.
	SigningTime time.Time `json:"signingTime"`
}

// ParseSignRequest decodes a signing challenge's Payload on the holder's
// side. It checks the shape only; SignOnCard also checks what the card is
// to sign.
func ParseSignRequest(payload []byte) (*SignRequest, error) {
	var r SignRequest
	if len(payload) > MaxSignatureSize {
		return nil, fmt.Errorf("%w: signing request of %d bytes", identity.ErrBadInput, len(payload))
	}
	if err := json.Unmarshal(payload, &r); err != nil || len(r.Digest) != sha256.Size || len(r.SignedAttributes) == 0 {
		return nil, fmt.Errorf("%w: not a signing request", identity.ErrBadInput)
	}
	return &r, nil
}

// pendingState is a challenge's State: the signature being made. Nothing
// in it is secret; the document itself is not kept.
type pendingState struct {
	Certificate      []byte    `json:"certificate"`
	SignedAttributes []byte    `json:"signedAttributes"`
	DocumentDigest   []byte    `json:"documentDigest"`
	SigningTime      time.Time `json:"signingTime"`
}

// Begin prepares the signature of document by req.Subject with the card
// whose signing certificate is cert (read from the card, e.g. with
// cardauth.SigningCertificate), and keeps it as a challenge bound to the
// subject and req.Origin, single use, for the services' ChallengeTTL. The
// challenge's Payload is a SignRequest in JSON.
//
// It refuses early what Finish would: ErrNotAccountCard for a card that is
// not the account's, ErrKeyUsage or ErrExtKeyUsage for a certificate not
// for signing, ErrUntrustedSigner for one that does not chain to
// Verify.Roots now, and ErrUnsupported for a key esign cannot sign with.
func (c *Ceremony) Begin(ctx context.Context, req identity.Request, document []byte, cert *x509.Certificate) (*identity.Challenge, error) {
	if req.Subject == "" || cert == nil {
		return nil, fmt.Errorf("%w: esign: a signature needs the subject and the signing certificate", identity.ErrBadInput)
	}
	now := c.svc.Now()
	if _, err := c.signer(ctx, req.Subject, cert, now); err != nil {
		return nil, err
	}
	p, err := Prepare(document, cert, now)
	if err != nil {
		return nil, err
	}
	doc := sha256.Sum256(document)
	payload, err := json.Marshal(SignRequest{SignedAttributes: p.SignedAttributes, Digest: p.Digest, DocumentDigest: doc[:], SigningTime: p.SigningTime})
	if err != nil {
		return nil, err
	}
	state, err := json.Marshal(pendingState{Certificate: cert.Raw, SignedAttributes: p.SignedAttributes, DocumentDigest: doc[:], SigningTime: p.SigningTime})
	if err != nil {
		return nil, err
	}
	return c.svc.Issue(ctx, Kind, identity.PurposeSign, req, payload, state)
}

// signer checks that cert may sign for subject at now: for signing,
// chaining to the trusted CAs, and the holder's enrolled card. It returns
// the card's credential.
func (c *Ceremony) signer(ctx context.Context, subject identity.Subject, cert *x509.Certificate, now time.Time) (*identity.Credential, error) {
	if err := CheckSigningCertificate(cert, c.cfg.Verify, now); err != nil {
		return nil, err
	}
	return AccountCard(ctx, c.cfg.Cards, subject, cert)
}

// CheckSigningCertificate is the check a signing ceremony's Begin makes of
// the card's certificate before preparing anything: meant for signing
// (opts.Purposes, else ErrKeyUsage or ErrExtKeyUsage) and chaining to
// opts.Roots at time at (else ErrUntrustedSigner). Ceremonies for other
// formats (pades) make the same check.
func CheckSigningCertificate(cert *x509.Certificate, opts VerifyOptions, at time.Time) error {
	if err := checkPurpose(cert, opts.Purposes); err != nil {
		return err
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: opts.Roots, Intermediates: opts.Intermediates,
		CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: %v", ErrUntrustedSigner, err)
	}
	return nil
}

// AccountCard returns the credential of subject's card whose holder the
// signing certificate cert names (cardauth.Factor.Holder: same subject,
// issuer and authority key identifier), or ErrNotAccountCard — also for an
// account without an active card. Both ceremonies (this one and pades')
// ask it at Begin and again at Finish.
func AccountCard(ctx context.Context, cards *cardauth.Factor, subject identity.Subject, cert *x509.Certificate) (*identity.Credential, error) {
	cred, err := cards.Holder(ctx, subject, cert)
	if errors.Is(err, identity.ErrNotEnrolled) {
		return nil, fmt.Errorf("%w (%s)", ErrNotAccountCard, cert.Subject)
	}
	return cred, err
}

// Signed is a finished signature.
type Signed struct {
	// P7S is the detached CMS SignedData (CAdES-B), the content of a .p7s
	// file, which `openssl cms -verify` accepts with the document.
	P7S []byte
	// Report is the verification Finish made of it.
	Report *Report
	// CredentialID names the account's card that signed.
	CredentialID string
}

// Finish consumes the signing challenge resp answers (resp.Data is the
// card's signature of the SignRequest's Digest), assembles the signature
// of document and verifies it as a receiver would. It audits the outcome
// as a "sign" event naming the card. The document must be the one given
// to Begin.
//
// Errors: the challenge errors of identity.Services (ErrUnknownChallenge,
// ErrReplayed for a second answer, ErrExpired, ErrChallengeMismatch for
// another subject or origin) and identity.ErrThrottled; ErrDocumentAltered
// for another document; ErrBadSignature for a signature that does not
// verify; ErrNotAccountCard when the card is no longer enrolled on the
// account; the errors of VerifyContext.
func (c *Ceremony) Finish(ctx context.Context, resp identity.Response, document []byte) (*Signed, error) {
	var out *Signed
	err := c.svc.Finish(ctx, Kind, identity.PurposeSign, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		var st pendingState
		if err := json.Unmarshal(ch.State, &st); err != nil {
			return fmt.Errorf("esign: signing challenge %s: %w", ch.ID, err)
		}
		cert, err := x509.ParseCertificate(st.Certificate)
		if err != nil {
			return fmt.Errorf("esign: signing challenge %s: %w", ch.ID, err)
		}
		doc := sha256.Sum256(document)
		if subtle.ConstantTimeCompare(doc[:], st.DocumentDigest) != 1 {
			return ErrDocumentAltered
		}
		// Asked again: the card may have been removed from the account
		// since Begin. Its purpose and chain are VerifyContext's, below,
		// once: a chain costs more than the rest of Finish.
		cred, err := AccountCard(ctx, c.cfg.Cards, ch.Subject, cert)
		if err != nil {
			return err
		}
		ev.CredentialID = cred.ID
		d := sha256.Sum256(st.SignedAttributes)
		p := &Pending{cert: cert, SignedAttributes: st.SignedAttributes, Digest: d[:], SigningTime: st.SigningTime}
		p7s, err := p.Assemble(resp.Data, c.cfg.Chain...)
		if err != nil {
			return err
		}
		opts := c.cfg.Verify
		if opts.Time.IsZero() {
			opts.Time = ev.Time
		}
		if opts.Now == nil {
			opts.Now = c.svc.Now
		}
		rep, err := VerifyContext(ctx, document, p7s, opts)
		if err != nil {
			return err
		}
		if !rep.Signer.Equal(cert) {
			return fmt.Errorf("%w: the signature names another certificate", ErrBadSignature)
		}
		ev.Reason = fmt.Sprintf("document sha256:%x signed by %s", doc[:8], cert.Subject.CommonName)
		out = &Signed{P7S: p7s, Report: rep, CredentialID: cred.ID}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ErrOtherCertificate: signed attributes name another signing certificate
// than the card's (signing-certificate-v2, RFC 5035): the card must not sign
// them. Wraps ErrBadSignature.
var ErrOtherCertificate = fmt.Errorf("%w: the signed attributes name another certificate than the card's", ErrBadSignature)

// CheckSignedAttributes is the holder's side's check before its card signs
// (what you see is what you sign): the DER SET of signed attributes a
// server sent (SignRequest.SignedAttributes) must name document — the one
// shown to the holder — by its SHA-256 (message-digest), the card's signing
// certificate cert (signing-certificate-v2), content type id-data, and a
// signing time, which it returns. Each attribute appears once with one
// value (RFC 5652 §11).
//
// Errors: ErrMalformed for attributes that do not parse or lack one of
// these; ErrDocumentAltered for another document; ErrOtherCertificate.
func CheckSignedAttributes(signedAttrs, document []byte, cert *x509.Certificate) (time.Time, error) {
	doc := sha256.Sum256(document)
	return checkAttributes(signedAttrs, doc[:], cert, true)
}

// CheckSignedAttributesDigest is CheckSignedAttributes for a holder's side
// that does not hold the signed bytes (a PDF's byte ranges, which the
// server prepared): the attributes must name messageDigest, the SHA-256
// the server states for them (pades.SignRequest.SignedRanges), and cert.
// The signing time is optional, since PAdES keeps it out of the CMS (ETSI
// EN 319 142-1 §5.4.2); it is zero when absent.
//
// It makes the card sign only the digest of signed attributes, never 32
// bytes of the server's choosing, which could be the digest of anything
// else the same key signs (a payment approval's Web eID token).
func CheckSignedAttributesDigest(signedAttrs, messageDigest []byte, cert *x509.Certificate) (time.Time, error) {
	return checkAttributes(signedAttrs, messageDigest, cert, false)
}

func checkAttributes(signedAttrs, messageDigest []byte, cert *x509.Certificate, needTime bool) (time.Time, error) {
	in := cryptobyte.String(signedAttrs)
	var set cryptobyte.String
	if len(signedAttrs) > MaxSignatureSize || !in.ReadASN1(&set, cbasn1.SET) || !in.Empty() {
		return time.Time{}, malformed("signed attributes")
	}
	sd := &signedData{eType: oidData}
	if err := sd.readAttributes(set); err != nil {
		return time.Time{}, err
	}
	if (needTime && sd.signingTime.IsZero()) || sd.certHash == nil {
		return time.Time{}, malformed("signed attributes without signing time or signing-certificate-v2")
	}
	if len(sd.messageDigest) != len(messageDigest) || subtle.ConstantTimeCompare(sd.messageDigest, messageDigest) != 1 {
		return time.Time{}, ErrDocumentAltered
	}
	var buf [64]byte
	if subtle.ConstantTimeCompare(digestOf(buf[:], sd.certHashAlg, cert.Raw), sd.certHash) != 1 {
		return time.Time{}, ErrOtherCertificate
	}
	return sd.signingTime, nil
}
