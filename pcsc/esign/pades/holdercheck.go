package pades

// What you see is what you sign: the holder's side rebuilds the bytes its
// card's signature covers from the document it was shown and the update
// the server prepared (SignRequest.Update), and judges the update as
// Verify judges any update after a signature (changes.go) — here with the
// document shown as the signed revision, and narrower, as the ceremony
// only ever adds one signature field. The server's word is then no longer
// needed for SignedRanges: it is the SHA-256 of bytes the holder holds.
//
// The update travels without the /Contents placeholder: /ByteRange leaves
// it out of the signed bytes anyway, and it is the bulk of the update
// (DefaultContentsSize, as hex digits, mostly zeros). Its place and
// length are read from the one /ByteRange in the update that ends the
// rebuilt file, and the holder puts back a hex string of its own there:
// an OCTET STRING holding SHA-256 of the document's hash and the update,
// then zeros. The new signature dictionary's /Contents, parsed from the
// rebuilt file, must be that value: a dictionary elsewhere cannot carry it
// (the update would have to contain its own hash), so the gap is exactly
// the new signature's /Contents, and the signature value the server puts
// there at Finish lands nowhere else.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
)

// SignedRevision is the revision a PDF signature covers, rebuilt on the
// holder's side by SignRequest.Rebuild from the document shown and the
// request's update, and what the new signature adds to it that a holder's
// UI may show.
type SignedRevision struct {
	// PDF is the rebuilt revision: the document shown, then the update,
	// with a check value (not a signature) in the gap /ByteRange leaves. A
	// reader renders it as the signed document will look, the signature's
	// appearance included.
	PDF []byte
	// Field is the new signature field's name.
	Field string
	// Drawn is where the new signature's widget draws its appearance on
	// the document (page and rectangle); nil for an invisible signature.
	Drawn *Overlay
	// Name, Reason, Location and ContactInfo are the signature
	// dictionary's entries of those names, which PDF readers show beside
	// the signature; "" when absent.
	Name, Reason, Location, ContactInfo string
}

// Rebuild checks, on the holder's side, that the request's Update
// appended to shown — the document the holder was shown — is a signature
// of shown and nothing else, and returns the signed revision:
//
//   - shown has the request's size and SHA-256 (esign.ErrDocumentAltered
//     otherwise);
//   - SignedRanges is SHA-256 of shown followed by Update, exactly
//     (esign.ErrDocumentAltered otherwise): the card's signature names
//     those bytes;
//   - Update holds one /ByteRange that, with the placeholder put back at
//     the place and length it names, starts at 0 and ends at the end of
//     the rebuilt file, and leaves out exactly the /Contents hex string
//     of the one signature dictionary the update adds, a CAdES one
//     (/SubFilter /ETSI.CAdES.detached) with the request's signing time
//     (/M), no certification or field lock (/Reference, /Lock);
//   - the update is an incremental update of shown (ISO 32000-1 §7.5.6)
//     whose changes, judged as Verify judges updates after a signature,
//     are only what adding that signature field takes: the field and its
//     widget, the form (/AcroForm: /Fields, /SigFlags, /DR fonts), the
//     page's /Annots. A changed page, content stream or resource, another
//     annotation, a field filled or an existing signature field signed, a
//     changed document information dictionary, are refused, as is a
//     widget drawing anything but the new signature's appearance, or more
//     than one, or one whose /Rect is not four numbers (Drawn gives the
//     rectangle normalised);
//   - under a certification of shown whose DocMDP permissions forbid
//     signing (P 1), the new signature is a change too;
//   - every reader shows the same: shown and the update read the same
//     through the cross-reference table and by scanning the file for
//     objects, as a reader rebuilding the table does (repair.go); the
//     update is laid out as one incremental update (objects, one
//     cross-reference section whose /Prev is shown's, startxref, %%EOF
//     last, holderlayout.go); and it refers to no object the table does
//     not hold under the generation named, which would make poppler
//     rebuild the table.
//
// Every failure is ErrRequest, wrapping what failed: ErrChanged for an
// update that changes the document, ErrMalformed for one that does not
// parse, is not laid out so, or whose byte range is not its signature's,
// ErrTooLarge over MaxUpdateSize. A request without Update is refused: the holder's side
// could not check the bytes it signs. Check runs Rebuild when given the
// document shown, and checks the signed attributes too.
func (r *SignRequest) Rebuild(shown []byte) (*SignedRevision, error) {
	// One pass over the document: Sum leaves the running hash as it is,
	// which then goes on over the update.
	ranges := sha256.New()
	ranges.Write(shown)
	h := ranges.Sum(nil)
	if r.Size != len(shown) || !bytes.Equal(r.DocumentSHA256, h) {
		return nil, fmt.Errorf("%w: it names another document than the one shown (%w)", ErrRequest, esign.ErrDocumentAltered)
	}
	if len(r.Update) == 0 {
		return nil, fmt.Errorf("%w: it carries no update, so the bytes the card would sign cannot be checked against the document shown", ErrRequest)
	}
	if len(r.Update) > MaxUpdateSize {
		return nil, fmt.Errorf("%w: its update takes %d bytes, over %d (%w)", ErrRequest, len(r.Update), MaxUpdateSize, ErrTooLarge)
	}
	ranges.Write(r.Update)
	if !bytes.Equal(ranges.Sum(nil), r.SignedRanges) {
		return nil, fmt.Errorf("%w: the document shown followed by the update is not what its signed ranges are the digest of (%w)", ErrRequest, esign.ErrDocumentAltered)
	}
	at, gap, err := updateGap(r.Update, len(shown))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	// The check value: an OCTET STRING (a DER element, which the signature
	// reader keeps whole) of what the server could not have put in its
	// update, as the update is part of it.
	mark := sha256.New()
	mark.Write([]byte("puce pades holder check\n"))
	mark.Write(h)
	mark.Write(r.Update)
	value := append([]byte{0x04, sha256.Size}, mark.Sum(nil)...)
	if gap-2 < 2*len(value) {
		return nil, fmt.Errorf("%w: the gap /ByteRange leaves is too short for a signature", ErrRequest)
	}
	rev := make([]byte, 0, len(shown)+len(r.Update)+gap)
	rev = append(append(rev, shown...), r.Update[:at]...)
	rev = append(rev, '<')
	rev = hex.AppendEncode(rev, value)
	rev = append(rev, bytes.Repeat([]byte("0"), gap-2-2*len(value))...)
	rev = append(rev, '>')
	rev = append(rev, r.Update[at:]...)
	out, err := judgeUpdate(shown, rev, value, [4]int64{0, int64(len(shown) + at), int64(len(shown) + at + gap), int64(len(r.Update) - at)}, r.SigningTime)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	return out, nil
}

