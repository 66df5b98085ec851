package loginsrv

import (
	"net/http"
	"sync"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
)

// notices carry a page's one-line notice ("Password changed.") across the
// redirect after a form. The URL holds only a random key this server made
// and takes back once, never the text: a link with ?notice= of someone
// else's making shows nothing (issue 17: any text put there appeared as
// the site's own message).
type notices struct {
	mu sync.Mutex
	m  map[string]notice
}

type notice struct {
	text    string
	expires time.Time
}

const (
	noticeTTL = 2 * time.Minute
	// maxNotices bounds the table: past it, expired notices go, and if
	// none has, new ones are dropped (the page then shows none).
	maxNotices = 10000
)

func (n *notices) put(text string, now time.Time) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[string]notice{}
	}
	if len(n.m) >= maxNotices {
		for k, v := range n.m {
			if now.After(v.expires) {
				delete(n.m, k)
			}
		}
		if len(n.m) >= maxNotices {
			return ""
		}
	}
	key := web.Token(16)
	n.m[key] = notice{text, now.Add(noticeTTL)}
	return key
}

func (n *notices) take(key string, now time.Time) string {
	if key == "" {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.m[key]
	delete(n.m, key)
	if !ok || now.After(v.expires) {
		return ""
	}
	return v.text
}

// redirect sends the browser to a page of this site, which shows notice.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to, notice string) {
	if notice != "" {
		if key := s.notices.put(notice, time.Now()); key != "" {
			to += "?notice=" + key
		}
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// notice is the notice the request's URL names, if this server made it.
func (s *Server) notice(r *http.Request) string {
	return s.notices.take(r.URL.Query().Get("notice"), time.Now())
}
