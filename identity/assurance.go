package identity

import "fmt"

// Level is an authentication assurance level. Its numbers follow NIST SP
// 800-63B's AAL1–AAL3; EIDAS gives the eIDAS level of assurance that the same
// level is accepted as. This file is the one place where the mapping lives.
type Level int

const (
	// LevelNone: not authenticated.
	LevelNone Level = iota
	// Level1 (AAL1): one factor, e.g. a password alone or a recovery code.
	Level1
	// Level2 (AAL2): two distinct factors, e.g. password + TOTP, or a synced
	// passkey with user verification.
	Level2
	// Level3 (AAL3): two factors, one of them a hardware cryptographic
	// authenticator resistant to verifier impersonation: a card whose key needs
	// the PIN, or a device-bound security key with user verification whose
	// attestation the relying party's policy trusted (webauthn's
	// Record.TrustedAttestation): flags alone do not show hardware.
	Level3
)

// String returns "AAL1", "AAL2", "AAL3" or "none".
func (l Level) String() string {
	switch l {
	case Level1, Level2, Level3:
		return fmt.Sprintf("AAL%d", int(l))
	case LevelNone:
		return "none"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// LoA is an eIDAS level of assurance (Regulation (EU) 910/2014, art. 8).
type LoA int

const (
	LoANone LoA = iota
	LoALow
	LoASubstantial
	LoAHigh
)

func (l LoA) String() string {
	switch l {
	case LoALow:
		return "low"
	case LoASubstantial:
		return "substantial"
	case LoAHigh:
		return "high"
	}
	return "none"
}

// EIDAS maps an AAL to the eIDAS level it is commonly accepted as. The mapping
// concerns the authentication mechanism only: eIDAS levels also depend on
// identity proofing, which puce does not perform.
func (l Level) EIDAS() LoA {
	switch l {
	case Level1:
		return LoALow
	case Level2:
		return LoASubstantial
	case Level3:
		return LoAHigh
	}
	return LoANone
}

// Factors is a set of authentication factor categories.
type Factors uint8

const (
	// Knowledge: something you know (password, card PIN checked by the card).
	Knowledge Factors = 1 << iota
	// Possession: something you have (OTP token, security key, card).
	Possession
	// Inherence: something you are (biometric user verification on a device).
	Inherence
)

// Has reports whether every factor in o is in f.
func (f Factors) Has(o Factors) bool { return f&o == o }

// Count is the number of distinct categories in f.
func (f Factors) Count() int {
	n := 0
	for v := f; v != 0; v &= v - 1 {
		n++
	}
	return n
}

func (f Factors) String() string {
	s := ""
	for _, p := range []struct {
		f Factors
		n string
	}{{Knowledge, "knowledge"}, {Possession, "possession"}, {Inherence, "inherence"}} {
		if f.Has(p.f) {
			if s != "" {
				s += "+"
			}
			s += p.n
		}
	}
	if s == "" {
		return "none"
	}
	return s
}
