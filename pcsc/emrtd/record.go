package emrtd

import (
	"context"
	"crypto/x509"
	"io"
	"maps"
	"slices"
	"time"
)

// Record is the holder's data read from the chip (or received in a
// Disclosure), decoded, with the outcome of passive authentication. Fields of
// data groups that were not read are nil.
type Record struct {
	// Protocol opened the session; 0 for a record built from a Disclosure.
	Protocol Protocol
	COM      *COM
	// MRZ is DG1.
	MRZ *MRZ
	// Faces are the images of DG2; Face returns the first.
	Faces []Face
	// Details is DG11, Document DG12, Optional DG13.
	Details  *PersonalDetails
	Document *DocumentDetails
	Optional *OptionalDetails
	// Fingerprints is DG3 and Irises DG4, read only after Terminal
	// Authentication with a chain granting them.
	Fingerprints []BiometricTemplate
	Irises       []BiometricTemplate
	// Security is DG14: the chip's Chip Authentication key and protocols.
	Security *SecurityInfos
	// DataGroups holds every data group read, as stored (outer tag
	// included): what passive authentication hashed, and what a Disclosure
	// carries.
	DataGroups map[DG][]byte
	// SOD is EF.SOD as read.
	SOD []byte
	// CardSecurity is EF.CardSecurity as read from the master file (ICAO
	// 9303-11 §9.2.11), nil when not read: the signed SecurityInfos that
	// authenticated EF.CardAccess in place of DG14.
	CardSecurity []byte
	// Verification is the outcome of passive authentication.
	Verification Verification
	// ChipAuthenticated: the chip proved it holds the private key of its
	// Chip Authentication public key — DG14's, by Chip Authentication
	// (ReadOptions.ChipAuthentication), or EF.CardSecurity's, by PACE with
	// Chip Authentication Mapping in Open (ICAO 9303-11 §4.4.3.5), which
	// needs no second protocol run — and passive authentication with
	// ReadOptions.CSCAs vouched for that key: DG14 covered by EF.SOD, or
	// EF.CardSecurity validly signed and its key DG14's when DG14 names
	// one. It shows the chip is the one the issuer personalised, not a
	// clone carrying its files. Without CSCAs, or when passive
	// authentication fails, it is false even if the protocol ran
	// (Session.ChipAuthenticated reports the protocol alone).
	ChipAuthenticated bool
	// TerminalAuthenticated: the chip accepted the terminal's CV
	// certificate chain and signature (ReadOptions.Terminal).
	TerminalAuthenticated bool
	// ActiveAuthenticated: the chip signed a fresh challenge with DG15's
	// key (ReadOptions.ActiveAuthentication).
	ActiveAuthenticated bool
	// ActiveAuthenticationKey is DG15.
	ActiveAuthenticationKey []byte
}

// Face returns the first facial image of DG2, nil when DG2 was not read.
func (r *Record) Face() *Face {
	if len(r.Faces) == 0 {
		return nil
	}
	return &r.Faces[0]
}

// Verified reports whether passive authentication succeeded.
func (r *Record) Verified() bool { return r.Verification.Status == Verified }

// ReadOptions configures Session.Read.
type ReadOptions struct {
	// DataGroups to read; by default every data group EF.COM lists or
	// EF.SOD covers that needs no Terminal Authentication, and those that do when Terminal is
	// set and its chain grants them. Asking for DG3 or DG4 otherwise fails
	// with ErrNotAuthorised.
	DataGroups []DG
	// CSCAs are the trusted country signing CA certificates for passive
	// authentication; without them the record is NotChecked.
	CSCAs []*x509.Certificate
	// Time is when the document signer certificate must be valid; zero
	// means now.
	Time time.Time
	// ChipAuthentication runs Chip Authentication (Session.AuthenticateChip)
	// before the data groups are read, so that they travel under keys only
	// the genuine chip can agree, and reads DG14 for passive authentication.
	// After PACE with Chip Authentication Mapping the chip is authenticated
	// already (its session keys are the ones only it could agree) and
	// nothing more runs; EF.CardSecurity, verified with CSCAs, covers its
	// key, and DG14, read for it when the document has one, must name the
	// same key (ErrPACECAM otherwise).
	ChipAuthentication bool
	// Rand feeds Chip Authentication's ephemeral key; crypto/rand when nil.
	Rand io.Reader
	// ActiveAuthentication runs Active Authentication
	// (Session.AuthenticateActive) and reads DG15 for passive
	// authentication.
	ActiveAuthentication bool
	// CRLs are the CSCAs' revocation lists (PassiveOptions.CRLs).
	CRLs []*x509.RevocationList
	// Terminal runs EAC Terminal Authentication (Session.AuthenticateTerminal,
	// Chip Authentication first) so that DG3 and DG4 can be read, as far
	// as its chain's rights go. Only inspection systems hold one.
	Terminal *Terminal
}

