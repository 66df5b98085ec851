package webauthn

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/metadata/providers/memory"
	"github.com/google/uuid"

	"github.com/puce-id/puce/identity"
)

// DefaultMaxMDSSize bounds the metadata blob read from disk. The FIDO blob
// is a few megabytes.
const DefaultMaxMDSSize = 64 << 20

// MDSConfig says where the FIDO Metadata Service (MDS3) blob is and whom to
// trust for it.
type MDSConfig struct {
	// Path of the blob: the JWT served at https://mds3.fidoalliance.org/,
	// downloaded by the operator (puce itself never goes to the network).
	Path string
	// Roots the blob's signing chain (its x5c header) must chain to: for the
	// FIDO Alliance's blob, the root certificate it publishes with the
	// service (GlobalSign Root CA - R3 at the time of writing).
	Roots []*x509.Certificate
	// CRLs, optional, are checked against every certificate of the signing
	// chain; each must be signed by the certificate's issuer. Download them
	// with the blob to check revocation without a network call here.
	CRLs []*x509.RevocationList
	// Clock for certificate validity and the blob's nextUpdate; nil means the
	// system clock.
	Clock identity.Clock
	// MaxSize bounds the file; zero means DefaultMaxMDSSize.
	MaxSize int64
}

// MDS is a verified FIDO metadata blob (FIDO Metadata Service v3,
// "Metadata BLOB object processing rules"), kept in memory and swapped whole
// by Refresh. Use it in AttestationPolicy.MDS. It is safe for concurrent
// use.
type MDS struct {
	cfg     MDSConfig
	refresh sync.Mutex
	cur     atomic.Pointer[mdsState]
}

type mdsState struct {
	number     int
	nextUpdate time.Time
	entries    map[uuid.UUID]*metadata.Entry
	provider   metadata.Provider
}

