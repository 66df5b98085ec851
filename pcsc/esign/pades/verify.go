package pades

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/esign"
)

// VerifyOptions say whom to trust.
type VerifyOptions struct {
	// Roots and Intermediates are the signers' CAs.
	Roots, Intermediates *x509.CertPool
	// TSARoots and TSAIntermediates are the timestamping authorities'
	// CAs; nil leaves timestamps unchecked (signatures at B-B).
	TSARoots, TSAIntermediates *x509.CertPool
	// Purposes are the signer's accepted extended key usages (nil:
	// esign.DefaultPurposes).
	Purposes []asn1.ObjectIdentifier
	// OCSP, when set, also asks the signer's CA now, for signatures
	// whatever their embedded data: a revocation after a signature's
	// timestamp leaves it valid, one before it (or any, without a
	// timestamp) is esign.ErrRevoked. nil: no network.
	OCSP *ocsp.Checker
	// Now is the clock the OCSP answer is judged by (nil: time.Now).
	Now func() time.Time
}

// SignatureReport is what Verify found of one signature or document
// timestamp.
type SignatureReport struct {
	// Field is the signature field's name.
	Field string
	// DocumentTimestamp marks a document timestamp (/ETSI.RFC3161): it
	// has no signer, its Timestamp is itself.
	DocumentTimestamp bool
	// Signer is the signer's certificate.
	Signer *x509.Certificate
	// ClaimedTime is when the signer says it signed (/M): a claim only.
	ClaimedTime time.Time
	// Timestamp is the signature timestamp (or the document timestamp),
	// verified; nil without one.
	Timestamp *esign.Timestamp
	// Status is the signer's certificate status at the timestamp's time,
	// from the embedded validation data with no network; nil when not
	// established.
	Status *esign.CertificateStatus
	// AuthorityStatus is the same for the signature timestamp's authority
	// (esign.Report.AuthorityStatus).
	AuthorityStatus *esign.CertificateStatus
	// Level is the PAdES baseline level reached (zero when the signature
	// does not verify); a document timestamp that verifies is at LevelBT.
	Level Level
	// WholeDocument: the signature covers every byte of the file.
	WholeDocument bool
	// ChangedAfterSigning: a later incremental update changes the
	// document's content; Changes says how. Updates that only add
	// validation data, document timestamps or signatures, or fill form
	// fields, are not changes (ETSI EN 319 142-1 §5.4: DSS and document
	// timestamps follow a signature in later updates; ISO 32000-1
	// §12.8.2.2.2, Table 254) — unless the DocMDP permissions, or a
	// FieldMDP lock, in force forbid them.
	ChangedAfterSigning bool
	Changes             []string
	// Overlays are what later updates draw over the pages of the signed
	// revision by changes the signature permits: another signer's visible
	// signature (signing is permitted after any signature, ISO 32000-1
	// §12.8.2.2.2, Table 254), a form field filled (permitted but under
	// DocMDP P 1 or the signature's FieldMDP lock), an annotation under a
	// certification whose DocMDP permissions are 3. The signature stays
	// valid — the change is permitted — but a reader no longer shows the
	// page as it was signed: show the signed revision (the file's first
	// SignedLength bytes), or the overlays. A drawing change that is not
	// permitted is a change (ErrChanged), not an overlay.
	Overlays []Overlay
	// SignedLength is how many of the file's first bytes the signature
	// covers (its /ByteRange's end): the revision it signed.
	SignedLength int64
	// Err is why the signature is not valid, nil when it is: an esign
	// error (esign.ErrDocumentAltered, esign.ErrBadSignature,
	// esign.ErrUntrustedSigner, esign.ErrTimeNotProven…), ErrMalformed, or
	// ErrChanged when the signature verifies but the document was changed
	// after it.
	Err error
}

// Valid: the signature verifies and nothing changed the document since but
// what its permissions allow. What those changes draw over the signed
// pages is in Overlays: a valid signature with overlays no longer looks
// as it was signed.
func (r *SignatureReport) Valid() bool { return r.Err == nil }

// Overlay is an annotation a later update added, changed or removed on a
// page of the signed revision, where a reader draws over the page — or,
// removed, no longer draws.
type Overlay struct {
	// Page is the page's number, from 1.
	Page int
	// Rect is where, in the page's default user space (ISO 32000-1
	// §12.5.2 /Rect).
	Rect [4]float64
	// Annotation is its subtype: Widget for a signature field's.
	Annotation string
	// Field is the signature field's name, for a signature.
	Field string
	// FormField is the field's name, for a form field filled after
	// signing (a text, choice or button field taking another value and
	// appearance).
	FormField string
	// Removed: the annotation was deleted, or no longer draws as it did,
	// and what it covered shows again (a shadow attack's "hide"); Rect
	// is where it drew.
	Removed bool
}

