package agent

// The identity document flow: a page asks for a disclosure of data groups of
// the holder's identity document (the sovereign eMRTD applet), the agent's
// own window takes the CAN, reads the chip, shows the holder every field
// that would leave the computer and to which origin, and sends only the
// groups the holder accepted, as an emrtd.Disclosure that the site checks by
// passive authentication.
//
// What the disclosure proves, and what it does not: passive authentication
// shows that the issuing state signed these data groups. It does not show
// that the chip is present now — a copy of a disclosure verifies as well as
// the original. So when the chip has an Active Authentication key (DG15),
// the agent has it sign a challenge derived from the site's single-use
// nonce and the requesting origin (emrtd.DisclosureChallenge), and sends
// that proof with DG14 and DG15: the site then knows the card itself
// answered this request. Nothing shows that the one presenting the card is
// its holder.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
)

const (
	kindIdentity = "identity"
	// stReview: the chip was read; the holder reviews what would be sent.
	stReview = "review"
	// maxCANTries bounds wrong CANs in one request. The CAN has no retry
	// counter on most chips, so the agent, not the card, stops a page from
	// having a holder guess on and on.
	maxCANTries = 3
)

// disclosable are the data groups a site may ask for: the MRZ, the face,
// and the additional personal, document and optional details. Fingerprints
// and irises (DG3, DG4) need EAC terminal authentication, which no web page
// is; security infos (DG14, DG15) identify nothing.
var disclosable = []emrtd.DG{emrtd.DG1, emrtd.DG2, emrtd.DG11, emrtd.DG12, emrtd.DG13}

// identityRequest is the state of an identity request.
type identityRequest struct {
	require, optional []emrtd.DG
	canTries          int
	// prepared is the holder's sovereign data and the chip's proof for
	// this site's challenge, held in this process's memory only while the
	// holder reviews it; dropped once answered.
	prepared *emrtd.PreparedDisclosure
}

// parseGroups checks the data groups a page asks for.
func parseGroups(require, optional []int) ([]emrtd.DG, []emrtd.DG, error) {
	seen := map[emrtd.DG]bool{}
	conv := func(ns []int) ([]emrtd.DG, error) {
		var out []emrtd.DG
		for _, n := range ns {
			dg := emrtd.DG(n)
			if !slices.Contains(disclosable, dg) {
				return nil, fmt.Errorf("data group %d cannot be asked for", n)
			}
			if seen[dg] {
				return nil, fmt.Errorf("data group %d asked for twice", n)
			}
			seen[dg] = true
			out = append(out, dg)
		}
		return out, nil
	}
	req, err := conv(require)
	if err != nil {
		return nil, nil, err
	}
	opt, err := conv(optional)
	if err != nil {
		return nil, nil, err
	}
	if len(req)+len(opt) == 0 {
		return nil, nil, errors.New("no data group asked for")
	}
	return req, opt, nil
}

// newIdentity fills an identity request from the page's body.
func newIdentity(q *request, b createBody) (int, any) {
	if len(b.Nonce) < 43 || len(b.Nonce) > 128 {
		return http.StatusBadRequest, apiErr("The site's challenge is missing or malformed.")
	}
	req, opt, err := parseGroups(b.Require, b.Optional)
	if err != nil {
		return http.StatusBadRequest, apiErr("The identity request is malformed: " + err.Error() + ".")
	}
	q.nonce = b.Nonce
	q.ident = &identityRequest{require: req, optional: opt}
	return 0, nil
}

// groupView is one data group as the holder's window shows it.
type groupView struct {
	DG       int
	Title    string
	Required bool
	Fields   [][2]string
	Lines    []string
	Photo    template.URL
	PhotoMsg string
}

type identityData struct {
	ID, Origin, Status, CSRF string
	Notice, Error            string
	// Reason: why the request failed, told to the holder only.
	Reason  string
	Next    string
	Asked   []groupView
	Groups  []groupView
	Missing []string
	// ChipProof: the chip signed the site's challenge (Active
	// Authentication); the proof goes with the data.
	ChipProof bool
}

var groupTitles = map[emrtd.DG]string{
	emrtd.DG1:  "Machine readable zone: names, nationality, date of birth, sex, document number and expiry",
	emrtd.DG2:  "Photo of your face",
	emrtd.DG11: "Additional personal details: full name, place of birth, address, personal number…",
	emrtd.DG12: "Document details: issuing authority, date of issue…",
	emrtd.DG13: "Issuer's optional details (height, eye colour…)",
}

