// Package pades signs PDF documents with a card's e-signature key and
// verifies PDF signatures, as PAdES baseline signatures (ETSI EN 319 142-1):
// B-B (a CMS signature, /SubFilter /ETSI.CAdES.detached), B-T (with a
// signature timestamp from an RFC 3161 authority), B-LT (the chain and OCSP
// answers in the document security store, /DSS) and B-LTA (a document
// timestamp, /SubFilter /ETSI.RFC3161, over all of it). Each step is an
// incremental update: the bytes before it are never changed, so earlier
// signatures stay intact.
//
// The PDF stays on the server. Prepare writes the signature field and a
// placeholder and returns the digest the card signs with its PIV slot 9C
// key; Finish puts the signature in and adds what the level needs. A web
// server runs the two as a Ceremony (identity/httpauth's Signing.PDF serves
// it); the holder's side answers with SignOnCard, which checks, before the
// card signs, that the digest is that of CMS signed attributes naming this
// card and the signed bytes, and that those bytes are the PDF shown
// followed by an update that only adds the signature field: the request
// carries that update (without the placeholder), the holder's side
// rebuilds the signed revision and judges the update as Verify judges
// updates after a signature (SignRequest.Check and Rebuild; a holder's
// side shown no bytes takes the signed bytes on the server's word). The
// cryptographic checks are esign's (CMS, timestamps, validation data); this
// package reads and writes the PDF structure — classic cross-reference
// tables, cross-reference streams and object streams — with its own small
// parser, bounded and fuzzed. It is on the server path: no cgo.
//
// Verify judges every update after a signature against the revision it
// signed, as the published attacks on signed PDFs require (universal
// forgery, incremental saving, signature wrapping, shadow attacks, evil
// annotations and sneaky signatures): a change is ErrChanged; a change the
// signature permits but that draws over a signed page — another signer's
// visible signature, a form field filled, an annotation under DocMDP
// permissions 3 — is reported as an Overlay. A signature's FieldMDP lock
// and a certification's DocMDP permissions are enforced.
package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/esign"
)

// Errors callers branch on, all reachable with errors.Is. Signature
// failures are esign's (esign.ErrBadSignature, esign.ErrUntrustedSigner…).
var (
	// ErrMalformed: the file is not a PDF this package can read, or breaks
	// the PDF syntax.
	ErrMalformed = errors.New("pades: malformed PDF")
	// ErrTooLarge: the document, or what its streams inflate to, is over
	// the limits (MaxDocumentSize).
	ErrTooLarge = errors.New("pades: PDF too large")
	// ErrUnsupported: a PDF feature this package does not handle
	// (encryption, a stream filter other than FlateDecode in the
	// structure); the message names it.
	ErrUnsupported = errors.New("pades: unsupported PDF")
	// ErrNoSignature: the PDF has no signature to verify or extend.
	ErrNoSignature = errors.New("pades: the PDF has no signature")
	// ErrChanged: the document was changed after a signature: a later
	// incremental update changes its content, or the signed bytes were
	// edited (then esign.ErrDocumentAltered too).
	ErrChanged = errors.New("pades: the document was changed after it was signed")
)

// MaxDocumentSize bounds the PDFs read and written.
const MaxDocumentSize = 64 << 20

// DefaultContentsSize is the room, in bytes, kept for the CMS signature
// (with its timestamp token) in the signature dictionary.
const DefaultContentsSize = 24 << 10

// Level is a PAdES baseline level.
type Level int

// The levels, each adding to the one before.
const (
	LevelBB Level = iota + 1
	LevelBT
	LevelBLT
	LevelBLTA
)

func (l Level) String() string {
	switch l {
	case LevelBB:
		return "B-B"
	case LevelBT:
		return "B-T"
	case LevelBLT:
		return "B-LT"
	case LevelBLTA:
		return "B-LTA"
	}
	return "none"
}

// SignOptions describe the signature Prepare makes ready.
type SignOptions struct {
	// Certificate is the signer's (the card's 9C certificate).
	Certificate *x509.Certificate
	// Level is what Finish brings the signature to (zero: LevelBLT).
	Level Level
	// Time is the claimed signing time, /M (zero: now). PAdES puts no
	// signing-time attribute in the CMS (ETSI EN 319 142-1 §5.4.2).
	Time time.Time
	// Name, Reason, Location and ContactInfo fill the signature
	// dictionary's entries of those names, when not empty.
	Name, Reason, Location, ContactInfo string
	// ContentsSize is the room kept for the signature (zero:
	// DefaultContentsSize).
	ContentsSize int
	// Appearance, when set, makes the signature visible on the first
	// page; nil leaves it invisible.
	Appearance *Appearance
}

