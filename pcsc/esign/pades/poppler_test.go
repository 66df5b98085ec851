package pades_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// Form filling by poppler, the engine GNOME's Evince and KDE's Okular
// fill forms with: its GLib API driven from Python (Debian python3-gi and
// gir1.2-poppler-0.18), setting each field as a reader's user does and
// saving, which poppler writes as an incremental update.

// popplerFillScript fills the fields of the first page of argv[1] that
// the JSON object argv[3] names — text set, a check box or the first
// radio button of a group turned on, a choice field's item of that index
// selected — and saves to argv[2].
const popplerFillScript = `
import json, sys, gi
gi.require_version("Poppler", "0.18")
from gi.repository import Gio, Poppler
values = json.loads(sys.argv[3])
doc = Poppler.Document.new_from_file(Gio.File.new_for_path(sys.argv[1]).get_uri(), None)
done = set()
for m in doc.get_page(0).get_form_field_mapping():
    f = m.field
    n = f.get_name()
    if n not in values or n in done:
        continue
    done.add(n)
    t = f.get_field_type()
    if t == Poppler.FormFieldType.TEXT:
        f.text_set_text(values[n])
    elif t == Poppler.FormFieldType.BUTTON:
        f.button_set_state(True)
    elif t == Poppler.FormFieldType.CHOICE:
        f.choice_select_item(int(values[n]))
doc.save(Gio.File.new_for_path(sys.argv[2]).get_uri())
`

// popplerFill fills pdf with poppler as popplerFillScript says.
func popplerFill(t *testing.T, pdf []byte, values map[string]string) []byte {
	t.Helper()
	python := tool(t, "/usr/bin/python3", "python3-gi")
	if out, err := exec.Command(python, "-c", `import gi; gi.require_version("Poppler", "0.18")`).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("poppler's GLib bindings not installed under CI: make test installs gir1.2-poppler-0.18: %s", out)
		}
		t.Skipf("SKIPPING: poppler's GLib bindings not installed (Debian package gir1.2-poppler-0.18): %s", out)
	}
	dir := t.TempDir()
	in, out, script := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf"), filepath.Join(dir, "fill.py")
	os.WriteFile(in, pdf, 0o600)
	os.WriteFile(script, []byte(popplerFillScript), 0o600)
	js, _ := json.Marshal(values)
	if msg, err := exec.Command(python, script, in, out, string(js)).CombinedOutput(); err != nil {
		t.Fatalf("poppler fill: %v\n%s", err, msg)
	}
	filled, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(filled, pdf) {
		t.Fatal("poppler did not save incrementally: the signed bytes changed")
	}
	return filled
}

// TestPeerPopplerFill: TestPeerMutoolFill with poppler as the filler, a
// name outside the field font's encoding (WinAnsi has no Ł nor
// Cyrillic) among the values. For that, poppler embeds a font of its own
// into the new appearance's resources and writes the catalog again — the
// form's /DR included, unchanged; it also sets each filled widget's /M
// (ISO 32000-1 Table 164). The certification (P 2 or 3) or approval
// signature stays valid, every filled widget an overlay. P 4 below is P 2
// with the /DR's font dictionary an object of its own, which poppler
// rewrites in place.
func TestPeerPopplerFill(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	values := map[string]string{"Name": "Łukasz Żółć Дмитрий", "Amount": "92,000 EUR", "Agree": "on", "Country": "1", "Plan": "on"}
	for _, p := range []int{0, 1, 2, 3, 4} {
		form := buildForm(p == 4)
		var signed []byte
		switch {
		case p == 4:
			signed = f.certify(t, form, 2)
		case p == 0:
			signed = f.sign(t, form, pades.LevelBT)
		default:
			signed = f.certify(t, form, p)
		}
		filled := popplerFill(t, signed, values)
		t.Logf("P=%d: poppler rewrote objects %v of the signed revision", p, rewritten(signed, filled))
		s := verify(t, filled, f.verifyOptions()).Signatures[0]
		if p == 1 {
			if s.Valid() || !strings.Contains(strings.Join(s.Changes, ";"), "P 1") {
				t.Fatalf("P=1, filled by poppler: %+v", s)
			}
			continue
		}
		if !s.Valid() || len(s.Changes) != 0 {
			t.Fatalf("P=%d, filled by poppler: %v %v", p, s.Err, s.Changes)
		}
		var got []string
		for _, o := range s.Overlays {
			got = append(got, o.FormField)
		}
		slices.Sort(got)
		if want := []string{"Agree", "Amount", "Country", "Name", "Plan", "Plan"}; !slices.Equal(got, want) {
			t.Fatalf("P=%d, overlays of fields %v, want %v", p, got, want)
		}
		qpdfCheck(t, filled, "the form filled by poppler")
		if peer := signedBy(t, f, filled, "Alice Martin"); !strings.Contains(peer, "Signature is Valid.") || !strings.Contains(peer, "Not total document signed") {
			t.Fatalf("P=%d, pdfsig on the filled form:\n%s", p, peer)
		}
		t.Logf("P=%d: valid, overlays %v; pdfsig: valid, not total document signed", p, got)
	}
}

