// Package testcard personalises a virtual card for tests and demos in one
// call: a test PKI (root and issuing CA, and the issuer's content signing
// certificate), a card holder, keys and certificates for PIV slots 9A
// (authentication), 9E (card authentication) and, optionally, 9C
// (e-signature), a signed CHUID, a Card Capability Container, a Security
// Object, and the PINs — everything a test needs to log in or sign with a
// card, and the data objects SP 800-73-4 Part 1 §3.1 makes mandatory, but
// two.
//
// The two left out are the Cardholder Fingerprints (5FC103) and the
// Cardholder Facial Image (5FC108). That is deliberate: on a puce card the
// holder's biometric data belong only to the sovereign eMRTD applet, and
// the PIV applet refuses to hold them (package pivapplet explains why: a
// relying party receives the holder's identity data only as a disclosure
// the holder chose, never from the services applet). The Security Object
// covers only objects the card holds.
//
// Never use its keys or certificates outside tests: the CA keys are in
// memory and the PINs are the factory defaults unless told otherwise.
package testcard

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"

	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
)

// Holder names the card holder as the certificates show it.
type Holder struct {
	GivenName, Surname string
	// SerialNumber is the subject serialNumber attribute eID certificates
	// carry (a personal identifier, e.g. "PNOFR-1234567890").
	SerialNumber string
	Email        string
	Country      string
}

// CommonName is "SURNAME,GIVENNAME,SERIAL" as European eID cards write it.
func (h Holder) CommonName() string {
	return fmt.Sprintf("%s,%s,%s", h.Surname, h.GivenName, h.SerialNumber)
}

// DefaultHolder is a fictitious holder.
func DefaultHolder() Holder {
	return Holder{GivenName: "ALICE", Surname: "MARTIN", SerialNumber: "PNOFR-2900175123456", Email: "alice.martin@example.org", Country: "FR"}
}

// Options choose what the card holds; zero values take the defaults.
type Options struct {
	Holder Holder
	// AuthAlg, SignAlg and CardAuthAlg are pivapplet algorithm identifiers
	// (pivapplet.AlgECCP256 by default; AlgECCP384, AlgRSA2048) for slots
	// 9A, 9C and 9E.
	AuthAlg, SignAlg, CardAuthAlg byte
	// NoSignatureKey leaves slot 9C empty.
	NoSignatureKey bool
	// PIN, PUK and management key; factory defaults when empty.
	PIN, PUK      string
	ManagementKey []byte
	// ManagementKeyAlg is pivapplet.Alg3DES by default.
	ManagementKeyAlg byte
	// OCSPURL goes into the certificates' authority information access.
	OCSPURL string
	// Now is when the certificates start being valid (default: an hour ago);
	// they last Validity (default two years).
	Now      time.Time
	Validity time.Duration
	// Vendor makes the applet answer YubiKey-style vendor instructions.
	Vendor bool
	// Card configures the virtual card (ATR, extended length).
	Card virtual.Config
}

// PKI is the test PKI the card's certificates chain to.
type PKI struct {
	Root, Issuing        *x509.Certificate
	RootKey, IssuingKey  crypto.Signer
	Roots, Intermediates *x509.CertPool
	// ContentSigning is the card issuer's content signing certificate
	// (P-256, issued by Issuing, extended key usage id-PIV-content-signing,
	// SP 800-73-4 Part 1 §3.1.2.1): its key signs the CHUID and the
	// Security Object, and the CHUID's signature carries it.
	ContentSigning    *x509.Certificate
	ContentSigningKey crypto.Signer
}

