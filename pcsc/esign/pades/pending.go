package pades

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
)

// A Pending signature waits on the server while the holder's card signs,
// possibly in another request handled by another server instance: it
// travels through a store as bytes. Nothing in it is secret, and nothing
// in it is trusted on the way back: UnmarshalPending recomputes both
// digests from the document and the certificate, so the card signs, and
// Finish assembles, exactly the document that was stored.

// Version 2 adds where the update begins (Pending.Update); version 1,
// still read, leaves it unknown.
const (
	pendingMagic   = "puce pades pending 2\n"
	pendingMagicV1 = "puce pades pending 1\n"
)

// MarshalBinary encodes the pending signature: the prepared document, the
// placeholder's place, the level, the signer's certificate and where the
// update begins.
func (p *Pending) MarshalBinary() ([]byte, error) {
	cert := p.cert
	out := make([]byte, 0, len(pendingMagic)+len(p.pdf)+len(cert.Raw)+40)
	out = append(out, pendingMagic...)
	for _, v := range []int{int(p.Level), p.contentsAt, p.contentsLen, len(cert.Raw), p.base + 1} {
		out = binary.AppendUvarint(out, uint64(v))
	}
	out = append(out, cert.Raw...)
	return append(out, p.pdf...), nil
}

// UnmarshalPending decodes what MarshalBinary made, checking that the
// placeholder is where it says and recomputing the digests.
func UnmarshalPending(b []byte) (*Pending, error) {
	bad := fmt.Errorf("%w: not a pending signature", ErrMalformed)
	var v [5]int // level, placeholder, its length, certificate length, update's start + 1 (0: unknown)
	fields := len(v)
	switch {
	case bytes.HasPrefix(b, []byte(pendingMagic)):
		b = b[len(pendingMagic):]
	case bytes.HasPrefix(b, []byte(pendingMagicV1)):
		b, fields = b[len(pendingMagicV1):], 4
	default:
		return nil, bad
	}
	for i := range v[:fields] {
		x, n := binary.Uvarint(b)
		if n <= 0 || x > MaxDocumentSize {
			return nil, bad
		}
		v[i], b = int(x), b[n:]
	}
	level, at, hexLen, certLen, base := Level(v[0]), v[1], v[2], v[3], v[4]-1
	if level < LevelBB || level > LevelBLTA || certLen > len(b) {
		return nil, bad
	}
	cert, err := x509.ParseCertificate(b[:certLen])
	if err != nil {
		return nil, bad
	}
	pdf := b[certLen:]
	if at <= 0 || hexLen <= 0 || at+hexLen+2 > len(pdf) || pdf[at] != '<' || pdf[at+hexLen+1] != '>' || base >= at ||
		bytes.Count(pdf[at+1:at+hexLen+1], []byte("0")) != hexLen {
		return nil, bad
	}
	digest := rangesDigest(pdf, at, hexLen)
	cms, err := esign.PrepareDigest(digest, cert, time.Time{})
	if err != nil {
		return nil, err
	}
	return &Pending{Digest: cms.Digest, DocumentDigest: digest, Level: level, pdf: bytes.Clone(pdf), base: base, contentsAt: at, contentsLen: hexLen, cms: cms, cert: cert}, nil
}
