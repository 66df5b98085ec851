package esign

import (
	"encoding/asn1"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers are read as their DER contents and compared without
// decoding: a verification meets a dozen of them, and decoding each into
// an asn1.ObjectIdentifier would allocate for nothing. They are decoded
// only to name one in an error.

// readOID reads an OBJECT IDENTIFIER and returns its contents.
func readOID(s *cryptobyte.String) (cryptobyte.String, bool) {
	var raw cryptobyte.String
	return raw, s.ReadASN1(&raw, cbasn1.OBJECT_IDENTIFIER) && len(raw) > 0
}

// oidIs reports whether raw, the contents of a DER OBJECT IDENTIFIER,
// encodes oid. It decodes the subidentifiers as it goes (X.690 §8.19: base
// 128, high bit set on all but the last byte of each, no leading 0x80; the
// first encodes 40*X+Y) and refuses non-minimal encodings, as DER must.
func oidIs(raw []byte, oid asn1.ObjectIdentifier) bool {
	if len(raw) == 0 || raw[len(raw)-1]&0x80 != 0 || len(oid) < 2 {
		return false
	}
	arc, v, start := 0, uint64(0), true
	for _, b := range raw {
		if start && b == 0x80 {
			return false
		}
		start = false
		if v > 1<<56 {
			return false
		}
		v = v<<7 | uint64(b&0x7f)
		if b&0x80 != 0 {
			continue
		}
		if arc == 0 {
			x, y := uint64(2), v-80
			if v < 80 {
				x, y = v/40, v%40
			}
			if oid[0] < 0 || oid[1] < 0 || uint64(oid[0]) != x || uint64(oid[1]) != y {
				return false
			}
			arc = 2
		} else {
			if arc >= len(oid) || oid[arc] < 0 || uint64(oid[arc]) != v {
				return false
			}
			arc++
		}
		v, start = 0, true
	}
	return arc == len(oid)
}

// decodeOID decodes the contents of an OBJECT IDENTIFIER, for messages.
func decodeOID(raw []byte) (asn1.ObjectIdentifier, bool) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(raw) })
	der, err := b.Bytes()
	if err != nil {
		return nil, false
	}
	var oid asn1.ObjectIdentifier
	s := cryptobyte.String(der)
	return oid, s.ReadASN1ObjectIdentifier(&oid)
}

// oidString names raw as a dotted OID, or in hex when it does not decode.
func oidString(raw []byte) string {
	if oid, ok := decodeOID(raw); ok {
		return oid.String()
	}
	return "invalid OID " + hexString(raw)
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
