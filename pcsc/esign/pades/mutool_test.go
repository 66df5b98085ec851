package pades_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// Form filling by a filler nobody here wrote: MuPDF's mutool run (Debian
// mupdf-tools) opens the signed form, sets field values through its
// PDFWidget API, lets MuPDF draw their appearances and saves incrementally,
// as a reader's "fill and save" does.

// mutoolForm is a one-page form of every kind a reader fills: text fields
// (one with appearance characteristics /MK, one with no /DA of its own),
// a check box, a combo box, a radio group of two widgets under one parent
// field, a text field already filled, with its appearance, that the
// fill leaves alone, and an empty signature field for a later approver.
// The interactive form dictionary is an object of its own (object 19), as
// most writers make it. The form's default resources /DR name the fonts the
// fields' /DA use (ISO 32000-1 §12.7.2, Table 218; §12.7.3.3).
func mutoolForm() []byte { return buildForm(false) }

// buildForm is mutoolForm, with fontsApart the /DR's font dictionary an
// object of its own (object 20).
func buildForm(fontsApart bool) []byte {
	stream := func(d, s string) string {
		return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", d, len(s), s)
	}
	xobj := "/Type /XObject /Subtype /Form "
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R /AcroForm 19 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 10 0 R >> >> /Annots [5 0 R 6 0 R 7 0 R 8 0 R 9 0 R 16 0 R 17 0 R 18 0 R] >>",
		stream("", "BT /F1 14 Tf 72 720 Td (Loan agreement: 12,000 EUR at 3.1%) Tj ET"),
		"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Name) /Rect [100 600 400 620] /P 3 0 R /F 4 /DA (/Helv 12 Tf 0 g) /MK << /BC [0 0 0] /BG [1 1 1] >> >>",
		"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /Rect [100 560 400 580] /P 3 0 R /F 4 /V () >>",
		"<< /Type /Annot /Subtype /Widget /FT /Btn /T (Agree) /Rect [100 520 115 535] /P 3 0 R /F 4 /DA (/ZaDb 0 Tf 0 g) /MK << /CA (4) >> /V /Off /AS /Off /AP << /N << /Yes 12 0 R /Off 13 0 R >> >> >>",
		"<< /Type /Annot /Subtype /Widget /FT /Ch /Ff 131072 /T (Country) /Opt [(France) (Germany) (Italy)] /V (France) /Rect [100 480 250 500] /P 3 0 R /F 4 /DA (/Helv 10 Tf 0 g) >>",
		"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Witness) /Rect [100 440 400 460] /P 3 0 R /F 4 /DA (/Helv 12 Tf 0 g) /V (Jean Dupont) /AP << /N 14 0 R >> >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /ZapfDingbats >>",
		stream(xobj+"/BBox [0 0 15 15] /Resources << /Font << /ZaDb 11 0 R >> >>", "q BT 0 g /ZaDb 12 Tf 2 3 Td (4) Tj ET Q"),
		stream(xobj+"/BBox [0 0 15 15]", ""),
		stream(xobj+"/BBox [0 0 300 20] /Resources << /Font << /Helv 10 0 R >> >>", "/Tx BMC q BT 0 g /Helv 12 Tf 2 5 Td (Jean Dupont) Tj ET Q EMC"),
		"<< /FT /Btn /Ff 49152 /T (Plan) /V /Off /Kids [16 0 R 17 0 R] >>",
		"<< /Type /Annot /Subtype /Widget /Parent 15 0 R /Rect [100 400 115 415] /P 3 0 R /F 4 /AS /Off /AP << /N << /Fixed 12 0 R /Off 13 0 R >> >> >>",
		"<< /Type /Annot /Subtype /Widget /Parent 15 0 R /Rect [200 400 215 415] /P 3 0 R /F 4 /AS /Off /AP << /N << /Variable 12 0 R /Off 13 0 R >> >> >>",
		"<< /Type /Annot /Subtype /Widget /FT /Sig /T (Approver) /Rect [300 100 500 160] /P 3 0 R /F 4 >>",
		"<< /Fields [5 0 R 6 0 R 7 0 R 8 0 R 9 0 R 15 0 R 18 0 R] /DR << /Font << /Helv 10 0 R /ZaDb 11 0 R >> >> /DA (/Helv 0 Tf 0 g) >>",
	}
	if fontsApart {
		objs[18] = "<< /Fields [5 0 R 6 0 R 7 0 R 8 0 R 9 0 R 15 0 R 18 0 R] /DR << /Font 20 0 R >> /DA (/Helv 0 Tf 0 g) >>"
		objs = append(objs, "<< /Helv 10 0 R /ZaDb 11 0 R >>")
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, x)
	return b.Bytes()
}

