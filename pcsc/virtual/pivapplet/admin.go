package pivapplet

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"math/big"

	"github.com/puce-id/puce/pcsc/apdu"
)

// The card application administrator's commands: the management key's
// authentication, key generation, PUT DATA, and the vendor's metadata.

// mutualAuth runs the management key's challenge-response. SP 800-73-4
// Part 2 Appendix A gives two forms, and middleware uses both: mutual
// authentication (a witness 80, then the host's decrypted witness and its
// challenge 81, which the card encrypts), as libykpiv does, and external
// authentication of the card application administrator (a challenge 81,
// then its encryption 82), as OpenSC's piv-tool does. Any step abandons the
// other form's pending value, so each is answered once.
func (a *Applet) mutualAuth(alg byte, tmpl []byte) (apdu.Response, error) {
	// SP 800-78-4 Table 6-2 names three-key Triple DES both 00 and 03;
	// OpenSC asks for a challenge (its GenerateRandom) with 00.
	if alg != a.mgmtAlg && !(alg == algLegacy3DES && a.mgmtAlg == Alg3DES) {
		return sw(0x6A80)
	}
	blk, err := blockCipher(a.mgmtAlg, a.mgmt)
	if err != nil {
		return sw(0x6F00)
	}
	bs := blk.BlockSize()
	w, werr := apdu.Find(tmpl, 0x80)
	if werr != nil {
		a.witness = nil
		return a.externalAuth(blk, tmpl)
	}
	a.challenge = nil
	if len(w.Value) == 0 {
		a.witness = make([]byte, bs)
		rand.Read(a.witness)
		enc := make([]byte, bs)
		blk.Encrypt(enc, a.witness)
		a.admin = false
		var b apdu.TLVBuilder
		b.AddConstructed(0x7C, func(in *apdu.TLVBuilder) { in.Add(0x80, enc) })
		out, _ := b.Bytes()
		return ok(out)
	}
	witness := a.witness
	a.witness = nil
	ch, cerr := apdu.Find(tmpl, 0x81)
	if witness == nil || cerr != nil || len(ch.Value) != bs || subtle.ConstantTimeCompare(w.Value, witness) != 1 {
		return sw(0x6982)
	}
	a.admin = true
	enc := make([]byte, bs)
	blk.Encrypt(enc, ch.Value)
	var b apdu.TLVBuilder
	b.AddConstructed(0x7C, func(in *apdu.TLVBuilder) { in.Add(0x82, enc) })
	out, _ := b.Bytes()
	return ok(out)
}

// externalAuth is the administrator's one-way authentication: 7C{81 00}
// asks for a challenge, 7C{82 E(challenge)} proves the management key (9000
// without data, or 6982).
func (a *Applet) externalAuth(blk cipher.Block, tmpl []byte) (apdu.Response, error) {
	bs := blk.BlockSize()
	challenge := a.challenge
	a.challenge = nil
	if ch, err := apdu.Find(tmpl, 0x81); err == nil {
		if len(ch.Value) != 0 {
			return sw(0x6A80)
		}
		a.challenge = make([]byte, bs)
		rand.Read(a.challenge)
		a.admin = false
		var b apdu.TLVBuilder
		b.AddConstructed(0x7C, func(in *apdu.TLVBuilder) { in.Add(0x81, a.challenge) })
		out, _ := b.Bytes()
		return ok(out)
	}
	r, err := apdu.Find(tmpl, 0x82)
	if err != nil || len(r.Value) == 0 {
		return sw(0x6A80)
	}
	if challenge == nil || len(r.Value) != bs {
		return sw(0x6982)
	}
	want := make([]byte, bs)
	blk.Encrypt(want, challenge)
	if subtle.ConstantTimeCompare(r.Value, want) != 1 {
		return sw(0x6982)
	}
	a.admin = true
	return sw(apdu.SWOK)
}