// Appearance is a visible signature: a framed box of text on the first
// page.
type Appearance struct {
	// Rect is the box, lower-left x and y then upper-right x and y, in
	// the page's default user space (points from the page's lower left).
	Rect [4]float64
	// Lines are drawn in Helvetica; nil means "Signed by <the
	// certificate's common name>" and the claimed time.
	Lines []string
}

// Services are what Finish, AddValidationData and AddDocumentTimestamp
// reach: the timestamping authority, the OCSP responders, and the trust
// used to build the chains whose validation data is collected.
type Services struct {
	TSA                  *esign.TSA
	OCSP                 ocsp.Client // nil: ocsp.HTTP
	Roots, Intermediates *x509.CertPool
	Now                  func() time.Time // nil: time.Now
}

// Pending is a PDF signature being made: the document with its signature
// field and an empty placeholder, kept on the server while the holder's
// card signs Digest.
type Pending struct {
	// Digest is what the card signs: SHA-256 of the CMS signed attributes.
	Digest []byte
	// DocumentDigest is SHA-256 of the bytes the signature covers, for a
	// holder's agent to show.
	DocumentDigest []byte
	// SignedAttributes is the DER SET of CMS signed attributes whose
	// SHA-256 is Digest, for a holder's agent to check before its card
	// signs (SignRequest.SignedAttributes).
	SignedAttributes []byte
	Level            Level

	pdf         []byte
	base        int // length of the document the update is appended to
	contentsAt  int // offset of the placeholder's '<'
	contentsLen int // hex digits between '<' and '>'
	cms         *esign.Pending
	cert        *x509.Certificate
}

// SignerOpts are the options for the card's crypto.Signer.
func (p *Pending) SignerOpts() crypto.SignerOpts { return p.cms.SignerOpts() }

// Prepare adds to pdf, as an incremental update, an invisible signature
// field on the first page whose signature dictionary has a placeholder,
// and returns the Pending signature whose Digest the card signs.
func Prepare(pdf []byte, opts SignOptions) (*Pending, error) {
	if opts.Certificate == nil {
		return nil, fmt.Errorf("%w: no signer certificate", ErrUnsupported)
	}
	if opts.Level == 0 {
		opts.Level = LevelBLT
	}
	if opts.Time.IsZero() {
		opts.Time = time.Now()
	}
	size := opts.ContentsSize
	if size <= 0 {
		size = DefaultContentsSize
	}
	var entries bytes.Buffer
	entries.WriteString("/M ")
	writeObject(&entries, pdfStr(pdfDate(opts.Time)))
	for _, e := range []struct{ key, v string }{{"Name", opts.Name}, {"Reason", opts.Reason}, {"Location", opts.Location}, {"ContactInfo", opts.ContactInfo}} {
		if e.v != "" {
			fmt.Fprintf(&entries, " /%s ", e.key)
			writeObject(&entries, textString(e.v))
		}
	}
	var ap *Appearance
	if opts.Appearance != nil {
		a := *opts.Appearance
		if a.Lines == nil {
			a.Lines = []string{"Signed by " + opts.Certificate.Subject.CommonName, opts.Time.UTC().Format("2006-01-02 15:04:05 UTC")}
		}
		ap = &a
	}
	out, at, hexLen, err := withPlaceholder(pdf, "/Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached", entries.String(), size, ap)
	if err != nil {
		return nil, err
	}
	digest := rangesDigest(out, at, hexLen)
	cms, err := esign.PrepareDigest(digest, opts.Certificate, time.Time{})
	if err != nil {
		return nil, err
	}
	return &Pending{Digest: cms.Digest, DocumentDigest: digest, SignedAttributes: cms.SignedAttributes, Level: opts.Level, pdf: out, base: len(pdf), contentsAt: at, contentsLen: hexLen, cms: cms, cert: opts.Certificate}, nil
}

// MaxUpdateSize bounds the signed bytes of the incremental update that
// adds a signature field (Pending.Update): what travels to the holder's
// side in a SignRequest. A signature field, its widget and a visible
// signature's appearance take a few kilobytes; the page and form
// dictionaries the update rewrites are copied whole, so a page with
// thousands of annotations may not fit, and then Begin fails with
// ErrTooLarge.
const MaxUpdateSize = 128 << 10