// identityHeaders are the prompt's headers, plus images from data: URLs for
// the photo the holder reviews (it never leaves this page's memory).
func (a *Agent) identityHeaders(w http.ResponseWriter) {
	a.promptHeaders(w)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

func (a *Agent) identityPrompt(w http.ResponseWriter, r *http.Request, q *request) {
	a.identityHeaders(w)
	a.mu.Lock()
	d := identityData{ID: q.id, Origin: q.origin, Status: q.status, CSRF: q.csrf, Notice: q.notice, Reason: q.holderMsg}
	id := q.ident
	d.ChipProof = id.prepared != nil && id.prepared.Active != nil
	for _, dg := range id.require {
		d.Asked = append(d.Asked, groupView{DG: int(dg), Title: groupTitles[dg], Required: true})
	}
	for _, dg := range id.optional {
		d.Asked = append(d.Asked, groupView{DG: int(dg), Title: groupTitles[dg]})
	}
	if q.status == stReview && id.prepared != nil {
		for _, g := range d.Asked {
			if v, ok := viewGroup(id.prepared.Record, emrtd.DG(g.DG)); ok {
				v.Required = g.Required
				d.Groups = append(d.Groups, v)
			}
		}
		for _, dg := range id.prepared.Missing {
			d.Missing = append(d.Missing, dg.String())
		}
	}
	a.mu.Unlock()
	switch d.Status {
	case stDone, stFailed, stCancelled:
		d.Next = "close"
	}
	a.page.ExecuteTemplate(w, "identity.html", d)
}

// identityAnswer takes the holder's CAN, then the holder's choice.
func (a *Agent) identityAnswer(w http.ResponseWriter, r *http.Request, q *request) {
	defer http.Redirect(w, r, "/prompt/"+q.id, http.StatusSeeOther)
	if r.PostFormValue("action") == "cancel" {
		a.finishIdentity(q, stCancelled, nil, "The holder cancelled: nothing was sent.")
		a.log.Info("identity request cancelled by the holder", "id", q.id, "origin", q.origin)
		return
	}
	a.mu.Lock()
	status := q.status
	a.mu.Unlock()
	switch status {
	case stWaiting:
		// The CAN is read from the form and handed to the chip; it is never
		// logged, stored or sent anywhere else.
		can := strings.Join(strings.Fields(r.PostFormValue("can")), "")
		a.readDocument(r.Context(), q, can)
	case stReview:
		// Only the review form's own button sends: a stale CAN form posted
		// again (the browser's back button) must not disclose anything.
		if r.PostFormValue("action") != "disclose" {
			return
		}
		var chosen []emrtd.DG
		for _, v := range r.PostForm["dg"] {
			var n int
			if _, err := fmt.Sscanf(v, "%d", &n); err == nil {
				chosen = append(chosen, emrtd.DG(n))
			}
		}
		a.disclose(q, chosen)
	}
}

func (a *Agent) finishIdentity(q *request, status string, result map[string]string, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if final(q.status) {
		return // ended already (the holder cancelled): nothing more is sent
	}
	q.status, q.result, q.errorMsg, q.notice = status, result, msg, ""
	q.ident.prepared = nil
}

func (a *Agent) readDocument(ctx context.Context, q *request, can string) {
	if can == "" || strings.Trim(can, "0123456789") != "" || len(can) > 12 {
		a.mu.Lock()
		q.notice = "Type the card access number (CAN): the digits printed on the front of your card."
		a.mu.Unlock()
		return
	}
	id := q.ident
	// emrtd reads only what the site asked for and the document carries,
	// and has a chip with an Active Authentication key (DG15) sign a
	// challenge bound to this site's nonce and origin, so the site learns
	// the chip itself answered, not a copy of its files.
	var prepared *emrtd.PreparedDisclosure
	err := a.withCard(ctx, cardWait, func(ctx context.Context, t apdu.Transport) error {
		s, err := emrtd.Open(ctx, t, emrtd.CAN(can), nil)
		if err != nil {
			return err
		}
		prepared, err = s.PrepareDisclosure(ctx, emrtd.DisclosureRequest{Required: id.require, Optional: id.optional,
			Challenge: emrtd.DisclosureChallenge(q.origin, q.nonce)})
		return err
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	if final(q.status) {
		return // the holder cancelled while the chip was read: drop it all
	}
	var dge *emrtd.DataGroupError
	switch {
	case err == nil:
		id.prepared, q.status, q.notice = prepared, stReview, ""
		a.log.Info("identity document read for review", "id", q.id, "origin", q.origin, "groups", len(prepared.Record.DataGroups))
	case errors.Is(err, errCardBusy):
		q.notice = busyNotice
	case errors.Is(err, emrtd.ErrAccessDenied):
		id.canTries++
		if id.canTries >= maxCANTries {
			q.status, q.errorMsg, q.notice = stFailed, "The card refused the access number (CAN) three times. Nothing was read.", ""
		} else {
			q.notice = fmt.Sprintf("The card refused this access number (CAN); nothing was read. Check the digits printed on the front of your card (%d tries left in this window).", maxCANTries-id.canTries)
		}
		a.log.Info("identity document: CAN refused", "id", q.id, "origin", q.origin)
	case errors.Is(err, emrtd.ErrInvalidKey):
		q.notice = "Type the card access number (CAN): the digits printed on the front of your card."
	case errors.Is(err, emrtd.ErrNotOnDocument) && errors.As(err, &dge):
		// What the document holds is the holder's to disclose, like its
		// data: the site learns only that its request cannot be answered.
		q.status, q.notice = stFailed, ""
		q.errorMsg = "The holder's identity document cannot answer this request. Nothing was sent."
		q.holderMsg = fmt.Sprintf("Your document does not hold %v, which the site requires. Nothing was sent.", dge.DG)
	default:
		q.status, q.errorMsg, q.notice = stFailed, plainEMRTD(err), ""
		a.log.Info("identity document read failed", "id", q.id, "origin", q.origin, "err", err)
	}
}

// disclose sends the required groups and the optional ones the holder
// ticked; a ticked group the site did not ask for is ignored (emrtd).
func (a *Agent) disclose(q *request, chosen []emrtd.DG) {
	a.mu.Lock()
	prepared := q.ident.prepared
	a.mu.Unlock()
	if prepared == nil {
		return
	}
	d, err := prepared.Disclose(chosen...)
	if errors.Is(err, emrtd.ErrNothingToDisclose) {
		a.finishIdentity(q, stCancelled, nil, "The holder chose to send nothing.")
		return
	}
	var env []byte
	if err == nil {
		// The answer is an emrtd.Envelope: the disclosure with the origin
		// the holder saw and the site's challenge, which the site checks
		// with emrtd.VerifyEnvelope. The origin and nonce are not signed by
		// the chip: see the package's note.
		env, err = json.Marshal(emrtd.NewEnvelope(q.origin, q.nonce, d))
	}
	if err != nil {
		a.finishIdentity(q, stFailed, nil, "The disclosure could not be prepared.")
		a.log.Error("identity disclosure", "id", q.id, "err", err)
		return
	}
	a.finishIdentity(q, stDone, map[string]string{"disclosure": string(env)}, "")
	var names []string
	for _, dg := range slices.Sorted(maps.Keys(d.DataGroups)) {
		if dg != emrtd.DG14 && dg != emrtd.DG15 {
			names = append(names, dg.String())
		}
	}
	a.log.Info("identity disclosure sent", "id", q.id, "origin", q.origin, "groups", strings.Join(names, ","))
}

// plainEMRTD says what a failed chip read means for the holder.
func plainEMRTD(err error) string {
	switch {
	case errors.Is(err, emrtd.ErrUnsupported):
		return "This document's chip uses an access protocol the agent does not support."
	case errors.Is(err, emrtd.ErrSecureMessaging), errors.Is(err, emrtd.ErrProtocol):
		return "The conversation with the chip broke off. Leave the card in the reader and try again."
	case errors.Is(err, emrtd.ErrCardAccessMismatch):
		return "The chip's access information was altered on its way to this computer (a weakened protocol?). Nothing was sent; try another reader."
	case errors.Is(err, emrtd.ErrNotAuthorised):
		return "The chip refused to release this data."
	case errors.Is(err, emrtd.ErrMalformed):
		return "The chip's data could not be decoded."
	case errors.Is(err, apdu.ErrNotFound):
		return "This card has no identity document application (is it the right card?)."
	}
	return plainCard(err)
}

// viewGroup lists a data group's fields as the holder's window shows them:
// everything the group holds, since everything in it would be disclosed.
func viewGroup(r *emrtd.Record, dg emrtd.DG) (groupView, bool) {
	if r.DataGroups[dg] == nil {
		return groupView{}, false
	}
	v := groupView{DG: int(dg), Title: groupTitles[dg]}
	add := func(k, val string) {
		if val != "" {
			v.Fields = append(v.Fields, [2]string{k, val})
		}
	}
	list := func(k string, vals []string) { add(k, strings.Join(vals, ", ")) }
	switch dg {
	case emrtd.DG1:
		if m := r.MRZ; m != nil {
			add("Document", documentKind(m.DocumentCode))
			add("Issuing state", m.IssuingState)
			add("Document number", m.DocumentNumber)
			add("Surname", m.PrimaryID)
			add("Given names", m.SecondaryID)
			add("Nationality", m.Nationality)
			add("Date of birth", mrzDate(m.DateOfBirth, true))
			add("Sex", m.Sex)
			add("Date of expiry", mrzDate(m.DateOfExpiry, false))
			add("Optional data", strings.TrimSpace(m.OptionalData1+" "+m.OptionalData2))
			v.Lines = m.Lines
		}
	case emrtd.DG2:
		if f := r.Face(); f != nil {
			if f.MIMEType == "image/jpeg" {
				v.Photo = template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(f.Image))
			} else {
				v.PhotoMsg = fmt.Sprintf("a %s image this window cannot show", f.MIMEType)
			}
			add("Image", fmt.Sprintf("%s, %d bytes", f.MIMEType, len(f.Image)))
			add("Eye colour", f.EyeColour)
		}
	case emrtd.DG11:
		if p := r.Details; p != nil {
			add("Full name", strings.ReplaceAll(strings.ReplaceAll(p.FullName, "<<", ", "), "<", " "))
			list("Other names", p.OtherNames)
			add("Personal number", p.PersonalNumber)
			add("Full date of birth", p.FullDateOfBirth)
			list("Place of birth", p.PlaceOfBirth)
			list("Address", p.Address)
			add("Telephone", p.Telephone)
			add("Profession", p.Profession)
			add("Title", p.Title)
			add("Personal summary", p.PersonalSummary)
			list("Other travel documents", p.OtherTDNumbers)
			add("Custody information", p.CustodyInfo)
		}
	case emrtd.DG12:
		if p := r.Document; p != nil {
			add("Issuing authority", p.IssuingAuthority)
			add("Date of issue", p.DateOfIssue)
			list("Other persons", p.OtherPersons)
			add("Endorsements", p.Endorsements)
			add("Tax or exit requirements", p.TaxExit)
			if len(p.ImageFront) > 0 || len(p.ImageRear) > 0 {
				add("Images of the document", "included")
			}
			add("Personalised", p.PersonalisationTime)
			add("Personalisation system", p.PersonalisationSN)
		}
	case emrtd.DG13:
		if p := r.Optional; p != nil {
			add("Height", p.Height)
			add("Eye colour", p.EyeColour)
			add("Issuer-defined items", fmt.Sprint(len(p.Objects)))
		}
	}
	if len(v.Fields) == 0 && v.Photo == "" {
		add("Content", fmt.Sprintf("%d bytes", len(r.DataGroups[dg])))
	}
	return v, true
}

func documentKind(code string) string {
	switch {
	case strings.HasPrefix(code, "P"):
		return "passport (" + code + ")"
	case strings.HasPrefix(code, "I"), strings.HasPrefix(code, "A"), strings.HasPrefix(code, "C"):
		return "identity card (" + code + ")"
	}
	return code
}

// mrzDate writes an MRZ YYMMDD date as YYYY-MM-DD. The MRZ has no century:
// a birth date is in the past, an expiry date within the next 50 years.
func mrzDate(s string, birth bool) string {
	t, err := time.Parse("060102", s)
	if err != nil {
		return s
	}
	now := time.Now()
	switch {
	case birth && t.After(now):
		t = t.AddDate(-100, 0, 0)
	case !birth && t.Before(now.AddDate(-50, 0, 0)):
		t = t.AddDate(100, 0, 0)
	}
	return t.Format("2006-01-02")
}
