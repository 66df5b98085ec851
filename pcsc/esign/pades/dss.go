package pades

import (
	"context"
	"fmt"

	"github.com/puce-id/puce/pcsc/esign"
)

// The document security store (ETSI EN 319 142-1 §5.4.2.2, ISO 32000-2
// §12.8.4.3): /DSS in the catalog, with /Certs, /OCSPs and /CRLs arrays of
// streams holding DER certificates, OCSP responses and CRLs. /VRI, the
// per-signature index, is optional and left out.

// AddValidationData appends an update with the validation data of every
// signature in pdf (the signers' and their timestamp authorities' chains
// and OCSP answers about them, collected now through svc) and of every
// document timestamp (its authority's chain) in the document security
// store: level B-LT for signatures with a timestamp. Before a document
// timestamp is renewed with AddDocumentTimestamp, this keeps what it needs.
func AddValidationData(ctx context.Context, pdf []byte, svc Services) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	sigs, err := doc.signatures()
	if err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return nil, ErrNoSignature
	}
	vd := &esign.ValidationData{}
	opts := esign.LongTermOptions{TSA: svc.TSA, OCSP: svc.OCSP, Roots: svc.Roots, Intermediates: svc.Intermediates, Now: svc.Now}
	for _, s := range sigs {
		if s.bad != nil {
			return nil, s.bad
		}
		collect := esign.ValidationDataOf
		if s.docTimestamp {
			collect = esign.TimestampValidationData
		}
		one, err := collect(ctx, s.contents, opts)
		if err != nil {
			return nil, fmt.Errorf("pades: signature %q: %w", s.field, err)
		}
		vd.Merge(one)
	}
	return withDSS(doc, vd)
}

// withDSS appends vd to the document's store, creating it if need be.
func withDSS(doc *document, vd *esign.ValidationData) ([]byte, error) {
	catRef, cat, err := doc.catalog()
	if err != nil {
		return nil, err
	}
	old, err := doc.dss()
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	dss := newDict()
	dss.set("Type", name("DSS"))
	for _, part := range []struct {
		key   name
		items [][]byte
		have  [][]byte
		refs  array
	}{{"Certs", vd.Certificates, old.Certificates, old.certRefs}, {"OCSPs", vd.OCSP, old.OCSP, old.ocspRefs}, {"CRLs", vd.CRLs, old.CRLs, old.crls}} {
		refs := append(array{}, part.refs...)
		for _, it := range part.items {
			if contains(part.have, it) {
				continue
			}
			r := u.alloc()
			u.put(r, &stream{dict: newDict(), raw: it})
			refs = append(refs, r)
		}
		if len(refs) > 0 {
			dss.set(part.key, refs)
		}
	}
	dssRef := u.alloc()
	u.put(dssRef, dss)
	c := cat.clone()
	c.set("DSS", dssRef)
	u.put(catRef, c)
	return u.bytes(), nil
}

func contains(list [][]byte, x []byte) bool {
	for _, y := range list {
		if string(y) == string(x) {
			return true
		}
	}
	return false
}

// storedData is the document security store's content.
type storedData struct {
	esign.ValidationData
	certRefs, ocspRefs, crls array
}

// dss reads the document security store, empty when there is none.
func (d *document) dss() (*storedData, error) {
	sd := &storedData{}
	_, cat, err := d.catalog()
	if err != nil {
		return nil, err
	}
	dss, err := d.resolveDict(cat.get("DSS"))
	if err != nil || dss == nil {
		return sd, err
	}
	read := func(key name) (array, [][]byte, error) {
		o, err := d.resolve(dss.get(key))
		if err != nil {
			return nil, nil, err
		}
		a, _ := o.(array)
		var out [][]byte
		for _, e := range a {
			so, err := d.resolve(e)
			if err != nil {
				return nil, nil, err
			}
			st, ok := so.(*stream)
			if !ok {
				return nil, nil, fmt.Errorf("%w: /DSS /%s holds a non-stream", ErrMalformed, key)
			}
			data, err := d.decode(st)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, data)
		}
		return a, out, nil
	}
	if sd.certRefs, sd.Certificates, err = read("Certs"); err != nil {
		return nil, err
	}
	if sd.ocspRefs, sd.OCSP, err = read("OCSPs"); err != nil {
		return nil, err
	}
	// CRLs judge certificates as OCSP answers do; a /CRLs this reader
	// cannot read is kept as it is, and judges nothing.
	if sd.crls, sd.CRLs, err = read("CRLs"); err != nil {
		sd.CRLs = nil
		if o, err := d.resolve(dss.get("CRLs")); err == nil {
			sd.crls, _ = o.(array)
		}
	}
	return sd, nil
}
