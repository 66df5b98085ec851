package pivapplet

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Algorithm identifiers (SP 800-78-4 Table 6-2).
const (
	Alg3DES    byte = 0x03
	AlgRSA2048 byte = 0x07
	AlgAES128  byte = 0x08
	AlgAES192  byte = 0x0A
	AlgAES256  byte = 0x0C
	AlgECCP256 byte = 0x11
	AlgECCP384 byte = 0x14
)

// algLegacy3DES is Triple DES's first identifier, kept by SP 800-78-4
// Table 6-2 beside Alg3DES.
const algLegacy3DES byte = 0x00

// Slots.
const (
	SlotAuthentication     byte = 0x9A
	SlotManagementKey      byte = 0x9B
	SlotSignature          byte = 0x9C
	SlotKeyManagement      byte = 0x9D
	SlotCardAuthentication byte = 0x9E
)

// Defaults of a factory-fresh card.
const (
	DefaultPIN = "123456"
	DefaultPUK = "12345678"
)

// DefaultManagementKey is 0102030405060708 three times (3DES).
func DefaultManagementKey() []byte { return bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 3) }

// Config personalises the applet; zero fields take the factory defaults.
type Config struct {
	PIN, PUK string
	// ManagementKey and its algorithm (Alg3DES, AlgAES128/192/256).
	ManagementKey    []byte
	ManagementKeyAlg byte
	// Tries for PIN and PUK (default 3 each).
	PINTries, PUKTries int
	// Vendor makes the applet answer YubiKey-style GET VERSION (FD) and
	// GET METADATA (F7); otherwise they get 6D00 as on a plain PIV card.
	Vendor bool
}

// PIN policies: when a slot's key needs the PIN.
type pinPolicy byte

const (
	pinNever  pinPolicy = 1
	pinOnce   pinPolicy = 2
	pinAlways pinPolicy = 3
)

func policyOf(slot byte) pinPolicy {
	switch slot {
	case SlotCardAuthentication:
		return pinNever
	case SlotSignature:
		return pinAlways // SP 800-73-4 Part 1 §3.2.1: PIN before each signature
	}
	return pinOnce
}

// generateTemplate reads a GENERATE template: the algorithm (80) and the
// vendor's PIN (AA) and touch (AB) policy tags. Only never/once/always and never/always/cached are
// known here (no biometric sensor). The signature key 9C stays at "always"
// whatever is asked: SP 800-73-4 Part 1 §3.2.1 wants the PIN immediately
// before each use of the digital signature key, and a card that let a
// caller relax that would not be a PIV card.
func generateTemplate(slot byte, tmpl []byte) (alg byte, pin pinPolicy, touch byte, good bool) {
	// AA and AB have the constructed bit set but carry one byte each, so
	// the template is read flat rather than walked.
	tlvs, err := apdu.DecodeTLVs(tmpl)
	if err != nil {
		return 0, 0, 0, false
	}
	for _, t := range tlvs {
		switch t.Tag {
		case 0x80:
			if len(t.Value) != 1 {
				return 0, 0, 0, false
			}
			alg = t.Value[0]
		case 0xAA:
			if len(t.Value) != 1 || t.Value[0] > byte(pinAlways) {
				return 0, 0, 0, false
			}
			pin = pinPolicy(t.Value[0])
		case 0xAB:
			if len(t.Value) != 1 || t.Value[0] > 3 {
				return 0, 0, 0, false
			}
			touch = t.Value[0]
		}
	}
	if alg == 0 || slot == SlotSignature && pin != 0 && pin != pinAlways {
		return 0, 0, 0, false
	}
	return alg, pin, touch, true
}

type key struct {
	alg       byte
	priv      crypto.Signer
	generated bool
	// pin and touch are the policies GENERATE asked for (tags AA, AB);
	// zero means the slot's default. The virtual card has no sensor, so a
	// touch policy is only kept and reported.
	pin   pinPolicy
	touch byte
}

// pinPolicy is the key's own PIN policy, or its slot's default.
func (k *key) pinPolicy(slot byte) pinPolicy {
	if k.pin != 0 {
		return k.pin
	}
	return policyOf(slot)
}

// touchPolicy is the key's touch policy; "never" when none was asked for.
func (k *key) touchPolicy() byte {
	if k.touch != 0 {
		return k.touch
	}
	return 1
}