// Report is every signature of a document, in file order.
type Report struct {
	Signatures []SignatureReport
}

// Verify checks every signature and document timestamp of pdf, with no
// network: the embedded validation data (the document security store and
// the CMS signatures' own) judges the signers' certificates at the times
// the timestamps prove. It fails only when the PDF cannot be read or has no
// signature; each signature's verdict is in its SignatureReport.
func Verify(ctx context.Context, pdf []byte, opts VerifyOptions) (*Report, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	sigs, err := doc.signatures()
	if err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return nil, ErrNoSignature
	}
	stored, err := doc.dss()
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	// Fields that name the same signature — the same byte range, hence the
	// same /Contents, and the same claimed time — get one verification:
	// a hostile file naming one signature from every field would have it
	// checked, with every answer of the store, once per field.
	done := map[string]int{}
	keys := make([]string, len(sigs))
	var pending [][]overlay // what later updates draw over each one's pages
	for n, s := range sigs {
		m, _ := s.dict.get("M").(pdfStr)
		// The holder too: a copy of a signature dictionary under another
		// object number is another signature, and not in its bytes.
		key := fmt.Sprint(s.byteRange, s.docTimestamp, s.subFilter, string(m), sha256.Sum256(s.contents), s.holder)
		keys[n] = key
		if i, ok := done[key]; ok {
			r := rep.Signatures[i]
			r.Field = s.field
			rep.Signatures = append(rep.Signatures, r)
			pending = append(pending, pending[i])
			continue
		}
		done[key] = len(rep.Signatures)
		r, drawn := verifyOne(ctx, doc, s, &stored.ValidationData, opts)
		rep.Signatures = append(rep.Signatures, r)
		pending = append(pending, drawn)
	}
	settleOverlays(rep, sigs, pending)
	// B-LTA: a valid document timestamp over a B-LT signature and its
	// validation data (ETSI EN 319 142-1 §6.3): the latest first, as it
	// covers the most.
	lta := map[string]bool{}
	for i := range rep.Signatures {
		r := &rep.Signatures[i]
		if r.Level != LevelBLT {
			continue
		}
		if done, ok := lta[keys[i]]; ok {
			if done {
				r.Level = LevelBLTA
			}
			continue
		}
		lta[keys[i]] = false
		for j := len(rep.Signatures) - 1; j >= 0; j-- {
			t := rep.Signatures[j]
			if t.DocumentTimestamp && t.Err == nil && sigs[j].end() > sigs[i].end() && ltWithin(ctx, doc, sigs[i], sigs[j].end(), opts) {
				r.Level, lta[keys[i]] = LevelBLTA, true
				break
			}
		}
	}
	return rep, nil
}

// ltWithin says whether signature s reaches B-LT with the validation data
// of the document's first end bytes, the revision a document timestamp
// covers: a timestamp made before the DSS that proves the signer's status
// protects the signature, not that data.
func ltWithin(ctx context.Context, doc *document, s sigField, end int64, opts VerifyOptions) bool {
	rev, err := parseDocument(doc.data[:end])
	if err != nil {
		return false
	}
	stored, err := rev.dss()
	if err != nil {
		return false
	}
	signed, err := s.signedBytes(doc.data)
	if err != nil {
		return false
	}
	er, err := esign.VerifyContext(ctx, signed, s.contents, esign.VerifyOptions{Roots: opts.Roots, Intermediates: opts.Intermediates,
		TSARoots: opts.TSARoots, TSAIntermediates: opts.TSAIntermediates, Purposes: opts.Purposes, ValidationData: &stored.ValidationData})
	return err == nil && (er.Level == "B-LT" || er.Level == "B-LTA")
}

func (s *sigField) end() int64 { return s.byteRange[2] + s.byteRange[3] }