// Read reads EF.COM, EF.SOD and the data groups, decodes them, and runs
// passive authentication against opts.CSCAs. When passive authentication
// fails, Read returns the record (for display of what failed) together with
// the error, which matches ErrPassiveAuth: do not trust that record. Then it
// checks EF.CardAccess, as Open read it, against EF.CardSecurity when the
// chip gave it — verified like EF.SOD, failing with ErrCardSecurity — or
// against DG14 (read for it when opts.DataGroups omits it): a mismatch
// gives ErrCardAccessMismatch and no record. A PACE chip whose EF.COM and
// EF.SOD list no DG14 is asked for EF.CardSecurity (three APDUs: SELECT MF, READ
// BINARY, SELECT of the application, under secure messaging). After
// PACE-CAM it reads DG14 when the document has one and requires the key
// the chip proved among DG14's (ErrPACECAM): the data groups are then this
// chip's, not another's beside its own genuine EF.CardSecurity.
func (s *Session) Read(ctx context.Context, opts *ReadOptions) (*Record, error) {
	if opts == nil {
		opts = &ReadOptions{}
	}
	com, err := s.readCOM(ctx)
	if err != nil {
		return nil, err
	}
	return s.readWith(ctx, opts, com, nil)
}

// readCOM reads and decodes EF.COM.
func (s *Session) readCOM(ctx context.Context) (*COM, error) {
	raw, err := s.ReadFile(ctx, FileCOM)
	if err != nil {
		return nil, err
	}
	return ParseCOM(raw)
}