// Card is a personalised virtual card.
type Card struct {
	// Card is the virtual card: an apdu.Transport in-process, or attach it
	// to pcscd with virtual.Bridge.
	*virtual.Card
	Applet *pivapplet.Applet
	PKI    PKI
	Holder Holder
	// AuthCert is the certificate of slot 9A; SignCert of 9C (nil without);
	// CardAuthCert of 9E, the card authentication key any reader may use
	// without the PIN (SP 800-73-4 Part 1 §3.1.4).
	AuthCert, SignCert, CardAuthCert *x509.Certificate
	// CardUUID is the card's UUID (Part 1 §3.4.1): the CHUID's GUID, and
	// a urn:uuid: URI in CardAuthCert's subject alternative name (beside
	// the CHUID's FASC-N).
	CardUUID         uuid.UUID
	PIN, PUK         string
	ManagementKey    []byte
	ManagementKeyAlg byte
}

// New personalises a card.
func New(opts Options) (*Card, error) {
	if opts.Holder == (Holder{}) {
		opts.Holder = DefaultHolder()
	}
	if opts.AuthAlg == 0 {
		opts.AuthAlg = pivapplet.AlgECCP256
	}
	if opts.SignAlg == 0 {
		opts.SignAlg = pivapplet.AlgECCP256
	}
	if opts.CardAuthAlg == 0 {
		opts.CardAuthAlg = pivapplet.AlgECCP256
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now().Add(-time.Hour)
	}
	if opts.Validity <= 0 {
		opts.Validity = 2 * 365 * 24 * time.Hour
	}
	c := &Card{Holder: opts.Holder, PIN: opts.PIN, PUK: opts.PUK, ManagementKey: opts.ManagementKey, ManagementKeyAlg: opts.ManagementKeyAlg}
	if c.PIN == "" {
		c.PIN = pivapplet.DefaultPIN
	}
	if c.PUK == "" {
		c.PUK = pivapplet.DefaultPUK
	}
	if c.ManagementKey == nil {
		c.ManagementKey, c.ManagementKeyAlg = pivapplet.DefaultManagementKey(), pivapplet.Alg3DES
	}
	var err error
	if c.CardUUID, err = newCardUUID(); err != nil {
		return nil, err
	}
	if c.PKI, err = newPKI(opts.Now); err != nil {
		return nil, err
	}
	c.Applet, err = pivapplet.New(pivapplet.Config{PIN: c.PIN, PUK: c.PUK, ManagementKey: c.ManagementKey,
		ManagementKeyAlg: c.ManagementKeyAlg, Vendor: opts.Vendor})
	if err != nil {
		return nil, err
	}
	if c.AuthCert, err = c.issue(opts, pivapplet.SlotAuthentication, opts.AuthAlg); err != nil {
		return nil, err
	}
	if !opts.NoSignatureKey {
		if c.SignCert, err = c.issue(opts, pivapplet.SlotSignature, opts.SignAlg); err != nil {
			return nil, err
		}
	}
	if c.CardAuthCert, err = c.issue(opts, pivapplet.SlotCardAuthentication, opts.CardAuthAlg); err != nil {
		return nil, err
	}
	chuid, err := c.chuid(opts.Now.Add(opts.Validity))
	if err != nil {
		return nil, err
	}
	if err := c.Applet.SetObject(objCHUID, chuid); err != nil {
		return nil, err
	}
	if err := c.Applet.SetObject(objCCC, ccc()); err != nil {
		return nil, err
	}
	if err := c.UpdateSecurityObject(); err != nil {
		return nil, err
	}
	if c.Card, err = virtual.NewCard(opts.Card, c.Applet); err != nil {
		return nil, err
	}
	return c, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

func newPKI(now time.Time) (PKI, error) {
	var p PKI
	rootKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return p, err
	}
	issKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return p, err
	}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"puce test PKI"}, Country: []string{"FR"}},
			NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(20 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	root := ca("puce test root CA")
	der, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		return p, err
	}
	if p.Root, err = x509.ParseCertificate(der); err != nil {
		return p, err
	}
	iss := ca("puce test issuing CA")
	iss.MaxPathLenZero, iss.MaxPathLen = true, 0
	if der, err = x509.CreateCertificate(rand.Reader, iss, p.Root, &issKey.PublicKey, rootKey); err != nil {
		return p, err
	}
	if p.Issuing, err = x509.ParseCertificate(der); err != nil {
		return p, err
	}
	// The content signer must outlive the card authentication certificate
	// (SP 800-73-4 Part 1 §3.1.2.1): it lasts as long as the issuing CA.
	csKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	cs := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "puce test PIV content signer", Organization: []string{"puce test PKI"}, Country: []string{"FR"}},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: p.Issuing.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{oidPIVContentSigning}}
	if der, err = x509.CreateCertificate(rand.Reader, cs, p.Issuing, &csKey.PublicKey, issKey); err != nil {
		return p, err
	}
	if p.ContentSigning, err = x509.ParseCertificate(der); err != nil {
		return p, err
	}
	p.ContentSigningKey = csKey
	p.RootKey, p.IssuingKey = rootKey, issKey
	p.Roots, p.Intermediates = x509.NewCertPool(), x509.NewCertPool()
	p.Roots.AddCert(p.Root)
	p.Intermediates.AddCert(p.Issuing)
	return p, nil
}