func verifyOne(ctx context.Context, doc *document, s sigField, vd *esign.ValidationData, opts VerifyOptions) (SignatureReport, []overlay) {
	r := SignatureReport{Field: s.field, DocumentTimestamp: s.docTimestamp, SignedLength: s.end()}
	if m, ok := s.dict.get("M").(pdfStr); ok {
		r.ClaimedTime = parsePDFDate(string(m))
	}
	if s.bad != nil {
		r.Err = s.bad
		return r, nil
	}
	signed, err := s.signedBytes(doc.data)
	if err != nil {
		r.Err = err
		return r, nil
	}
	rev, err := doc, error(nil)
	if s.end() < int64(len(doc.data)) {
		rev, err = parseDocument(doc.data[:s.end()])
	}
	if err != nil {
		r.Err = fmt.Errorf("%w: signature %q: the bytes it signs are no revision of the document: %v", ErrMalformed, s.field, err)
		return r, nil
	}
	// The byte range covers the whole file but the signature value, the
	// signature dictionary included (ISO 32000-1 and ISO 32000-2 §12.8.1):
	// a dictionary written after those bytes — a copy of
	// another signature's /ByteRange and /Contents under a new object
	// number, or a /ByteRange rewritten to frame moved bytes — signs none
	// of what it says.
	// (A signature over the whole file was read from the revision it
	// signs.)
	if rev != doc && !s.inRevision(rev) {
		r.Err = fmt.Errorf("%w: signature %q: its dictionary is not in the bytes it signs", ErrMalformed, s.field)
		return r, nil
	}
	// "A document can contain only one signature field that contains a
	// DocMDP transform method; it shall be the first signed field in the
	// document" (ISO 32000-1 §12.8.2.2.1): a certification whose signed
	// bytes already hold another signature certifies nothing — its
	// permissions would bind the signers before it, who never saw them. (A
	// forged dictionary added later, which no byte range covers, is not in
	// those bytes.)
	if !s.docTimestamp && rev.docMDP(s.dict) != 0 {
		earlier, _ := rev.signatures()
		for _, e := range earlier {
			if e.bad == nil && e.holder != s.holder && e.end() < s.end() {
				r.Err = fmt.Errorf("%w: signature %q certifies the document (DocMDP) but is not its first signature", ErrMalformed, s.field)
				return r, nil
			}
		}
	}
	var drawn []overlay
	r.WholeDocument = s.end() == int64(len(doc.data))
	if !r.WholeDocument {
		p, locks := 0, []*fieldLock(nil)
		if !s.docTimestamp {
			var lp int
			p = rev.permissions(s.dict)
			if locks, lp = rev.fieldLocks(s.dict, s.lock); lp != 0 && (p == 0 || lp < p) {
				p = lp
			}
		}
		j := changesAfter(doc, rev, p, locks)
		r.Changes, drawn = j.changes, j.overlays
		if c := endsAsUpdate(doc, s.end()); c != "" {
			r.Changes = append(r.Changes, c)
		}
		r.ChangedAfterSigning = len(r.Changes) > 0
	}
	switch {
	case s.docTimestamp:
		if opts.TSARoots == nil {
			r.Err = fmt.Errorf("%w: no timestamping authority is trusted (VerifyOptions.TSARoots)", esign.ErrTimestamp)
			return r, drawn
		}
		ts, err := esign.VerifyTimestampOf(s.contents, signed, esign.TimestampOptions{Roots: opts.TSARoots, Intermediates: opts.TSAIntermediates})
		if err != nil {
			r.Err = err
			return r, drawn
		}
		r.Timestamp, r.Level = ts, LevelBT
	case s.subFilter == "ETSI.CAdES.detached" || s.subFilter == "adbe.pkcs7.detached":
		er, err := esign.VerifyContext(ctx, signed, s.contents, esign.VerifyOptions{Roots: opts.Roots, Intermediates: opts.Intermediates,
			TSARoots: opts.TSARoots, TSAIntermediates: opts.TSAIntermediates, Purposes: opts.Purposes, ValidationData: vd, ClaimedTime: r.ClaimedTime, OCSP: opts.OCSP, Now: opts.Now})
		if er != nil {
			r.Signer = er.Signer
			if !er.SigningTime.IsZero() {
				r.ClaimedTime = er.SigningTime
			}
			r.Timestamp, r.Status, r.AuthorityStatus = er.Timestamp, er.Status, er.AuthorityStatus
		}
		if err != nil {
			r.Err = err
			return r, drawn
		}
		r.Level = map[string]Level{"B-B": LevelBB, "B-T": LevelBT, "B-LT": LevelBLT}[er.Level]
	default:
		r.Err = fmt.Errorf("%w: /SubFilter /%s", ErrUnsupported, s.subFilter)
		return r, drawn
	}
	if r.ChangedAfterSigning {
		r.Err = fmt.Errorf("%w: %s", ErrChanged, strings.Join(r.Changes, "; "))
	}
	return r, drawn
}

