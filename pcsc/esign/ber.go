package esign

import "errors"

// BER to DER (X.690 §8 and §10). Signers that stream, NSS among them (and so
// poppler's pdfsig), write CMS with indefinite lengths (§8.1.3.6) and may
// split OCTET STRINGs into constructed chunks (§8.7.3.2). The signature does
// not cover that outer encoding — it covers the content, or the DER of the
// signed attributes (RFC 5652 §5.4) — so esign re-encodes the message with
// definite, minimal lengths and primitive OCTET STRINGs, and reads the
// result as DER. Element order is kept: a SET the signer sorted stays
// sorted, and one it did not is not "repaired" into something it did not
// sign.

var errBER = errors.New("not BER")

const maxBERDepth = 64

// asDER returns a CMS structure in DER, as parse reads it: BER re-encoded
// (indefinite lengths, chunked strings, long-form lengths), DER as it is.
// The functions that cut a SignedData into its encoded parts to extend or
// hash it read what parse verified, not a second reading of other bytes.
func asDER(p7s []byte) []byte {
	if der, err := berToDER(p7s); err == nil {
		return der
	}
	return p7s
}

// berToDER re-encodes a BER element (exactly one, filling in) in DER form.
func berToDER(in []byte) ([]byte, error) {
	out, rest, err := berElement(in, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errBER
	}
	return out, nil
}

// berElement converts the element at the start of in and returns it and
// what follows it.
func berElement(in []byte, depth int) (out, rest []byte, err error) {
	if depth > maxBERDepth || len(in) < 2 {
		return nil, nil, errBER
	}
	// Identifier octets: one, or more for tag numbers of 31 and up.
	n := 1
	if in[0]&0x1f == 0x1f {
		for n < len(in) && in[n]&0x80 != 0 {
			n++
		}
		n++
		if n > 6 || n >= len(in) {
			return nil, nil, errBER
		}
	}
	tag := in[:n]
	constructed := in[0]&0x20 != 0
	l := int(in[n])
	p := n + 1
	var body []byte
	switch {
	case l == 0x80: // indefinite: constructed only, ends with two zero octets
		if !constructed {
			return nil, nil, errBER
		}
		var children [][]byte
		rest := in[p:]
		for {
			if len(rest) >= 2 && rest[0] == 0 && rest[1] == 0 {
				rest = rest[2:]
				break
			}
			c, r, err := berElement(rest, depth+1)
			if err != nil {
				return nil, nil, err
			}
			children, rest = append(children, c), r
		}
		return joinConstructed(tag, children), rest, nil
	case l < 0x80:
		body = in[p:]
	default:
		k := l & 0x7f
		if k > 4 || p+k > len(in) {
			return nil, nil, errBER
		}
		l = 0
		for _, b := range in[p : p+k] {
			l = l<<8 | int(b)
		}
		p += k
		body = in[p:]
	}
	if l > len(body) {
		return nil, nil, errBER
	}
	rest = body[l:]
	body = body[:l]
	if !constructed {
		return appendTLV(nil, tag, body), rest, nil
	}
	var children [][]byte
	for len(body) > 0 {
		c, r, err := berElement(body, depth+1)
		if err != nil {
			return nil, nil, err
		}
		children, body = append(children, c), r
	}
	return joinConstructed(tag, children), rest, nil
}

// joinConstructed encodes a constructed element from its converted
// children; a constructed OCTET STRING becomes the primitive one of its
// chunks' contents (X.690 §10.2: DER uses the primitive form).
func joinConstructed(tag []byte, children [][]byte) []byte {
	if len(tag) == 1 && tag[0] == 0x24 {
		var content []byte
		for _, c := range children {
			content = append(content, derContent(c)...)
		}
		return appendTLV(nil, []byte{0x04}, content)
	}
	var content []byte
	for _, c := range children {
		content = append(content, c...)
	}
	return appendTLV(nil, tag, content)
}

// derContent returns the contents of a DER element this file wrote.
func derContent(el []byte) []byte {
	n := 1
	if el[0]&0x1f == 0x1f {
		for el[n]&0x80 != 0 {
			n++
		}
		n++
	}
	if el[n] < 0x80 {
		return el[n+1:]
	}
	return el[n+1+int(el[n]&0x7f):]
}

func appendTLV(out, tag, content []byte) []byte {
	out = append(out, tag...)
	switch l := len(content); {
	case l < 0x80:
		out = append(out, byte(l))
	case l < 1<<8:
		out = append(out, 0x81, byte(l))
	case l < 1<<16:
		out = append(out, 0x82, byte(l>>8), byte(l))
	case l < 1<<24:
		out = append(out, 0x83, byte(l>>16), byte(l>>8), byte(l))
	default:
		out = append(out, 0x84, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
	}
	return append(out, content...)
}
