package pades_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// TestSpawnedPageAfterCertification: ISO 32000-1 Table 254 lists
// "instantiating page templates" among what DocMDP P 2 permits, and
// §12.7.6 says how: a template (a page object of type /Template that the
// catalog's /Names /Templates lists) is copied into the page tree as a new
// page. puce does not tell that apart from inserting a page: the page
// tree's root changes (its /Kids and /Count), and the update is reported
// as a change — stricter than the standard, never laxer. The signature
// itself verifies (pdfsig: valid, not the total document), and qpdf
// accepts the file with its spawned page.
func TestSpawnedPageAfterCertification(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	prepared := must(t)(pades.WithTemplate(inputs(t)["contract.pdf"], "annex", "Annex: repayment schedule"))
	qpdfCheck(t, prepared, "a form with a page template")
	certified := f.certify(t, prepared, 2)
	spawned := must(t)(pades.AppendSpawnedPage(certified, "annex"))
	qpdfCheck(t, spawned, "the spawned page")
	s := verify(t, spawned, f.verifyOptions()).Signatures[0]
	if s.Valid() || !errors.Is(s.Err, pades.ErrChanged) || !s.ChangedAfterSigning || s.Signer == nil {
		t.Fatalf("P=2, a page template instantiated: %+v", s)
	}
	t.Logf("P=2, a page template instantiated: %v", s.Changes)
	peer := pdfsigAll(t, f, spawned)
	if len(peer) != 1 || !strings.Contains(peer[0], "Signature is Valid.") || !strings.Contains(peer[0], "Not total document signed") {
		t.Fatalf("pdfsig on the spawned page:\n%s", strings.Join(peer, "\n"))
	}
}