// maxContentsHex bounds the placeholder a holder's side re-inserts to
// parse the signed revision: 1 MiB for the signature, as hex digits.
const maxContentsHex = 2 << 20

// Update returns the signed bytes of the incremental update Prepare
// appended to the document: every byte after the document that the
// signature covers, that is without the /Contents placeholder (the hex
// string /ByteRange leaves out, mostly zeros). The document followed by
// them is what DocumentDigest is the SHA-256 of; a holder's side rebuilds
// the signed revision from them (SignRequest.Update, Check). Nil for a
// pending signature decoded from the first version of MarshalBinary's
// format, which did not say where the update begins.
func (p *Pending) Update() []byte {
	if p.base < 0 {
		return nil
	}
	out := make([]byte, 0, len(p.pdf)-p.base-p.contentsLen-2)
	out = append(out, p.pdf[p.base:p.contentsAt]...)
	return append(out, p.pdf[p.contentsAt+p.contentsLen+2:]...)
}

// rangesDigest is SHA-256 of the file without its placeholder, the two
// ranges ByteRange names.
func rangesDigest(pdf []byte, at, hexLen int) []byte {
	h := sha256.New()
	h.Write(pdf[:at])
	h.Write(pdf[at+hexLen+2:])
	return h.Sum(nil)
}

// Finish puts the card's signature into the pending document — a CMS
// SignedData with chain (the signer's issuers) — and brings it to the
// pending level: a signature timestamp (B-T), the validation data (B-LT)
// and a document timestamp (B-LTA), from svc.
func Finish(ctx context.Context, p *Pending, signature []byte, chain []*x509.Certificate, svc Services) ([]byte, error) {
	cms, err := p.cms.Assemble(signature, chain...)
	if err != nil {
		return nil, err
	}
	if p.Level >= LevelBT {
		if svc.TSA == nil {
			return nil, fmt.Errorf("%w: level %v needs a timestamping authority", esign.ErrTimestamp, p.Level)
		}
		if cms, _, err = esign.Timestamped(ctx, cms, svc.TSA); err != nil {
			return nil, err
		}
	}
	pdf, err := fill(p.pdf, p.contentsAt, p.contentsLen, cms)
	if err != nil {
		return nil, err
	}
	if p.Level >= LevelBLT {
		if pdf, err = AddValidationData(ctx, pdf, svc); err != nil {
			return nil, err
		}
	}
	if p.Level >= LevelBLTA {
		if pdf, err = AddDocumentTimestamp(ctx, pdf, svc.TSA); err != nil {
			return nil, err
		}
	}
	return pdf, nil
}

// fill writes value, hex, into the placeholder, padded with zeros.
func fill(prepared []byte, at, hexLen int, value []byte) ([]byte, error) {
	if 2*len(value) > hexLen {
		return nil, fmt.Errorf("%w: the signature needs %d bytes, %d were kept (SignOptions.ContentsSize)", ErrTooLarge, len(value), hexLen/2)
	}
	out := bytes.Clone(prepared)
	hex.Encode(out[at+1:], value)
	return out, nil
}

// AddDocumentTimestamp appends a document timestamp (ETSI EN 319 142-1
// §5.4.3, /SubFilter /ETSI.RFC3161): a timestamp token from tsa over all
// the bytes before it, validation data included — level B-LTA.
func AddDocumentTimestamp(ctx context.Context, pdf []byte, tsa *esign.TSA) ([]byte, error) {
	if tsa == nil {
		return nil, fmt.Errorf("%w: no timestamping authority", esign.ErrTimestamp)
	}
	out, at, hexLen, err := withPlaceholder(pdf, "/Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161", "", 16<<10, nil)
	if err != nil {
		return nil, err
	}
	token, _, err := tsa.Stamp(ctx, crypto.SHA256, rangesDigest(out, at, hexLen))
	if err != nil {
		return nil, err
	}
	return fill(out, at, hexLen, token)
}

