package cardauth

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/puce-id/puce/identity"
)

// Payment approval with the card's e-signature key (PIV slot 9C, a PIN for
// every signature). The holder's side shows the payment from the canonical
// transaction it receives — what you see is what you sign — and signs, in
// the Web eID token format, the origin and ApprovalNonce, which names the
// transaction's digest: the signature is dynamically linked to the amount
// and payee (PSD2, RTS on SCA Article 5). The server checks the signing
// certificate (validity, purpose, chain, OCSP), that it belongs to the
// holder of a card enrolled on the account, and the signature.

// ApprovalRequest is the Payload of an approval challenge: what the
// holder's side needs to show the payment and sign it.
type ApprovalRequest struct {
	// Nonce is the challenge's random part.
	Nonce string `json:"nonce"`
	// Transaction is the canonical encoding of the payment
	// (identity.Transaction.Canonical); JSON carries it in base64.
	Transaction []byte `json:"transaction"`
}

// approvalPrefix sets approval nonces apart from login nonces, which are
// base64 with no ':', so a token signed to approve can never pass as a
// login and the reverse.
const approvalPrefix = "puce-approve:1:"

// ApprovalNonce is the string the card signs, as a Web eID token's nonce,
// to approve tx in answer to nonce: "puce-approve:1:", the nonce, ':' and
// the base64url digest of tx.
func ApprovalNonce(nonce string, tx identity.Transaction) (string, error) {
	d, err := tx.Digest()
	if err != nil {
		return "", err
	}
	return approvalPrefix + nonce + ":" + base64.RawURLEncoding.EncodeToString(d[:]), nil
}

// ParseApprovalRequest decodes an approval challenge's Payload on the
// holder's side, and the payment in it; bytes that are not a canonical
// transaction are refused (identity.ErrTransaction).
func ParseApprovalRequest(payload []byte) (*ApprovalRequest, *identity.Transaction, error) {
	var req ApprovalRequest
	if len(payload) > MaxTokenSize {
		return nil, nil, fmt.Errorf("%w: approval request of %d bytes", identity.ErrBadInput, len(payload))
	}
	if err := json.Unmarshal(payload, &req); err != nil || req.Nonce == "" {
		return nil, nil, fmt.Errorf("%w: not an approval request", identity.ErrBadInput)
	}
	tx, err := identity.ParseTransaction(req.Transaction)
	if err != nil {
		return nil, nil, err
	}
	return &req, tx, nil
}

// BeginApprove issues the challenge of a payment approval by req.Subject,
// who must have a card enrolled, for req.Transaction. The Payload is an
// ApprovalRequest in JSON.
func (f *Factor) BeginApprove(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	if req.Subject == "" || req.Transaction == nil {
		return nil, fmt.Errorf("%w: cardauth: an approval needs the subject and the transaction", identity.ErrBadInput)
	}
	if _, err := f.cards(ctx, req.Subject); err != nil {
		return nil, err
	}
	canon, err := req.Transaction.Canonical()
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(ApprovalRequest{Nonce: string(newNonce()), Transaction: canon})
	return f.svc.Issue(ctx, Kind, identity.PurposeApprove, req, payload, nil)
}

// FinishApprove verifies a Web eID token of the card's signing certificate
// over the origin and the ApprovalNonce of resp.Transaction, which must be
// the payment the challenge was issued for. The proof carries the
// transaction's digest and covers possession and knowledge (the card asks
// its PIN for every signature): identity.Level3, Level2 with Config.NoPIN.
//
// Errors: ErrMalformedToken, ErrUnsupportedAlgorithm, ErrBadSignature;
// ErrUnknownCard when the signer is not the holder of a card enrolled on
// the account (same subject name, issuer and authority key); ErrKeyUsage for
// a certificate not meant for signatures; ErrCertificateNotValid,
// ErrUntrustedCA, ErrOCSP, ErrOCSPUnavailable, ErrRevoked;
// identity.ErrTransactionMismatch and the challenge and throttle errors of
// identity.Services.
func (f *Factor) FinishApprove(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	return f.svc.Approve(ctx, Kind, resp, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		tok, cert, err := ParseToken(resp.Data)
		if err != nil {
			return err
		}
		var req ApprovalRequest
		if err := json.Unmarshal(ch.Payload, &req); err != nil {
			return fmt.Errorf("cardauth: approval challenge %s: %w", ch.ID, err)
		}
		cred, err := f.Holder(ctx, ch.Subject, cert)
		if err != nil {
			return err
		}
		ev.CredentialID = cred.ID
		now := ev.Time
		if err := checkSigningUse(cert, now); err != nil {
			return err
		}
		chain, err := f.verifySigningChain(cert, now)
		if err != nil {
			return err
		}
		nonce, err := ApprovalNonce(req.Nonce, *resp.Transaction)
		if err != nil {
			return err
		}
		if err := tok.VerifySignature(cert, ch.Origin, nonce); err != nil {
			return err
		}
		claims := Claims(cert)
		if claims["revocation"], err = f.revocation(ctx, cert, chain, now); err != nil {
			return err
		}
		factors, level := identity.Possession|identity.Knowledge, identity.Level3
		if f.cfg.NoPIN {
			factors, level = identity.Possession, identity.Level2
		}
		*p = identity.Proof{Subject: ch.Subject, Kind: Kind, CredentialID: cred.ID, Factors: factors, Assurance: level, Time: now, Claims: claims}
		return nil
	})
}

