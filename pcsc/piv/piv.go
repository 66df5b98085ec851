// Package piv is the client of the services applet: a PIV card (NIST SP
// 800-73-4) or a token that speaks PIV, over any apdu.Transport — a PC/SC
// reader through package pcsc, or the virtual card in-process.
//
// The card holds two keys kept apart: authentication (slot 9A, PIN once per
// session) and e-signature (slot 9C, PIN before every signature). Each slot
// gives a crypto.Signer; ECDSA digests go to the card as they are, RSA
// padding (PKCS #1 v1.5 or PSS) is built here, since PIV RSA keys compute
// the raw RSA function.
//
// PIN handling follows three rules: a PIN is never retried automatically,
// a wrong PIN reports the tries left, and the last try is refused unless the
// caller says it may be spent (VerifyOptions.AllowLastTry).
package piv

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/puce-id/puce/pcsc/apdu"
)

// AID is the PIV application identifier, truncated as SP 800-73-4 Part 2
// §3.1.1 permits for SELECT.
var aid = []byte{0xA0, 0x00, 0x00, 0x03, 0x08}

// AID returns the PIV application identifier used for SELECT.
func AID() []byte { return bytes.Clone(aid) }

// Slot is a PIV key reference.
type Slot byte

// The key slots of SP 800-73-4 Part 1 Table 4b.
const (
	SlotAuthentication     Slot = 0x9A
	SlotSignature          Slot = 0x9C
	SlotKeyManagement      Slot = 0x9D
	SlotCardAuthentication Slot = 0x9E
	// SlotManagementKey is the card application administration key (9B).
	SlotManagementKey Slot = 0x9B
)

func (s Slot) String() string {
	switch s {
	case SlotAuthentication:
		return "9A (authentication)"
	case SlotSignature:
		return "9C (digital signature)"
	case SlotKeyManagement:
		return "9D (key management)"
	case SlotCardAuthentication:
		return "9E (card authentication)"
	case SlotManagementKey:
		return "9B (management key)"
	}
	return fmt.Sprintf("slot %02X", byte(s))
}

// certObject is the data object holding a slot's certificate (SP 800-73-4
// Part 1 Table 3).
func (s Slot) certObject() ([]byte, error) {
	switch s {
	case SlotAuthentication:
		return []byte{0x5F, 0xC1, 0x05}, nil
	case SlotSignature:
		return []byte{0x5F, 0xC1, 0x0A}, nil
	case SlotKeyManagement:
		return []byte{0x5F, 0xC1, 0x0B}, nil
	case SlotCardAuthentication:
		return []byte{0x5F, 0xC1, 0x01}, nil
	}
	return nil, fmt.Errorf("%w: %s holds no certificate", ErrBadInput, s)
}

// Object identifiers of other data objects.
var objCHUID = []byte{0x5F, 0xC1, 0x02}

// Algorithm is a PIV cryptographic algorithm identifier (SP 800-78-4 Table
// 6-2).
type Algorithm byte

const (
	Alg3DES    Algorithm = 0x03
	AlgRSA2048 Algorithm = 0x07
	AlgAES128  Algorithm = 0x08
	AlgAES192  Algorithm = 0x0A
	AlgAES256  Algorithm = 0x0C
	AlgECCP256 Algorithm = 0x11
	AlgECCP384 Algorithm = 0x14
)

func (a Algorithm) String() string {
	switch a {
	case Alg3DES:
		return "3DES"
	case AlgRSA2048:
		return "RSA-2048"
	case AlgAES128:
		return "AES-128"
	case AlgAES192:
		return "AES-192"
	case AlgAES256:
		return "AES-256"
	case AlgECCP256:
		return "ECC P-256"
	case AlgECCP384:
		return "ECC P-384"
	}
	return fmt.Sprintf("Algorithm(%02X)", byte(a))
}

// Errors of package piv. Card status words keep their apdu sentinels
// (apdu.ErrWrongPIN with *apdu.WrongPINError, apdu.ErrBlocked,
// apdu.ErrSecurityStatus, apdu.ErrNotFound): these add what the host decides.
var (
	// ErrLastTry: the PIN has one try left and the caller did not allow it
	// to be spent. Ask the holder to confirm, or to unblock with the PUK.
	ErrLastTry = errors.New("piv: one PIN try left; refusing to spend it without the caller's consent")
	// ErrPINRequired: the slot needs a PIN for this operation and none was
	// given (slot 9C asks before every signature).
	ErrPINRequired = errors.New("piv: PIN required")
	// ErrNotSupported: the card does not know this optional (vendor)
	// command; it answered 6D00 or 6E00.
	ErrNotSupported = errors.New("piv: not supported by this card")
	// ErrBadInput: a caller-supplied value is out of range (PIN length,
	// algorithm, slot).
	ErrBadInput = errors.New("piv: bad input")
	// ErrMalformed: the card's answer does not parse.
	ErrMalformed = errors.New("piv: malformed answer from the card")
	// ErrAuthentication: the management key does not authenticate the card,
	// or the card does not authenticate itself.
	ErrAuthentication = errors.New("piv: management key authentication failed")
)

// Options tune Open.
type Options struct {
	// Trace sees every APDU, PIN data redacted.
	Trace apdu.TraceFunc
}

// Card is an open PIV application. Its methods are safe for concurrent use;
// they run one at a time, since a card's security state is one.
type Card struct {
	client *apdu.Client
	t      apdu.Transport

	mu sync.Mutex
	// tries is the PIN retry counter as the card last reported it to this
	// handle; -1 when unknown.
	tries int
}

