package emrtdapplet

import (
	"crypto/sha1"
	"io"
	"math/big"
	"sync"
)

// dhGroup is a MODP group with a prime-order subgroup, the DH domain
// parameters of PACE: ICAO 9303-11 §9.5.1, Table 6, IDs 0-2 (RFC 5114
// §2.1-2.3).
type dhGroup struct {
	p, q, g *big.Int
}

func hexInt(s string) *big.Int {
	n, _ := new(big.Int).SetString(s, 16)
	return n
}

// The standardized MODP groups by parameter ID.
var dhGroups = sync.OnceValue(func() map[int]*dhGroup {
	return map[int]*dhGroup{
		0: {
			p: hexInt("B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D189838EF1E2EE652C013ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A73724EFFD6FAE5644738FAA31A4FF55BCCC0A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708DF1FB2BC2E4A4371"),
			g: hexInt("A4D1CBD5C3FD34126765A442EFB99905F8104DD258AC507FD6406CFF14266D31266FEA1E5C41564B777E690F5504F213160217B4B01B886A5E91547F9E2749F4D7FBD7D3B9A92EE1909D0D2263F80A76A6A24C087A091F531DBF0A0169B6A28AD662A4D18E73AFA32D779D5918D08BC8858F4DCEF97C2A24855E6EEB22B3B2E5"),
			q: hexInt("F518AA8781A8DF278ABA4E7D64B7CB9D49462353"),
		},
		1: {
			p: hexInt("AD107E1E9123A9D0D660FAA79559C51FA20D64E5683B9FD1B54B1597B61D0A75E6FA141DF95A56DBAF9A3C407BA1DF15EB3D688A309C180E1DE6B85A1274A0A66D3F8152AD6AC2129037C9EDEFDA4DF8D91E8FEF55B7394B7AD5B7D0B6C12207C9F98D11ED34DBF6C6BA0B2C8BBC27BE6A00E0A0B9C49708B3BF8A317091883681286130BC8985DB1602E714415D9330278273C7DE31EFDC7310F7121FD5A07415987D9ADC0A486DCDF93ACC44328387315D75E198C641A480CD86A1B9E587E8BE60E69CC928B2B9C52172E413042E9B23F10B0E16E79763C9B53DCF4BA80A29E3FB73C16B8E75B97EF363E2FFA31F71CF9DE5384E71B81C0AC4DFFE0C10E64F"),
			g: hexInt("AC4032EF4F2D9AE39DF30B5C8FFDAC506CDEBE7B89998CAF74866A08CFE4FFE3A6824A4E10B9A6F0DD921F01A70C4AFAAB739D7700C29F52C57DB17C620A8652BE5E9001A8D66AD7C17669101999024AF4D027275AC1348BB8A762D0521BC98AE247150422EA1ED409939D54DA7460CDB5F6C6B250717CBEF180EB34118E98D119529A45D6F834566E3025E316A330EFBB77A86F0C1AB15B051AE3D428C8F8ACB70A8137150B8EEB10E183EDD19963DDD9E263E4770589EF6AA21E7F5F2FF381B539CCE3409D13CD566AFBB48D6C019181E1BCFE94B30269EDFE72FE9B6AA4BD7B5A0F1C71CFFF4C19C418E1F6EC017981BC087F2A7065B384B890D3191F2BFA"),
			q: hexInt("801C0D34C58D93FE997177101F80535A4738CEBCBF389A99B36371EB"),
		},
		2: {
			p: hexInt("87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F25D2CEED4435E3B00E00DF8F1D61957D4FAF7DF4561B2AA3016C3D91134096FAA3BF4296D830E9A7C209E0C6497517ABD5A8A9D306BCF67ED91F9E6725B4758C022E0B1EF4275BF7B6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C4FDB70C581B23F76B63ACAE1CAA6B7902D52526735488A0EF13C6D9A51BFA4AB3AD8347796524D8EF6A167B5A41825D967E144E5140564251CCACB83E6B486F6B3CA3F7971506026C0B857F689962856DED4010ABD0BE621C3A3960A54E710C375F26375D7014103A4B54330C198AF126116D2276E11715F693877FAD7EF09CADB094AE91E1A1597"),
			g: hexInt("3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF205407F4793A1A0BA12510DBC15077BE463FFF4FED4AAC0BB555BE3A6C1B0C6B47B1BC3773BF7E8C6F62901228F8C28CBB18A55AE31341000A650196F931C77A57F2DDF463E5E9EC144B777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC831D14348F6F2F9193B5045AF2767164E1DFC967C1FB3F2E55A4BD1BFFE83B9C80D052B985D182EA0ADB2A3B7313D3FE14C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915B3353BBB64E0EC377FD028370DF92B52C7891428CDC67EB6184B523D1DB246C32F63078490F00EF8D647D148D47954515E2327CFEF98C582664B4C0F6CC41659"),
			q: hexInt("8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3"),
		},
	}
})

