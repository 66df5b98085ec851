// Package rsapss holds what the PIV client (which builds RSASSA-PSS
// encodings for a card that only does raw RSA) and esign (which checks
// encodings crypto/rsa cannot, such as a zero-length salt) share of RFC
// 8017: the MGF1 mask.
package rsapss

import "crypto"

// MGF1XOR XORs MGF1(seed) into out (RFC 8017 Appendix B.2.1).
func MGF1XOR(out []byte, hash crypto.Hash, seed []byte) {
	var counter [4]byte
	done := 0
	for done < len(out) {
		h := hash.New()
		h.Write(seed)
		h.Write(counter[:])
		for _, b := range h.Sum(nil) {
			if done == len(out) {
				break
			}
			out[done] ^= b
			done++
		}
		for i := 3; i >= 0; i-- {
			counter[i]++
			if counter[i] != 0 {
				break
			}
		}
	}
}