// OpenMDS reads and verifies the blob at cfg.Path.
func OpenMDS(ctx context.Context, cfg MDSConfig) (*MDS, error) {
	if cfg.Path == "" || len(cfg.Roots) == 0 {
		return nil, fmt.Errorf("%w: webauthn: MDS needs a blob path and at least one root", identity.ErrBadInput)
	}
	for i, r := range cfg.Roots {
		if r == nil {
			return nil, fmt.Errorf("%w: webauthn: MDS root %d is nil", identity.ErrBadInput, i)
		}
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxMDSSize
	}
	m := &MDS{cfg: cfg}
	if err := m.Refresh(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Refresh reads the blob file again (after the operator downloaded a new
// one) and swaps it in when it verifies. A blob whose serial number is
// lower than the current one is refused as a rollback (MDS3 processing
// rules: the serial number must increase); the same number is a no-op. On
// any error the current blob stays in force.
func (m *MDS) Refresh(ctx context.Context) error {
	m.refresh.Lock()
	defer m.refresh.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := readBounded(m.cfg.Path, m.cfg.MaxSize)
	if err != nil {
		return err
	}
	st, err := parseMDS(data, &m.cfg)
	if err != nil {
		return err
	}
	if cur := m.cur.Load(); cur != nil {
		switch {
		case st.number < cur.number:
			return fmt.Errorf("%w: webauthn: MDS blob number %d is older than the current %d", identity.ErrUntrusted, st.number, cur.number)
		case st.number == cur.number:
			return nil
		}
	}
	m.cur.Store(st)
	return nil
}

// Number is the serial number of the blob in force.
func (m *MDS) Number() int { return m.cur.Load().number }

// NextUpdate is the date by which the FIDO Alliance promises a newer blob;
// download and Refresh by then.
func (m *MDS) NextUpdate() time.Time { return m.cur.Load().nextUpdate }

// Describe returns the metadata statement's description of an authenticator
// model ("YubiKey 5 Series", ...), for account pages.
func (m *MDS) Describe(a AAGUID) (string, bool) {
	e, ok := m.cur.Load().entries[uuid.UUID(a)]
	if !ok {
		return "", false
	}
	return e.MetadataStatement.Description, true
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("webauthn: MDS blob: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("webauthn: MDS blob: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: webauthn: MDS blob larger than %d bytes", identity.ErrBadInput, max)
	}
	return data, nil
}

// jwsHeader is the part of the blob's JOSE header that matters (RFC 7515
// §4.1).
type jwsHeader struct {
	Alg  string   `json:"alg"`
	X5C  []string `json:"x5c"`
	X5U  string   `json:"x5u"`
	Crit []string `json:"crit"`
}

// parseMDS verifies the blob's signature and chain, then decodes its
// payload.
func parseMDS(data []byte, cfg *MDSConfig) (*mdsState, error) {
	payload, err := verifyBlob(data, cfg)
	if err != nil {
		return nil, err
	}
	return decodeMDSPayload(payload)
}

func badBlob(format string, a ...any) error {
	return fmt.Errorf("%w: webauthn: MDS blob: %s", identity.ErrUntrusted, fmt.Sprintf(format, a...))
}

// verifyBlob checks the blob's JWS signature (RFC 7515) and its signing
// chain, and returns the payload (the MDS3 processing rules on the x5c
// chain and the signature). It is written here rather than taken from go-webauthn's
// decoder, which checks the chain's revocation by fetching CRLs over the
// network.
func verifyBlob(data []byte, cfg *MDSConfig) ([]byte, error) {
	data = bytes.TrimSpace(data)
	parts := bytes.Split(data, []byte("."))
	if len(parts) != 3 {
		return nil, badBlob("not a JWS compact serialisation")
	}
	dec := base64.RawURLEncoding
	hb, err1 := dec.DecodeString(string(parts[0]))
	payload, err2 := dec.DecodeString(string(parts[1]))
	sig, err3 := dec.DecodeString(string(parts[2]))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, badBlob("base64url: %v", err)
	}
	var h jwsHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, badBlob("header: %v", err)
	}
	switch {
	case h.X5U != "":
		return nil, badBlob("x5u is not supported: the chain must be in x5c")
	case len(h.Crit) != 0:
		return nil, badBlob("critical header parameters %q are not understood", h.Crit)
	case len(h.X5C) == 0:
		return nil, badBlob("no x5c signing chain")
	case len(h.X5C) > 8:
		return nil, badBlob("x5c chain of %d certificates", len(h.X5C))
	}
	chain := make([]*x509.Certificate, 0, len(h.X5C))
	for i, s := range h.X5C {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, badBlob("x5c[%d]: %v", i, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, badBlob("x5c[%d]: %v", i, err)
		}
		chain = append(chain, c)
	}
	now := clockNow(cfg.Clock)
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range cfg.Roots {
		roots.AddCert(r)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	paths, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, badBlob("signing certificate does not chain to a trusted root: %v", err)
	}
	if err := checkRevocation(paths[0], cfg.CRLs, now); err != nil {
		return nil, badBlob("%v", err)
	}
	signed := data[:len(parts[0])+1+len(parts[1])]
	if err := verifyJWS(h.Alg, chain[0].PublicKey, signed, sig); err != nil {
		return nil, badBlob("%v", err)
	}
	return payload, nil
}

// decodeMDSPayload reads a verified payload into a metadata provider.
func decodeMDSPayload(payload []byte) (*mdsState, error) {
	var p metadata.PayloadJSON
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, badBlob("payload: %v", err)
	}
	// An entry that does not parse is left out rather than failing the whole
	// blob: the authenticator it describes then has no entry and is refused.
	d, err := metadata.NewDecoder(metadata.WithIgnoreEntryParsingErrors())
	if err != nil {
		return nil, fmt.Errorf("webauthn: MDS decoder: %w", err)
	}
	md, err := d.Parse(&p)
	if err != nil {
		return nil, badBlob("payload: %v", err)
	}
	entries := md.ToMap()
	prov, err := memory.New(memory.WithMetadata(entries),
		memory.WithValidateEntry(true),
		memory.WithValidateEntryPermitZeroAAGUID(false),
		memory.WithValidateTrustAnchor(true),
		memory.WithValidateStatus(true),
		memory.WithValidateAttestationTypes(true))
	if err != nil {
		return nil, fmt.Errorf("webauthn: MDS provider: %w", err)
	}
	return &mdsState{number: md.Parsed.Number, nextUpdate: md.Parsed.NextUpdate, entries: entries, provider: prov}, nil
}