// TestFillDefaultResources: what a fill may add to the form's default
// resources /DR (ISO 32000-1 §12.7.2, Table 218) under a certification
// with P 2: a new font under a name nothing in the signed revision uses,
// as poppler adds the font it drew a value with. Not a font under a name
// a signed field's /DA calls (a reader regenerating that field, or
// looking in /DR for what its appearance lacks, would draw with the new
// font), nor one the signed page's content calls, nor a font replaced
// under its name, nor another kind of resource, nor anything at P 1.
func TestFillDefaultResources(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	form := mutoolForm()
	const witness, acroForm = 9, 19
	certified := f.certify(t, form, 2)
	if s := verify(t, must(t)(pades.AppendDRFont(certified, "popplerfont")), f.verifyOptions()).Signatures[0]; !s.Valid() {
		t.Fatalf("P=2, a font added to /DR under a new name: %v %v", s.Err, s.Changes)
	}
	evilDA := f.certify(t, must(t)(pades.AppendFieldSet(form, witness, "DA", "(/Evil 12 Tf 0 g)")), 2)
	for what, c := range map[string]struct {
		pdf  []byte
		want string
	}{
		"a font under a name a signed /DA calls":       {must(t)(pades.AppendDRFont(evilDA, "Evil")), "gained font /Evil, a name the signed revision uses"},
		"a font under a name the page content uses":    {must(t)(pades.AppendDRFont(certified, "F1")), "gained font /F1, a name the signed revision uses"},
		"a font replaced under its name":               {must(t)(pades.AppendDRFont(certified, "Helv")), "the form's /DR font /Helv changed"},
		"a signed font added under a new name":         {must(t)(pades.AppendFieldSet(certified, acroForm, "DR", "<< /Font << /Helv 10 0 R /ZaDb 11 0 R /Other 10 0 R >> >>")), "an object of the signed revision"},
		"another kind of resource":                     {must(t)(pades.AppendFieldSet(certified, acroForm, "DR", "<< /Font << /Helv 10 0 R /ZaDb 11 0 R >> /XObject << >> >>")), "/DR /XObject changed"},
		"a font replaced in /DR's own font dictionary": {must(t)(pades.AppendFieldSet(f.certify(t, buildForm(true), 2), 20, "Helv", "11 0 R")), "the form's /DR font /Helv changed"},
		"a font added at P 1":                          {must(t)(pades.AppendDRFont(f.certify(t, form, 1), "popplerfont")), "the form's /DR changed"},
	} {
		s := verify(t, c.pdf, f.verifyOptions()).Signatures[0]
		if s.Valid() || !errors.Is(s.Err, pades.ErrChanged) || !strings.Contains(strings.Join(s.Changes, ";"), c.want) {
			t.Fatalf("%s: %v %v", what, s.Err, s.Changes)
		}
		t.Logf("%s: %v", what, s.Changes)
	}
}
