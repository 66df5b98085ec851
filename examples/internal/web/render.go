package web

import (
	"bytes"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed layout.html static
var files embed.FS

// Pages is a set of page templates, each parsed together with the shared
// layout, so every page has the same header, style sheet and script tags.
type Pages struct {
	t map[string]*template.Template
}

// Funcs available to every page.
var funcs = template.FuncMap{
	// pngURL inlines a PNG the server made (a QR code) as a data: URL,
	// which html/template would otherwise refuse as an unsafe URL.
	"pngURL": func(png []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
}

// ParsePages parses every *.html file of dir in fsys as a page.
func ParsePages(fsys fs.FS, dir string) (*Pages, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.html"))
	if err != nil {
		return nil, err
	}
	p := &Pages{t: map[string]*template.Template{}}
	for _, n := range names {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "layout.html")
		if err != nil {
			return nil, err
		}
		if t, err = t.ParseFS(fsys, n); err != nil {
			return nil, err
		}
		p.t[path.Base(n)] = t
	}
	return p, nil
}

// Page is what every template receives: the site's name, the session's
// CSRF token, a message and the page's own data.
type Page struct {
	Site, Title string
	CSRF        string
	// CSRFField names the form field the layout's forms carry CSRF in
	// (default "csrf"; "csrf_token" for servers on identity/httpauth).
	CSRFField string
	// Error and Notice are shown at the top of the page.
	Error, Notice string
	// User is who is logged in ("" when nobody).
	User string
	// Script names the page's script under /static/, if it has one.
	Script string
	Data   any
}

// Render writes a page, buffered so that a template error never leaves half
// a page on the wire.
func (p *Pages) Render(w http.ResponseWriter, status int, name string, page Page, connect ...string) {
	t, ok := p.t[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", page); err != nil {
		slog.Error("render", "page", name, "err", err)
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	Headers(w, connect...)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Static serves the shared style sheet and scripts under /static/.
func Static() http.Handler {
	sub, _ := fs.Sub(files, "static")
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Files only: no directory listings.
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		fsrv.ServeHTTP(w, r)
	})
}