// Open selects the PIV application on the card behind t.
func Open(ctx context.Context, t apdu.Transport, opts *Options) (*Card, error) {
	c := &Card{client: &apdu.Client{Transport: t}, t: t, tries: -1}
	if opts != nil {
		c.client.Trace = opts.Trace
	}
	if _, err := c.client.Do(ctx, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: aid, Ne: 256}); err != nil {
		return nil, fmt.Errorf("piv: select the PIV application: %w", err)
	}
	return c, nil
}

// Transport returns the transport the card was opened on.
func (c *Card) Transport() apdu.Transport { return c.t }

func (c *Card) do(ctx context.Context, cmd apdu.Command) ([]byte, error) {
	return c.client.Do(ctx, cmd)
}

// getData reads a data object (GET DATA, SP 800-73-4 Part 2 §3.1.2) and
// returns the content of its 53 wrapper.
func (c *Card) getData(ctx context.Context, obj []byte) ([]byte, error) {
	data := append([]byte{0x5C, byte(len(obj))}, obj...)
	resp, err := c.do(ctx, apdu.Command{CLA: 0x00, INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: data, Ne: 65536})
	if err != nil {
		return nil, err
	}
	return parseDataObject(resp)
}

// parseDataObject unwraps the 53 template of a GET DATA answer.
func parseDataObject(resp []byte) ([]byte, error) {
	t, rest, err := apdu.DecodeTLV(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if t.Tag != 0x53 || len(bytes.Trim(rest, "\x00")) != 0 {
		return nil, fmt.Errorf("%w: GET DATA answer is not a 53 data object", ErrMalformed)
	}
	return t.Value, nil
}

// parseCertificateObject extracts the certificate of a certificate object:
// 70 certificate, 71 CertInfo (compression), FE error detection code.
func parseCertificateObject(obj []byte) (*x509.Certificate, error) {
	tlvs, err := apdu.DecodeTLVs(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var der []byte
	compressed := false
	for _, t := range tlvs {
		switch t.Tag {
		case 0x70:
			der = t.Value
		case 0x71:
			// CertInfo bit 0 set means gzip-compressed (SP 800-73-4 Part 1
			// Table 10, note): cards written by puce never compress, but
			// yubico-piv-tool does when asked, and PIV middleware reads
			// such certificates.
			compressed = len(t.Value) == 1 && t.Value[0]&0x01 != 0
		}
	}
	if der == nil {
		return nil, fmt.Errorf("%w: certificate object without a 70 certificate", ErrMalformed)
	}
	if compressed {
		if der, err = gunzip(der); err != nil {
			return nil, err
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
	}
	return cert, nil
}

// maxCertificate bounds a decompressed certificate: the card's bytes choose
// how far gzip expands, so a few kilobytes must not become an unbounded
// allocation. A PIV data object holds a few kilobytes; 64 KiB leaves room.
const maxCertificate = 64 << 10

// gunzip expands a compressed certificate, at most maxCertificate bytes.
func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed certificate: %v", ErrMalformed, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxCertificate+1))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed certificate: %v", ErrMalformed, err)
	}
	if len(out) > maxCertificate {
		return nil, fmt.Errorf("%w: compressed certificate expands beyond %d bytes", ErrMalformed, maxCertificate)
	}
	return out, nil
}

// Certificate reads the certificate of a slot. apdu.ErrNotFound when the
// slot has none.
func (c *Card) Certificate(ctx context.Context, slot Slot) (*x509.Certificate, error) {
	obj, err := slot.certObject()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := c.getData(ctx, obj)
	if err != nil {
		return nil, fmt.Errorf("piv: read the certificate of %s: %w", slot, err)
	}
	return parseCertificateObject(data)
}

// CHUID is the Card Holder Unique Identifier (SP 800-73-4 Part 1 §3.1.2).
type CHUID struct {
	FASCN []byte
	GUID  [16]byte
	// Expiration is YYYYMMDD.
	Expiration string
	Raw        []byte
}

// CHUID reads the Card Holder Unique Identifier.
func (c *Card) CHUID(ctx context.Context) (*CHUID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := c.getData(ctx, objCHUID)
	if err != nil {
		return nil, fmt.Errorf("piv: read the CHUID: %w", err)
	}
	return ParseCHUID(data)
}

// ParseCHUID decodes the content of a CHUID object.
func ParseCHUID(data []byte) (*CHUID, error) {
	tlvs, err := apdu.DecodeTLVs(data)
	if err != nil {
		return nil, fmt.Errorf("%w: CHUID: %v", ErrMalformed, err)
	}
	ch := &CHUID{Raw: bytes.Clone(data)}
	haveGUID := false
	for _, t := range tlvs {
		switch t.Tag {
		case 0x30:
			ch.FASCN = bytes.Clone(t.Value)
		case 0x34:
			if len(t.Value) != 16 {
				return nil, fmt.Errorf("%w: CHUID GUID of %d bytes", ErrMalformed, len(t.Value))
			}
			copy(ch.GUID[:], t.Value)
			haveGUID = true
		case 0x35:
			ch.Expiration = string(t.Value)
		}
	}
	if !haveGUID {
		return nil, fmt.Errorf("%w: CHUID without GUID", ErrMalformed)
	}
	return ch, nil
}

// notSupported maps the answers of a card that lacks a command.
func notSupported(err error) error {
	if errors.Is(err, apdu.ErrINSNotSupported) || errors.Is(err, apdu.ErrCLANotSupported) {
		return fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	return err
}
