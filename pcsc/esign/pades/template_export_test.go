package pades

import "fmt"

// Builders for template_test.go: page templates (ISO 32000-1 §12.7.6).

// WithTemplate appends an update giving pdf a page template named name:
// a page object of type /Template, outside the page tree, that the
// catalog's /Names /Templates name tree lists (§7.7.4, Table 31), drawing
// text.
func WithTemplate(pdf []byte, tmplName, text string) ([]byte, error) {
	doc, catRef, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	_, first, err := doc.firstPage()
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	content, tmpl := u.alloc(), u.alloc()
	u.put(content, &stream{dict: newDict(), raw: []byte(fmt.Sprintf("BT /F1 14 Tf 72 720 Td (%s) Tj ET", text))})
	t := newDict()
	t.set("Type", name("Template"))
	t.set("MediaBox", first.get("MediaBox"))
	t.set("Resources", first.get("Resources"))
	t.set("Contents", content)
	u.put(tmpl, t)
	names := newDict()
	tree := newDict()
	tree.set("Names", array{pdfStr(tmplName), tmpl})
	names.set("Templates", tree)
	c := cat.clone()
	c.set("Names", names)
	u.put(catRef, c)
	return u.bytes(), nil
}

// AppendSpawnedPage appends an update instantiating the template named
// tmplName as the last page, as Acrobat's spawnPageFromTemplate does for
// a template with no fields: a new page object with the template's
// content, resources and media box, added to the page tree's root, whose
// /Count grows by one.
func AppendSpawnedPage(pdf []byte, tmplName string) ([]byte, error) {
	doc, _, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	names, _ := doc.resolveDict(cat.get("Names"))
	tree, _ := doc.resolveDict(names.get("Templates"))
	no, _ := doc.resolve(tree.get("Names"))
	list, _ := no.(array)
	var tmpl *dict
	for i := 0; i+1 < len(list); i += 2 {
		if s, ok := list[i].(pdfStr); ok && string(s) == tmplName {
			tmpl, _ = doc.resolveDict(list[i+1])
		}
	}
	if tmpl == nil {
		return nil, fmt.Errorf("no template %q", tmplName)
	}
	pagesRef, ok := cat.get("Pages").(ref)
	if !ok {
		return nil, fmt.Errorf("no page tree")
	}
	pages, err := doc.resolveDict(pagesRef)
	if err != nil || pages == nil {
		return nil, fmt.Errorf("no page tree: %v", err)
	}
	u := newUpdate(doc)
	page := u.alloc()
	p := tmpl.clone()
	p.set("Type", name("Page"))
	p.set("Parent", pagesRef)
	u.put(page, p)
	kids, _ := doc.resolve(pages.get("Kids"))
	k, _ := kids.(array)
	np := pages.clone()
	np.set("Kids", append(append(array{}, k...), page))
	cnt, _ := pages.get("Count").(number)
	n, _ := cnt.int()
	np.set("Count", number(fmt.Sprint(n+1)))
	u.put(pagesRef, np)
	return u.bytes(), nil
}
