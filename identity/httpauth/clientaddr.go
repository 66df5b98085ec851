package httpauth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr is the address of the client that sent r: what the start
// limit, the throttle and the audit trail count and record. Without
// Config.TrustedProxies it is the connection's peer (r.RemoteAddr without
// its port). With them, and only when the peer is one of them, it is read
// from the proxies' header (Config.ClientIPHeader) from the right: the
// first address that is not a trusted proxy is the client's. Whatever a
// client writes into that header itself lies further left, and is never
// reached while a trusted proxy appended its own entry; a request that
// reaches the site around the proxies has its header ignored. (RFC 7239
// §5.2 and §8.1: only proxies the site trusts are believed, and an
// X-Forwarded-For list is as good as its last trusted hop; OWASP ASVS 5.0
// V4.1.3: a header an intermediary sets cannot be overridden by the
// end user.)
func (m *Manager) ClientAddr(r *http.Request) string {
	peer := hostOf(r.RemoteAddr)
	if len(m.cfg.TrustedProxies) == 0 {
		return peer
	}
	ip, err := netip.ParseAddr(peer)
	if err != nil || !m.trusted(ip) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values(m.cfg.ClientIPHeader) {
		if strings.EqualFold(m.cfg.ClientIPHeader, "Forwarded") {
			hops = append(hops, forwardedFor(v)...)
		} else {
			for h := range strings.SplitSeq(v, ",") {
				hops = append(hops, strings.TrimSpace(h))
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hostOf(hops[i]))
		if err != nil {
			// Not an address ("unknown", an obfuscated identifier, garbage):
			// what lies to its left cannot be vouched for either, so the
			// last trusted hop stands for the client.
			return ip.String()
		}
		a = a.Unmap()
		if !m.trusted(a) {
			return a.String()
		}
		ip = a
	}
	// Every hop is a proxy of ours: the request began inside.
	return ip.String()
}

func (m *Manager) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range m.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// hostOf strips a port and IPv6 brackets: "[2001:db8::1]:443" and
// "192.0.2.1:80" give their addresses; anything else is kept as it is.
func hostOf(s string) string {
	s = strings.TrimSpace(s)
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
}

// forwardedFor returns the for= parameters of a Forwarded header's
// elements, in order (RFC 7239 §4: elements separated by commas, pairs by
// semicolons, a value a token or a quoted string; §6: a node is an
// address, "[v6]:port", "unknown" or an obfuscated name). A quoted
// string's commas and semicolons would split it here: no address holds
// one, and what is not an address stops the walk in ClientAddr anyway.
func forwardedFor(v string) []string {
	var out []string
	for elem := range strings.SplitSeq(v, ",") {
		for pair := range strings.SplitSeq(elem, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
				out = append(out, strings.Trim(strings.TrimSpace(val), `"`))
			}
		}
	}
	return out
}