type counter struct {
	value []byte // padded to 8 bytes
	max   int
	left  int
	dflt  bool
}

// Applet is the PIV applet. It is safe for concurrent use: personalisation
// may run while the card answers.
type Applet struct {
	mu      sync.Mutex
	cfg     Config
	pin     counter
	puk     counter
	mgmt    []byte
	mgmtAlg byte
	mgmtDef bool
	keys    map[byte]*key
	objects map[string][]byte

	// Volatile security state, lost on reset. verified is the PIN's
	// security status, which "PIN" keys (9A, 9D) need; freshPIN is the
	// one-shot status a "PIN Always" key (9C) needs: set by a VERIFY that
	// presented the PIN, spent by the next command (see keyAccess).
	verified  bool
	freshPIN  bool
	admin     bool
	witness   []byte
	challenge []byte // of the management key's external authentication
}

var aid = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

// New returns an applet personalised by cfg.
func New(cfg Config) (*Applet, error) {
	a := &Applet{cfg: cfg, keys: map[byte]*key{}, objects: map[string][]byte{}}
	var err error
	if a.pin, err = newCounter(cfg.PIN, DefaultPIN, cfg.PINTries); err != nil {
		return nil, err
	}
	if a.puk, err = newCounter(cfg.PUK, DefaultPUK, cfg.PUKTries); err != nil {
		return nil, err
	}
	a.mgmt, a.mgmtAlg, a.mgmtDef = cfg.ManagementKey, cfg.ManagementKeyAlg, false
	if a.mgmt == nil {
		a.mgmt, a.mgmtAlg, a.mgmtDef = DefaultManagementKey(), Alg3DES, true
	}
	if _, err := blockCipher(a.mgmtAlg, a.mgmt); err != nil {
		return nil, err
	}
	return a, nil
}

func newCounter(v, dflt string, tries int) (counter, error) {
	c := counter{dflt: v == "" || v == dflt}
	if v == "" {
		v = dflt
	}
	if tries <= 0 {
		tries = 3
	}
	b, ok := pad(v)
	if !ok {
		return c, fmt.Errorf("pivapplet: a PIN or PUK is 6 to 8 printable characters")
	}
	c.value, c.max, c.left = b, tries, tries
	return c, nil
}

func pad(v string) ([]byte, bool) {
	if len(v) < 6 || len(v) > 8 {
		return nil, false
	}
	b := bytes.Repeat([]byte{0xFF}, 8)
	copy(b, v)
	return b, validBlock(b)
}

// validBlock accepts 6 to 8 printable characters padded with FF.
func validBlock(b []byte) bool {
	if len(b) != 8 {
		return false
	}
	n := bytes.IndexByte(b, 0xFF)
	if n < 0 {
		n = 8
	}
	if n < 6 {
		return false
	}
	for i, c := range b {
		if i < n && (c < 0x20 || c > 0x7E) || i >= n && c != 0xFF {
			return false
		}
	}
	return true
}

func blockCipher(alg byte, k []byte) (cipher.Block, error) {
	want := map[byte]int{Alg3DES: 24, AlgAES128: 16, AlgAES192: 24, AlgAES256: 32}[alg]
	if want == 0 || len(k) != want {
		return nil, fmt.Errorf("pivapplet: management key: algorithm %02X with %d bytes", alg, len(k))
	}
	if alg == Alg3DES {
		return des.NewTripleDESCipher(k)
	}
	return aes.NewCipher(k)
}

// ImportKey puts a private key in a slot (personalisation). Keys are
// *ecdsa.PrivateKey on P-256 or P-384, or *rsa.PrivateKey of 2048 bits.
func (a *Applet) ImportKey(slot byte, priv crypto.Signer) error {
	alg, err := algOf(priv.Public())
	if err != nil {
		return err
	}
	if _, ok := certObject(slot); !ok {
		return fmt.Errorf("pivapplet: slot %02X holds no key", slot)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[slot] = &key{alg: alg, priv: priv}
	return nil
}

func algOf(pub crypto.PublicKey) (byte, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return AlgECCP256, nil
		case elliptic.P384():
			return AlgECCP384, nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() == 2048 {
			return AlgRSA2048, nil
		}
	}
	return 0, fmt.Errorf("pivapplet: unsupported key %T", pub)
}