// readWith is Read once EF.COM is known, and EF.SOD when sod is not nil.
func (s *Session) readWith(ctx context.Context, opts *ReadOptions, com *COM, sod []byte) (*Record, error) {
	eac := opts.ChipAuthentication || opts.Terminal != nil
	if eac {
		if err := s.AuthenticateChip(ctx, opts.Rand); err != nil {
			return nil, err
		}
	}
	if opts.Terminal != nil {
		if err := s.AuthenticateTerminal(ctx, opts.Terminal); err != nil {
			return nil, err
		}
	}
	if opts.ActiveAuthentication {
		if _, err := s.AuthenticateActive(ctx, opts.Rand); err != nil {
			return nil, err
		}
	}
	want := opts.DataGroups
	// The keys just used are trustworthy only once passive authentication
	// covers their data groups.
	// After PACE-CAM the key was EF.CardSecurity's, which
	// checkSignedCardAccess verifies; DG14 is not needed for it.
	if eac && !s.eac.cam && want != nil && !slices.Contains(want, DG14) {
		want = append(slices.Clone(want), DG14)
	}
	if opts.ActiveAuthentication && want != nil && !slices.Contains(want, DG15) {
		want = append(slices.Clone(want), DG15)
	}
	if sod == nil {
		var err error
		if sod, err = s.ReadFile(ctx, FileSOD); err != nil {
			return nil, err
		}
	}
	// A malformed EF.SOD adds nothing here; passive authentication
	// reports it.
	so, _ := ParseSOD(sod)
	present := presentGroups(com, so)
	// Without DG14, only EF.CardSecurity can authenticate EF.CardAccess
	// (ICAO 9303-11 §9.2.11); it is readable after PACE only.
	if s.protocol == ProtocolPACE && !s.csTried && !slices.Contains(present, DG14) {
		if err := s.fetchCardSecurity(ctx); err != nil {
			return nil, err
		}
	}
	// Otherwise DG14 authenticates EF.CardAccess (checkCardAccess); after
	// PACE-CAM it ties the key the chip proved to EF.SOD (checkCAMKey).
	if s.seen != cardAccessNotRead && (s.cardSecurity == nil || s.eac.cam) && want != nil && !slices.Contains(want, DG14) && slices.Contains(present, DG14) {
		want = append(slices.Clone(want), DG14)
	}
	if want == nil {
		for _, dg := range present {
			if !dg.NeedsTerminalAuthentication() || s.eac.terminal && s.eac.rights.allows(dg) {
				want = append(want, dg)
			}
		}
	}
	groups := make(map[DG][]byte, len(want))
	for _, dg := range want {
		b, err := s.ReadDataGroup(ctx, dg)
		if err != nil {
			return nil, err
		}
		groups[dg] = b
	}
	r, err := buildRecord(groups, sod, PassiveOptions{CSCAs: opts.CSCAs, Time: opts.Time, CRLs: opts.CRLs})
	if err == nil {
		// After passive authentication, which covers DG14 when CSCAs are
		// given (ICAO 9303-11 §9.2.11).
		if err := s.checkSignedCardAccess(groups, PassiveOptions{CSCAs: opts.CSCAs, Time: opts.Time, CRLs: opts.CRLs}); err != nil {
			return nil, err
		}
		if err := s.checkCAMKey(groups[DG14]); err != nil {
			return nil, err
		}
	}
	if r != nil {
		r.Protocol = s.protocol
		r.COM = com
		r.CardSecurity = s.cardSecurity
		// The chip's proof counts for the record only with its key
		// vouched for by passive authentication: DG14 among the data
		// groups EF.SOD covered, or, after PACE-CAM, EF.CardSecurity,
		// whose signature checkSignedCardAccess verified when CSCAs are
		// given (ICAO 9303-11 §4.4.3.5, §5.1, §6.2). Without CSCAs, or
		// when passive authentication failed, a clone's self-made key
		// passes the protocol: no claim.
		r.ChipAuthenticated = s.eac.chip && err == nil && len(opts.CSCAs) > 0 && r.Verified() &&
			(s.eac.cam || slices.Contains(r.Verification.DataGroups, DG14))
		r.TerminalAuthenticated = s.eac.terminal
		r.ActiveAuthenticated = s.eac.active
	}
	return r, err
}

// buildRecord decodes the data groups and runs passive authentication (when
// CSCAs are given).
func buildRecord(groups map[DG][]byte, sod []byte, pa PassiveOptions) (*Record, error) {
	r := &Record{DataGroups: groups, SOD: sod}
	for _, dg := range slices.Sorted(maps.Keys(groups)) {
		b := groups[dg]
		var err error
		switch dg {
		case DG1:
			r.MRZ, err = ParseDG1(b)
		case DG2:
			r.Faces, err = ParseDG2(b)
		case DG11:
			r.Details, err = ParseDG11(b)
		case DG12:
			r.Document, err = ParseDG12(b)
		case DG13:
			r.Optional, err = ParseDG13(b)
		case DG3:
			r.Fingerprints, err = ParseDG3(b)
		case DG4:
			r.Irises, err = ParseDG4(b)
		case DG14:
			r.Security, err = ParseDG14(b)
		case DG15:
			r.ActiveAuthenticationKey = b
		}
		if err != nil {
			return nil, &DataGroupError{DG: dg, Err: err}
		}
	}
	if len(pa.CSCAs) == 0 {
		return r, nil
	}
	v, err := PassiveAuthenticate(sod, groups, pa)
	r.Verification = *v
	return r, err
}

// presentGroups are the data groups a document carries: those EF.COM lists
// and those EF.SOD covers (sod may be nil). EF.COM is unsigned, so a chip
// (or a clone) could leave a data group out of it — DG14, to hide that the
// chip announces PACE, or one a receiver asks for — while the signed
// security object still lists it (ICAO 9303-10 §4.6.2.2).
func presentGroups(com *COM, sod *SOD) []DG {
	present := slices.Clone(com.DataGroups)
	if sod != nil {
		for _, dg := range slices.Sorted(maps.Keys(sod.Hashes)) {
			if !slices.Contains(present, dg) {
				present = append(present, dg)
			}
		}
	}
	return present
}
