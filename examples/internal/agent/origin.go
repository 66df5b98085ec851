package agent

// Who may reach the agent: pages of the allow-listed origins (CORS), on the
// loopback address only (no DNS rebinding), and what is logged of the
// others.

import (
	"net"
	"net/http"
	"time"
)

// checkHost refuses requests whose Host is not the loopback address: a page
// that rebinds its own domain name to 127.0.0.1 (DNS rebinding) would
// otherwise reach the agent as a same-origin page of that domain.
func (a *Agent) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
			http.Error(w, "the card agent answers on 127.0.0.1 only", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cors answers for an allow-listed origin only; it reports whether the
// request's origin is allowed.
func (a *Agent) cors(w http.ResponseWriter, r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	if origin == "" || !a.allowed[origin] {
		return origin, false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	// Chrome before 142 asked a loopback service in the preflight whether a
	// public site may reach it (WICG Private Network Access §3.3,
	// Access-Control-Request-Private-Network); say yes only to allowed
	// origins. From 142 Chrome asks the holder instead (Local Network
	// Access permission): a page the holder let through still gets
	// nothing here unless its origin is allowed.
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	return origin, true
}

func (a *Agent) preflight(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.cors(w, r); !ok {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type refusal struct {
	logged time.Time
	n      int
}

// refusedEvery and maxRefusedOrigins bound what pages of other origins
// write into the agent's log: a page may loop on the agent at its own pace.
const (
	refusedEvery      = time.Minute
	maxRefusedOrigins = 256
)

// logRefused logs a request of an origin not on the allow-list: the first
// one of an origin, then one line a minute with the count since the last,
// so that the refusal is on record (ASVS 4.0.3 V7.1.3) but a page cannot
// fill the holder's disk through the log.
func (a *Agent) logRefused(origin string) {
	now := time.Now()
	a.refusedMu.Lock()
	r := a.refusals[origin]
	if r == nil {
		if len(a.refusals) >= maxRefusedOrigins {
			for o, x := range a.refusals {
				if now.Sub(x.logged) >= refusedEvery {
					delete(a.refusals, o)
				}
			}
			if len(a.refusals) >= maxRefusedOrigins {
				a.refusedMu.Unlock()
				return // many origins at once: those on record suffice
			}
		}
		r = &refusal{}
		a.refusals[origin] = r
	}
	r.n++
	n := r.n
	due := r.logged.IsZero() || now.Sub(r.logged) >= refusedEvery
	if due {
		r.logged, r.n = now, 0
	}
	a.refusedMu.Unlock()
	if due {
		a.log.Warn("refused a page of an origin not on the allow-list", "origin", origin, "refused", n)
	}
}
