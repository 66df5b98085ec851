package pades

// Signing a PDF as a ceremony, as esign.Ceremony signs other documents:
// Begin prepares the signature for the holder's card and keeps it as a
// challenge in the identity store; Finish consumes it once, puts the card's
// signature in, brings it to the deployment's level and verifies the result
// as a receiver would. The PDF never travels to the holder's side: the
// challenge's payload names it (size, SHA-256, pages) and carries the
// digest the card signs, and the update that adds the signature field,
// from which a holder's side shown the PDF rebuilds the signed bytes
// (SignRequest.Check). Nor is the PDF kept in the store: the state is the few
// values that make Prepare repeat itself byte for byte at Finish, from the
// document the application hands in again, so a pending signature stays
// small, survives a restart and may finish on another instance.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
)

// Kind is the kind of the PDF signing ceremony's challenges and audit
// events: apart from esign.Kind, so that neither ceremony's Finish consumes
// the other's challenges.
const Kind identity.Kind = "pades"

// CeremonyConfig configures a Ceremony. Cards and Verify.Roots are
// required, and for a Level from B-T on, Services.TSA with its Roots, which
// Verify.TSARoots and TSAIntermediates default to.
type CeremonyConfig struct {
	// Cards is the card factor whose enrolled cards may sign: the signing
	// certificate (slot 9C) must belong to the holder of one of the
	// account's cards (cardauth.Factor.Holder).
	Cards *cardauth.Factor
	// Level is what every signature is brought to (zero: LevelBLT).
	Level Level
	// Services reach the timestamping authority and the OCSP responders
	// (Finish); Now defaults to the identity services' clock, Roots and
	// Intermediates to Verify's, and OCSP to the card factor's client
	// (cardauth.Config.OCSP), so that one setting serves logins and
	// signatures.
	Services Services
	// Verify is how Finish checks the signed PDF, as anyone receiving it
	// would, and how Begin checks the signer's certificate (Roots,
	// Intermediates, Purposes); its OCSP, which refuses a revoked signer,
	// defaults to the card factor's checker (none when its Config skips
	// revocation).
	Verify VerifyOptions
	// Chain are the signer's issuing CA certificates, put into each
	// signature so that a receiver can build the path.
	Chain []*x509.Certificate
	// Sign is the template of each signature's dictionary and appearance:
	// Name, Reason, Location, ContactInfo, ContentsSize, Appearance.
	// Certificate, Level and Time are the ceremony's.
	Sign SignOptions
}

// Ceremony signs PDF documents with the account's card, through the
// identity services' challenge store, throttle and audit trail. It is safe
// for concurrent use; instances over one store with one configuration are
// interchangeable.
type Ceremony struct {
	svc *identity.Services
	cfg CeremonyConfig
}

// NewCeremony returns the PDF signing ceremony over the core services.
func NewCeremony(svc *identity.Services, cfg CeremonyConfig) (*Ceremony, error) {
	if svc == nil || svc.Store == nil {
		return nil, fmt.Errorf("%w: pades: services with a store are required", identity.ErrBadInput)
	}
	if cfg.Cards == nil || cfg.Verify.Roots == nil {
		return nil, fmt.Errorf("%w: pades: the card factor and the trusted CAs (Verify.Roots) are required", identity.ErrBadInput)
	}
	if cfg.Level == 0 {
		cfg.Level = LevelBLT
	}
	if cfg.Level < LevelBB || cfg.Level > LevelBLTA {
		return nil, fmt.Errorf("%w: pades: no level %d", identity.ErrBadInput, cfg.Level)
	}
	if cfg.Verify.TSARoots == nil && cfg.Services.TSA != nil && cfg.Services.TSA.Roots != nil {
		// The authority the ceremony asks is the one its signatures are
		// checked against, unless the configuration says otherwise.
		cfg.Verify.TSARoots, cfg.Verify.TSAIntermediates = cfg.Services.TSA.Roots, cfg.Services.TSA.Intermediates
	}
	if cfg.Level >= LevelBT && (cfg.Services.TSA == nil || cfg.Verify.TSARoots == nil) {
		return nil, fmt.Errorf("%w: pades: level %v needs a timestamping authority (Services.TSA) and its CAs (Services.TSA.Roots or Verify.TSARoots)", identity.ErrBadInput, cfg.Level)
	}
	if cfg.Level >= LevelBT {
		// Found now rather than at the first Finish, after the holder
		// typed the PIN and the card signed for nothing.
		if u, err := url.Parse(cfg.Services.TSA.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: pades: level %v needs the timestamping authority's http:// or https:// URL (Services.TSA.URL), not %q", identity.ErrBadInput, cfg.Level, cfg.Services.TSA.URL)
		}
	}
	if cfg.Verify.OCSP == nil {
		// A signer whose card is revoked is refused as the card is at
		// login, at every level: below B-LT no validation data would
		// show it. The factor's checker, nil when its Config skips
		// revocation.
		cfg.Verify.OCSP = cfg.Cards.Revocation()
	}
	if cfg.Services.OCSP == nil {
		// The responders that answer for the cards at login answer for
		// their signatures' validation data too.
		if r := cfg.Cards.Revocation(); r != nil && r.Client != nil {
			cfg.Services.OCSP = r.Client
		}
	}
	if cfg.Services.Now == nil {
		cfg.Services.Now = svc.Now
	}
	if cfg.Services.Roots == nil {
		cfg.Services.Roots, cfg.Services.Intermediates = cfg.Verify.Roots, cfg.Verify.Intermediates
	}
	if cfg.Verify.Now == nil {
		cfg.Verify.Now = svc.Now
	}
	return &Ceremony{svc: svc, cfg: cfg}, nil
}