// updateGap finds, in update (the signed bytes of an update to a document
// of base bytes), the /ByteRange [0 a b c] whose gap lies in the update
// and whose second range ends the rebuilt file (a + c = base + the
// update's length), and returns the gap's place in the update and its
// length, b - a. There must be one such.
func updateGap(update []byte, base int) (at, gap int, err error) {
	const key = "/ByteRange"
	found := 0
	for i, n := 0, 0; ; n++ {
		k := bytes.Index(update[i:], []byte(key))
		if k < 0 {
			break
		}
		if n >= 16 {
			return 0, 0, fmt.Errorf("%w: the update names /ByteRange over and over", ErrMalformed)
		}
		i += k + len(key)
		if i < len(update) && !isDelimiterOrSpace(update[i]) {
			continue // a longer name
		}
		l := &lexer{buf: update, pos: i}
		o, err := l.object(0)
		arr, _ := o.(array)
		if err != nil || len(arr) != 4 {
			continue
		}
		var v [4]int64
		ok := true
		for j, e := range arr {
			num, _ := e.(number)
			x, isInt := num.int()
			ok = ok && isInt && x >= 0 && x <= MaxDocumentSize
			v[j] = x
		}
		a, b := int(v[1]), int(v[2])
		if !ok || v[0] != 0 || a < base || a-base > len(update) || b-a < 2 || b-a > maxContentsHex+2 || (b-a)%2 != 0 ||
			a+int(v[3]) != base+len(update) {
			continue
		}
		found++
		at, gap = a-base, b-a
	}
	switch found {
	case 0:
		return 0, 0, fmt.Errorf("%w: the update names no /ByteRange that starts at 0, leaves a gap in the update and ends at its end", ErrMalformed)
	case 1:
		return at, gap, nil
	}
	return 0, 0, fmt.Errorf("%w: the update names %d byte ranges that could be its signature's", ErrMalformed, found)
}

