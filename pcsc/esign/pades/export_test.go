package pades

// AppendContentChange appends an incremental update that replaces the
// first page's content with other text, as an editor saving a change
// would: for tests of "changed after signing".
func AppendContentChange(pdf []byte) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	pageRef, page, err := doc.firstPage()
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	content := u.alloc()
	u.put(content, &stream{dict: newDict(), raw: []byte("BT /F1 24 Tf 72 760 Td (Loan agreement 2026-1142: 92,000 EUR) Tj ET")})
	p := page.clone()
	p.set("Contents", content)
	u.put(pageRef, p)
	return u.bytes(), nil
}

// Prepared exposes the pending document for tests that sign with a peer.
func (p *Pending) Prepared() (pdf []byte, at, hexLen int) { return p.pdf, p.contentsAt, p.contentsLen }

// Fill puts a signature made elsewhere into the placeholder.
func Fill(pdf []byte, at, hexLen int, value []byte) ([]byte, error) {
	return fill(pdf, at, hexLen, value)
}
