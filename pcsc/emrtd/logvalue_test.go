package emrtd_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/emrtd"
)

// Sovereign data never reaches a log by accident: a record, its MRZ, face
// and personal details, a disclosure and an envelope, handed to log/slog
// whole, show which data groups there are and how they were checked, never
// the holder's name, numbers, dates or photo — as the access keys show
// only their kind (CAN, MRZKey). A relying party that logs what it
// received keeps no copy of the holder's identity in its logs.
func TestSovereignDataNotLogged(t *testing.T) {
	f := newFixture(t, true, nil)
	s, err := emrtd.Open(t.Context(), f.tr, f.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Read(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rec.Disclose(emrtd.DG1, emrtd.DG2)
	if err != nil {
		t.Fatal(err)
	}
	env := emrtd.NewEnvelope("https://bank.example", "nonce", d)
	prep, err := s.PrepareDisclosure(t.Context(), emrtd.DisclosureRequest{Required: []emrtd.DG{emrtd.DG1}, Optional: []emrtd.DG{emrtd.DG2, emrtd.DG11}})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{f.key.DocumentNumber, "ERIKSSON", "ANNA", "MARIA", "740812", "340415", "ZENITH", "MAIN STREET", "ZE184226B",
		base64.StdEncoding.EncodeToString(rec.Face().Image[:48]), string(rec.Face().Image[:48])}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("read", "record", rec, "mrz", rec.MRZ, "face", rec.Face(), "details", rec.Details,
			"disclosure", d, "envelope", env, "prepared", prep)
		out := buf.String()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("log holds %q:\n%.600s", s, out)
			}
		}
		if !strings.Contains(out, "DG1") || !strings.Contains(out, "DG2") {
			t.Errorf("log does not say which data groups: %.600s", out)
		}
	}
}
