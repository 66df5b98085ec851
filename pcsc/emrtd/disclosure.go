package emrtd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of disclosures. Test with errors.Is; the holder's side names the
// data group in a DataGroupError.
var (
	// ErrNotOnDocument: the receiver requires a data group the document
	// does not carry (EF.COM does not list it). Nothing was disclosed.
	ErrNotOnDocument = errors.New("emrtd: the document does not carry a required data group")
	// ErrNothingToDisclose: the holder chose nothing the receiver asked
	// for.
	ErrNothingToDisclose = errors.New("emrtd: nothing chosen to disclose")
	// ErrMissingDataGroup: a disclosure lacks a data group the receiver
	// requires, or (Record.Disclose) the holder's side was asked to
	// disclose a data group it did not read.
	ErrMissingDataGroup = errors.New("emrtd: the disclosure lacks a required data group")
	// ErrUnrequestedDataGroup: a disclosure carries a data group the
	// receiver did not ask for; minimal disclosure means not even
	// receiving it.
	ErrUnrequestedDataGroup = errors.New("emrtd: the disclosure carries a data group that was not asked for")
	// ErrNoChipProof: the document's EF.SOD covers an Active Authentication
	// key (DG15), so its chip can sign the receiver's challenge, but the
	// disclosure carries no valid signature over this exchange's challenge:
	// a copy of the data, or a replay. The error wraps the reason
	// (ErrActiveAuthentication for a signature that does not verify).
	ErrNoChipProof = errors.New("emrtd: the chip did not sign this exchange's challenge (a copy of the document's data?)")
)

// Disclosure carries the data groups the holder chose to reveal, as read
// from the chip, with EF.SOD, so that a receiver can check them by passive
// authentication (ICAO 9303-11 §5.1) without the chip or the access key. It
// marshals to JSON as {"sod": base64, "dataGroups": {"1": base64, …},
// "active": {…}}.
type Disclosure struct {
	SOD        []byte        `json:"sod"`
	DataGroups map[DG][]byte `json:"dataGroups"`
	// Active, when set, is the chip's Active Authentication signature over
	// the receiver's challenge (DisclosureChallenge), with DG15 (and DG14)
	// among DataGroups: passive authentication shows the data is the
	// issuer's, this shows the chip itself took part in this exchange.
	Active *ActiveProof `json:"active,omitempty"`
}

// DisclosureChallenge derives the Active Authentication challenge of a
// disclosure from the receiver's origin and single-use nonce, so that the
// holder's side and the receiver compute the same 8 bytes and a proof made
// for one exchange answers no other.
func DisclosureChallenge(origin, nonce string) []byte {
	h := sha256.New()
	h.Write([]byte("puce-disclosure-active-v1"))
	for _, f := range []string{origin, nonce} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return h.Sum(nil)[:ActiveChallengeSize]
}

// DisclosureRequest is what a receiver asks of the holder; both sides use
// the same one.
type DisclosureRequest struct {
	// Required data groups must be disclosed; Optional ones the holder may
	// add. With both empty (receiver side only) any data group is accepted.
	Required, Optional []DG
	// Challenge is the receiver's Active Authentication challenge,
	// DisclosureChallenge(origin, nonce). When the document's EF.SOD covers
	// DG15, the holder's chip signs it and the receiver requires that
	// signature.
	Challenge []byte
}

func (req *DisclosureRequest) asks(dg DG) bool {
	return slices.Contains(req.Required, dg) || slices.Contains(req.Optional, dg)
}

// PreparedDisclosure is what the holder's side read for a request: the
// record to review, and the chip's proof, kept in memory until the holder
// chooses (Disclose).
type PreparedDisclosure struct {
	// Record holds every data group read, for the holder to review: the
	// requested ones the document carries, and DG14/DG15 for the proof.
	// It is not passively authenticated here; the receiver does that.
	Record *Record
	// Missing are optional data groups the document does not carry.
	Missing []DG
	// Active is the chip's signature over the request's challenge, nil
	// when EF.SOD does not cover DG15 or the request has no challenge.
	Active *ActiveProof

	req DisclosureRequest
}