// ErrBiometric is SetObject's answer for the biometric containers of SP
// 800-73-4 Part 1 Table 1 (fingerprints 5FC103, facial image 5FC108, iris
// images 5FC121), which this applet never holds (see the package comment).
var ErrBiometric = errors.New("pivapplet: biometric data belong to the sovereign applet, not to the PIV applet")

// SetObject writes a data object's content (without the 53 wrapper, or the
// 7E or 7F61 tag of the discovery object and BIT group template), as PUT
// DATA would (personalisation). It refuses the biometric containers with
// ErrBiometric.
func (a *Applet) SetObject(id, content []byte) error {
	if biometric(id) {
		return fmt.Errorf("%w (object %X)", ErrBiometric, id)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.objects[string(id)] = bytes.Clone(content)
	return nil
}

// Object returns a data object's content as SetObject or PUT DATA wrote
// it, for personalisation that derives one object from others (the
// Security Object's hashes).
func (a *Applet) Object(id []byte) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	content, found := a.objects[string(id)]
	return bytes.Clone(content), found
}

// biometric reports the containers of cardholder biometric data: SP
// 800-73-4 Part 1 Table 1 fingerprints (5FC103), facial image (5FC108) and
// iris images (5FC121).
func biometric(id []byte) bool {
	if len(id) != 3 || id[0] != 0x5F || id[1] != 0xC1 {
		return false
	}
	switch id[2] {
	case 0x03, 0x08, 0x21:
		return true
	}
	return false
}

// SetCertificate writes a slot's certificate object (personalisation).
func (a *Applet) SetCertificate(slot byte, der []byte) error {
	obj, ok := certObject(slot)
	if !ok {
		return fmt.Errorf("pivapplet: slot %02X holds no certificate", slot)
	}
	var b apdu.TLVBuilder
	b.Add(0x70, der)
	b.Add(0x71, []byte{0})
	b.Add(0xFE, nil)
	content, err := b.Bytes()
	if err != nil {
		return err
	}
	return a.SetObject(obj, content)
}

func certObject(slot byte) ([]byte, bool) {
	switch slot {
	case SlotAuthentication:
		return []byte{0x5F, 0xC1, 0x05}, true
	case SlotSignature:
		return []byte{0x5F, 0xC1, 0x0A}, true
	case SlotKeyManagement:
		return []byte{0x5F, 0xC1, 0x0B}, true
	case SlotCardAuthentication:
		return []byte{0x5F, 0xC1, 0x01}, true
	}
	return nil, false
}

// PINTriesLeft tells a test the PIN's retry counter without spending one.
func (a *Applet) PINTriesLeft() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pin.left
}

// AID implements virtual.Applet: the full PIV AID with its version PIX.
func (a *Applet) AID() []byte { return bytes.Clone(aid) }

// Select implements virtual.Applet, answering the application property
// template (SP 800-73-4 Part 2 §3.1.1, P2 00). A SELECT with P2 0C asks for
// no response data (ISO/IEC 7816-4 §11.2.2, P2 b4-b3 = 11), as hosts that
// only want the application current send it: it gets 9000 alone.
func (a *Applet) Select(ctx context.Context, cmd apdu.Command) (apdu.Response, error) {
	a.mu.Lock()
	a.freshPIN = false
	a.mu.Unlock()
	if cmd.P2&0x0C == 0x0C {
		return sw(apdu.SWOK)
	}
	var b apdu.TLVBuilder
	b.AddConstructed(0x61, func(in *apdu.TLVBuilder) {
		in.Add(0x4F, aid[5:])
		in.AddConstructed(0x79, func(in *apdu.TLVBuilder) { in.Add(0x4F, aid[:5]) })
	})
	data, err := b.Bytes()
	return apdu.Response{Data: data, SW: apdu.SWOK}, err
}

// Reset implements virtual.Resetter: power loss clears the security state.
func (a *Applet) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.verified, a.freshPIN, a.admin, a.witness, a.challenge = false, false, false, nil, nil
}

// Deselect implements virtual.Deselecter.
func (a *Applet) Deselect() { a.Reset() }

func sw(code uint16) (apdu.Response, error) { return apdu.Response{SW: code}, nil }

