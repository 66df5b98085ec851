package emrtd

import (
	"crypto/sha1"
	"fmt"
	"io"
	"math/big"
	"sync"
)

// dhGroup is a MODP group with a prime-order subgroup: p, the subgroup
// order q and its generator g (ICAO 9303-11 §9.5.1, Table 6, IDs 0-2, the
// groups of RFC 5114 §2.1-2.3).
type dhGroup struct {
	p, q, g *big.Int
}

// mustHex reads a constant; TestDHGroups checks every one (p and q prime,
// q | p-1, g of order q).
func mustHex(s string) *big.Int {
	n, _ := new(big.Int).SetString(s, 16)
	return n
}

// The three standardized MODP groups, as RFC 5114 §2.1-2.3 lists them
// (TestDHGroupsMatchOpenSSL compares them with openssl's dh_rfc5114).
var dhGroups = sync.OnceValue(func() map[int]*dhGroup {
	return map[int]*dhGroup{
		0: {
			p: mustHex("B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D189838EF1E2EE652C013ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A73724EFFD6FAE5644738FAA31A4FF55BCCC0A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708DF1FB2BC2E4A4371"),
			g: mustHex("A4D1CBD5C3FD34126765A442EFB99905F8104DD258AC507FD6406CFF14266D31266FEA1E5C41564B777E690F5504F213160217B4B01B886A5E91547F9E2749F4D7FBD7D3B9A92EE1909D0D2263F80A76A6A24C087A091F531DBF0A0169B6A28AD662A4D18E73AFA32D779D5918D08BC8858F4DCEF97C2A24855E6EEB22B3B2E5"),
			q: mustHex("F518AA8781A8DF278ABA4E7D64B7CB9D49462353"),
		},
		1: {
			p: mustHex("AD107E1E9123A9D0D660FAA79559C51FA20D64E5683B9FD1B54B1597B61D0A75E6FA141DF95A56DBAF9A3C407BA1DF15EB3D688A309C180E1DE6B85A1274A0A66D3F8152AD6AC2129037C9EDEFDA4DF8D91E8FEF55B7394B7AD5B7D0B6C12207C9F98D11ED34DBF6C6BA0B2C8BBC27BE6A00E0A0B9C49708B3BF8A317091883681286130BC8985DB1602E714415D9330278273C7DE31EFDC7310F7121FD5A07415987D9ADC0A486DCDF93ACC44328387315D75E198C641A480CD86A1B9E587E8BE60E69CC928B2B9C52172E413042E9B23F10B0E16E79763C9B53DCF4BA80A29E3FB73C16B8E75B97EF363E2FFA31F71CF9DE5384E71B81C0AC4DFFE0C10E64F"),
			g: mustHex("AC4032EF4F2D9AE39DF30B5C8FFDAC506CDEBE7B89998CAF74866A08CFE4FFE3A6824A4E10B9A6F0DD921F01A70C4AFAAB739D7700C29F52C57DB17C620A8652BE5E9001A8D66AD7C17669101999024AF4D027275AC1348BB8A762D0521BC98AE247150422EA1ED409939D54DA7460CDB5F6C6B250717CBEF180EB34118E98D119529A45D6F834566E3025E316A330EFBB77A86F0C1AB15B051AE3D428C8F8ACB70A8137150B8EEB10E183EDD19963DDD9E263E4770589EF6AA21E7F5F2FF381B539CCE3409D13CD566AFBB48D6C019181E1BCFE94B30269EDFE72FE9B6AA4BD7B5A0F1C71CFFF4C19C418E1F6EC017981BC087F2A7065B384B890D3191F2BFA"),
			q: mustHex("801C0D34C58D93FE997177101F80535A4738CEBCBF389A99B36371EB"),
		},
		2: {
			p: mustHex("87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F25D2CEED4435E3B00E00DF8F1D61957D4FAF7DF4561B2AA3016C3D91134096FAA3BF4296D830E9A7C209E0C6497517ABD5A8A9D306BCF67ED91F9E6725B4758C022E0B1EF4275BF7B6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C4FDB70C581B23F76B63ACAE1CAA6B7902D52526735488A0EF13C6D9A51BFA4AB3AD8347796524D8EF6A167B5A41825D967E144E5140564251CCACB83E6B486F6B3CA3F7971506026C0B857F689962856DED4010ABD0BE621C3A3960A54E710C375F26375D7014103A4B54330C198AF126116D2276E11715F693877FAD7EF09CADB094AE91E1A1597"),
			g: mustHex("3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF205407F4793A1A0BA12510DBC15077BE463FFF4FED4AAC0BB555BE3A6C1B0C6B47B1BC3773BF7E8C6F62901228F8C28CBB18A55AE31341000A650196F931C77A57F2DDF463E5E9EC144B777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC831D14348F6F2F9193B5045AF2767164E1DFC967C1FB3F2E55A4BD1BFFE83B9C80D052B985D182EA0ADB2A3B7313D3FE14C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915B3353BBB64E0EC377FD028370DF92B52C7891428CDC67EB6184B523D1DB246C32F63078490F00EF8D647D148D47954515E2327CFEF98C582664B4C0F6CC41659"),
			q: mustHex("8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3"),
		},
	}
})

