package emrtdapplet

import (
	"crypto/cipher"
	"crypto/subtle"
	"errors"

	"github.com/puce-id/puce/pcsc/apdu"
)

// session is the card's half of secure messaging (ICAO 9303-11 §9.8).
type session struct {
	s       suite
	kEnc    cipher.Block
	kMAC    []byte
	counter []byte
}

var errSM = errors.New("emrtdapplet: secure messaging objects wrong")

func newSession(s suite, ksEnc, ksMAC, ssc []byte) (*session, error) {
	b, err := blockCipher(s, ksEnc)
	if err != nil {
		return nil, err
	}
	return &session{s: s, kEnc: b, kMAC: append([]byte(nil), ksMAC...), counter: append([]byte(nil), ssc...)}, nil
}

func (m *session) step() {
	for i := len(m.counter) - 1; i >= 0; i-- {
		m.counter[i]++
		if m.counter[i] != 0 {
			break
		}
	}
}

// chainIV: zero for 3DES, E(KSenc, SSC) for AES (§9.8.6.1, §9.8.7.1).
func (m *session) chainIV() []byte {
	iv := make([]byte, m.s.block())
	if m.s != suite3DES {
		m.kEnc.Encrypt(iv, m.counter)
	}
	return iv
}

// open verifies and decrypts a protected command and returns the plain one.
// The counter advances whatever happens, so a failure ends the session
// (the caller drops it).
func (m *session) open(cmd apdu.Command) (apdu.Command, error) {
	m.step()
	bs := m.s.block()
	var (
		crypt   []byte
		le      []byte
		tag     []byte
		covered int
	)
	rest := cmd.Data
	for len(rest) > 0 {
		o, next, err := apdu.DecodeTLV(rest)
		if err != nil || tag != nil {
			return apdu.Command{}, errSM
		}
		switch o.Tag {
		case 0x87:
			if len(o.Value) < 1 || o.Value[0] != 1 {
				return apdu.Command{}, errSM
			}
			crypt = o.Value[1:]
		case 0x85:
			crypt = o.Value
		case 0x97:
			le = o.Value
		case 0x8E:
			tag = o.Value
			covered = len(cmd.Data) - len(rest)
		default:
			return apdu.Command{}, errSM
		}
		rest = next
	}
	if tag == nil {
		return apdu.Command{}, errSM
	}
	in := append(append([]byte(nil), m.counter...), padISO([]byte{cmd.CLA, cmd.INS, cmd.P1, cmd.P2}, bs)...)
	in = append(in, cmd.Data[:covered]...)
	if subtle.ConstantTimeCompare(macOf(m.s, m.kMAC, padISO(in, bs)), tag) != 1 {
		return apdu.Command{}, errSM
	}
	plain := apdu.Command{CLA: cmd.CLA &^ 0x0C, INS: cmd.INS, P1: cmd.P1, P2: cmd.P2}
	if cmd.CLA&0x40 != 0 {
		plain.CLA = cmd.CLA &^ 0x20
	}
	if crypt != nil {
		if len(crypt) == 0 || len(crypt)%bs != 0 {
			return apdu.Command{}, errSM
		}
		d := make([]byte, len(crypt))
		cipher.NewCBCDecrypter(m.kEnc, m.chainIV()).CryptBlocks(d, crypt)
		var err error
		if plain.Data, err = unpadISO(d); err != nil {
			return apdu.Command{}, errSM
		}
	}
	switch len(le) {
	case 0:
		if le != nil {
			return apdu.Command{}, errSM
		}
	case 1:
		plain.Ne = int(le[0])
		if plain.Ne == 0 {
			plain.Ne = 256
		}
	case 2:
		plain.Ne = int(le[0])<<8 | int(le[1])
		if plain.Ne == 0 {
			plain.Ne = 65536
		}
	default:
		return apdu.Command{}, errSM
	}
	return plain, nil
}

// seal protects a response: DO'87' (DO'85' for odd instructions), DO'99',
// DO'8E' (§9.8.5). The outer status word repeats DO'99'.
func (m *session) seal(r apdu.Response, odd bool) apdu.Response {
	m.step()
	bs := m.s.block()
	var body []byte
	if len(r.Data) > 0 {
		p := padISO(r.Data, bs)
		ct := make([]byte, len(p))
		cipher.NewCBCEncrypter(m.kEnc, m.chainIV()).CryptBlocks(ct, p)
		if odd {
			body, _ = apdu.AppendTLV(body, 0x85, ct)
		} else {
			body, _ = apdu.AppendTLV(body, 0x87, append([]byte{1}, ct...))
		}
	}
	body, _ = apdu.AppendTLV(body, 0x99, []byte{r.SW1(), r.SW2()})
	in := append(append([]byte(nil), m.counter...), body...)
	body, _ = apdu.AppendTLV(body, 0x8E, macOf(m.s, m.kMAC, padISO(in, bs)))
	return apdu.Response{Data: body, SW: r.SW}
}
