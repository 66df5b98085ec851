package emrtd

import (
	"crypto/elliptic"
	"math/big"
	"testing"

	"github.com/osanderson/brainpool"
)

// The a and b written into explicit domain parameters and CV certificates
// satisfy the curve equation at the base point: y² = x³ + ax + b (mod p).
func TestCurveCoefficients(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521(), brainpool.P256r1()} {
		a, b, ok := curveA(c)
		if !ok {
			t.Fatalf("%s: no coefficients", c.Params().Name)
		}
		p := c.Params()
		lhs := new(big.Int).Exp(p.Gy, big.NewInt(2), p.P)
		rhs := new(big.Int).Exp(p.Gx, big.NewInt(3), p.P)
		rhs.Add(rhs, new(big.Int).Mul(a, p.Gx))
		rhs.Add(rhs, b)
		rhs.Mod(rhs, p.P)
		if lhs.Cmp(rhs) != 0 {
			t.Errorf("%s: base point not on y² = x³ + ax + b", p.Name)
		}
	}
}