// paceDHGroup maps a standardized domain parameter ID to its MODP group
// (ICAO 9303-11 §9.5.1, Table 6).
func paceDHGroup(id int) (*dhGroup, bool) {
	g, ok := dhGroups()[id]
	return g, ok
}

// size is the length of p in bytes: the length of every public key and of
// the shared secret PACE exchanges.
func (d *dhGroup) size() int { return (d.p.BitLen() + 7) / 8 }

// decodeDHKey parses a public value y sent by the chip, an unsigned
// big-endian integer of at most len(p) bytes, and checks that it lies in the
// order-q subgroup: 1 < y < p-1 and y^q = 1 mod p (BSI TR-03110-3 §A.4.2 and
// ICAO 9303-11 §4.4.3.3: validate every public key received). A value
// outside the subgroup would leak the ephemeral key bit by bit (small
// subgroup attack); 0, 1 and p-1 would fix the shared secret.
func (d *dhGroup) decodeDHKey(b []byte) (*big.Int, error) {
	if len(b) == 0 || len(b) > d.size() {
		return nil, fmt.Errorf("%w: DH public key of %d bytes for a %d-byte group", ErrProtocol, len(b), d.size())
	}
	y := new(big.Int).SetBytes(b)
	pm1 := new(big.Int).Sub(d.p, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return nil, fmt.Errorf("%w: DH public key outside 1 < y < p-1", ErrProtocol)
	}
	if new(big.Int).Exp(y, d.q, d.p).Cmp(big.NewInt(1)) != 0 {
		return nil, fmt.Errorf("%w: DH public key outside the order-q subgroup", ErrProtocol)
	}
	return y, nil
}

// dhPrivate draws a private key uniformly in [1, q-1] by rejection.
func (d *dhGroup) dhPrivate(r io.Reader) (*big.Int, error) {
	size := (d.q.BitLen() + 7) / 8
	excess := uint(size*8 - d.q.BitLen())
	b := make([]byte, size)
	for range 64 {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("%w: random: %v", ErrCrypto, err)
		}
		b[0] &= 0xFF >> excess
		k := new(big.Int).SetBytes(b)
		if k.Sign() > 0 && k.Cmp(d.q) < 0 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: random source yields no exponent", ErrCrypto)
}

