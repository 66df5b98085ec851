package webauthn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/webauthn"
)

const (
	rpID   = "bank.example"
	origin = "https://bank.example"
)

// testEnv is a factor on a memstore with a test clock and a throttle.
type testEnv struct {
	store identity.Store
	clock *identitytest.Clock
	svc   *identity.Services
	f     *webauthn.Factor
}

func newEnv(t testing.TB, mutate func(*webauthn.Config)) *testEnv {
	t.Helper()
	s := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: s, Clock: clock,
		Throttle: &identity.Throttle{Store: s, Clock: clock, Free: 5, BaseDelay: time.Second, MaxDelay: time.Hour, LockAfter: 100}}
	cfg := webauthn.Config{RPID: rpID, RPDisplayName: "Example Bank", Origins: []string{origin}}
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := webauthn.New(svc, cfg)
	if err != nil {
		t.Fatalf("webauthn.New: %v", err)
	}
	return &testEnv{store: s, clock: clock, svc: svc, f: f}
}

// attestation is how a test device attests a new credential.
type attestation int

const (
	attestNone       attestation = iota // fmt "none", as browsers send by default
	attestSelf                          // packed self attestation (virtualwebauthn's own)
	attestPacked                        // packed with an x5c chain from a testPKI
	attestForgedSelf                    // packed self attestation signed by a key other than the credential's
)

// device is a virtual authenticator holding one credential.
type device struct {
	mu     sync.Mutex
	auth   virtualwebauthn.Authenticator
	cred   virtualwebauthn.Credential
	rp     virtualwebauthn.RelyingParty
	att    attestation
	pki    *testPKI
	counts bool // increments its signature counter per assertion
}

type deviceOpt func(*device)

func withRSA() deviceOpt {
	return func(d *device) { d.cred = virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeRSA) }
}
func withAttestation(a attestation, pki *testPKI) deviceOpt {
	return func(d *device) { d.att, d.pki = a, pki }
}
func withOptions(o virtualwebauthn.AuthenticatorOptions) deviceOpt {
	return func(d *device) { aaguid := d.auth.Aaguid; d.auth.Options = o; d.auth.Aaguid = aaguid }
}
func withAAGUID(a webauthn.AAGUID) deviceOpt { return func(d *device) { d.auth.Aaguid = a } }
func withoutCounter() deviceOpt              { return func(d *device) { d.counts = false } }

func newDevice(opts ...deviceOpt) *device {
	d := &device{
		auth:   virtualwebauthn.NewAuthenticator(),
		cred:   newEC2Credential(),
		rp:     virtualwebauthn.RelyingParty{Name: "Example Bank", ID: rpID, Origin: origin},
		counts: true,
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// newEC2Credential returns a P-256 credential whose coordinates are full
// length: virtualwebauthn encodes them with big.Int.Bytes, which drops a
// leading zero byte (1 key in 128), and go-webauthn rightly refuses a short
// coordinate.
func newEC2Credential() virtualwebauthn.Credential {
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		if len(k.X.Bytes()) != 32 || len(k.Y.Bytes()) != 32 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}

// create answers creation options: the JSON of the PublicKeyCredential the
// browser would post.
func (d *device) create(t testing.TB, payload []byte) []byte {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	opts, err := virtualwebauthn.ParseAttestationOptions(string(payload))
	if err != nil {
		t.Fatalf("parse creation options: %v", err)
	}
	if d.cred.IsExcludedForAttestation(*opts) {
		t.Fatalf("the device's credential is excluded")
	}
	d.auth.Options.UserHandle = []byte(opts.UserID)
	resp := virtualwebauthn.CreateAttestationResponse(d.rp, d.auth, d.cred, *opts)
	switch d.att {
	case attestNone:
		resp = rewriteAttestation(t, resp, func(authData, _ []byte) (string, map[string]any) { return "none", map[string]any{} })
	case attestPacked:
		resp = rewriteAttestation(t, resp, d.pki.packed)
	case attestForgedSelf:
		resp = rewriteAttestation(t, resp, func(authData, cdj []byte) (string, map[string]any) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			h := sha256.Sum256(cdj)
			dg := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
			sig, _ := ecdsa.SignASN1(rand.Reader, k, dg[:])
			return "packed", map[string]any{"alg": -7, "sig": sig}
		})
	}
	return []byte(resp)
}

// get answers request options with an assertion.
func (d *device) get(t testing.TB, payload []byte) []byte {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	opts, err := virtualwebauthn.ParseAssertionOptions(string(payload))
	if err != nil {
		t.Fatalf("parse request options: %v", err)
	}
	if d.counts {
		d.cred.Counter++
	}
	return []byte(virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *opts))
}

