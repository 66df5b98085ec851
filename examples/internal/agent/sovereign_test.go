package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
)

// lacksDG11 is a reader whose identity document holds no DG11: reading it
// for a site that requires DG11 fails as emrtd reports it.
type lacksDG11 struct{}

func (lacksDG11) Do(context.Context, func(context.Context, apdu.Transport) error) error {
	return fmt.Errorf("emrtd: prepare: %w", &emrtd.DataGroupError{DG: emrtd.DG11, Err: emrtd.ErrNotOnDocument})
}
func (lacksDG11) Describe() string { return "document without DG11" }

// Which data groups the holder's document lacks is data of the document:
// the sovereign rule lets it reach a site only in a disclosure the holder
// chose (DESIGN.md, Sovereign separation). When the document cannot give
// what the site requires, the holder's window says which group is missing;
// the site learns only that the request could not be answered.
func TestMissingGroupToldToTheHolderOnly(t *testing.T) {
	a, err := New(Config{Allowed: []string{site}, Source: lacksDG11{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	a.SetSelf(srv.URL)
	code, m := call(t, "POST", srv.URL+"/v1/requests", site, `{"kind":"identity","nonce":"`+testNonce+`","require":[1,11]}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	page := answer(t, prompt, srv.URL, url.Values{"action": {"read"}, "can": {"123456"}})
	if !strings.Contains(page, "DG11") {
		t.Fatalf("the holder is not told which group is missing:\n%s", page)
	}
	_, m = call(t, "GET", srv.URL+"/v1/requests/"+id, site, "")
	msg, _ := m["error"].(string)
	if m["status"] != "failed" || msg == "" || strings.Contains(msg, "DG11") || strings.Contains(msg, "not hold") {
		t.Fatalf("the site learns what the document holds: %v", m)
	}
}
