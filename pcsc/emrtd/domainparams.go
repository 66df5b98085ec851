package emrtd

import (
	"encoding/asn1"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidDHPublicNumber is dhpublicnumber (ANSI X9.42, RFC 3279 §2.3.3), the
// algorithm of explicit DH domain parameters: DomainParameters ::= SEQUENCE
// { p, g, q INTEGER, j INTEGER OPTIONAL, validationParms OPTIONAL }.
var oidDHPublicNumber = asn1.ObjectIdentifier{1, 2, 840, 10046, 2, 1}

// paceDomainParams is one PACEDomainParameterInfo of EF.CardAccess with
// explicit DH parameters (ICAO 9303-11 §9.2.1: SEQUENCE { protocol
// id-PACE-DH-GM, domainParameter AlgorithmIdentifier, parameterId INTEGER
// OPTIONAL }); id is -1 when absent.
type paceDomainParams struct {
	id  int
	grp *dhGroup // nil: parameters this package does not accept
}

// parseDHDomainParams decodes the domainParameter of a
// PACEDomainParameterInfo for DH. A structural error is ErrMalformed; a
// well-formed group that fails checkDHGroup gives a nil group, so that the
// PACEInfo naming it is merely unsupported.
func parseDHDomainParams(required, optional []byte) (paceDomainParams, error) {
	d := paceDomainParams{id: -1}
	in := cryptobyte.String(required)
	var alg, params cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&alg, cbasn1.SEQUENCE) || !in.Empty() || !alg.ReadASN1ObjectIdentifier(&oid) {
		return d, malformed("PACEDomainParameterInfo domainParameter")
	}
	if optional != nil {
		o := cryptobyte.String(optional)
		var id int64
		if !o.ReadASN1Int64WithTag(&id, cbasn1.INTEGER) || id < 0 || id > 255 || !o.Empty() {
			return d, malformed("PACEDomainParameterInfo parameterId")
		}
		d.id = int(id)
	}
	if !oid.Equal(oidDHPublicNumber) {
		return d, nil
	}
	p, g, q := new(big.Int), new(big.Int), new(big.Int)
	if !alg.ReadASN1(&params, cbasn1.SEQUENCE) || !params.ReadASN1Integer(p) || !params.ReadASN1Integer(g) || !params.ReadASN1Integer(q) {
		return d, malformed("PACEDomainParameterInfo DH DomainParameters")
	}
	grp := &dhGroup{p: p, g: g, q: q}
	if checkDHGroup(grp) {
		d.grp = grp
	}
	return d, nil
}

// checkDHGroup accepts explicit parameters only if they form a group with a
// large prime-order subgroup, so that the subgroup check of every public key
// (decodeDHKey) means what it says: p and q prime, 1024 ≤ |p| ≤ 2048 bits
// (the sizes of ICAO 9303-11 Table 6), |q| ≥ 160 bits, q | p-1, and g ≠ 1
// of order q. A chip that sends weak parameters gets no PACE with them.
func checkDHGroup(d *dhGroup) bool {
	one := big.NewInt(1)
	if d.p.Sign() <= 0 || d.q.Sign() <= 0 || d.p.BitLen() < 1024 || d.p.BitLen() > 2048 || d.q.BitLen() < 160 || d.q.Cmp(d.p) >= 0 {
		return false
	}
	pm1 := new(big.Int).Sub(d.p, one)
	if new(big.Int).Mod(pm1, d.q).Sign() != 0 || d.g.Cmp(one) <= 0 || d.g.Cmp(pm1) >= 0 {
		return false
	}
	if !d.q.ProbablyPrime(20) || !d.p.ProbablyPrime(20) {
		return false
	}
	return new(big.Int).Exp(d.g, d.q, d.p).Cmp(one) == 0
}
