package webauthn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/webauthn"
)

var testModel = webauthn.AAGUID{0x70, 0x75, 0x63, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6b, 0x65, 0x79, 0, 0, 1}

func TestPolicyRoots(t *testing.T) {
	pki := newPKI(t, testModel)
	e := newEnv(t, func(c *webauthn.Config) { c.Policy.Roots = []*x509.Certificate{pki.root} })
	if _, err := e.tryEnroll(t, "alice", newDevice(withAAGUID(testModel), withAttestation(attestPacked, pki))); err != nil {
		t.Fatalf("attested by a trusted root: %v", err)
	}
	other := newPKI(t, testModel)
	for name, d := range map[string]*device{
		"none":        newDevice(withAttestation(attestNone, nil)),
		"self":        newDevice(withAttestation(attestSelf, nil)),
		"other root":  newDevice(withAAGUID(testModel), withAttestation(attestPacked, other)),
		"RS256, none": newDevice(withRSA(), withAttestation(attestNone, nil)),
	} {
		if _, err := e.tryEnroll(t, "bob", d); !errors.Is(err, identity.ErrUntrusted) {
			t.Errorf("%s: %v, want ErrUntrusted", name, err)
		}
	}
	if recs, _ := e.f.Credentials(context.Background(), "bob"); len(recs) != 0 {
		t.Fatalf("refused registrations stored %d credentials", len(recs))
	}
	if ev := e.lastEvent(t, "bob"); ev.Result != identity.Failure || ev.Action != "enroll" {
		t.Fatalf("audit %+v", ev)
	}
}

func TestPolicyAAGUIDs(t *testing.T) {
	e := newEnv(t, func(c *webauthn.Config) { c.Policy.AAGUIDs = []webauthn.AAGUID{testModel} })
	if _, err := e.tryEnroll(t, "alice", newDevice(withAAGUID(testModel), withAttestation(attestSelf, nil))); err != nil {
		t.Fatalf("allowed model: %v", err)
	}
	if _, err := e.tryEnroll(t, "alice", newDevice(withAttestation(attestSelf, nil))); !errors.Is(err, identity.ErrUntrusted) {
		t.Fatalf("other model: %v", err)
	}
}

// mdsIssuer signs metadata blobs, as the FIDO Alliance does.
type mdsIssuer struct {
	root    *x509.Certificate
	leaf    *x509.Certificate
	leafKey *ecdsa.PrivateKey
	rootKey *ecdsa.PrivateKey
}

func newMDSIssuer(t *testing.T) *mdsIssuer {
	t.Helper()
	m := &mdsIssuer{}
	m.rootKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	m.leafKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nb, na := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test MDS Root"}, NotBefore: nb, NotAfter: na,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, rt, rt, &m.rootKey.PublicKey, m.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	m.root, _ = x509.ParseCertificate(der)
	lt := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "Test MDS Signer"}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err = x509.CreateCertificate(rand.Reader, lt, m.root, &m.leafKey.PublicKey, m.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	m.leaf, _ = x509.ParseCertificate(der)
	return m
}

type mdsEntry struct {
	model  webauthn.AAGUID
	roots  []*x509.Certificate
	status string
}