// dhDomainParameters returns the MODP group of a standardized parameter ID,
// nil for any other.
func dhDomainParameters(id int) *dhGroup { return dhGroups()[id] }

func (d *dhGroup) size() int { return (d.p.BitLen() + 7) / 8 }

// parseY accepts a public value the reader sent only if it lies in the
// order-q subgroup: 1 < y < p-1 and y^q = 1 mod p (BSI TR-03110-3 §A.4.2),
// so that the chip never exponentiates a value of small order.
func (d *dhGroup) parseY(b []byte) (*big.Int, bool) {
	if len(b) == 0 || len(b) > d.size() {
		return nil, false
	}
	y := new(big.Int).SetBytes(b)
	one := big.NewInt(1)
	if y.Cmp(one) <= 0 || y.Cmp(new(big.Int).Sub(d.p, one)) >= 0 {
		return nil, false
	}
	return y, new(big.Int).Exp(y, d.q, d.p).Cmp(one) == 0
}

// private draws an exponent in [1, q-1].
func (d *dhGroup) private(r io.Reader) (*big.Int, error) {
	b := make([]byte, (d.q.BitLen()+7)/8)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		if extra := len(b)*8 - d.q.BitLen(); extra > 0 {
			b[0] &= 0xFF >> extra
		}
		k := new(big.Int).SetBytes(b)
		if k.Sign() > 0 && k.Cmp(d.q) < 0 {
			return k, nil
		}
	}
}

// bytes encodes y, or a shared secret, in len(p) bytes.
func (d *dhGroup) bytes(n *big.Int) []byte { return n.FillBytes(make([]byte, d.size())) }

// mapGeneric is the chip's mapping step: from the reader's PK_map,PCD, draw
// SK_map,IC, h = PK_map,PCD^SK_map,IC and g' = g^s·h (ICAO 9303-11
// §4.4.3.3.1); it returns g' and PK_map,IC, or false for a bad key.
func (d *dhGroup) mapGeneric(r io.Reader, nonce, pkPCD []byte) (gen *big.Int, pk []byte, ok bool, err error) {
	y, ok := d.parseY(pkPCD)
	if !ok {
		return nil, nil, false, nil
	}
	sk, err := d.private(r)
	if err != nil {
		return nil, nil, false, err
	}
	// PK_map,IC first: publicKey may draw sk again.
	if pk, err = d.publicKey(r, d.g, sk); err != nil {
		return nil, nil, false, err
	}
	h := new(big.Int).Exp(y, sk, d.p)
	g := new(big.Int).Exp(d.g, new(big.Int).SetBytes(nonce), d.p)
	g.Mul(g, h).Mod(g, d.p)
	if h.Cmp(big.NewInt(1)) == 0 || g.Cmp(big.NewInt(1)) == 0 {
		return nil, nil, false, nil
	}
	return g, pk, true, nil
}

// publicKey is gen^sk in len(p) bytes, with sk drawn again (in place) while
// y would start with a zero byte: without one, y reads the same whether the
// reader takes it as len(p) bytes or as an unsigned integer without leading
// zeros, the two encodings chips and readers use (ICAO 9303-11 Appendix G.2;
// BSI TR-03110-3).
func (d *dhGroup) publicKey(r io.Reader, gen, sk *big.Int) ([]byte, error) {
	for {
		y := new(big.Int).Exp(gen, sk, d.p)
		if y.BitLen() > 8*(d.size()-1) {
			return d.bytes(y), nil
		}
		next, err := d.private(r)
		if err != nil {
			return nil, err
		}
		sk.Set(next)
	}
}

// agree is the chip's key agreement on g': PK_IC and the shared secret, or
// false for a bad reader key.
func (d *dhGroup) agree(r io.Reader, gen *big.Int, pkPCD []byte) (pk, shared []byte, ok bool, err error) {
	y, ok := d.parseY(pkPCD)
	if !ok {
		return nil, nil, false, nil
	}
	sk, err := d.private(r)
	if err != nil {
		return nil, nil, false, err
	}
	if pk, err = d.publicKey(r, gen, sk); err != nil {
		return nil, nil, false, err
	}
	k := new(big.Int).Exp(y, sk, d.p)
	if k.Cmp(big.NewInt(1)) == 0 {
		return nil, nil, false, nil
	}
	return pk, d.bytes(k), true, nil
}

// compDH is Comp(PK_IC) for DH, SHA-1 of y (BSI TR-03110-3 §A.2.2.3): ID_IC of
// Terminal Authentication after PACE (ICAO 9303-11 §7.1).
func compDH(pk []byte) []byte {
	s := sha1.Sum(pk)
	return s[:]
}