// Level is the level the ceremony's signatures reach.
func (c *Ceremony) Level() Level { return c.cfg.Level }

// SignRequest is the Payload of a PDF signing challenge: what the holder's
// side shows and what its card signs. JSON carries the byte fields in
// standard base64.
type SignRequest struct {
	// Digest is what the card signs (cardauth.SignDigest with
	// crypto.SHA256): SHA-256 of the CMS signed attributes.
	Digest []byte `json:"digest"`
	// DocumentSHA256 is SHA-256 of the PDF as the application holds it
	// (before the signature field is added), Size its length and Pages its
	// number of pages: what the holder is shown of it.
	DocumentSHA256 []byte `json:"documentSha256"`
	Size           int    `json:"size"`
	Pages          int    `json:"pages"`
	// SignedRanges is SHA-256 of the bytes the signature covers (the
	// document with its signature field, without the placeholder), the
	// message digest inside the signed attributes.
	SignedRanges []byte `json:"signedRanges"`
	// Level is the level the signature will reach ("B-LT").
	Level string `json:"level"`
	// SigningTime is the time claimed in the signature dictionary (/M).
	SigningTime time.Time `json:"signingTime"`
	// SignedAttributes is the DER SET of CMS signed attributes whose
	// SHA-256 is Digest. The holder's side checks them before its card
	// signs (Check; SignOnCard does it all) so that its card signs the
	// digest of signed attributes naming SignedRanges and its certificate,
	// not 32 bytes that could be the digest of anything else its key signs.
	SignedAttributes []byte `json:"signedAttributes"`
	// Update is the signed bytes of the incremental update that adds the
	// signature field (Pending.Update): what follows the document in the
	// bytes the signature covers, without the /Contents placeholder that
	// /ByteRange leaves out. The document followed by Update is what
	// SignedRanges is the SHA-256 of; a holder's side that was shown the
	// document rebuilds the signed revision from the two and judges what
	// the update changes (Check). At most MaxUpdateSize bytes.
	Update []byte `json:"update,omitempty"`
}

// maxSignRequest bounds a SignRequest's JSON: the update in base64, and
// 4 KiB for the rest.
const maxSignRequest = 4<<10 + (MaxUpdateSize+2)/3*4

// ParseSignRequest decodes a PDF signing challenge's Payload on the
// holder's side. It checks the shape only: run Check before the card signs
// (SignOnCard does both).
func ParseSignRequest(payload []byte) (*SignRequest, error) {
	var r SignRequest
	if len(payload) > maxSignRequest {
		return nil, fmt.Errorf("%w: signing request of %d bytes, over %d", identity.ErrBadInput, len(payload), maxSignRequest)
	}
	if err := json.Unmarshal(payload, &r); err != nil || len(r.Digest) != sha256.Size || len(r.DocumentSHA256) != sha256.Size || r.Size <= 0 ||
		len(r.Update) > MaxUpdateSize {
		return nil, fmt.Errorf("%w: not a PDF signing request", identity.ErrBadInput)
	}
	return &r, nil
}

