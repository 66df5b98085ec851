package emrtdapplet

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"math/big"
)

// The chip's side of PACE with Chip Authentication Mapping (ICAO 9303-11
// §4.4.3.3.3, §4.4.3.5; BSI TR-03110-2 §3.4), written apart from
// pcsc/emrtd's host side: generic mapping as for id-PACE-ECDH-GM-*, and in
// the answer to the terminal's token the encrypted chip authentication
// data A_IC = E(KSenc, CA_IC), CA_IC = SK_IC^-1 · SK_Map,IC mod n, SK_IC the
// Chip Authentication key whose public half EF.CardSecurity carries.
//
// After CAM the chip counts as chip-authenticated, and Terminal
// Authentication takes Comp(PK_PCD) from the terminal's PACE ephemeral key
// (BSI TR-03110-2 §3.4: PACE-CAM stands in for Chip Authentication),
// which a later Chip Authentication is refused (6985), as after one.

// camData computes A_IC for the run: AES-CBC under KSenc with IV
// E(KSenc, -1), the block of all one bits, over CA_IC on the length of n,
// padded by ISO/IEC 9797-1 method 2 (ICAO 9303-11 §4.4.3.5, §9.8.6.1).
func (a *Applet) camData(run *paceRun) ([]byte, error) {
	k := a.ca
	if k == nil || run.skMap == nil {
		return nil, errors.New("emrtdapplet: PACE-CAM without a Chip Authentication key")
	}
	n := k.curve.Params().N
	inv := new(big.Int).ModInverse(new(big.Int).SetBytes(k.d), n)
	if inv == nil {
		return nil, errors.New("emrtdapplet: Chip Authentication key not invertible")
	}
	ca := inv.Mul(inv, new(big.Int).SetBytes(run.skMap))
	ca.Mod(ca, n)
	plain := padISO(ca.FillBytes(make([]byte, (n.BitLen()+7)/8)), 16)
	blk, err := blockCipher(a.pace.suite, run.ksEnc)
	if err != nil {
		return nil, err
	}
	iv := bytes.Repeat([]byte{0xFF}, blk.BlockSize())
	blk.Encrypt(iv, iv)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(out, plain)
	return out, nil
}