func ok(data []byte) (apdu.Response, error) { return apdu.Response{Data: data, SW: apdu.SWOK}, nil }

// Process implements virtual.Applet.
func (a *Applet) Process(ctx context.Context, cmd apdu.Command) (apdu.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// "PIN Always" holds for the command right after the VERIFY that
	// presented the PIN, and for no other: any command spends it (see
	// keyAccess). GET RESPONSE and the first blocks of a chain never reach
	// the applet.
	fresh := a.freshPIN
	a.freshPIN = false
	if cmd.CLA&^0x10 != 0x00 {
		return sw(0x6E00)
	}
	switch cmd.INS {
	case 0x20:
		return a.verify(cmd)
	case 0x24:
		return a.changeReference(cmd)
	case 0x2C:
		return a.resetRetryCounter(cmd)
	case 0x87:
		return a.generalAuthenticate(cmd, fresh)
	case 0x47:
		return a.generate(cmd)
	case 0xCB:
		return a.getData(cmd)
	case 0xDB:
		return a.putData(cmd)
	case 0xFD:
		if a.cfg.Vendor {
			return ok([]byte{1, 0, 0})
		}
	case 0xF7:
		if a.cfg.Vendor {
			return a.metadata(cmd)
		}
	}
	return sw(0x6D00)
}

// try checks a padded value against a counter: 9000, 63Cx with the tries
// left, 63C0 on the try that blocks it, 6983 once blocked.
func try(c *counter, given []byte) (uint16, bool) {
	if c.left == 0 {
		return 0x6983, false
	}
	if subtle.ConstantTimeCompare(c.value, given) == 1 {
		c.left = c.max
		return apdu.SWOK, true
	}
	c.left--
	return 0x63C0 | uint16(c.left), false
}

func (a *Applet) verify(cmd apdu.Command) (apdu.Response, error) {
	if cmd.P2 != 0x80 {
		return sw(0x6A88)
	}
	if cmd.P1 == 0xFF && len(cmd.Data) == 0 {
		// SP 800-73-4 Part 2 §3.2.1: reset the status.
		a.verified, a.freshPIN = false, false
		return sw(apdu.SWOK)
	}
	if cmd.P1 != 0x00 {
		return sw(0x6A86)
	}
	if len(cmd.Data) == 0 {
		switch {
		case a.pin.left == 0:
			return sw(0x6983)
		case a.verified:
			return sw(apdu.SWOK)
		}
		return sw(0x63C0 | uint16(a.pin.left))
	}
	if !validBlock(cmd.Data) {
		return sw(0x6A80)
	}
	code, good := try(&a.pin, cmd.Data)
	a.verified, a.freshPIN = good, good
	return sw(code)
}

// referenceP1 checks P1 of CHANGE REFERENCE DATA and RESET RETRY COUNTER:
// 00 only in PIV (SP 800-73-4 Part 2 §3.2.2, §3.2.3). ISO/IEC 7816-4
// §11.5.7 and §11.5.10 give the other values other data fields (the new
// reference data alone, or none), which must not be read as old and new.
func referenceP1(cmd apdu.Command) bool { return cmd.P1 == 0x00 }

func (a *Applet) changeReference(cmd apdu.Command) (apdu.Response, error) {
	if !referenceP1(cmd) {
		return sw(0x6A86)
	}
	var c *counter
	switch cmd.P2 {
	case 0x80:
		c = &a.pin
	case 0x81:
		c = &a.puk
	default:
		return sw(0x6A88)
	}
	if len(cmd.Data) != 16 || !validBlock(cmd.Data[8:]) {
		return sw(0x6A80)
	}
	code, good := try(c, cmd.Data[:8])
	if !good {
		if c == &a.pin {
			a.verified, a.freshPIN = false, false
		}
		return sw(code)
	}
	c.value, c.dflt = bytes.Clone(cmd.Data[8:]), false
	return sw(apdu.SWOK)
}