// mutoolFillScript sets each widget whose field name (getLabel) the
// values name — text and choice fields to the value, a check box or
// radio button named with "toggle" toggled, the first widget only — then
// has MuPDF redraw the widgets and save the file incrementally.
const mutoolFillScript = `
var values = JSON.parse(scriptArgs[2]);
var doc = new PDFDocument(scriptArgs[0]);
var page = doc.loadPage(0);
var ws = page.getWidgets();
var done = {};
for (var i = 0; i < ws.length; i++) {
  var w = ws[i], n = w.getLabel(), v = values[n];
  if (v === undefined || done[n]) continue;
  done[n] = true;
  var type = w.getFieldType();
  if (type == "text") w.setTextValue(v);
  else if (type == "combobox" || type == "listbox") w.setChoiceValue(v);
  else if (type == "checkbox" || type == "radiobutton") w.toggle();
  w.update();
}
page.update();
doc.save(scriptArgs[1], "incremental");
`

// mutoolFill fills pdf with mutool run as mutoolFillScript says.
func mutoolFill(t *testing.T, pdf []byte, values map[string]string) []byte {
	t.Helper()
	mutool := tool(t, "mutool", "mupdf-tools")
	dir := t.TempDir()
	in, out, script := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf"), filepath.Join(dir, "fill.js")
	os.WriteFile(in, pdf, 0o600)
	os.WriteFile(script, []byte(mutoolFillScript), 0o600)
	js, _ := json.Marshal(values)
	if msg, err := exec.Command(mutool, "run", script, in, out, string(js)).CombinedOutput(); err != nil {
		t.Fatalf("mutool run: %v\n%s", err, msg)
	}
	filled, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(filled, pdf) {
		t.Fatal("mutool did not save incrementally: the signed bytes changed")
	}
	return filled
}

// mutoolValues fill every field of mutoolForm but Witness.
var mutoolValues = map[string]string{"Name": "Alice Martin", "Amount": "92,000 EUR", "Agree": "toggle", "Country": "Germany", "Plan": "toggle"}

// TestPeerMutoolFill: a form certified with DocMDP P 2 or 3, or signed
// with an approval signature, then filled by MuPDF and saved
// incrementally. Filling in forms is what P 2 and 3 permit (ISO 32000-1
// §12.8.2.2.2, Table 254) and an approval signature restricts no field it
// does not lock (§12.8.2.4): the signature stays valid, with no change,
// and each filled widget is an overlay naming its field (each of the radio
// group's two widgets: the parent's /V, which both draw, changed) — the
// untouched Witness field none. P 1 permits no fill. pdfsig (poppler) still finds
// the signature valid over the revision it covers, and qpdf --check
// accepts the filled file. MuPDF 1.21 writes /V, /AS and /AP and new
// appearance streams and fonts (each appearance's own /Resources); it
// rewrites neither /DR, /DA nor /MK.
func TestPeerMutoolFill(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	form := mutoolForm()
	qpdfCheck(t, form, "the form")
	for _, p := range []int{0, 1, 2, 3} {
		var signed []byte
		if p == 0 {
			signed = f.sign(t, form, pades.LevelBT)
		} else {
			signed = f.certify(t, form, p)
		}
		filled := mutoolFill(t, signed, mutoolValues)
		s := verify(t, filled, f.verifyOptions()).Signatures[0]
		if p == 1 {
			if s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
				t.Fatalf("P=1, filled by mutool: %+v", s)
			}
			continue
		}
		if !s.Valid() || len(s.Changes) != 0 {
			t.Fatalf("P=%d, filled by mutool: %v %v", p, s.Err, s.Changes)
		}
		var got []string
		for _, o := range s.Overlays {
			if o.Page != 1 || o.Annotation != "Widget" || o.Field != "" || o.Removed {
				t.Fatalf("P=%d, overlay %+v", p, o)
			}
			got = append(got, o.FormField)
		}
		slices.Sort(got)
		if want := []string{"Agree", "Amount", "Country", "Name", "Plan", "Plan"}; !slices.Equal(got, want) {
			t.Fatalf("P=%d, overlays of fields %v, want %v", p, got, want)
		}
		t.Logf("P=%d: mutool rewrote objects %v of the signed revision", p, rewritten(signed, filled))
		qpdfCheck(t, filled, "the form filled by mutool")
		if peer := signedBy(t, f, filled, "Alice Martin"); !strings.Contains(peer, "Signature is Valid.") || !strings.Contains(peer, "Not total document signed") {
			t.Fatalf("P=%d, pdfsig on the filled form:\n%s", p, peer)
		}
		t.Logf("P=%d: valid, overlays %v; pdfsig: valid, not total document signed", p, got)
	}
}

