package pades_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	h, prepared, at, n := hostilePrepare(t, f, shown, nil)
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

// renderings renders the first page of pdf at 72 dpi with poppler
// (pdftoppm) and MuPDF (mutool draw), one image per reader.
func renderings(t *testing.T, pdf []byte) map[string]image.Image {
	t.Helper()
	pdftoppm := tool(t, "pdftoppm", "poppler-utils")
	mutool := tool(t, "mutool", "mupdf-tools")
	dir := t.TempDir()
	file := filepath.Join(dir, "doc.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out := map[string]image.Image{}
	for who, cmd := range map[string]*exec.Cmd{
		"poppler": exec.Command(pdftoppm, "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile", file, filepath.Join(dir, "poppler")),
		"mupdf":   exec.Command(mutool, "draw", "-q", "-r", "72", "-o", filepath.Join(dir, "mupdf.png"), file, "1"),
	} {
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", who, err, b)
		}
		fh, err := os.Open(filepath.Join(dir, who+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[who] = img
	}
	return out
}

// changedOutside counts the pixels of b that differ from a outside box
// (points at 72 dpi, y from the bottom, grown by 2 points for
// antialiasing; nil: everywhere).
func changedOutside(a, b image.Image, box *[4]float64) int {
	hgt, n := a.Bounds().Dy(), 0
	for y := 0; y < hgt; y++ {
		for x := 0; x < a.Bounds().Dx(); x++ {
			px, py := float64(x), float64(hgt-y)
			if box != nil && px >= box[0]-2 && px <= box[2]+2 && py >= box[1]-2 && py <= box[3]+2 {
				continue
			}
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				n++
			}
		}
	}
	return n
}

// TestHolderCheckWidgetRect: the new signature's widget draws where
// SignedRevision.Drawn says, as poppler and MuPDF render it. A /Rect of
// five numbers, which MuPDF reads as its first four and puce could not
// read, is refused; a rectangle given by its other corners (ISO 32000-1
// §7.9.5: readers normalise it) is reported normalised. Outside Drawn, the
// rebuilt revision's first page renders as the document shown's.
func TestHolderCheckWidgetRect(t *testing.T) {
	shown, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	box := [4]float64{320, 40, 560, 110}
	h, prepared, at, n := hostilePrepare(t, f, shown, &pades.Appearance{Rect: box})
	const rect = "/Rect [320 40 560 110]"
	if bytes.Count(prepared[len(shown):], []byte(rect)) != 1 {
		t.Fatalf("the widget's %s is not in the update", rect)
	}
	want := renderings(t, shown)
	for _, c := range []struct {
		rect string
		ok   bool
	}{
		{rect, true},
		{"/Rect [560 110 320 40]", true},
		{"/Rect [0 0 595 842 1] ", false},
	} {
		t.Run(c.rect, func(t *testing.T) {
			attacked := bytes.Replace(prepared, []byte(rect), []byte(c.rect), 1)
			rev, err := h.request(t, attacked, at, at+n+2).Rebuild(shown)
			if c.ok != (err == nil) || err != nil && !errors.Is(err, pades.ErrRequest) {
				t.Fatalf("Rebuild: %v", err)
			}
			if err != nil {
				t.Log(err)
				for who, img := range renderings(t, attacked) {
					t.Logf("%s draws %d pixels outside the box it was given", who, changedOutside(want[who], img, &box))
				}
				return
			}
			if rev.Drawn == nil || rev.Drawn.Rect != box || rev.Drawn.Page != 1 {
				t.Fatalf("Drawn: %+v, want page 1 at %v", rev.Drawn, box)
			}
			for who, img := range renderings(t, rev.PDF) {
				if d := changedOutside(want[who], img, &rev.Drawn.Rect); d > 0 {
					t.Errorf("%s draws %d pixels outside %v", who, d, rev.Drawn.Rect)
				}
			}
		})
	}
}

// TestHolderCheckRepairTrigger: what makes a reader rebuild the table
// by scanning the file (poppler, asked for an object the table does not
// hold under the generation asked) matters when scanning and the table
// disagree. A document shown whose first page lists an annotation the
// table calls free — null to MuPDF, which reads the table (ISO 32000-1
// §7.3.10), while poppler rebuilds and draws "Amount: 92,000 EUR" — shows
// different content in each: the holder's side refuses to sign it. And an
// update whose widget names its appearance under a generation the table
// does not hold, which makes poppler rebuild, is refused.
func TestHolderCheckRepairTrigger(t *testing.T) {
	contract, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	// request is the visible signature's request for shown, its update
	// passed through edit.
	request := func(shown []byte, edit func([]byte) []byte) (*pades.SignRequest, []byte) {
		h, prepared, at, n := hostilePrepare(t, f, shown, &pades.Appearance{Rect: [4]float64{320, 40, 560, 110}})
		prepared = edit(bytes.Clone(prepared))
		return h.request(t, prepared, at, at+n+2), prepared
	}

	ambiguous := must(t)(pades.WithDeletedAnnotation(contract))
	got := viewerText(t, ambiguous)
	t.Logf("readers of the document with a free annotation: %q", got)
	req, _ := request(ambiguous, func(b []byte) []byte { return b })
	if err := req.Check(f.cert, ambiguous); !errors.Is(err, pades.ErrRequest) || !errors.Is(err, pades.ErrMalformed) {
		t.Fatalf("a document shown that readers show differently: %v", err)
	} else {
		t.Log(err)
	}

	req, attacked := request(contract, func(b []byte) []byte {
		m := regexp.MustCompile(`/AP *<< */N +[0-9]+ 0 R`).FindIndex(b[len(contract):])
		if m == nil {
			t.Fatal("no widget appearance in the update")
		}
		b[len(contract)+m[1]-3] = '1'
		return b
	})
	pdftotext := tool(t, "pdftotext", "poppler-utils")
	file := filepath.Join(t.TempDir(), "attacked.pdf")
	if err := os.WriteFile(file, attacked, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(pdftotext, file, "-").CombinedOutput()
	t.Logf("poppler: %s", out)
	if err := req.Check(f.cert, contract); !errors.Is(err, pades.ErrRequest) || !errors.Is(err, pades.ErrMalformed) {
		t.Fatalf("a reference to an object under a generation the table does not hold: %v", err)
	} else {
		t.Log(err)
	}
}

// TestHolderCheckLargeAnnots: a page of the document shown with
// thousands of entries in /Annots, and the update adding the widget to
// them at MaxUpdateSize: Rebuild's work stays linear in them (it compared
// every entry with every other, serialized, each time).
func TestHolderCheckLargeAnnots(t *testing.T) {
	contract, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	shown := must(t)(pades.WithManyAnnots(contract, 11000))
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	h, prepared, at, n := hostilePrepare(t, f, shown, nil)
	req := h.request(t, prepared, at, at+n+2)
	t.Logf("update: %d bytes of %d", len(req.Update), pades.MaxUpdateSize)
	start := time.Now()
	_, err = req.Rebuild(shown)
	took := time.Since(start)
	t.Logf("Rebuild: %v in %v", err, took)
	if err != nil {
		t.Fatal(err)
	}
	if took > 2*time.Second {
		t.Errorf("Rebuild took %v", took)
	}
}

// TestHolderCheckByteRangeShapes: /ByteRange written otherwise than as
// the four non-negative integers ISO 32000-1 §12.8.1 (Table 252) has, or
// given twice in the signature dictionary (the last one is the one
// readers take), is refused: the gap is then not the one the holder's
// side fills, or not known.
func TestHolderCheckByteRangeShapes(t *testing.T) {
	shown, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	h, prepared, at, n := hostilePrepare(t, f, shown, nil)
	end := at + n + 2
	br := fmt.Sprintf("/ByteRange [0 %d %d %d]", at, end, len(prepared)-end)
	i := bytes.Index(prepared, []byte(br))
	if i < 0 || string(prepared[i+len(br):i+len(br)+17]) != strings.Repeat(" ", 17) {
		t.Fatalf("no padded %s in the update", br)
	}
	for name, s := range map[string]string{
		"five elements":  fmt.Sprintf("/ByteRange [0 %d %d %d 0]", at, end, len(prepared)-end),
		"negative":       fmt.Sprintf("/ByteRange [0 %d %d -%d]", at, end, len(prepared)-end),
		"real":           fmt.Sprintf("/ByteRange [0 %d %d %d.0]", at, end, len(prepared)-end),
		"given twice":    br + "/ByteRange[0 1 2]",
		"another, after": br + "/ByteRange[0 0 2 2]",
	} {
		t.Run(name, func(t *testing.T) {
			attacked := bytes.Clone(prepared)
			copy(attacked[i:], s)
			err := h.request(t, attacked, at, end).Check(f.cert, shown)
			if !errors.Is(err, pades.ErrRequest) || !errors.Is(err, pades.ErrMalformed) {
				t.Fatalf("Check: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestVerifySecondTrailer: the second-trailer attack against a signed
// PDF: an update after the signature adds a second document (objects the
// table lists and nothing refers to), a second trailer naming its catalog
// after the table's, and whitespace after %%EOF past the 1024 bytes where
// MuPDF looks for startxref; MuPDF rebuilds the table by scanning and
// shows the second document. Verify must report the change.
func TestVerifySecondTrailer(t *testing.T) {
	contract, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := f.sign(t, contract, pades.LevelBB)
	evil := "<< /Length 44 >>\nstream\nBT /F1 24 Tf 72 720 Td (EVIL 99 EUR) Tj ET\nendstream\nendobj"
	second := []pades.RawObject{
		{Num: 40, Listed: true, Body: []byte("40 0 obj\n<< /Type /Catalog /Pages 41 0 R >>\nendobj")},
		{Num: 41, Listed: true, Body: []byte("41 0 obj\n<< /Type /Pages /Kids [42 0 R] /Count 1 >>\nendobj")},
		{Num: 42, Listed: true, Body: []byte("42 0 obj\n<< /Type /Page /Parent 41 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 43 0 R >>\nendobj")},
		{Num: 43, Listed: true, Body: []byte("43 0 obj\n" + evil)},
	}
	for _, tail := range []string{strings.Repeat(" ", 1500), "\n"} {
		attacked := must(t)(pades.AppendRawSection(signed, second, "trailer\n<< /Size 44 /Root 40 0 R >>\n", tail))
		got := viewerText(t, attacked)
		s := verify(t, attacked, f.verifyOptions()).Signatures[0]
		t.Logf("after %%%%EOF %d bytes: readers: %q; Verify: %v", len(tail), got, s.Err)
		if s.Valid() && got["mupdf"] != viewerText(t, signed)["mupdf"] {
			t.Fatalf("Verify finds the signature valid and unchanged, and MuPDF shows %q", got["mupdf"])
		}
		// Without the whitespace, MuPDF reads the table; the second
		// trailer is a change all the same, there for a reader that
		// rebuilds.
		if !errors.Is(s.Err, pades.ErrChanged) {
			t.Fatalf("Verify: %v", s.Err)
		}
	}
}

// TestHolderCheckWidgetFlags: a widget whose flags (ISO 32000-1 §12.5.3,
// Table 165) hide it — Hidden, or NoView without Print — is reported as
// drawing nothing (Drawn nil): poppler and MuPDF then render the rebuilt
// revision's page as the document shown's. One printed (NoView with
// Print, which screens hide) is reported drawn; the honest one (Print)
// is, and both readers draw it.
func TestHolderCheckWidgetFlags(t *testing.T) {
	shown, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	h, prepared, at, n := hostilePrepare(t, f, shown, &pades.Appearance{Rect: [4]float64{320, 40, 560, 110}})
	flags := regexp.MustCompile(`/F [0-9]+`).FindIndex(prepared[len(shown):])
	if flags == nil {
		t.Fatal("no widget flags in the update")
	}
	want := renderings(t, shown)
	for _, fl := range []int{4, 2, 32, 34, 32 | 4, 32 | 256} {
		attacked := bytes.Clone(prepared)
		old := string(attacked[len(shown)+flags[0] : len(shown)+flags[1]])
		repl := fmt.Sprintf("/F %d", fl)
		if len(repl) > len(old) {
			t.Fatalf("%s does not fit in %s", repl, old)
		}
		copy(attacked[len(shown)+flags[0]:], repl+strings.Repeat(" ", len(old)-len(repl)))
		rev, err := h.request(t, attacked, at, at+n+2).Rebuild(shown)
		if err != nil {
			t.Fatalf("/F %d: %v", fl, err)
		}
		for who, img := range renderings(t, rev.PDF) {
			d := changedOutside(want[who], img, nil)
			t.Logf("/F %d: Drawn %v, %s changes %d pixels", fl, rev.Drawn, who, d)
			if rev.Drawn == nil && d > 0 {
				t.Errorf("/F %d: Rebuild reports nothing drawn, and %s draws %d pixels", fl, who, d)
			}
			if fl == 4 && (rev.Drawn == nil || d == 0) { // Print: the honest widget, seen
				t.Errorf("/F 4: Drawn %v, %s draws %d pixels", rev.Drawn, who, d)
			}
		}
	}
}

// hostilePrepare prepares shown's signature with f's certificate as the
// honest server would (app: its appearance, nil for an invisible one), for
// a hostile server to edit: the server, the prepared file, and where its
// /Contents placeholder starts and how long it is.
func hostilePrepare(t *testing.T, f *fixture, shown []byte, app *pades.Appearance) (hostileServer, []byte, int, int) {
	t.Helper()
	p, err := pades.Prepare(shown, pades.SignOptions{Certificate: f.cert, Level: pades.LevelBB, Time: f.signedAt, Appearance: app})
	if err != nil {
		t.Fatal(err)
	}
	prepared, at, n := p.Prepared()
	return hostileServer{cert: f.cert, shown: shown, at: f.signedAt}, prepared, at, n
}