func generate(alg byte) (crypto.Signer, error) {
	switch alg {
	case pivapplet.AlgECCP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case pivapplet.AlgECCP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case pivapplet.AlgRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("testcard: algorithm %02X", alg)
}

// Attribute types of X.520.
var (
	oidGivenName    = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname      = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// issue makes a key for a slot, certifies it under the issuing CA, and
// loads both into the applet. Authentication certificates carry clientAuth;
// signature certificates nonRepudiation (content commitment) and
// emailProtection, as qualified signature certificates do. The card
// authentication certificate carries id-PIV-cardAuth (FIPS 201-3 Table
// B-3), the FASC-N and the card UUID in its subject alternative name
// (FIPS 201-3 §4.2.2.2, SP 800-73-4 Part 1 §3.4.1; the PIV authentication
// certificate carries both too, §4.2.2.1, beside the holder's email), and names the card,
// not the holder: any reader gets it without the PIN, contactless too
// (Part 1 Table 1), so it tells nothing about the holder.
func (c *Card) issue(opts Options, slot, alg byte) (*x509.Certificate, error) {
	key, err := generate(alg)
	if err != nil {
		return nil, err
	}
	h := opts.Holder
	tmpl := &x509.Certificate{SerialNumber: serial(),
		Subject: pkix.Name{CommonName: h.CommonName(), Country: []string{h.Country}, ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidSurname, Value: h.Surname}, {Type: oidGivenName, Value: h.GivenName}, {Type: oidSerialNumber, Value: h.SerialNumber}}},
		NotBefore: opts.Now, NotAfter: opts.Now.Add(opts.Validity)}
	if h.Email != "" {
		tmpl.EmailAddresses = []string{h.Email}
	}
	if opts.OCSPURL != "" {
		tmpl.OCSPServer = []string{opts.OCSPURL}
	}
	switch slot {
	case pivapplet.SlotCardAuthentication:
		tmpl.Subject = pkix.Name{CommonName: "PIV card " + c.CardUUID.String(), Organization: []string{"puce test PKI"}}
		tmpl.EmailAddresses = nil
		san, err := c.cardSAN("")
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = []pkix.Extension{san}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.UnknownExtKeyUsage = []asn1.ObjectIdentifier{oidPIVCardAuth}
	case pivapplet.SlotAuthentication:
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		san, err := c.cardSAN(h.Email)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = []pkix.Extension{san}
	case pivapplet.SlotSignature:
		tmpl.KeyUsage = x509.KeyUsageContentCommitment | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	default:
		return nil, errors.New("testcard: only slots 9A, 9C and 9E are personalised")
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.PKI.Issuing, key.Public(), c.PKI.IssuingKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := c.Applet.ImportKey(slot, key); err != nil {
		return nil, err
	}
	if err := c.Applet.SetCertificate(slot, der); err != nil {
		return nil, err
	}
	return cert, nil
}
