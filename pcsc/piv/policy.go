package piv

import "fmt"

// PINPolicy says when a key needs the PIN. The coding is the one
// YubiKey-compatible tokens use in GENERATE (tag AA) and GET METADATA (tag 02);
// plain PIV fixes the policy per slot (SP 800-73-4 Part 1 §3.2: 9E never,
// 9C before every signature, the others once per session).
type PINPolicy byte

// PIN policies.
const (
	// PINPolicyDefault leaves the choice to the card (the slot's default).
	PINPolicyDefault PINPolicy = 0
	PINPolicyNever   PINPolicy = 1
	PINPolicyOnce    PINPolicy = 2
	PINPolicyAlways  PINPolicy = 3
	// PINPolicyMatchOnce and PINPolicyMatchAlways are the biometric
	// variants of YubiKey Bio tokens.
	PINPolicyMatchOnce   PINPolicy = 4
	PINPolicyMatchAlways PINPolicy = 5
)

func (p PINPolicy) String() string {
	switch p {
	case PINPolicyDefault:
		return "default"
	case PINPolicyNever:
		return "never"
	case PINPolicyOnce:
		return "once"
	case PINPolicyAlways:
		return "always"
	case PINPolicyMatchOnce:
		return "match-once"
	case PINPolicyMatchAlways:
		return "match-always"
	}
	return fmt.Sprintf("PINPolicy(%d)", byte(p))
}

// TouchPolicy says when a key needs a touch of the token's sensor (tag AB in
// GENERATE, second byte of tag 02 in GET METADATA).
type TouchPolicy byte

// Touch policies.
const (
	TouchPolicyDefault TouchPolicy = 0
	TouchPolicyNever   TouchPolicy = 1
	TouchPolicyAlways  TouchPolicy = 2
	// TouchPolicyCached accepts a touch made in the last 15 seconds.
	TouchPolicyCached TouchPolicy = 3
)

func (p TouchPolicy) String() string {
	switch p {
	case TouchPolicyDefault:
		return "default"
	case TouchPolicyNever:
		return "never"
	case TouchPolicyAlways:
		return "always"
	case TouchPolicyCached:
		return "cached"
	}
	return fmt.Sprintf("TouchPolicy(%d)", byte(p))
}

// KeyPolicy is what GenerateKeyWith asks of a new key. The zero value leaves
// both policies to the card, which is what GenerateKey does.
type KeyPolicy struct {
	PIN   PINPolicy
	Touch TouchPolicy
}

// template is the GENERATE control reference template (tag AC): algorithm
// (80), then the vendor's PIN (AA) and touch (AB) policies when set; a
// plain PIV card knows only 80, so nothing else is sent by default.
func (p KeyPolicy) template(alg Algorithm) []byte {
	v := []byte{0x80, 0x01, byte(alg)}
	if p.PIN != PINPolicyDefault {
		v = append(v, 0xAA, 0x01, byte(p.PIN))
	}
	if p.Touch != TouchPolicyDefault {
		v = append(v, 0xAB, 0x01, byte(p.Touch))
	}
	return append([]byte{0xAC, byte(len(v))}, v...)
}