func (a *Applet) resetRetryCounter(cmd apdu.Command) (apdu.Response, error) {
	if !referenceP1(cmd) {
		return sw(0x6A86)
	}
	if cmd.P2 != 0x80 {
		return sw(0x6A88)
	}
	if len(cmd.Data) != 16 || !validBlock(cmd.Data[8:]) {
		return sw(0x6A80)
	}
	code, good := try(&a.puk, cmd.Data[:8])
	if !good {
		return sw(code)
	}
	a.pin.value, a.pin.left, a.pin.dflt = bytes.Clone(cmd.Data[8:]), a.pin.max, false
	a.verified, a.freshPIN = false, false
	return sw(apdu.SWOK)
}

func (a *Applet) generalAuthenticate(cmd apdu.Command, always bool) (apdu.Response, error) {
	t, rest, err := apdu.DecodeTLV(cmd.Data)
	if err != nil || t.Tag != 0x7C || len(rest) != 0 {
		return sw(0x6A80)
	}
	if cmd.P2 == SlotManagementKey {
		return a.mutualAuth(cmd.P1, t.Value)
	}
	k, found := a.keys[cmd.P2]
	if !found {
		return sw(0x6A88)
	}
	if k.alg != cmd.P1 {
		return sw(0x6A80)
	}
	// 81 carries a challenge or digest to sign (or, for RSA, a block to
	// decipher); 85 the host's public point for ECC key establishment
	// (SP 800-73-4 Part 2 §3.2.4, Table 7), for which only the key
	// management key serves: 9A, 9C and 9E are signature keys (Part 1
	// §3.2), and a signature key that also answered ECDH would be an
	// oracle on itself.
	op := signRaw
	challenge, err := apdu.Find(t.Value, 0x81)
	if err != nil {
		challenge, err = apdu.Find(t.Value, 0x85)
		if err != nil || cmd.P2 != SlotKeyManagement {
			return sw(0x6A80)
		}
		op = agree
	}
	if !a.keyAccess(k.pinPolicy(cmd.P2), always) {
		return sw(0x6982)
	}
	sig, err := op(k, challenge.Value)
	if err != nil {
		return sw(0x6A80)
	}
	var b apdu.TLVBuilder
	b.AddConstructed(0x7C, func(in *apdu.TLVBuilder) { in.Add(0x82, sig) })
	out, err := b.Bytes()
	if err != nil {
		return sw(0x6F00)
	}
	return ok(out)
}

// keyAccess checks a key's PIN policy against the security status; always
// is the "PIN Always" status this operation spent.
//
// SP 800-73-4 Part 1 Table 4b gives the digital signature key 9C the access
// rule "PIN Always" and 9A, 9D the rule "PIN"; its §3.2.1 (X.509
// Certificate for Digital Signature) reads "PIN Always" as the PIN
// submitted and verified every time immediately before a digital signature
// key operation (FIPS 201's "explicit user action", NISTIR 7863).
// "Immediately" is read as middleware and tokens read it: any command
// between the VERIFY and the operation, an empty VERIFY or a SELECT
// included, spends it (OpenSC's PIV driver sends the two in one PC/SC
// transaction for that reason; Yubico states the same of YubiKeys). That
// is a condition on the key, not an end to the PIN's security status: a
// 9C signature spends only the one-shot status the VERIFY before it gave,
// and the PIN stays verified for the "PIN" keys until the application is
// deselected, the card reset, or VERIFY with P1 = FF resets it (Part 2
// §3.2.1). PIV applets keep it so (OpenFIPS201 keeps a PIN Always flag
// beside the PIN's status), and middleware relies on it: OpenSC's PIV
// driver keeps its logged-in state across a 9C operation, so a card that
// forgot the PIN after 9C failed the next 9A signature with
// CKR_USER_NOT_LOGGED_IN (pkcs11-tool --test --login). A program that wants
// the PIN forgotten when its work is done says so with VERIFY P1 = FF, as
// puce's holder functions do.
func (a *Applet) keyAccess(policy pinPolicy, always bool) bool {
	switch policy {
	case pinOnce:
		return a.verified
	case pinAlways:
		return a.verified && always
	}
	return true
}

