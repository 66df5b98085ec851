package cardauth

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// checkUse checks what does not depend on a CA: the validity period at now,
// key usage digitalSignature, and extended key usage clientAuth when the
// certificate names any extended key usage (RFC 5280 §4.2.1.3, §4.2.1.12),
// or when its key usage includes nonRepudiation: that marks the card's
// signing certificate (ETSI EN 319 412-2 §4.3.2), whose key a login must
// not use unless its issuer named client authentication as well.
func checkUse(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: not valid before %s", ErrCertificateNotValid, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: expired %s", ErrCertificateNotValid, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: key usage lacks digitalSignature", ErrKeyUsage)
	}
	signing := cert.KeyUsage&x509.KeyUsageContentCommitment != 0
	if len(cert.ExtKeyUsage) > 0 || len(cert.UnknownExtKeyUsage) > 0 || signing {
		ok := false
		for _, u := range cert.ExtKeyUsage {
			ok = ok || u == x509.ExtKeyUsageClientAuth
		}
		if !ok && signing {
			return fmt.Errorf("%w: a signing certificate (nonRepudiation) without extended key usage clientAuth", ErrKeyUsage)
		}
		if !ok {
			return fmt.Errorf("%w: extended key usage lacks clientAuth", ErrKeyUsage)
		}
	}
	return nil
}

// chainCache remembers verified chains by the leaf's fingerprint. A chain
// verified once stays valid while every certificate in it is within its
// validity period (the trust anchors of a Factor never change), so a hit
// only re-checks those dates.
type chainCache struct {
	mu      sync.Mutex
	entries map[[32]byte]chainEntry
}

type chainEntry struct {
	chain      []*x509.Certificate
	from, upto time.Time
}

// maxCachedChains bounds the cache; when full it starts over, which costs
// one verification per card, never a wrong answer.
const maxCachedChains = 4096

func (c *chainCache) get(leaf *x509.Certificate, now time.Time) []*x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sha256.Sum256(leaf.Raw)]
	if !ok || now.Before(e.from) || now.After(e.upto) {
		return nil
	}
	return e.chain
}

func (c *chainCache) put(leaf *x509.Certificate, chain []*x509.Certificate) {
	e := chainEntry{chain: chain, from: chain[0].NotBefore, upto: chain[0].NotAfter}
	for _, cert := range chain[1:] {
		if cert.NotBefore.After(e.from) {
			e.from = cert.NotBefore
		}
		if cert.NotAfter.Before(e.upto) {
			e.upto = cert.NotAfter
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedChains {
		c.entries = make(map[[32]byte]chainEntry)
	}
	c.entries[sha256.Sum256(leaf.Raw)] = e
}

// verifyChain returns a chain from leaf to a trusted root, from the cache
// when it can. extra are intermediates the client supplied (mutual TLS).
func (f *Factor) verifyChain(leaf *x509.Certificate, extra []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	if chain := f.chains.get(leaf, now); chain != nil {
		return chain, nil
	}
	inter := f.intermediates
	if len(extra) > 0 {
		inter = f.intermediates.Clone()
		for _, c := range extra {
			inter.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         f.roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrustedCA, err)
	}
	f.chains.put(leaf, chains[0])
	return chains[0], nil
}

// Attribute types of X.520 that eID certificates use for the holder's name.
var (
	oidGivenName    = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname      = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// Claims returns what a relying party may learn from the authentication
// certificate: the subject's names and serial number, the certificate's
// serial number and issuer, and its policy OIDs. Nothing else: the card's
// sovereign identity applet is never read for a login.
func Claims(cert *x509.Certificate) map[string]string {
	c := map[string]string{
		"subject":            cert.Subject.String(),
		"commonName":         cert.Subject.CommonName,
		"certificateSerial":  serialHex(cert.SerialNumber),
		"issuer":             cert.Issuer.String(),
		"certificateExpires": cert.NotAfter.UTC().Format(time.RFC3339),
	}
	for _, n := range cert.Subject.Names {
		v, ok := n.Value.(string)
		if !ok {
			continue
		}
		switch {
		case n.Type.Equal(oidGivenName):
			c["givenName"] = v
		case n.Type.Equal(oidSurname):
			c["surname"] = v
		case n.Type.Equal(oidSerialNumber):
			c["serialNumber"] = v
		}
	}
	if len(cert.Policies) > 0 {
		oids := make([]string, len(cert.Policies))
		for i, o := range cert.Policies {
			oids[i] = o.String()
		}
		c["policies"] = strings.Join(oids, ",")
	}
	for k, v := range c {
		if v == "" {
			delete(c, k)
		}
	}
	return c
}

func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return strings.ToUpper(n.Text(16))
}