// withPlaceholder appends an update adding a signature field on the first
// page whose value is a signature dictionary with head (its type and
// filters), a ByteRange already set, a zeroed /Contents of size bytes, and
// tail. It returns the new file, the offset of the /Contents '<' and the
// number of hex digits.
func withPlaceholder(pdf []byte, head, tail string, size int, ap *Appearance) ([]byte, int, int, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, 0, 0, err
	}
	u := newUpdate(doc)
	sigRef := u.alloc()
	const brPlaceholder = "/ByteRange [0 ########## ########## ##########]"
	u.putRaw(sigRef, []byte("<<"+head+" "+brPlaceholder+" /Contents <"+string(bytes.Repeat([]byte("0"), 2*size))+"> "+tail+">>"))
	if err := u.addField(sigRef, ap); err != nil {
		return nil, 0, 0, err
	}
	out := u.bytes()
	if len(out) > MaxDocumentSize {
		return nil, 0, 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxDocumentSize)
	}
	br := bytes.Index(out[len(pdf):], []byte(brPlaceholder))
	if br < 0 {
		return nil, 0, 0, fmt.Errorf("pades: placeholder lost")
	}
	br += len(pdf)
	at := bytes.Index(out[br:], []byte("/Contents <")) + br + len("/Contents ")
	hexLen := 2 * size
	after := at + hexLen + 2
	nums := fmt.Sprintf("/ByteRange [0 %d %d %d]", at, after, len(out)-after)
	if len(nums) > len(brPlaceholder) {
		return nil, 0, 0, fmt.Errorf("%w: offsets too long", ErrTooLarge)
	}
	copy(out[br:], nums+string(bytes.Repeat([]byte(" "), len(brPlaceholder)-len(nums))))
	return out, at, hexLen, nil
}

// addField adds a signature field, merged with its widget annotation
// (ISO 32000-1 §12.7.4.5, §12.5.6.19), invisible (an empty /Rect), on the
// first page, to the interactive form, with /SigFlags 3 (signatures exist,
// append only).
func (u *update) addField(sig ref, ap *Appearance) error {
	catRef, cat, err := u.doc.catalog()
	if err != nil {
		return err
	}
	pageRef, page, err := u.doc.firstPage()
	if err != nil {
		return err
	}
	fieldRef := u.alloc()
	var form *dict
	formRef, formIsRef := cat.get("AcroForm").(ref)
	if f, err := u.doc.resolveDict(cat.get("AcroForm")); err != nil {
		return err
	} else if f != nil {
		form = f.clone()
	} else {
		form, formIsRef = newDict(), false
	}
	fieldsObj, err := u.doc.resolve(form.get("Fields"))
	if err != nil {
		return err
	}
	fields, _ := fieldsObj.(array)
	taken := map[string]bool{}
	for _, f := range fields {
		if fd, err := u.doc.resolveDict(f); err == nil && fd != nil {
			if t, ok := fd.get("T").(pdfStr); ok {
				taken[string(t)] = true
			}
		}
	}
	fieldName := ""
	for i := 1; fieldName == "" || taken[fieldName]; i++ {
		fieldName = "Signature" + strconv.Itoa(i)
	}
	widget := newDict()
	widget.set("Type", name("Annot"))
	widget.set("Subtype", name("Widget"))
	widget.set("FT", name("Sig"))
	widget.set("T", pdfStr(fieldName))
	widget.set("V", sig)
	widget.set("F", number("132")) // Print, Locked
	widget.set("Rect", array{number("0"), number("0"), number("0"), number("0")})
	widget.set("P", pageRef)
	if ap != nil {
		u.appearance(widget, ap)
	}
	u.put(fieldRef, widget)

	form.set("Fields", append(append(array{}, fields...), fieldRef))
	form.set("SigFlags", number("3"))
	if formIsRef {
		u.put(formRef, form)
	} else {
		c := cat.clone()
		c.set("AcroForm", form)
		u.put(catRef, c)
	}
	annotsObj, err := u.doc.resolve(page.get("Annots"))
	if err != nil {
		return err
	}
	annots, _ := annotsObj.(array)
	p := page.clone()
	p.set("Annots", append(append(array{}, annots...), fieldRef))
	u.put(pageRef, p)
	return nil
}

// pdfDate formats a date string (ISO 32000-1 §7.9.4), in UTC.
func pdfDate(t time.Time) string {
	return t.UTC().Format("D:20060102150405Z")
}

func parsePDFDate(s string) time.Time {
	for _, layout := range []string{"D:20060102150405Z", "D:20060102150405Z07'00'", "D:20060102150405-07'00'", "D:20060102150405+07'00'", "D:20060102150405"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// textString encodes a text string (§7.9.2.2): PDFDocEncoding for ASCII,
// UTF-16BE with its byte order mark otherwise.
func textString(s string) pdfStr {
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < 0x80
	}
	if ascii {
		return pdfStr(s)
	}
	out := []byte{0xfe, 0xff}
	for _, r := range utf16.Encode([]rune(s)) {
		out = append(out, byte(r>>8), byte(r))
	}
	return out
}
