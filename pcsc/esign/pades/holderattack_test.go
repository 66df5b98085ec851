package pades_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// A hostile server against the holder's check, with PDF readers as the
// judges: an update that passes Check must make poppler and MuPDF show
// the document shown — its text, page by page — in the rebuilt revision.
// Each attack below is written so that, where puce's reading of the file
// and a reader's differ, the reader shows other text; Check must refuse
// it.

// viewerText is the text poppler (pdftotext) and MuPDF (mutool draw -F
// txt) find in pdf, one entry per reader.
func viewerText(t *testing.T, pdf []byte) map[string]string {
	t.Helper()
	pdftotext := tool(t, "pdftotext", "poppler-utils")
	mutool := tool(t, "mutool", "mupdf-tools")
	file := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for who, cmd := range map[string]*exec.Cmd{
		"poppler": exec.Command(pdftotext, "-q", file, "-"),
		"mupdf":   exec.Command(mutool, "draw", "-q", "-F", "txt", file),
	} {
		b, _ := cmd.Output() // a reader that fails shows nothing, also a difference
		out[who] = strings.Join(strings.Fields(string(b)), " ")
	}
	return out
}

// reranged rewrites, in place, the /ByteRange of the signature whose
// placeholder spans at..end so that its second range ends the file.
func reranged(t *testing.T, pdf []byte, at, end int) []byte {
	t.Helper()
	out := bytes.Clone(pdf)
	i := bytes.LastIndex(out[:at], []byte("/ByteRange ["))
	j := bytes.IndexByte(out[i:], ']') + i + 1
	for j < at && out[j] == ' ' {
		j++ // the placeholder's width, padded
	}
	s := fmt.Sprintf("/ByteRange [0 %d %d %d]", at, end, len(out)-end)
	if i < 0 || len(s) > j-i {
		t.Fatal("no room to rewrite the byte range")
	}
	copy(out[i:j], s+strings.Repeat(" ", j-i-len(s)))
	return out
}

// TestHolderCheckAgainstViewers: reader differentials a hostile server
// can build into its update (ISO 32000-1 §7.5.4-§7.5.6): each either
// fails Check or leaves poppler and MuPDF showing the document shown.
func TestHolderCheckAgainstViewers(t *testing.T) {
	shown, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	want := viewerText(t, shown)
	if !strings.Contains(want["poppler"], "12,000 EUR") || want["poppler"] != want["mupdf"] {
		t.Fatalf("the readers do not agree on the document shown: %q", want)
	}
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	h := hostileServer{cert: f.cert, shown: shown, at: f.signedAt}
	p, err := pades.Prepare(shown, pades.SignOptions{Certificate: f.cert, Level: pades.LevelBB, Time: f.signedAt})
	if err != nil {
		t.Fatal(err)
	}
	prepared, at, n := p.Prepared()
	end := at + n + 2
	content, err := pades.FirstPageContent(shown)
	if err != nil {
		t.Fatal(err)
	}
	regen := func(gen int) []byte {
		b, err := pades.RawObjectOf(shown, content, gen)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	evil := []byte(fmt.Sprintf("%d 0 obj\n<< /Length 44 >>\nstream\nBT /F1 24 Tf 72 720 Td (EVIL 99 EUR) Tj ET\nendstream\nendobj", content))

	// A second document: a catalog, its page tree, a page showing
	// other text, objects the table lists and nothing refers to.
	second := []pades.RawObject{
		{Num: 40, Listed: true, Body: []byte("40 0 obj\n<< /Type /Catalog /Pages 41 0 R >>\nendobj")},
		{Num: 41, Listed: true, Body: []byte("41 0 obj\n<< /Type /Pages /Kids [42 0 R] /Count 1 >>\nendobj")},
		{Num: 42, Listed: true, Body: []byte("42 0 obj\n<< /Type /Page /Parent 41 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 43 0 R >>\nendobj")},
		{Num: 43, Listed: true, Body: []byte(strings.Replace(string(evil), fmt.Sprintf("%d 0 obj", content), "43 0 obj", 1))},
	}
	for name, objs := range map[string]struct {
		objs    []pades.RawObject
		between string
		tail    string
	}{
		// The page's content stream written again under generation 1,
		// unchanged: the page's "4 0 R" then names no object (§7.3.10:
		// null), and poppler draws an empty page, while a reader that
		// ignores generations reads the same stream.
		"content stream under another generation": {[]pades.RawObject{{Num: content, Body: regen(1), Listed: true, ListGen: 1}}, "", ""},
		// An object the table does not list, redefining the content,
		// then whitespace after %%EOF past where MuPDF looks for
		// startxref (the last 1024 bytes): it rebuilds the table by
		// scanning, and the last definition wins (§7.5.5 puts %%EOF on
		// the file's last line).
		"unlisted object, startxref out of reach": {[]pades.RawObject{{Num: content, Body: evil}}, "", strings.Repeat(" ", 1500)},
		// A second document in the update, and after the table's
		// trailer a second trailer naming its catalog, where a reader
		// of the table does not look; whitespace after %%EOF makes
		// MuPDF rebuild by scanning, and it takes the last trailer.
		"second trailer, startxref out of reach": {second, "trailer\n<< /Size 44 /Root 40 0 R >>\n", strings.Repeat(" ", 1500)},
	} {
		t.Run(name, func(t *testing.T) {
			attacked, err := pades.AppendRawSection(prepared, objs.objs, objs.between, objs.tail)
			if err != nil {
				t.Fatal(err)
			}
			attacked = reranged(t, attacked, at, end)
			req := h.request(t, attacked, at, end)
			err = req.Check(f.cert, shown)
			got := viewerText(t, attacked)
			t.Logf("Check: %v; readers: %q", err, got)
			if err == nil {
				for who, text := range got {
					if text != want[who] {
						t.Errorf("Check passes, and %s shows %q for %q", who, text, want[who])
					}
				}
			} else if !errors.Is(err, pades.ErrRequest) {
				t.Errorf("Check: %v, want ErrRequest", err)
			}
		})
	}
}