// ceremonyState is a challenge's State: what makes Prepare repeat itself at
// Finish. Nothing in it is secret, and the document is not kept.
type ceremonyState struct {
	Certificate    []byte    `json:"certificate"`
	Time           time.Time `json:"time"`
	Level          Level     `json:"level"`
	DocumentSHA256 []byte    `json:"documentSha256"`
	Digest         []byte    `json:"digest"`
}

// Begin prepares the signature of pdf by req.Subject with the card whose
// signing certificate is cert (read from the card, e.g. with
// cardauth.SigningCertificate), and keeps it as a challenge bound to the
// subject and req.Origin, single use, for the services' ChallengeTTL. The
// challenge's Payload is a SignRequest in JSON, with the update (at most
// MaxUpdateSize bytes; ErrTooLarge beyond, or for a placeholder over 1 MiB).
//
// It refuses early what Finish would: esign.ErrNotAccountCard for a card
// that is not the account's, esign.ErrKeyUsage or esign.ErrExtKeyUsage for
// a certificate not for signing, esign.ErrUntrustedSigner for one that does
// not chain to Verify.Roots now; and ErrMalformed, ErrTooLarge or
// ErrUnsupported for a PDF this package cannot sign.
func (c *Ceremony) Begin(ctx context.Context, req identity.Request, pdf []byte, cert *x509.Certificate) (*identity.Challenge, error) {
	if req.Subject == "" || cert == nil {
		return nil, fmt.Errorf("%w: pades: a signature needs the subject and the signing certificate", identity.ErrBadInput)
	}
	now := c.svc.Now()
	if err := esign.CheckSigningCertificate(cert, esign.VerifyOptions{Roots: c.cfg.Verify.Roots,
		Intermediates: c.cfg.Verify.Intermediates, Purposes: c.cfg.Verify.Purposes}, now); err != nil {
		return nil, err
	}
	if _, err := esign.AccountCard(ctx, c.cfg.Cards, req.Subject, cert); err != nil {
		return nil, err
	}
	pages, err := PageCount(pdf)
	if err != nil {
		return nil, err
	}
	// /M has a resolution of one second: the state keeps what the file says.
	at := now.Truncate(time.Second)
	p, err := c.prepare(pdf, cert, at)
	if err != nil {
		return nil, err
	}
	update := p.Update()
	if len(update) > MaxUpdateSize || p.contentsLen > maxContentsHex {
		// The holder's side would refuse it (ParseSignRequest, Check).
		return nil, fmt.Errorf("%w: the signature field's update takes %d bytes (at most %d) and its placeholder %d (at most %d)",
			ErrTooLarge, len(update), MaxUpdateSize, p.contentsLen, maxContentsHex)
	}
	doc := sha256.Sum256(pdf)
	payload, err := json.Marshal(SignRequest{Digest: p.Digest, DocumentSHA256: doc[:], Size: len(pdf), Pages: pages,
		SignedRanges: p.DocumentDigest, Level: c.cfg.Level.String(), SigningTime: at, SignedAttributes: p.SignedAttributes,
		Update: update})
	if err != nil {
		return nil, err
	}
	state, err := json.Marshal(ceremonyState{Certificate: cert.Raw, Time: at, Level: c.cfg.Level, DocumentSHA256: doc[:], Digest: p.Digest})
	if err != nil {
		return nil, err
	}
	return c.svc.Issue(ctx, Kind, identity.PurposeSign, req, payload, state)
}

func (c *Ceremony) prepare(pdf []byte, cert *x509.Certificate, at time.Time) (*Pending, error) {
	opts := c.cfg.Sign
	opts.Certificate, opts.Level, opts.Time = cert, c.cfg.Level, at
	return Prepare(pdf, opts)
}

// Signed is a finished PDF signature.
type Signed struct {
	// PDF is the signed document: the original bytes, then the signature
	// and what its level adds, each as an incremental update.
	PDF []byte
	// Report is the verification Finish made of the new signature.
	Report *SignatureReport
	// CredentialID names the account's card that signed.
	CredentialID string
}