// cards lists subject's active card credentials enrolled by certificate.
func (f *Factor) cards(ctx context.Context, subject identity.Subject) ([]identity.Credential, error) {
	creds, err := f.svc.Store.Credentials(ctx, subject, Kind)
	if err != nil {
		return nil, err
	}
	creds = slices.DeleteFunc(creds, func(c identity.Credential) bool { return !c.Active })
	if len(creds) == 0 {
		return nil, fmt.Errorf("%w: no card enrolled for %q", identity.ErrNotEnrolled, subject)
	}
	return creds, nil
}

// Holder returns the card credential of subject whose holder the signing
// certificate names, or ErrUnknownCard: the signing certificate (9C)
// differs from the enrolled authentication one (9A), but a card's
// certificates share their subject name and issuer, and the authority key
// identifier keeps apart two CAs that share a name. A card bound by a
// pinned key names no holder and matches no signer. Use it to check that a
// document or a receipt was signed by the account's own card.
func (f *Factor) Holder(ctx context.Context, subject identity.Subject, signer *x509.Certificate) (*identity.Credential, error) {
	creds, err := f.cards(ctx, subject)
	if err != nil {
		return nil, err
	}
	if len(signer.AuthorityKeyId) == 0 {
		return nil, fmt.Errorf("%w: the signing certificate has no authority key identifier", ErrUnknownCard)
	}
	for i := range creds {
		card, err := CardOf(&creds[i])
		if err != nil || card.Mode != ModeCertificate {
			continue
		}
		enrolled, err := x509.ParseCertificate(card.Certificate)
		if err != nil {
			continue
		}
		if bytes.Equal(enrolled.RawSubject, signer.RawSubject) && bytes.Equal(enrolled.RawIssuer, signer.RawIssuer) &&
			bytes.Equal(enrolled.AuthorityKeyId, signer.AuthorityKeyId) {
			return &creds[i], nil
		}
	}
	return nil, ErrUnknownCard
}

// oidDocumentSigning is id-kp-documentSigning (RFC 9336).
var oidDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// checkSigningUse: a certificate for signatures has key usage
// nonRepudiation (contentCommitment) or digitalSignature (RFC 5280
// §4.2.1.3), and, when it names extended key usages, one for signing
// (emailProtection, documentSigning) or any.
func checkSigningUse(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("%w: outside %s to %s", ErrCertificateNotValid, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageContentCommitment|x509.KeyUsageDigitalSignature) == 0 {
		return fmt.Errorf("%w: key usage allows no signatures", ErrKeyUsage)
	}
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageEmailProtection || u == x509.ExtKeyUsageAny {
			return nil
		}
	}
	for _, u := range cert.UnknownExtKeyUsage {
		if u.Equal(oidDocumentSigning) {
			return nil
		}
	}
	return fmt.Errorf("%w: extended key usage names no signing purpose", ErrKeyUsage)
}

// verifySigningChain verifies a signing certificate's chain. It does not
// use the login chains' cache, which holds chains checked for clientAuth.
func (f *Factor) verifySigningChain(leaf *x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: f.roots, Intermediates: f.intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrustedCA, err)
	}
	return chains[0], nil
}
