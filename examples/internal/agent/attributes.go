package agent

import (
	"encoding/asn1"
	"errors"
	"time"
)

// The CMS signed attributes the agent reads before it lets the card sign
// them (RFC 5652 §11, RFC 5035).
var (
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSigningCertV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
)

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type signedAttrs struct {
	messageDigest []byte
	signingTime   time.Time
	certHash      []byte
}

// parseAttributes reads the document digest, signing time and signing
// certificate hash out of a DER SET of attributes. The page sends these
// bytes; the agent signs their digest only once it has checked that they
// name the document the holder saw and the card's own certificate.
func parseAttributes(der []byte) (*signedAttrs, error) {
	var attrs []attribute
	rest, err := asn1.UnmarshalWithParams(der, &attrs, "set")
	if err != nil || len(rest) != 0 {
		return nil, errors.New("agent: signed attributes do not parse")
	}
	out := &signedAttrs{}
	seen := map[string]bool{}
	for _, at := range attrs {
		key := at.Type.String()
		if seen[key] {
			return nil, errors.New("agent: repeated signed attribute")
		}
		seen[key] = true
		switch {
		case at.Type.Equal(oidMessageDigest):
			if _, err := asn1.Unmarshal(at.Values.Bytes, &out.messageDigest); err != nil {
				return nil, err
			}
		case at.Type.Equal(oidSigningTime):
			if _, err := asn1.Unmarshal(at.Values.Bytes, &out.signingTime); err != nil {
				return nil, err
			}
		case at.Type.Equal(oidSigningCertV2):
			// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF
			// ESSCertIDv2, policies ... OPTIONAL }; ESSCertIDv2 ::= SEQUENCE
			// { hashAlgorithm DEFAULT sha256, certHash OCTET STRING,
			// issuerSerial OPTIONAL }. The first OCTET STRING of the first
			// ESSCertIDv2 is the hash; a hash made with another algorithm
			// than SHA-256 then simply fails the comparison.
			var sc struct {
				Certs    []asn1.RawValue
				Policies asn1.RawValue `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(at.Values.Bytes, &sc); err != nil || len(sc.Certs) == 0 {
				return nil, errors.New("agent: signing certificate attribute does not parse")
			}
			for rest := sc.Certs[0].Bytes; len(rest) > 0; {
				var v asn1.RawValue
				var err error
				if rest, err = asn1.Unmarshal(rest, &v); err != nil {
					return nil, errors.New("agent: signing certificate attribute does not parse")
				}
				if v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString {
					out.certHash = v.Bytes
					break
				}
			}
		}
	}
	if len(out.messageDigest) != 32 || out.signingTime.IsZero() || out.certHash == nil {
		return nil, errors.New("agent: signed attributes lack the digest, time or certificate")
	}
	return out, nil
}
