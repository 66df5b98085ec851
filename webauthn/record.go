package webauthn

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/puce-id/puce/identity"
)

// Record is the credential record of W3C WebAuthn §7.1 (the last step of
// "Registering a New Credential"): what the relying party keeps about one
// public key credential. Its stored fields travel as JSON in
// identity.Credential.Public; Name, SignCount, CreatedAt and LastUsedAt live in
// the identity.Credential itself, where the store can update them (the sign
// count atomically, see identity.CredentialStore.AdvanceCounter).
type Record struct {
	// ID is the raw credential ID; the store keys the credential by its
	// unpadded base64url form (CredentialID).
	ID []byte `json:"id"`
	// PublicKey is the credential public key as a COSE_Key (RFC 9052 §7).
	PublicKey []byte `json:"publicKey"`
	// UserHandle is the user.id the credential was created for (§5.4.3): 32
	// random bytes per subject, never the subject itself, so that an
	// authenticator holds no personal data (§14.6.1).
	UserHandle []byte `json:"userHandle"`
	// AAGUID names the authenticator model (§6.5.1); all zero when the
	// authenticator or client withheld it. Trustworthy only when the
	// attestation was verified against roots or the metadata service.
	AAGUID AAGUID `json:"aaguid"`
	// AttestationFormat is the attestation statement format ("none",
	// "packed", "tpm", ...) and AttestationType what it proved ("none",
	// "self", "basic_full", "attca", ...; §6.5.3).
	AttestationFormat string `json:"attestationFormat"`
	AttestationType   string `json:"attestationType"`
	// Transports the client reported (§5.8.4), handed back in allowCredentials
	// so the browser knows where to look for the key.
	Transports []string `json:"transports,omitempty"`
	// Attachment is "platform", "cross-platform" or empty (unknown).
	Attachment string `json:"attachment,omitempty"`
	// BackupEligible (BE) never changes for a credential; BackupState (BS)
	// follows the latest assertion (§6.1.3). BE true means a synced passkey.
	BackupEligible bool `json:"backupEligible"`
	BackupState    bool `json:"backupState"`
	// UserVerified reports whether the user was verified at registration.
	UserVerified bool `json:"userVerified"`
	// Discoverable is the credProps extension's answer (§10.1.3): whether the
	// credential is a client-side discoverable credential (a passkey that can
	// log in without a username). Nil when the client did not say.
	Discoverable *bool `json:"discoverable,omitempty"`
	// Payment: the credential was created with Secure Payment
	// Confirmation's payment extension (BeginEnrollPayment), so BeginSPC
	// offers it.
	Payment bool `json:"payment,omitempty"`
	// TrustedAttestation: at registration the attestation certificate
	// chained to a trust anchor of the attestation policy in force (its
	// Roots, or the FIDO metadata entry's roots). It is the relying party's
	// only evidence of the hardware that holds the key, which AAL3 needs.
	TrustedAttestation bool `json:"trustedAttestation,omitempty"`

	// Kept in identity.Credential, not in Public.
	Name       string    `json:"-"`
	SignCount  uint64    `json:"-"`
	CreatedAt  time.Time `json:"-"`
	LastUsedAt time.Time `json:"-"`
}

// CredentialID returns the ID the store keys the credential by: the unpadded
// base64url form of the raw ID, as in PublicKeyCredential.id.
func (r *Record) CredentialID() string { return CredentialID(r.ID) }

// CredentialID encodes a raw credential ID the way the store keys it.
func CredentialID(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// DecodeRecord reads the record of a WebAuthn credential from the store's
// form, filling the fields the identity.Credential itself holds.
func DecodeRecord(c *identity.Credential) (*Record, error) {
	if c == nil || c.Kind != Kind {
		return nil, fmt.Errorf("%w: webauthn: not a WebAuthn credential", identity.ErrBadInput)
	}
	var r Record
	if err := json.Unmarshal(c.Public, &r); err != nil {
		return nil, fmt.Errorf("webauthn: credential %q has a corrupt record: %w", c.ID, err)
	}
	if len(r.ID) == 0 || len(r.PublicKey) == 0 || CredentialID(r.ID) != c.ID {
		return nil, fmt.Errorf("webauthn: credential %q has a record for another credential", c.ID)
	}
	r.Name, r.SignCount, r.CreatedAt, r.LastUsedAt = c.Name, c.Counter, c.CreatedAt, c.LastUsedAt
	return &r, nil
}

// encode returns the stored form of the record.
func (r *Record) encode() []byte {
	// Marshalling a struct of bytes, strings and bools cannot fail.
	b, _ := json.Marshal(r)
	return b
}

// descriptor is the record as an entry of allowCredentials or
// excludeCredentials (§5.8.3).
func (r *Record) descriptor() protocol.CredentialDescriptor {
	d := protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: r.ID}
	for _, t := range r.Transports {
		d.Transport = append(d.Transport, protocol.AuthenticatorTransport(t))
	}
	return d
}