// checkRevocation refuses a chain in which a CRL issued by a certificate's
// issuer lists that certificate.
func checkRevocation(path []*x509.Certificate, crls []*x509.RevocationList, now time.Time) error {
	for i := 0; i+1 < len(path); i++ {
		cert, issuer := path[i], path[i+1]
		for _, crl := range crls {
			if crl == nil || crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
				return fmt.Errorf("the CRL of %q expired on %s", issuer.Subject, crl.NextUpdate.Format(time.DateOnly))
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
					return fmt.Errorf("certificate %q is revoked", cert.Subject)
				}
			}
		}
	}
	return nil
}

// verifyJWS checks a JWS signature (RFC 7518 §3) with the algorithms the
// FIDO blob uses.
func verifyJWS(alg string, pub any, signed, sig []byte) error {
	var h crypto.Hash
	switch alg {
	case "RS256", "ES256", "PS256":
		h = crypto.SHA256
	case "RS384", "ES384", "PS384":
		h = crypto.SHA384
	case "RS512", "ES512", "PS512":
		h = crypto.SHA512
	default:
		return fmt.Errorf("signature algorithm %q is not supported", alg)
	}
	hh := h.New()
	hh.Write(signed)
	digest := hh.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch alg[0] {
		case 'R':
			if rsa.VerifyPKCS1v15(k, h, digest, sig) == nil {
				return nil
			}
		case 'P':
			if rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil {
				return nil
			}
		}
	case *ecdsa.PublicKey:
		// JWS ECDSA signatures are R‖S, each the size of the curve order
		// (RFC 7518 §3.4), not DER.
		n := (k.Curve.Params().BitSize + 7) / 8
		if alg[0] == 'E' && len(sig) == 2*n {
			r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
			if ecdsa.Verify(k, digest, r, s) {
				return nil
			}
		}
	}
	return fmt.Errorf("%s signature does not verify", alg)
}

func clockNow(c identity.Clock) time.Time {
	if c == nil {
		return time.Now()
	}
	return c.Now()
}

// provider exposes the blob in force to go-webauthn.
func (m *MDS) provider() metadata.Provider { return mdsProvider{m} }

// mdsProvider delegates to the provider of the blob in force, so that a
// Refresh takes effect for ceremonies already configured.
type mdsProvider struct{ m *MDS }

func (p mdsProvider) p() metadata.Provider { return p.m.cur.Load().provider }

func (p mdsProvider) GetEntry(ctx context.Context, aaguid uuid.UUID) (*metadata.Entry, error) {
	return p.p().GetEntry(ctx, aaguid)
}
func (p mdsProvider) GetValidateEntry(ctx context.Context) bool { return p.p().GetValidateEntry(ctx) }
func (p mdsProvider) GetValidateEntryPermitZeroAAGUID(ctx context.Context) bool {
	return p.p().GetValidateEntryPermitZeroAAGUID(ctx)
}
func (p mdsProvider) GetValidateTrustAnchor(ctx context.Context) bool {
	return p.p().GetValidateTrustAnchor(ctx)
}
func (p mdsProvider) GetValidateStatus(ctx context.Context) bool { return p.p().GetValidateStatus(ctx) }
func (p mdsProvider) GetValidateAttestationTypes(ctx context.Context) bool {
	return p.p().GetValidateAttestationTypes(ctx)
}
func (p mdsProvider) ValidateStatusReports(ctx context.Context, reports []metadata.StatusReport) error {
	return p.p().ValidateStatusReports(ctx, reports)
}
