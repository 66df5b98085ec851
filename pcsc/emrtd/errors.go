package emrtd

import (
	"errors"
	"fmt"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Errors of the access protocols and of secure messaging. Test with
// errors.Is; messages say what to do.
var (
	// ErrAccessDenied: the chip refused the access key (CAN or MRZ) during
	// PACE or BAC, or its answer did not authenticate under that key. Nothing
	// was read. Ask the holder to check the CAN printed on the card, or the
	// document number, birth date and expiry date of the MRZ.
	ErrAccessDenied = errors.New("emrtd: access key (CAN or MRZ) refused")
	// ErrNotAuthorised: the data needs an authorised terminal — EAC Terminal
	// Authentication with a CV certificate chain (ICAO 9303-11 §7, BSI
	// TR-03110) — which this session did not perform. It matches
	// apdu.ErrSecurityStatus, the status word a chip answers in that case.
	// Fingerprints (DG3) and iris images (DG4) are only for border control.
	ErrNotAuthorised = fmt.Errorf("emrtd: terminal not authorised, EAC Terminal Authentication required: %w", apdu.ErrSecurityStatus)
	// ErrSecureMessaging: a secure messaging response was missing, malformed
	// or failed its MAC, or the chip dropped secure messaging. The session keys
	// are no longer shared: open a new session. It matches
	// apdu.ErrSecureMessaging.
	ErrSecureMessaging = fmt.Errorf("emrtd: secure messaging failed: %w", apdu.ErrSecureMessaging)
	// ErrUnsupported: the chip offers only access protocols or parameters this
	// package does not implement (for example PACE with integrated mapping
	// and no BAC).
	ErrUnsupported = errors.New("emrtd: access protocol or parameters not supported")
	// ErrPACERequired: Options.RequirePACE is set and PACE did not run —
	// the chip has no EF.CardAccess, offers no variant this package
	// supports, or turned PACE down — so Open refused BAC. It wraps
	// ErrUnsupported.
	ErrPACERequired = fmt.Errorf("%w: PACE required (Options.RequirePACE), BAC refused", ErrUnsupported)
	// ErrProtocol: the chip broke the access protocol (an answer without its
	// data objects, a public key off the curve). Remove and reinsert the
	// document and try again.
	ErrProtocol = errors.New("emrtd: chip broke the access protocol")
	// ErrCrypto: a cryptographic primitive failed on input it should accept;
	// a bug or a corrupt key, not the holder's fault.
	ErrCrypto = errors.New("emrtd: cryptographic failure")
	// ErrInvalidKey: the access key given is not well formed (a CAN of
	// digits, an MRZ with YYMMDD dates). Nothing was sent to the chip.
	ErrInvalidKey = errors.New("emrtd: malformed access key")
	// ErrChipAuthentication: the chip failed Chip Authentication: it does
	// not hold the private key whose public key its DG14 carries (or, after
	// PACE with Chip Authentication Mapping, its EF.CardSecurity:
	// ErrPACECAM), so it is not the chip the issuer personalised (a clone
	// with copied files) or the file was altered. It matches
	// ErrSecureMessaging when the chip's answers under the agreed keys did
	// not verify. Do not trust the document.
	ErrChipAuthentication = errors.New("emrtd: chip authentication failed: the chip does not hold its Chip Authentication private key")
	// ErrClosed: the session failed earlier (secure messaging broken) and
	// cannot be used; open a new one.
	ErrClosed = errors.New("emrtd: session unusable after an earlier failure")
)

// Errors of the data parsers (LDS files, EF.CardAccess, EF.SOD).
var (
	// ErrMalformed: bytes from the chip (or from a disclosure) do not follow
	// the ICAO 9303-10 LDS encoding.
	ErrMalformed = errors.New("emrtd: malformed LDS data")
	// ErrCheckDigit: an MRZ check digit does not match its field (ICAO
	// 9303-3 §4.9). It matches ErrMalformed.
	ErrCheckDigit = fmt.Errorf("%w: MRZ check digit mismatch", ErrMalformed)
)

// Errors of passive authentication (ICAO 9303-11 §5.1). Every one matches
// ErrPassiveAuth; the data must not be trusted.
var (
	// ErrPassiveAuth is the class of every passive authentication failure.
	ErrPassiveAuth = errors.New("emrtd: passive authentication failed")
	// ErrSignature: the EF.SOD signature does not verify under the document
	// signer certificate, or the signed attributes do not bind the security
	// object.
	ErrSignature = fmt.Errorf("%w: EF.SOD signature invalid", ErrPassiveAuth)
	// ErrUntrustedSigner: the document signer certificate does not chain to
	// any of the CSCA certificates given (or is outside its validity).
	// Configure the issuing country's CSCA certificate.
	ErrUntrustedSigner = fmt.Errorf("%w: document signer not issued by a trusted CSCA", ErrPassiveAuth)
	// ErrHashMismatch: a data group's hash differs from the one in EF.SOD:
	// the data group was altered.
	ErrHashMismatch = fmt.Errorf("%w: data group hash mismatch", ErrPassiveAuth)
	// ErrHashMissing: EF.SOD holds no hash for a data group that was read:
	// the data group cannot be trusted.
	ErrHashMissing = fmt.Errorf("%w: data group absent from EF.SOD", ErrPassiveAuth)
	// ErrCountryMismatch: the document signer certificate names another
	// country than its CSCA, or than the issuing state of DG1: a CSCA
	// trusted for one state signed a document of another. The certificate
	// profile of ICAO 9303-12 §7.1.1 (8th edition) has the issuing
	// state's countryName in the issuer and subject of the document
	// signer certificate alike; the comparison with DG1 follows from it
	// (checkCountry). Do not trust the document.
	ErrCountryMismatch = fmt.Errorf("%w: document signer's country does not match the issuing state", ErrPassiveAuth)
	// ErrCardSecurity: EF.CardSecurity, the chip's SecurityInfos signed by
	// a document signer in the master file (ICAO 9303-11 §9.2.11), is
	// malformed or fails the checks EF.SOD passes: its signature, its
	// signer's chain to a configured CSCA, revocation, country. The error
	// matches the cause too (ErrSignature, ErrUntrustedSigner, ErrRevoked,
	// ErrCountryMismatch, ErrMalformed). EF.CardAccess, which chose the
	// access protocol, is then unauthenticated: do not trust the session's
	// data.
	ErrCardSecurity = fmt.Errorf("%w: EF.CardSecurity not validly signed by a trusted document signer", ErrPassiveAuth)
)

// DataGroupError names the data group a failure concerns.
type DataGroupError struct {
	DG  DG
	Err error
}

func (e *DataGroupError) Error() string { return e.DG.String() + ": " + e.Err.Error() }

func (e *DataGroupError) Unwrap() error { return e.Err }

// malformed wraps ErrMalformed with context.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