// paceGroup is the group PACE runs in, ECDH or DH, with the generator the
// mapping step replaces (ICAO 9303-11 §4.4.3.3).
type paceGroup interface {
	// newKey draws a private key and returns it with its public key on
	// the current generator, encoded as GENERAL AUTHENTICATE carries it.
	newKey(r io.Reader) (sk []byte, pk []byte, err error)
	// mapGeneric replaces the generator: G' = s·G + H, g' = g^s · h with H
	// or h the shared secret of sk and the chip's pk (§4.4.3.3.1).
	mapGeneric(s, sk, pkMapIC []byte) error
	// agree validates the chip's public key and returns the shared secret
	// as the KDF takes it (§9.6, §9.7.1).
	agree(sk, pkIC []byte) ([]byte, error)
	// keyTag is the tag of the public key in the public key data object
	// the tokens cover: 86 point, 84 y (§4.4.3.4, §9.4; TR-03110-3 §D.3).
	keyTag() byte
	// compress is Comp(PK_IC), ID_IC of Terminal Authentication (ICAO
	// 9303-11 §7.1; TR-03110-3 §A.2.2.3).
	compress(pk []byte) []byte
}

// dhPACE is the DH group state of one PACE run.
type dhPACE struct {
	grp *dhGroup
	gen *big.Int // current generator: g, then the mapped g'
}

// newKey draws a key whose y has no leading zero byte. The standard leaves
// open whether y travels in len(p) bytes (as in ICAO 9303-11 Appendix G.2)
// or without leading zeros (TR-03110-3's unsigned integer, as JMRTD and
// OpenPACE send it), and a chip computes its token over our key in one of
// the two; for such a y both are the same bytes. Redrawing the 1 in about
// 200 keys that would differ costs the key space nothing that matters.
func (d *dhPACE) newKey(r io.Reader) ([]byte, []byte, error) {
	size := d.grp.size()
	for range 64 {
		x, err := d.grp.dhPrivate(r)
		if err != nil {
			return nil, nil, err
		}
		y := new(big.Int).Exp(d.gen, x, d.grp.p)
		if y.BitLen() > 8*(size-1) {
			return x.Bytes(), y.FillBytes(make([]byte, size)), nil
		}
	}
	return nil, nil, fmt.Errorf("%w: random source yields no DH key", ErrCrypto)
}

func (d *dhPACE) mapGeneric(s, sk, pkMapIC []byte) error {
	y, err := d.grp.decodeDHKey(pkMapIC)
	if err != nil {
		return err
	}
	h := new(big.Int).Exp(y, new(big.Int).SetBytes(sk), d.grp.p)
	if h.Cmp(big.NewInt(1)) == 0 {
		return fmt.Errorf("%w: mapping secret h = 1", ErrProtocol)
	}
	gs := new(big.Int).Exp(d.grp.g, new(big.Int).SetBytes(s), d.grp.p)
	g := gs.Mul(gs, h)
	g.Mod(g, d.grp.p)
	if g.Cmp(big.NewInt(1)) == 0 {
		return fmt.Errorf("%w: mapped generator g' = 1", ErrProtocol)
	}
	d.gen = g
	return nil
}

func (d *dhPACE) agree(sk, pkIC []byte) ([]byte, error) {
	y, err := d.grp.decodeDHKey(pkIC)
	if err != nil {
		return nil, err
	}
	k := new(big.Int).Exp(y, new(big.Int).SetBytes(sk), d.grp.p)
	if k.Cmp(big.NewInt(1)) == 0 {
		return nil, fmt.Errorf("%w: shared secret 1", ErrProtocol)
	}
	// K as an octet string of len(p) bytes (PKCS #3 §8.4, which BSI
	// TR-03110-3 §A.2.1 follows for DH). OpenPACE drops K's leading zero
	// bytes (OpenSSL's DH_compute_key) and so fails with us in about one
	// DH run in 256; TestOpenPACE/DH-leading-zero-K shows it.
	return k.FillBytes(make([]byte, d.grp.size())), nil
}

func (d *dhPACE) keyTag() byte { return 0x84 }

// compress is SHA-1 of y for DH (BSI TR-03110-3 §A.2.2.3).
func (d *dhPACE) compress(pk []byte) []byte {
	s := sha1.Sum(pk)
	return s[:]
}