// clone returns a device with the same credential and counter (a cloned
// authenticator).
func (d *device) clone() *device {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := &device{auth: d.auth, cred: d.cred, rp: d.rp, att: d.att, pki: d.pki, counts: d.counts}
	return c
}

// forger answers with d's credential ID, signed by another key.
func (d *device) forger() *device {
	c := d.clone()
	other := newEC2Credential()
	c.cred.Key = other.Key
	return c
}

type attObj struct {
	Fmt      string         `cbor:"fmt"`
	AttStmt  map[string]any `cbor:"attStmt"`
	AuthData []byte         `cbor:"authData"`
}

// rewriteAttestation replaces the attestation statement of a registration
// response.
func rewriteAttestation(t testing.TB, resp string, stmt func(authData, clientDataJSON []byte) (string, map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(resp), &m); err != nil {
		t.Fatal(err)
	}
	r := m["response"].(map[string]any)
	raw, _ := base64.RawURLEncoding.DecodeString(r["attestationObject"].(string))
	cdj, _ := base64.RawURLEncoding.DecodeString(r["clientDataJSON"].(string))
	var ao attObj
	if err := webauthncbor.Unmarshal(raw, &ao); err != nil {
		t.Fatal(err)
	}
	ao.Fmt, ao.AttStmt = stmt(ao.AuthData, cdj)
	b, err := webauthncbor.Marshal(ao)
	if err != nil {
		t.Fatal(err)
	}
	r["attestationObject"] = base64.RawURLEncoding.EncodeToString(b)
	out, _ := json.Marshal(m)
	return string(out)
}

// testPKI is an attestation root and a batch attestation certificate under
// it, as a security key vendor would have.
type testPKI struct {
	root    *x509.Certificate
	rootKey *ecdsa.PrivateKey
	leaf    *x509.Certificate
	leafKey *ecdsa.PrivateKey
}

var oidFIDOAAGUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}

func newPKI(t testing.TB, aaguid [16]byte) *testPKI {
	t.Helper()
	p := &testPKI{}
	var err error
	p.rootKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.leafKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nb, na := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Attestation Root", Organization: []string{"Test Vendor"}},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &p.rootKey.PublicKey, p.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	p.root, _ = x509.ParseCertificate(der)
	ext, _ := asn1.Marshal(aaguid[:])
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2),
		// §8.2.1: C, O, OU "Authenticator Attestation", CN; not a CA.
		Subject:   pkix.Name{Country: []string{"FR"}, Organization: []string{"Test Vendor"}, OrganizationalUnit: []string{"Authenticator Attestation"}, CommonName: "Test Key Batch 1"},
		NotBefore: nb, NotAfter: na, BasicConstraintsValid: true,
		ExtraExtensions: []pkix.Extension{{Id: oidFIDOAAGUID, Value: ext}}}
	der, err = x509.CreateCertificate(rand.Reader, leafTmpl, p.root, &p.leafKey.PublicKey, p.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	p.leaf, _ = x509.ParseCertificate(der)
	return p
}

// packed makes a packed attestation statement with the batch certificate
// (§8.2: sig over authenticatorData ‖ clientDataHash).
func (p *testPKI) packed(authData, clientDataJSON []byte) (string, map[string]any) {
	h := sha256.Sum256(clientDataJSON)
	d := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, p.leafKey, d[:])
	if err != nil {
		panic(err)
	}
	return "packed", map[string]any{"alg": -7, "sig": sig, "x5c": []any{p.leaf.Raw}}
}

// enroll registers d for subject and returns the stored credential.
func (e *testEnv) enroll(t testing.TB, subject identity.Subject, d *device) *identity.Credential {
	t.Helper()
	c, err := e.tryEnroll(t, subject, d)
	if err != nil {
		t.Fatalf("enrol %s: %v", subject, err)
	}
	return c
}

func (e *testEnv) tryEnroll(t testing.TB, subject identity.Subject, d *device) (*identity.Credential, error) {
	t.Helper()
	ctx := context.Background()
	ch, err := e.f.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: origin, UserName: string(subject) + "@bank.example"})
	if err != nil {
		return nil, err
	}
	return e.f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: d.create(t, ch.Payload), Name: "key"})
}

// login runs Begin with subject ("" for username-less) and answers with d.
func (e *testEnv) login(t testing.TB, subject identity.Subject, d *device) (*identity.Proof, error) {
	t.Helper()
	ctx := context.Background()
	e.clock.Advance(time.Second)
	ch, err := e.f.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return e.f.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: d.get(t, ch.Payload)})
}
