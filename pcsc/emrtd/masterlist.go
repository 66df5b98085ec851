package emrtd

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// oidCSCAMasterList is id-icao-cscaMasterList (ICAO 9303-12 §8.2).
var oidCSCAMasterList = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 2}

// ErrMasterList: a CSCA master list's signature or signer does not verify
// against the trusted certificates; its CSCAs must not be trusted.
var ErrMasterList = errors.New("emrtd: CSCA master list not verified")

// ErrRevoked: the document signer certificate is on a CRL of its CSCA
// (ICAO 9303-12 §7.1.4). It matches ErrPassiveAuth.
var ErrRevoked = fmt.Errorf("%w: document signer certificate revoked", ErrPassiveAuth)

// MasterList is a decoded CSCA master list (ICAO 9303-12 §8.2): the CSCA
// certificates a state has validated, signed by its master list signer.
type MasterList struct {
	// CSCAs are the certificates listed, parsed with ParseCertificate;
	// usable as PassiveOptions.CSCAs once Verify succeeded.
	CSCAs []*x509.Certificate
	// Signer is the master list signer certificate.
	Signer *x509.Certificate
	sd     *SOD
}

// ParseMasterList decodes a master list, the DER ContentInfo of a CMS
// SignedData over CscaMasterList { version 0, certList SET OF Certificate
// }. It checks the structure only; Verify checks the signature.
func ParseMasterList(der []byte) (*MasterList, error) {
	sd, err := parseSignedData(der, oidCSCAMasterList, "CSCA master list")
	if err != nil {
		return nil, err
	}
	var list struct {
		Version int
		Certs   asn1.RawValue `asn1:"set"`
	}
	if rest, err := asn1.Unmarshal(sd.content, &list); err != nil || len(rest) != 0 || list.Version != 0 {
		return nil, malformed("CscaMasterList: %v", err)
	}
	certs, err := parseCertificates(list.Certs.Bytes)
	if err != nil {
		return nil, err
	}
	return &MasterList{CSCAs: certs, Signer: sd.Signer, sd: sd}, nil
}

// Verify checks the master list's signature, and that its signer is issued
// by one of the trusted certificates (the publishing state's CSCA) and
// valid at t (zero: now). Only then are the listed CSCAs the publisher's
// word; whether to trust that word is the caller's policy.
func (m *MasterList) Verify(trusted []*x509.Certificate, t time.Time) error {
	if t.IsZero() {
		t = time.Now()
	}
	if err := m.sd.VerifySignature(); err != nil {
		return fmt.Errorf("%w: %w", ErrMasterList, err)
	}
	if _, err := m.sd.VerifyChain(trusted, t); err != nil {
		return fmt.Errorf("%w: %w", ErrMasterList, err)
	}
	return nil
}

// checkRevocation looks for the document signer on the CSCA's CRLs: a CRL
// whose issuer is the CSCA must carry the CSCA's valid signature (else the
// check fails closed), and one that lists the signer's serial number
// revokes it. CRLs of other issuers are ignored.
func checkRevocation(ds, csca *x509.Certificate, crls []*x509.RevocationList) error {
	for _, crl := range crls {
		if crl == nil || string(crl.RawIssuer) != string(csca.RawSubject) {
			continue
		}
		if err := checkSignature(csca, crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature); err != nil {
			return fmt.Errorf("%w: CRL of %s: %w", ErrUntrustedSigner, csca.Subject.CommonName, err)
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber != nil && e.SerialNumber.Cmp(ds.SerialNumber) == 0 {
				return fmt.Errorf("%w: serial %X, revoked %s", ErrRevoked, ds.SerialNumber, e.RevocationTime.Format(time.DateOnly))
			}
		}
	}
	return nil
}