// rewritten lists the numbers of the objects that the updates after
// signed define again and signed already did (mutoolForm numbers them
// below 20; puce's signature adds more).
func rewritten(signed, filled []byte) []string {
	var nums []string
	for _, m := range regexp.MustCompile(`(?m)^(\d+) 0 obj`).FindAllSubmatch(filled[len(signed):], -1) {
		if bytes.Contains(signed, append([]byte("\n"), append(m[1], " 0 obj"...)...)) {
			nums = append(nums, string(m[1]))
		}
	}
	return nums
}

// TestPeerMutoolFillBeyond: what a fill may not do, appended to a form
// certified with P 2 and filled by mutool. Filling a field changes its
// value and its widgets' appearance (ISO 32000-1 §12.7.3.3, §12.5.5); the
// form's default resources (/DR, Table 218) and a field's default
// appearance (/DA, §12.7.3.3) and appearance characteristics (/MK,
// Table 189) are how a reader draws a field anew — so rewriting them
// changes how other fields, already signed, are drawn when a reader
// regenerates their appearances, and the font an appearance already
// drawn uses can be swapped under it. Each is a change, as are /DA and
// /MK changed on a field nobody filled.
func TestPeerMutoolFillBeyond(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	filled := mutoolFill(t, f.certify(t, mutoolForm(), 2), mutoolValues)
	const witness, helv, acroForm = 9, 10, 19
	for what, changed := range map[string][]byte{
		"/DR's Helv replaced":               must(t)(pades.AppendFieldSet(filled, acroForm, "DR", "<< /Font << /Helv 11 0 R /ZaDb 11 0 R >> >>")),
		"the Helv font rewritten in place":  must(t)(pades.AppendFieldSet(filled, helv, "BaseFont", "/ZapfDingbats")),
		"/DA of the unfilled field changed": must(t)(pades.AppendFieldSet(filled, witness, "DA", "(/Helv 40 Tf 1 0 0 rg)")),
		"/MK of the unfilled field changed": must(t)(pades.AppendFieldSet(filled, witness, "MK", "<< /BG [1 0 0] >>")),
	} {
		s := verify(t, changed, f.verifyOptions()).Signatures[0]
		if s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
			t.Fatalf("%s: %+v", what, s)
		}
		t.Logf("%s: %v", what, s.Changes)
	}
	// A field of the signed revision redrawn with no new value is judged
	// as a fill (a reader regenerating appearances writes just that),
	// never silently: its widget is an overlay.
	s := verify(t, must(t)(pades.AppendFieldSet(filled, witness, "AP", "<< >>")), f.verifyOptions()).Signatures[0]
	if !slices.ContainsFunc(s.Overlays, func(o pades.Overlay) bool { return o.FormField == "Witness" }) {
		t.Fatalf("the unfilled field's appearance dropped: %+v", s)
	}
}

// signedBy is pdfsig's report of the signature of pdf that signer made
// (pdfsig lists empty signature fields too).
func signedBy(t *testing.T, f *fixture, pdf []byte, signer string) string {
	t.Helper()
	peer := pdfsigAll(t, f, pdf)
	i := slices.IndexFunc(peer, func(s string) bool { return strings.Contains(s, "Common Name: "+signer) })
	if i < 0 {
		t.Fatalf("pdfsig finds no signature of %s:\n%s", signer, strings.Join(peer, "\n"))
	}
	return peer[i]
}