// Finish consumes the signing challenge resp answers (resp.Data is the
// card's signature of the SignRequest's Digest), puts the signature into
// pdf — the document given to Begin — brings it to the ceremony's level
// with the timestamping authority and the OCSP responders, and verifies the
// result as a receiver would. It audits the outcome as a "sign" event of
// Kind naming the card.
//
// Errors: the challenge errors of identity.Services (ErrUnknownChallenge,
// ErrReplayed for a second answer, ErrExpired, ErrChallengeMismatch for
// another subject or origin) and identity.ErrThrottled;
// esign.ErrDocumentAltered for another document; esign.ErrBadSignature for
// a signature that does not verify; esign.ErrNotAccountCard when the card is
// no longer enrolled on the account; identity.ErrBadInput when this
// instance signs at another level than the one that began; esign.ErrTimestamp and
// esign.ErrNoValidationData when the authority or the responders fail; the
// SignatureReport's Err when the signed PDF does not verify at the level.
func (c *Ceremony) Finish(ctx context.Context, resp identity.Response, pdf []byte) (*Signed, error) {
	var out *Signed
	err := c.svc.Finish(ctx, Kind, identity.PurposeSign, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		var st ceremonyState
		if err := json.Unmarshal(ch.State, &st); err != nil {
			return fmt.Errorf("pades: signing challenge %s: %w", ch.ID, err)
		}
		cert, err := x509.ParseCertificate(st.Certificate)
		if err != nil {
			return fmt.Errorf("pades: signing challenge %s: %w", ch.ID, err)
		}
		doc := sha256.Sum256(pdf)
		if subtle.ConstantTimeCompare(doc[:], st.DocumentSHA256) != 1 {
			return esign.ErrDocumentAltered
		}
		// Asked again: the card may have been removed from the account
		// since Begin.
		cred, err := esign.AccountCard(ctx, c.cfg.Cards, ch.Subject, cert)
		if err != nil {
			return err
		}
		ev.CredentialID = cred.ID
		if st.Level != c.cfg.Level {
			return fmt.Errorf("%w: pades: the signature was begun at level %v, this instance signs at %v", identity.ErrBadInput, st.Level, c.cfg.Level)
		}
		p, err := c.prepare(pdf, cert, st.Time)
		if err != nil {
			return err
		}
		// The same document, certificate, time and template prepare the
		// same bytes; anything else (another template on this instance)
		// is not what the card signed.
		if subtle.ConstantTimeCompare(p.Digest, st.Digest) != 1 {
			return fmt.Errorf("%w: pades: the prepared signature differs from the one the card was asked to sign", esign.ErrDocumentAltered)
		}
		signed, err := Finish(ctx, p, resp.Data, c.cfg.Chain, c.cfg.Services)
		if err != nil {
			return err
		}
		rep, err := Verify(ctx, signed, c.cfg.Verify)
		if err != nil {
			return err
		}
		mine := ours(rep, cert, st.Time)
		if mine == nil {
			return fmt.Errorf("%w: pades: the signed PDF does not hold the new signature", esign.ErrBadSignature)
		}
		if mine.Err != nil {
			return mine.Err
		}
		if mine.Level < c.cfg.Level {
			return fmt.Errorf("%w: pades: the signature reached %v, not %v", esign.ErrRevocationUnknown, mine.Level, c.cfg.Level)
		}
		ev.Reason = fmt.Sprintf("PDF sha256:%x signed at %v by %s", doc[:8], mine.Level, cert.Subject.CommonName)
		out = &Signed{PDF: signed, Report: mine, CredentialID: cred.ID}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ours is the report of the signature just made: the last one by cert
// claiming at.
func ours(rep *Report, cert *x509.Certificate, at time.Time) *SignatureReport {
	var out *SignatureReport
	for i := range rep.Signatures {
		s := &rep.Signatures[i]
		if !s.DocumentTimestamp && s.Signer != nil && s.Signer.Equal(cert) && s.ClaimedTime.Equal(at) {
			out = s
		}
	}
	return out
}

// PageCount returns the number of pages of pdf, from its page tree's root
// (/Count, ISO 32000-1 §7.7.3.2): what a holder is shown of a document
// whose bytes it does not have.
func PageCount(pdf []byte) (int, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return 0, err
	}
	_, cat, err := doc.catalog()
	if err != nil {
		return 0, err
	}
	root, err := doc.resolveDict(cat.get("Pages"))
	if err != nil || root == nil {
		return 0, fmt.Errorf("%w: no page tree", ErrMalformed)
	}
	o, err := doc.resolve(root.get("Count"))
	if err != nil {
		return 0, err
	}
	n, ok := o.(number)
	var v int64
	if ok {
		v, ok = n.int()
	}
	if !ok || v <= 0 || v > 1<<20 {
		return 0, fmt.Errorf("%w: page count", ErrMalformed)
	}
	return int(v), nil
}
