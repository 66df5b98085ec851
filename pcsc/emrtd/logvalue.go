package emrtd

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// The holder's data reaches a relying party only through a disclosure the
// holder chose (the sovereign rule of the package overview), and so not
// through a log either: the types that carry it show log/slog only which
// data groups there are and how they were checked, as CAN and MRZKey show
// only their kind. fmt still prints them whole, for the holder's own
// display.

// LogValue hides the holder's identity from log/slog: the format and the
// issuing state only.
func (m *MRZ) LogValue() slog.Value {
	if m == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("format", m.Format.String()), slog.String("issuingState", m.IssuingState), slog.Bool("redacted", true))
}

// LogValue hides the image from log/slog.
func (f *Face) LogValue() slog.Value {
	if f == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("mime", f.MIMEType), slog.Int("bytes", len(f.Image)), slog.Bool("redacted", true))
}

// LogValue hides DG11 from log/slog.
func (p *PersonalDetails) LogValue() slog.Value { return slog.StringValue("DG11(redacted)") }

// LogValue hides DG12 from log/slog.
func (d *DocumentDetails) LogValue() slog.Value { return slog.StringValue("DG12(redacted)") }

// LogValue hides DG13 from log/slog.
func (d *OptionalDetails) LogValue() slog.Value { return slog.StringValue("DG13(redacted)") }

// LogValue shows log/slog how the record was read and checked and which
// data groups it holds, none of their content.
func (r *Record) LogValue() slog.Value {
	if r == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.String("protocol", r.Protocol.String()),
		slog.String("passiveAuthentication", r.Verification.Status.String()),
		slog.String("dataGroups", dgList(r.DataGroups)),
		slog.Bool("chipAuthenticated", r.ChipAuthenticated),
		slog.Bool("activeAuthenticated", r.ActiveAuthenticated),
		slog.Bool("terminalAuthenticated", r.TerminalAuthenticated),
	)
}

// LogValue shows log/slog which data groups a disclosure carries, not
// their content.
func (d *Disclosure) LogValue() slog.Value {
	if d == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("dataGroups", dgList(d.DataGroups)), slog.Bool("activeProof", d.Active != nil))
}

// LogValue shows log/slog the envelope's format, origin and disclosure
// (itself redacted).
func (e *Envelope) LogValue() slog.Value {
	if e == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("format", e.Format), slog.String("origin", e.Origin), slog.Any("disclosure", e.Disclosure))
}

// dgList names the data groups of a map, in order: "DG1 DG2".
func dgList(m map[DG][]byte) string {
	var names []string
	for _, dg := range slices.Sorted(maps.Keys(m)) {
		names = append(names, dg.String())
	}
	return strings.Join(names, " ")
}

// LogValue shows log/slog the record read for the holder (redacted) and
// whether the chip signed the challenge.
func (p *PreparedDisclosure) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.Any("record", p.Record), slog.Bool("activeProof", p.Active != nil))
}