// signRaw is the card's private-key operation: ECDSA over a digest (DER
// out), or raw RSA over a padded block.
func signRaw(k *key, in []byte) ([]byte, error) {
	switch priv := k.priv.(type) {
	case *ecdsa.PrivateKey:
		// The host sends the digest, at most the key size: FIPS 186-5 §6.4.1
		// takes e from the leftmost bits of a longer hash (the host cuts
		// it) and a shorter one, such as SHA-256 with P-384 as libykpiv
		// sends it, is e as it stands.
		if len(in) == 0 || len(in) > (priv.Curve.Params().BitSize+7)/8 {
			return nil, errors.New("input is empty or longer than the key size")
		}
		return ecdsa.SignASN1(rand.Reader, priv, in)
	case *rsa.PrivateKey:
		size := priv.Size()
		m := new(big.Int).SetBytes(in)
		if len(in) != size || m.Cmp(priv.N) >= 0 {
			return nil, errors.New("input is not below the modulus")
		}
		// m^d mod n with the CRT values (RFC 8017 §5.1.2). A test card:
		// no blinding against timing attacks.
		priv.Precompute()
		p, q := priv.Primes[0], priv.Primes[1]
		m1 := new(big.Int).Exp(m, priv.Precomputed.Dp, p)
		m2 := new(big.Int).Exp(m, priv.Precomputed.Dq, q)
		h := new(big.Int).Sub(m1, m2)
		h.Mul(h, priv.Precomputed.Qinv).Mod(h, p)
		s := h.Mul(h, q).Add(h, m2)
		return s.FillBytes(make([]byte, size)), nil
	}
	return nil, errors.New("unsupported key")
}

// agree is ECC CDH with the card's key (SP 800-56A §5.7.1.2, as SP 800-73-4
// Part 2 Appendix A's key establishment uses it): Z, the x-coordinate of the
// shared point, from the host's uncompressed point, which must lie on the
// key's curve.
func agree(k *key, point []byte) ([]byte, error) {
	priv, isEC := k.priv.(*ecdsa.PrivateKey)
	if !isEC {
		return nil, errors.New("key agreement needs an ECC key")
	}
	mine, err := priv.ECDH()
	if err != nil {
		return nil, err
	}
	theirs, err := mine.Curve().NewPublicKey(point)
	if err != nil {
		return nil, err
	}
	return mine.ECDH(theirs)
}

func (a *Applet) getData(cmd apdu.Command) (apdu.Response, error) {
	if cmd.P1 != 0x3F || cmd.P2 != 0xFF {
		return sw(0x6A86)
	}
	id, err := apdu.Find(cmd.Data, 0x5C)
	if err != nil {
		return sw(0x6A80)
	}
	// The access rule comes before the lookup: without the PIN a
	// protected object is refused whether the card holds it or not, so
	// that nobody learns without the PIN whether the card carries
	// fingerprints or a facial image. OpenSC's PIV driver counts a card
	// that answers 6A82 there as a bug (card-piv.c,
	// CI_LEAKS_FILE_NOT_FOUND): it reads those objects to learn whether the
	// PIN is verified.
	if pinToRead(id.Value) && !a.verified {
		return sw(0x6982)
	}
	content, found := a.objects[string(id.Value)]
	if !found {
		return sw(0x6A82)
	}
	out, err := apdu.AppendTLV(nil, objectTag(id.Value), content)
	if err != nil {
		return sw(0x6F00)
	}
	return ok(out)
}

// objectTag is the tag GET DATA answers an object under: its own for the
// discovery object (7E) and the BIT group template (7F61), whose tag is
// their identifier (SP 800-73-4 Part 1 §3.3.2, §3.5); 53 for the rest.
func objectTag(id []byte) apdu.Tag {
	switch {
	case bytes.Equal(id, []byte{0x7E}):
		return 0x7E
	case bytes.Equal(id, []byte{0x7F, 0x61}):
		return 0x7F61
	}
	return 0x53
}

// pinToRead reports the data objects whose read access rule is not Always
// (SP 800-73-4 Part 1 Table 1): the cardholder's fingerprints (5FC103),
// facial image (5FC108) and iris images (5FC121) need the PIN, the printed
// information (5FC109) and the pairing code reference data (5FC123) the PIN
// or the OCC, which this card does not have. The rest, certificates and
// CHUID among them, are read by anyone.
func pinToRead(id []byte) bool {
	if len(id) != 3 || id[0] != 0x5F || id[1] != 0xC1 {
		return false
	}
	switch id[2] {
	case 0x03, 0x08, 0x09, 0x21, 0x23:
		return true
	}
	return false
}