// inRevision says whether the signature dictionary is in rev, the
// revision it signs: the object holding it there holds the same
// dictionary.
func (s *sigField) inRevision(rev *document) bool {
	o, err := rev.getObject(s.holder.num)
	if err != nil {
		return false
	}
	want := serialize(s.dict)
	var find func(o object, depth int) bool
	find = func(o object, depth int) bool {
		if depth > maxDepth {
			return false
		}
		switch v := o.(type) {
		case *dict:
			if bytes.Equal(serialize(v), want) {
				return true
			}
			for _, e := range v.vals {
				if find(e, depth+1) {
					return true
				}
			}
		case array:
			for _, e := range v {
				if find(e, depth+1) {
					return true
				}
			}
		}
		return false
	}
	return find(o, 0)
}

// sigField is a signature field with a signature dictionary.
type sigField struct {
	field        string
	dict         *dict
	docTimestamp bool
	subFilter    name
	byteRange    [4]int64
	contents     []byte // the DER, its zero padding cut off
	// holder is the indirect object the signature dictionary is, or is
	// written in (a field holding it directly, an array of such fields…).
	holder ref
	bad    error  // why the dictionary is no signature's (ErrMalformed)
	lock   object // the field's /Lock (ISO 32000-1 §12.7.4.5, Table 233)
}