// PrepareDisclosure reads what a receiver asks for and the document
// carries, and — when EF.SOD covers an Active Authentication key (DG15) and
// the request has a challenge — has the chip sign the challenge (ICAO
// 9303-11 §6.1), reading DG15 and DG14 for the receiver to check it. A
// required data group the document lacks gives ErrNotOnDocument in a
// DataGroupError, DG3 and DG4 ErrNotAuthorised (they need Terminal
// Authentication, which no receiver of a disclosure is). Then the holder
// reviews PreparedDisclosure.Record and chooses with Disclose.
func (s *Session) PrepareDisclosure(ctx context.Context, req DisclosureRequest) (*PreparedDisclosure, error) {
	for _, dg := range append(slices.Clone(req.Required), req.Optional...) {
		switch {
		case !dg.Valid():
			return nil, fmt.Errorf("%w: data group %d", ErrMalformed, int(dg))
		case dg.NeedsTerminalAuthentication():
			return nil, &DataGroupError{DG: dg, Err: ErrNotAuthorised}
		}
	}
	if len(req.Challenge) != 0 && len(req.Challenge) != ActiveChallengeSize {
		return nil, fmt.Errorf("%w: Active Authentication challenge of %d bytes, want %d", ErrInvalidKey, len(req.Challenge), ActiveChallengeSize)
	}
	com, err := s.readCOM(ctx)
	if err != nil {
		return nil, err
	}
	sodRaw, err := s.ReadFile(ctx, FileSOD)
	if err != nil {
		return nil, err
	}
	sod, err := ParseSOD(sodRaw)
	if err != nil {
		return nil, err
	}
	// What the document carries is judged as Read judges it: EF.COM alone
	// could hide a data group the signed EF.SOD covers.
	present := presentGroups(com, sod)
	p := &PreparedDisclosure{req: req}
	var read []DG
	for _, dg := range req.Required {
		if !slices.Contains(present, dg) {
			return nil, &DataGroupError{DG: dg, Err: ErrNotOnDocument}
		}
		read = append(read, dg)
	}
	for _, dg := range req.Optional {
		if slices.Contains(present, dg) {
			read = append(read, dg)
		} else {
			p.Missing = append(p.Missing, dg)
		}
	}
	if _, ok := sod.Hashes[DG15]; ok && len(req.Challenge) != 0 {
		// Sign first: Read then reuses the very DG15 the proof used.
		if p.Active, err = s.ProveActive(ctx, req.Challenge); err != nil {
			return nil, err
		}
		read = append(read, DG15)
		if _, ok := sod.Hashes[DG14]; ok {
			read = append(read, DG14)
		}
	}
	// No CSCA here: the holder reviews their own data; the receiver, who
	// must trust it, runs passive authentication.
	if p.Record, err = s.readWith(ctx, &ReadOptions{DataGroups: read}, com, sodRaw); err != nil {
		return nil, err
	}
	return p, nil
}

// Disclose builds the disclosure the holder chose: every required data
// group, the optional ones among chosen that the document carries (others
// are ignored), and the chip's proof with DG15 and DG14. Choosing nothing
// of a request without required groups gives ErrNothingToDisclose.
func (p *PreparedDisclosure) Disclose(chosen ...DG) (*Disclosure, error) {
	send := slices.Clone(p.req.Required)
	for _, dg := range p.req.Optional {
		if slices.Contains(chosen, dg) && p.Record.DataGroups[dg] != nil && !slices.Contains(send, dg) {
			send = append(send, dg)
		}
	}
	if len(send) == 0 {
		return nil, ErrNothingToDisclose
	}
	if p.Active != nil {
		for _, dg := range []DG{DG14, DG15} {
			if p.Record.DataGroups[dg] != nil && !slices.Contains(send, dg) {
				send = append(send, dg)
			}
		}
	}
	d, err := p.Record.Disclose(send...)
	if err != nil {
		return nil, err
	}
	if p.Active != nil {
		d.Active = &ActiveProof{Challenge: bytes.Clone(p.Active.Challenge), Signature: bytes.Clone(p.Active.Signature)}
	}
	return d, nil
}