// mutoolSignScript signs the first empty signature field with the
// PKCS#12 file scriptArgs[2] (password "pw") and saves incrementally.
const mutoolSignScript = `
var doc = new PDFDocument(scriptArgs[0]);
var ws = doc.loadPage(0).getWidgets();
var signer = new PDFPKCS7Signer(scriptArgs[2], "pw");
for (var i = 0; i < ws.length; i++) {
  if (ws[i].getFieldType() == "signature" && !ws[i].isSigned()) { ws[i].sign(signer); break; }
}
doc.save(scriptArgs[1], "incremental");
`

// mutoolSign has mutool sign pdf's empty signature field as Bob Approver,
// with an RSA key and self-signed certificate openssl makes (MuPDF 1.21
// signs with no EC key).
func mutoolSign(t *testing.T, pdf []byte) []byte {
	t.Helper()
	mutool, openssl := tool(t, "mutool", "mupdf-tools"), tool(t, "openssl", "openssl")
	dir := t.TempDir()
	key, cert, p12 := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "b.p12")
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=Bob Approver", "-days", "2"},
		{"pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12, "-passout", "pass:pw"},
	} {
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	in, out, script := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf"), filepath.Join(dir, "sign.js")
	os.WriteFile(in, pdf, 0o600)
	os.WriteFile(script, []byte(mutoolSignScript), 0o600)
	if msg, err := exec.Command(mutool, "run", script, in, out, p12).CombinedOutput(); err != nil {
		t.Fatalf("mutool run: %v\n%s", err, msg)
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, pdf) {
		t.Fatal("mutool did not sign incrementally")
	}
	return signed
}

// TestPeerMutoolSignsAfterFill: after a P 2 certification and a fill,
// another signer signs the form's empty signature field with mutool —
// signing, which Table 254 permits at P 2. MuPDF 1.21 sets the form's
// /SigFlags and the field's /V and appearance, and signs adbe.pkcs7.detached
// over SHA-1 with no choice of digest. pdfsig calls both signatures valid;
// puce's esign refuses SHA-1 (esign.ErrUnsupported: collisions in it
// have been made, and ETSI TS 119 312 no longer lists it for signing),
// and so cannot tell the new
// signature's widget, drawn over the certified page, from a forged
// signature appearance: the certification is reported changed because
// that overlay does not verify — the rule shadow attacks with
// unverifiable "signatures" need (overlay.go). The fill itself stays
// reported as overlays.
func TestPeerMutoolSignsAfterFill(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	cosigned := mutoolSign(t, mutoolFill(t, f.certify(t, mutoolForm(), 2), mutoolValues))
	qpdfCheck(t, cosigned, "the form signed by mutool")
	for _, signer := range []string{"Alice Martin", "Bob Approver"} {
		if peer := signedBy(t, f, cosigned, signer); !strings.Contains(peer, "Signature is Valid.") {
			t.Fatalf("pdfsig on %s's signature:\n%s", signer, peer)
		}
	}
	rep := verify(t, cosigned, f.verifyOptions())
	if len(rep.Signatures) != 2 {
		t.Fatalf("%d signatures", len(rep.Signatures))
	}
	cert, bob := rep.Signatures[0], rep.Signatures[1]
	if bob.Field != "Approver" || bob.Valid() || !errors.Is(bob.Err, esign.ErrUnsupported) || !strings.Contains(bob.Err.Error(), "SHA-1") {
		t.Fatalf("mutool's signature: %+v", bob)
	}
	if cert.Valid() || !errors.Is(cert.Err, pades.ErrChanged) || len(cert.Changes) != 1 || !strings.Contains(cert.Changes[0], `signature "Approver" draws over page 1 and does not verify`) {
		t.Fatalf("the certification, co-signed by mutool: %+v", cert)
	}
	if len(cert.Overlays) != 6 {
		t.Fatalf("the certification's overlays: %+v", cert.Overlays)
	}
	t.Logf("the certification: %v; mutool's signature: %v", cert.Changes, bob.Err)
}