// signatures lists the signature fields of the interactive form (ISO
// 32000-1 §12.7.4.5), walking the field tree.
func (d *document) signatures() ([]sigField, error) {
	_, cat, err := d.catalog()
	if err != nil {
		return nil, err
	}
	form, err := d.resolveDict(cat.get("AcroForm"))
	if err != nil {
		return nil, err
	}
	var fields array
	// The fields of /Fields are written in the form's object, or the
	// catalog's when the form is direct, or /Fields' own.
	top, _ := d.trailer.get("Root").(ref)
	if r, ok := cat.get("AcroForm").(ref); ok {
		top = r
	}
	if form != nil {
		if r, ok := form.get("Fields").(ref); ok {
			top = r
		}
		fo, err := d.resolve(form.get("Fields"))
		if err != nil {
			return nil, err
		}
		fields, _ = fo.(array)
	}
	var out []sigField
	seen := map[ref]bool{}
	var walk func(list array, holder ref, prefix string, ft object, depth int) error
	walk = func(list array, holder ref, prefix string, ft object, depth int) error {
		if depth > maxDepth || len(out) > 1000 {
			return fmt.Errorf("%w: form field tree too deep or large", ErrMalformed)
		}
		for _, f := range list {
			in := holder
			if r, ok := f.(ref); ok {
				if seen[r] {
					continue
				}
				seen[r] = true
				in = r
			}
			fd, err := d.resolveDict(f)
			if err != nil {
				return err
			}
			if fd == nil {
				continue
			}
			nm := prefix
			if t, ok := fd.get("T").(pdfStr); ok {
				if nm != "" {
					nm += "."
				}
				nm += string(t)
			}
			fft := ft
			if v := fd.get("FT"); v != nil {
				fft = v
			}
			if ko, err := d.resolve(fd.get("Kids")); err == nil {
				if kids, ok := ko.(array); ok {
					kin := in
					if r, ok := fd.get("Kids").(ref); ok {
						kin = r
					}
					if err := walk(kids, kin, nm, fft, depth+1); err != nil {
						return err
					}
				}
			}
			if fft != name("Sig") || fd.get("V") == nil {
				continue
			}
			v, err := d.resolveDict(fd.get("V"))
			if err != nil {
				return err
			}
			if v == nil {
				continue
			}
			// A signature dictionary that cannot be one (no /ByteRange, no
			// /Contents: the universal signature forgery's) is that
			// signature's verdict, not the document's: a later update
			// adding one would otherwise hide every other signature's.
			s, err := readSigDict(nm, v)
			s.bad = err
			s.holder = in
			s.lock = fd.get("Lock")
			if r, ok := fd.get("V").(ref); ok {
				s.holder = r
			}
			out = append(out, s)
		}
		return nil
	}
	if err := walk(fields, top, "", nil, 0); err != nil {
		return nil, err
	}
	// Signature fields reached only through a page's annotations: ISO
	// 32000-1 §12.7.2 puts every root field in /AcroForm /Fields, but
	// poppler's pdfsig (22.12) adds its field to the page's /Annots alone,
	// and PDF readers, poppler's own among them, show such a signature. A
	// verifier that skipped it would report fewer signatures than they do.
	// Each annotation and each node of a /Parent chain is resolved once,
	// however many annotations name it, so that a hostile file cannot make
	// the search quadratic. The search is a supplement: a page tree it
	// cannot walk leaves the signatures of the field tree as they are.
	roots := map[ref]ref{}
	var found error // from the signatures found, not from the page tree
	d.eachPage(func(_ ref, page *dict) error {
		ao, err := d.resolve(page.get("Annots"))
		if err != nil {
			return nil
		}
		annots, _ := ao.(array)
		for _, a := range annots {
			r, ok := a.(ref)
			if !ok || seen[r] {
				continue
			}
			if _, done := roots[r]; done {
				continue
			}
			top, err := d.rootField(r, roots)
			if err == nil {
				err = walk(array{top}, top, "", nil, 0)
			}
			if err != nil {
				found = err
				return err
			}
		}
		return nil
	})
	if found != nil {
		return nil, found
	}
	// File order: by where each signature's signed range ends.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].end() < out[j-1].end(); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// rootField is the field a widget annotation belongs to, at the top of
// its /Parent chain (ISO 32000-1 §12.7.3.1); the annotation itself when
// it has no parent. roots remembers the answer for every node it passed,
// so that each node is resolved once across calls.
func (d *document) rootField(r ref, roots map[ref]ref) (ref, error) {
	var path []ref
	for {
		if top, ok := roots[r]; ok {
			r = top
			break
		}
		if len(path) == maxDepth {
			return r, fmt.Errorf("%w: form field tree too deep", ErrMalformed)
		}
		path = append(path, r)
		n, err := d.resolveDict(r)
		if err != nil || n == nil {
			break
		}
		p, ok := n.get("Parent").(ref)
		if !ok {
			break
		}
		r = p
	}
	for _, n := range path {
		roots[n] = r
	}
	return r, nil
}

func readSigDict(field string, v *dict) (sigField, error) {
	s := sigField{field: field, dict: v}
	s.subFilter, _ = v.get("SubFilter").(name)
	s.docTimestamp = v.get("Type") == name("DocTimeStamp") || s.subFilter == "ETSI.RFC3161"
	br, ok := v.get("ByteRange").(array)
	if !ok || len(br) != 4 {
		return s, fmt.Errorf("%w: signature %q: /ByteRange is not four numbers", ErrMalformed, field)
	}
	for i, e := range br {
		n, _ := e.(number)
		x, ok := n.int()
		if !ok || x < 0 || x > MaxDocumentSize {
			return s, fmt.Errorf("%w: signature %q: /ByteRange", ErrMalformed, field)
		}
		s.byteRange[i] = x
	}
	c, ok := v.get("Contents").(pdfStr)
	if !ok {
		return s, fmt.Errorf("%w: signature %q: no /Contents", ErrMalformed, field)
	}
	in := cryptobyte.String(c)
	var el cryptobyte.String
	if in.ReadAnyASN1Element(&el, nil) {
		c = pdfStr(el)
	}
	s.contents = c
	return s, nil
}

// signedBytes checks the byte range (checkByteRange) and returns what it
// covers.
func (s *sigField) signedBytes(data []byte) ([]byte, error) {
	if err := s.checkByteRange(data); err != nil {
		return nil, err
	}
	b, c, e := s.byteRange[1], s.byteRange[2], s.byteRange[3]
	out := make([]byte, 0, b+e)
	out = append(out, data[:b]...)
	return append(out, data[c:c+e]...), nil
}

// checkByteRange checks the byte range: two ranges around exactly the
// /Contents hex string, from the file's start.
func (s *sigField) checkByteRange(data []byte) error {
	a, b, c, e := s.byteRange[0], s.byteRange[1], s.byteRange[2], s.byteRange[3]
	n := int64(len(data))
	if a != 0 || b <= 0 || c <= b+1 || c+e > n || data[b] != '<' || data[c-1] != '>' {
		return fmt.Errorf("%w: signature %q: /ByteRange does not surround the signature", ErrMalformed, s.field)
	}
	gap := data[b+1 : c-1]
	l := &lexer{buf: data, pos: int(b)}
	hexStr, err := l.hex()
	if err != nil || int64(l.pos) != c || !strings.HasPrefix(string(hexStr), string(s.contents)) || len(gap)%2 != 0 {
		return fmt.Errorf("%w: signature %q: the gap in /ByteRange is not its /Contents", ErrMalformed, s.field)
	}
	return nil
}