// credential is the record in go-webauthn's form, for its login checks.
func (r *Record) credential() gowebauthn.Credential {
	c := gowebauthn.Credential{
		ID:                r.ID,
		PublicKey:         r.PublicKey,
		AttestationType:   r.AttestationType,
		AttestationFormat: r.AttestationFormat,
		Flags: gowebauthn.CredentialFlags{
			UserPresent:    true,
			UserVerified:   r.UserVerified,
			BackupEligible: r.BackupEligible,
			BackupState:    r.BackupState,
		},
		Authenticator: gowebauthn.Authenticator{
			AAGUID:    r.AAGUID[:],
			SignCount: uint32(min(r.SignCount, 1<<32-1)),
		},
	}
	for _, t := range r.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// AAGUID is an authenticator model identifier (W3C WebAuthn §6.5.1), a UUID.
type AAGUID [16]byte

// String formats the AAGUID as a UUID (8-4-4-4-12 lower-case hex digits).
func (a AAGUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], a[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], a[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], a[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], a[8:10])
	b[23] = '-'
	hex.Encode(b[24:], a[10:])
	return string(b[:])
}

// IsZero reports whether the AAGUID is all zero: the authenticator (or the
// client, for privacy) did not name its model.
func (a AAGUID) IsZero() bool { return a == AAGUID{} }

// ParseAAGUID reads the UUID form that String writes (either case).
func ParseAAGUID(s string) (AAGUID, error) {
	var a AAGUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return a, fmt.Errorf("%w: webauthn: AAGUID %q is not a UUID", identity.ErrBadInput, s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(a[:], []byte(h)); err != nil {
		return AAGUID{}, fmt.Errorf("%w: webauthn: AAGUID %q is not a UUID", identity.ErrBadInput, s)
	}
	return a, nil
}

// MarshalText writes the UUID form.
func (a AAGUID) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads the UUID form.
func (a *AAGUID) UnmarshalText(b []byte) error {
	v, err := ParseAAGUID(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

func aaguidOf(b []byte) AAGUID {
	var a AAGUID
	copy(a[:], b)
	return a
}

// MaxNameLen bounds credential names, in bytes.
const MaxNameLen = 128

// checkName accepts what a user may reasonably call a key: printable UTF-8,
// bounded, since the name is shown in account pages and stored as text.
func checkName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: webauthn: credential name longer than %d bytes", identity.ErrBadInput, MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: webauthn: credential name is not valid UTF-8", identity.ErrBadInput)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: webauthn: credential name holds a control character", identity.ErrBadInput)
		}
	}
	return nil
}

// Credentials returns the subject's WebAuthn credentials, oldest first.
func (f *Factor) Credentials(ctx context.Context, subject identity.Subject) ([]*Record, error) {
	creds, err := f.svc.Store.Credentials(ctx, subject, Kind)
	if err != nil {
		return nil, fmt.Errorf("webauthn: list credentials: %w", err)
	}
	out := make([]*Record, 0, len(creds))
	for i := range creds {
		r, err := DecodeRecord(&creds[i])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Rename changes the name the user gave a credential.
func (f *Factor) Rename(ctx context.Context, subject identity.Subject, credentialID, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	c, err := f.svc.Store.Credential(ctx, identity.CredentialRef{Subject: subject, Kind: Kind, ID: credentialID})
	if err != nil {
		return fmt.Errorf("webauthn: rename: %w", err)
	}
	err = identity.EditCredential(ctx, f.svc.Store, c, func(c *identity.Credential) error {
		c.Name = name
		return nil
	})
	if err != nil {
		return fmt.Errorf("webauthn: rename: %w", err)
	}
	return nil
}