// judgeUpdate parses rev, shown with the update and the placeholder put
// back holding value where byteRange leaves a gap, and judges it against
// shown; at is the signing time the request states.
func judgeUpdate(shown, rev, value []byte, byteRange [4]int64, at time.Time) (*SignedRevision, error) {
	base, err := parseDocument(shown)
	if err != nil {
		return nil, fmt.Errorf("the document shown: %w", err)
	}
	doc, err := parseDocument(rev)
	if err != nil {
		return nil, fmt.Errorf("the document with the update: %w", err)
	}
	// The document shown, as the holder's reader showed it, must be what
	// every reader shows: one whose table and scanning disagree shows
	// different content in each (repair.go).
	if c := scanDisagrees(base, int64(len(shown))); c != "" {
		return nil, fmt.Errorf("%w: the document shown: %s", ErrMalformed, c)
	}
	if c := endsAsUpdate(doc, int64(len(shown))); c != "" {
		return nil, fmt.Errorf("%w: the update: %s", ErrMalformed, strings.Replace(c, "signed revision", "document shown", 1))
	}
	before, err := base.signatures()
	if err != nil {
		return nil, fmt.Errorf("the document shown: %w", err)
	}
	after, err := doc.signatures()
	if err != nil {
		return nil, fmt.Errorf("the document with the update: %w", err)
	}
	had := map[string]bool{}
	for _, s := range before {
		had[fmt.Sprint(s.holder, string(serialize(s.dict)))] = true
	}
	var added []sigField
	for _, s := range after {
		if !had[fmt.Sprint(s.holder, string(serialize(s.dict)))] {
			added = append(added, s)
		}
	}
	if len(added) != 1 {
		return nil, fmt.Errorf("%w: the update adds %d signatures, not one", ErrChanged, len(added))
	}
	s := added[0]
	switch {
	case s.bad != nil:
		return nil, s.bad
	case s.docTimestamp || s.subFilter != "ETSI.CAdES.detached":
		return nil, fmt.Errorf("%w: the new signature is not a CAdES one (/SubFilter /%s)", ErrUnsupported, s.subFilter)
	case s.byteRange != byteRange:
		return nil, fmt.Errorf("%w: the new signature's /ByteRange %v is not the one the update names, %v", ErrMalformed, s.byteRange, byteRange)
	case !bytes.Equal(s.contents, value):
		return nil, fmt.Errorf("%w: the gap /ByteRange leaves is not the new signature's /Contents", ErrMalformed)
	case s.dict.get("Reference") != nil || s.lock != nil:
		return nil, fmt.Errorf("%w: the new signature certifies or locks (/Reference, /Lock), which signing does not ask for", ErrChanged)
	}
	if err := s.checkByteRange(rev); err != nil {
		return nil, err
	}
	// /M has a resolution of one second (ISO 32000-1 §7.9.4).
	m, _ := s.dict.get("M").(pdfStr)
	if t := parsePDFDate(string(m)); t.IsZero() || !t.Equal(at.Truncate(time.Second)) {
		return nil, fmt.Errorf("%w: the new signature claims another signing time (/M %q) than the request states (%s)", ErrChanged, string(m), at.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	// The information dictionary a reader shows as the title stays the
	// document's: the ceremony does not change it.
	if !bytes.Equal(serialize(base.trailer.get("Info")), serialize(doc.trailer.get("Info"))) {
		return nil, fmt.Errorf("%w: the update names another document information dictionary", ErrChanged)
	}
	if ir, ok := base.trailer.get("Info").(ref); ok {
		o1, err1 := base.getObject(ir.num)
		o2, err2 := doc.getObject(ir.num)
		if err1 != nil || err2 != nil || !bytes.Equal(serialize(o1), serialize(o2)) {
			return nil, fmt.Errorf("%w: the update changes the document information dictionary", ErrChanged)
		}
	}
	// Judged as the changes after a signature of shown would be, with
	// no annotation allowed but signatures' (P 2, or P 1 when a
	// certification forbids signing) and every field locked: the
	// ceremony fills nothing and signs no field of the document.
	p := base.permissions(s.dict)
	if p != 1 {
		p = 2
	}
	j := changesAfter(doc, base, p, []*fieldLock{{all: true, reason: "the ceremony fills no field and signs none it did not add"}})
	if len(j.changes) > 0 {
		return nil, fmt.Errorf("%w: the update does more than add a signature field: %s", ErrChanged, strings.Join(j.changes, "; "))
	}
	// Judged after the changes, which say more when both refuse.
	if err := updateLayout(doc, int64(len(shown)), base.lastXref); err != nil {
		return nil, err
	}
	if err := updateRefs(doc, base); err != nil {
		return nil, err
	}
	out := &SignedRevision{PDF: rev, Field: s.field}
	for _, o := range j.overlays {
		if !o.hasSig || o.sig != s.holder || o.Removed || out.Drawn != nil {
			return nil, fmt.Errorf("%w: the update draws on page %d what is not the new signature's appearance", ErrChanged, o.Page)
		}
		d := o.Overlay
		if d.Rect[0] == d.Rect[2] || d.Rect[1] == d.Rect[3] {
			// A /Rect that is not four numbers draws where each reader
			// makes of it (MuPDF takes the first four of five): the
			// holder could not be told where.
			return nil, fmt.Errorf("%w: the new signature's widget draws on page %d, where its /Rect, not four numbers, does not say", ErrMalformed, o.Page)
		}
		d.Field = s.field
		out.Drawn = &d
	}
	for key, v := range map[name]*string{"Name": &out.Name, "Reason": &out.Reason, "Location": &out.Location, "ContactInfo": &out.ContactInfo} {
		if t, ok := s.dict.get(key).(pdfStr); ok {
			*v = text(t)
		}
	}
	return out, nil
}