// Disclose returns a Disclosure of the given data groups, which must have
// been read, with no proof: PreparedDisclosure.Disclose is the holder's
// call; this packs what a caller chose itself.
func (r *Record) Disclose(dgs ...DG) (*Disclosure, error) {
	if len(dgs) == 0 {
		return nil, ErrNothingToDisclose
	}
	d := &Disclosure{SOD: bytes.Clone(r.SOD), DataGroups: map[DG][]byte{}}
	for _, dg := range dgs {
		b, ok := r.DataGroups[dg]
		if !ok {
			// Not read, so not in the record: the disclosure would lack it.
			return nil, &DataGroupError{DG: dg, Err: fmt.Errorf("%w: it was not read", ErrMissingDataGroup)}
		}
		d.DataGroups[dg] = bytes.Clone(b)
	}
	return d, nil
}

// DisclosureOptions configure VerifyDisclosure: the request the receiver
// made, and its trust anchors.
type DisclosureOptions struct {
	DisclosureRequest
	// CSCAs are the trusted country signing CA certificates.
	CSCAs []*x509.Certificate
	// CRLs are the CSCAs' revocation lists (PassiveOptions.CRLs).
	CRLs []*x509.RevocationList
	// Time is when the document signer must be valid; zero means now.
	Time time.Time
}

// VerifyDisclosure checks a disclosure for its receiver and returns the
// decoded record:
//   - passive authentication against opts.CSCAs (ICAO 9303-11 §5.1): any
//     failure — signature, chain, country, a data group altered or absent
//     from EF.SOD — matches ErrPassiveAuth; nothing unverified is decoded;
//   - the request: every required group present (ErrMissingDataGroup), no
//     group that was not asked for (ErrUnrequestedDataGroup), DG14 and DG15
//     allowed with the chip's proof;
//   - the chip's presence: when EF.SOD covers DG15, the chip can sign, so
//     its Active Authentication signature over opts.Challenge is required
//     (ErrNoChipProof otherwise); a valid one marks the record
//     ActiveAuthenticated.
func VerifyDisclosure(d *Disclosure, opts DisclosureOptions) (*Record, error) {
	if d == nil || len(d.DataGroups) == 0 {
		return nil, fmt.Errorf("%w: empty disclosure", ErrPassiveAuth)
	}
	if len(opts.CSCAs) == 0 {
		return nil, fmt.Errorf("%w: no CSCA certificate configured", ErrUntrustedSigner)
	}
	for dg := range d.DataGroups {
		if !dg.Valid() {
			return nil, fmt.Errorf("%w: data group %d", ErrMalformed, int(dg))
		}
	}
	// Passive authentication first: nothing unverified is decoded.
	v, err := PassiveAuthenticate(d.SOD, d.DataGroups, PassiveOptions{CSCAs: opts.CSCAs, Time: opts.Time, CRLs: opts.CRLs})
	if err != nil {
		return nil, err
	}
	r, err := buildRecord(d.DataGroups, d.SOD, PassiveOptions{})
	if err != nil {
		return nil, err
	}
	r.Verification = *v
	req := &opts.DisclosureRequest
	for _, dg := range req.Required {
		if r.DataGroups[dg] == nil {
			return nil, &DataGroupError{DG: dg, Err: ErrMissingDataGroup}
		}
	}
	// The DG15 rule: a chip that can prove its presence must.
	if slices.Contains(v.Covered, DG15) || d.Active != nil {
		if len(req.Challenge) == 0 {
			return nil, fmt.Errorf("%w: the receiver set no challenge to check it against", ErrNoChipProof)
		}
		if err := verifyActiveProof(r, req.Challenge, d.Active); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoChipProof, err)
		}
	}
	if len(req.Required)+len(req.Optional) > 0 {
		for dg := range r.DataGroups {
			proof := r.ActiveAuthenticated && (dg == DG14 || dg == DG15)
			if !proof && !req.asks(dg) {
				return nil, &DataGroupError{DG: dg, Err: ErrUnrequestedDataGroup}
			}
		}
	}
	return r, nil
}