func (a *Applet) generate(cmd apdu.Command) (apdu.Response, error) {
	if !a.admin {
		return sw(0x6982)
	}
	if _, ok := certObject(cmd.P2); !ok {
		return sw(0x6A86)
	}
	tmpl, err := apdu.Find(cmd.Data, 0xAC)
	if err != nil {
		return sw(0x6A80)
	}
	alg, pin, touch, good := generateTemplate(cmd.P2, tmpl.Value)
	if !good {
		return sw(0x6A80)
	}
	var priv crypto.Signer
	switch alg {
	case AlgECCP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgECCP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case AlgRSA2048:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return sw(0x6A80)
	}
	if err != nil {
		return sw(0x6F00)
	}
	a.keys[cmd.P2] = &key{alg: alg, priv: priv, generated: true, pin: pin, touch: touch}
	var b apdu.TLVBuilder
	b.AddConstructed(0x7F49, func(in *apdu.TLVBuilder) {
		switch pub := priv.Public().(type) {
		case *ecdsa.PublicKey:
			pt, _ := pub.Bytes()
			in.Add(0x86, pt)
		case *rsa.PublicKey:
			in.Add(0x81, pub.N.Bytes())
			in.Add(0x82, big.NewInt(int64(pub.E)).Bytes())
		}
	})
	out, err := b.Bytes()
	if err != nil {
		return sw(0x6F00)
	}
	return ok(out)
}

func (a *Applet) putData(cmd apdu.Command) (apdu.Response, error) {
	if !a.admin {
		return sw(0x6982)
	}
	if cmd.P1 != 0x3F || cmd.P2 != 0xFF {
		return sw(0x6A86)
	}
	id, err1 := apdu.Find(cmd.Data, 0x5C)
	body, err2 := apdu.Find(cmd.Data, 0x53)
	if err1 != nil || err2 != nil || len(id.Value) == 0 || len(id.Value) > 3 {
		return sw(0x6A80)
	}
	if biometric(id.Value) {
		// Never held here (package comment): "function not supported",
		// one of the PUT DATA status words of SP 800-73-4 Part 2 §3.3.1.
		return sw(0x6A81)
	}
	if len(body.Value) == 0 {
		// An empty object is how middleware deletes one (libykpiv's
		// delete-certificate writes 53 00): the object is gone, and GET
		// DATA answers 6A82 as for one never written (SP 800-73-4 Part 2
		// §3.1.2), not an empty object nobody can parse.
		delete(a.objects, string(id.Value))
		return sw(apdu.SWOK)
	}
	a.objects[string(id.Value)] = bytes.Clone(body.Value)
	return sw(apdu.SWOK)
}

// metadata answers the vendor GET METADATA (F7) for the PIN, the PUK, the
// management key and key slots.
func (a *Applet) metadata(cmd apdu.Command) (apdu.Response, error) {
	var b apdu.TLVBuilder
	boolByte := func(v bool) []byte {
		if v {
			return []byte{1}
		}
		return []byte{0}
	}
	switch cmd.P2 {
	case 0x80, 0x81:
		c := &a.pin
		if cmd.P2 == 0x81 {
			c = &a.puk
		}
		b.Add(0x01, []byte{0xFF})
		b.Add(0x05, boolByte(c.dflt))
		b.Add(0x06, []byte{byte(c.max), byte(c.left)})
	case SlotManagementKey:
		b.Add(0x01, []byte{a.mgmtAlg})
		b.Add(0x02, []byte{0x00, 0x01})
		b.Add(0x05, boolByte(a.mgmtDef))
	default:
		k, found := a.keys[cmd.P2]
		if !found {
			return sw(0x6A88)
		}
		origin := byte(2)
		if k.generated {
			origin = 1
		}
		b.Add(0x01, []byte{k.alg})
		b.Add(0x02, []byte{byte(k.pinPolicy(cmd.P2)), k.touchPolicy()})
		b.Add(0x03, []byte{origin})
	}
	out, err := b.Bytes()
	if err != nil {
		return sw(0x6F00)
	}
	return ok(out)
}
