package web

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/puce-id/puce/identity"
)

// LoadCAs reads a PEM file of CA certificates: the self-signed ones become
// roots, the others intermediates (issuing CAs), as cardauth and esign
// want them.
func LoadCAs(path string) (roots, intermediates *x509.CertPool, all []*x509.Certificate, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	roots, intermediates = x509.NewCertPool(), x509.NewCertPool()
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		all = append(all, c)
		if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
			roots.AddCert(c)
		} else {
			intermediates.AddCert(c)
		}
	}
	if len(all) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: no certificate found", path)
	}
	return roots, intermediates, all, nil
}

// Sealer builds the sealer from an operator's key list
// ("id=base64key[,...]", see identity.ParseSealer). Without one it makes a
// development key and says so loudly on out: with devKeyFile it is kept in
// that file (mode 0600) so a restarted demo can still open what it sealed —
// which is exactly what production must never do, since a key beside the
// database turns a database dump back into usable secrets.
func Sealer(spec, devKeyFile string, out io.Writer) (*identity.Sealer, error) {
	if spec != "" {
		return identity.ParseSealer(spec)
	}
	warn := func(where string) {
		fmt.Fprintf(out, "\n"+
			"  ************************************************************************\n"+
			"  *  WARNING: no sealer key given (-sealer-keys or PUCE_SEALER_KEYS).    *\n"+
			"  *  Using a DEVELOPMENT key %-44s *\n"+
			"  *  TOTP secrets are sealed with it. Never run like this in production: *\n"+
			"  *  generate a key, keep it in a secret store, pass id=base64key.       *\n"+
			"  ************************************************************************\n\n", where)
	}
	if devKeyFile == "" {
		warn("(random, lost at exit).")
		return identity.NewSealer("dev", map[string][]byte{"dev": identity.GenerateSealerKey()})
	}
	data, err := os.ReadFile(devKeyFile)
	switch {
	case err == nil:
		spec = strings.TrimSpace(string(data))
	case errors.Is(err, os.ErrNotExist):
		if spec, err = createDevKey(devKeyFile, "dev="+base64.StdEncoding.EncodeToString(identity.GenerateSealerKey())); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	warn("kept in " + devKeyFile)
	return identity.ParseSealer(spec)
}

// Loopback reports whether addr listens on the loopback interface only.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
