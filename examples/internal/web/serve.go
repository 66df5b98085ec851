package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Site is an example server's listening socket and the origin it answers as.
type Site struct {
	ln              net.Listener
	tlsCert, tlsKey string
	// Origin is the given origin, or scheme://localhost:port. localhost
	// rather than 127.0.0.1: WebAuthn accepts http only on localhost, and it
	// keeps a site's cookies apart from the agent's host.
	Origin string
}

// Listen opens addr. TLS is on when both a certificate and a key are given.
func Listen(addr, origin, tlsCert, tlsKey string) (*Site, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Site{ln: ln, Origin: origin}
	if tlsCert != "" && tlsKey != "" {
		s.tlsCert, s.tlsKey = tlsCert, tlsKey
	}
	if s.Origin == "" {
		scheme := "http"
		if s.TLS() {
			scheme = "https"
		}
		s.Origin = fmt.Sprintf("%s://localhost:%d", scheme, ln.Addr().(*net.TCPAddr).Port)
	}
	return s, nil
}

// TLS reports whether the site serves HTTPS.
func (s *Site) TLS() bool { return s.tlsCert != "" }

// Serve serves h until ctx ends, then shuts down gracefully (5 s at most).
// timeout bounds reading a request and writing its answer.
func (s *Site) Serve(ctx context.Context, h http.Handler, timeout time.Duration) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: timeout, WriteTimeout: timeout}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	var err error
	if s.TLS() {
		err = hs.ServeTLS(s.ln, s.tlsCert, s.tlsKey)
	} else {
		err = hs.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