// blob returns a signed MDS3 blob (a JWS, ES256) with serial number no.
func (m *mdsIssuer) blob(t *testing.T, no int, entries ...mdsEntry) []byte {
	t.Helper()
	var es []map[string]any
	for _, e := range entries {
		var roots []string
		for _, r := range e.roots {
			roots = append(roots, base64.StdEncoding.EncodeToString(r.Raw))
		}
		es = append(es, map[string]any{
			"aaguid": e.model.String(),
			"metadataStatement": map[string]any{
				"aaguid": e.model.String(), "description": "Test Key " + e.model.String()[:4], "schema": 3, "protocolFamily": "fido2",
				"attestationTypes": []string{"basic_full"}, "attestationRootCertificates": roots,
			},
			"statusReports":          []map[string]any{{"status": e.status, "effectiveDate": "2024-01-01"}},
			"timeOfLastStatusChange": "2024-01-01",
		})
	}
	payload, _ := json.Marshal(map[string]any{"legalHeader": "test", "no": no, "nextUpdate": "2027-01-01", "entries": es})
	header, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "JWT", "x5c": []string{base64.StdEncoding.EncodeToString(m.leaf.Raw)}})
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	d := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, m.leafKey, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return []byte(signed + "." + enc.EncodeToString(sig))
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMDS(t *testing.T) {
	ctx := context.Background()
	pki := newPKI(t, testModel)
	iss := newMDSIssuer(t)
	path := filepath.Join(t.TempDir(), "blob.jwt")
	writeFile(t, path, iss.blob(t, 10, mdsEntry{testModel, []*x509.Certificate{pki.root}, "FIDO_CERTIFIED_L1"}))
	mds, err := webauthn.OpenMDS(ctx, webauthn.MDSConfig{Path: path, Roots: []*x509.Certificate{iss.root}})
	if err != nil {
		t.Fatal(err)
	}
	if mds.Number() != 10 || !mds.NextUpdate().Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("number %d next update %s", mds.Number(), mds.NextUpdate())
	}
	if desc, ok := mds.Describe(testModel); !ok || !strings.HasPrefix(desc, "Test Key") {
		t.Fatalf("describe: %q %v", desc, ok)
	}

	e := newEnv(t, func(c *webauthn.Config) { c.Policy.MDS = mds })
	good := newDevice(withAAGUID(testModel), withAttestation(attestPacked, pki))
	e.enroll(t, "alice", good)
	// The blob's roots vouch for the hardware: a device-bound key that
	// verified its user logs in at AAL3.
	if p, err := e.login(t, "alice", good); err != nil || p.Assurance != identity.Level3 || p.Claims["attestation_trusted"] != "true" {
		t.Fatalf("login: %v %+v", err, p)
	}
	unknownModel := webauthn.AAGUID{9, 9, 9}
	for name, d := range map[string]*device{
		"none":              newDevice(withAAGUID(testModel), withAttestation(attestNone, nil)),
		"self":              newDevice(withAAGUID(testModel), withAttestation(attestSelf, nil)),
		"model not in blob": newDevice(withAAGUID(unknownModel), withAttestation(attestPacked, newPKI(t, unknownModel))),
		"wrong root":        newDevice(withAAGUID(testModel), withAttestation(attestPacked, newPKI(t, testModel))),
	} {
		if _, err := e.tryEnroll(t, "bob", d); !errors.Is(err, identity.ErrUntrusted) {
			t.Errorf("%s: %v, want ErrUntrusted", name, err)
		}
	}

	// An older blob is a rollback: refused, the current one stays.
	writeFile(t, path, iss.blob(t, 9, mdsEntry{testModel, []*x509.Certificate{pki.root}, "REVOKED"}))
	if err := mds.Refresh(ctx); !errors.Is(err, identity.ErrUntrusted) || mds.Number() != 10 {
		t.Fatalf("rollback: %v, number %d", err, mds.Number())
	}
	// A broken file leaves the current blob in force.
	writeFile(t, path, []byte("not a blob"))
	if err := mds.Refresh(ctx); err == nil || mds.Number() != 10 {
		t.Fatalf("broken blob: %v", err)
	}
	if _, err := e.login(t, "alice", good); err != nil {
		t.Fatalf("login after failed refreshes: %v", err)
	}
	// The model is revoked: logins stop after Refresh.
	writeFile(t, path, iss.blob(t, 11, mdsEntry{testModel, []*x509.Certificate{pki.root}, "REVOKED"}))
	if err := mds.Refresh(ctx); err != nil || mds.Number() != 11 {
		t.Fatalf("refresh: %v", err)
	}
	ch, resp := e.begin(t, "alice")
	resp.Data = good.get(t, ch.Payload)
	e.mustFail(t, resp, identity.ErrUntrusted, "login with a revoked model")
	if _, err := e.tryEnroll(t, "carol", newDevice(withAAGUID(testModel), withAttestation(attestPacked, pki))); !errors.Is(err, identity.ErrUntrusted) {
		t.Fatalf("register a revoked model: %v", err)
	}
}

func TestMDSBlobVerification(t *testing.T) {
	ctx := context.Background()
	iss := newMDSIssuer(t)
	dir := t.TempDir()
	open := func(blob []byte, cfg webauthn.MDSConfig) error {
		path := filepath.Join(dir, "blob.jwt")
		writeFile(t, path, blob)
		cfg.Path = path
		if cfg.Roots == nil {
			cfg.Roots = []*x509.Certificate{iss.root}
		}
		_, err := webauthn.OpenMDS(ctx, cfg)
		return err
	}
	good := iss.blob(t, 1, mdsEntry{testModel, nil, "FIDO_CERTIFIED"})
	if err := open(good, webauthn.MDSConfig{}); err != nil {
		t.Fatal(err)
	}
	other := newMDSIssuer(t)
	parts := strings.Split(string(good), ".")
	forged := strings.Split(string(other.blob(t, 1)), ".")
	crl := func(issuer *mdsIssuer, serial int64) *x509.RevocationList {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
			ThisUpdate: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NextUpdate: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
			RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(serial), RevocationTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}},
			issuer.root, issuer.rootKey)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := x509.ParseRevocationList(der)
		return l
	}
	for name, tc := range map[string]struct {
		blob []byte
		cfg  webauthn.MDSConfig
		want error
	}{
		"untrusted root":    {blob: good, cfg: webauthn.MDSConfig{Roots: []*x509.Certificate{other.root}}, want: identity.ErrUntrusted},
		"payload swapped":   {blob: []byte(parts[0] + "." + forged[1] + "." + parts[2]), want: identity.ErrUntrusted},
		"signature swapped": {blob: []byte(parts[0] + "." + parts[1] + "." + forged[2]), want: identity.ErrUntrusted},
		"no signature":      {blob: []byte(parts[0] + "." + parts[1] + "."), want: identity.ErrUntrusted},
		"two parts":         {blob: []byte(parts[0] + "." + parts[1]), want: identity.ErrUntrusted},
		"revoked signer":    {blob: good, cfg: webauthn.MDSConfig{CRLs: []*x509.RevocationList{crl(iss, 77)}}, want: identity.ErrUntrusted},
		"too large":         {blob: good, cfg: webauthn.MDSConfig{MaxSize: 100}, want: identity.ErrBadInput},
		"expired signer":    {blob: good, cfg: webauthn.MDSConfig{Clock: fixedClock(time.Date(2041, 1, 1, 0, 0, 0, 0, time.UTC))}, want: identity.ErrUntrusted},
	} {
		if err := open(tc.blob, tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// A CRL that lists another serial, or from another issuer, changes nothing.
	if err := open(good, webauthn.MDSConfig{CRLs: []*x509.RevocationList{crl(iss, 78), crl(other, 77)}}); err != nil {
		t.Fatalf("unrelated CRLs: %v", err)
	}
	if _, err := webauthn.OpenMDS(ctx, webauthn.MDSConfig{Path: filepath.Join(dir, "missing")}); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("no roots: %v", err)
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
