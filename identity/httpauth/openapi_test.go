package httpauth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
)

// spec is the served OpenAPI document, read as a client would.
type spec struct {
	raw   map[string]any
	paths map[string]any
}

func fetchSpec(t *testing.T, s *site) *spec {
	t.Helper()
	c := &client{t: t}
	var raw map[string]any
	c.must(s, 200, "GET", "/auth/openapi.json", nil, &raw)
	if raw["openapi"] != "3.0.3" {
		t.Fatalf("openapi %v", raw["openapi"])
	}
	servers, _ := raw["servers"].([]any)
	if len(servers) != 1 || servers[0].(map[string]any)["url"] != "/auth" {
		t.Fatalf("servers %v: the endpoints are at /auth", servers)
	}
	return &spec{raw: raw, paths: raw["paths"].(map[string]any)}
}

func (sp *spec) ref(v map[string]any) map[string]any {
	for {
		r, ok := v["$ref"].(string)
		if !ok {
			return v
		}
		cur := any(sp.raw)
		for _, seg := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			cur = cur.(map[string]any)[seg]
		}
		v = cur.(map[string]any)
	}
}

// operation finds the documented operation a request went to.
func (sp *spec) operation(method, path string) (string, map[string]any) {
	rel := strings.Split(strings.TrimPrefix(path, "/auth"), "/")
	for tmpl, ops := range sp.paths {
		segs := strings.Split(tmpl, "/")
		if len(segs) != len(rel) {
			continue
		}
		match := true
		for i := range segs {
			if segs[i] != rel[i] && !strings.HasPrefix(segs[i], "{") {
				match = false
				break
			}
		}
		if op, ok := ops.(map[string]any)[strings.ToLower(method)]; match && ok {
			return tmpl, op.(map[string]any)
		}
	}
	return "", nil
}

// validate checks v against schema: the documented type, every required
// member present, no member the document does not list.
func (sp *spec) validate(schema map[string]any, v any, where string) []string {
	schema = sp.ref(schema)
	if alts, ok := schema["oneOf"].([]any); ok {
		for _, a := range alts {
			if len(sp.validate(a.(map[string]any), v, where)) == 0 {
				return nil
			}
		}
		return []string{fmt.Sprintf("%s: %v matches none of oneOf", where, v)}
	}
	var errs []string
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not an object", where, v)}
		}
		props, _ := schema["properties"].(map[string]any)
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required %q missing", where, r))
			}
		}
		for k, x := range obj {
			p, ok := props[k]
			if !ok {
				if schema["additionalProperties"] == false {
					errs = append(errs, fmt.Sprintf("%s: member %q is not documented", where, k))
				}
				continue
			}
			errs = append(errs, sp.validate(p.(map[string]any), x, where+"."+k)...)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not an array", where, v)}
		}
		for i, x := range arr {
			errs = append(errs, sp.validate(schema["items"].(map[string]any), x, fmt.Sprintf("%s[%d]", where, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not a string", where, v)}
		}
		if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, any(str)) {
			errs = append(errs, fmt.Sprintf("%s: %q is not one of %v", where, str, enum))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v is not a boolean", where, v))
		}
	}
	return errs
}

// check validates one exchange against the document and returns its
// operation's ID.
func (sp *spec) check(t *testing.T, x exchange) string {
	t.Helper()
	tmpl, op := sp.operation(x.method, x.path)
	if op == nil {
		t.Errorf("%s %s is not in the document", x.method, x.path)
		return ""
	}
	resp, ok := op["responses"].(map[string]any)[fmt.Sprint(x.status)].(map[string]any)
	if !ok {
		t.Errorf("%s %s: status %d is not documented", x.method, tmpl, x.status)
		return ""
	}
	resp = sp.ref(resp)
	content, _ := resp["content"].(map[string]any)
	if content == nil {
		if len(x.body) != 0 {
			t.Errorf("%s %s %d: a body where the document has none: %s", x.method, tmpl, x.status, x.body)
		}
		return op["operationId"].(string)
	}
	var v any
	if err := json.Unmarshal(x.body, &v); err != nil {
		t.Errorf("%s %s %d: %v", x.method, tmpl, x.status, err)
		return ""
	}
	schema := content["application/json"].(map[string]any)["schema"].(map[string]any)
	for _, e := range sp.validate(schema, v, fmt.Sprintf("%s %s %d", x.method, tmpl, x.status)) {
		t.Error(e)
	}
	return op["operationId"].(string)
}

// Every path and method of the document is served (a real answer, never
// the mux's 404 or 405), and what is not documented is not.
func TestOpenAPIPathsServed(t *testing.T) {
	s := memSite(t)
	sp := fetchSpec(t, s)
	n := 0
	for tmpl, ops := range sp.paths {
		for method := range ops.(map[string]any) {
			c := &client{t: t}
			c.must(s, 200, "GET", "/auth/session", nil, nil)
			path := "/auth" + strings.ReplaceAll(tmpl, "{kind}", "webauthn")
			status, _, raw := c.call(s, strings.ToUpper(method), path, nil)
			if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d %s", method, path, status, raw)
			}
			sp.check(t, c.seen[len(c.seen)-1])
			n++
		}
	}
	if n < 11 {
		t.Fatalf("only %d operations documented", n)
	}
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	for _, q := range []struct{ method, path string }{
		{"POST", "/auth/login/webauthn/cancel"}, {"GET", "/auth/password"}, {"DELETE", "/auth/session"},
	} {
		if status, _, _ := c.call(s, q.method, q.path, nil); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s, undocumented, answered %d", q.method, q.path, status)
		}
	}
}

// The answers of a session that goes through every operation, refusals
// included, decode against the document: each required member is there,
// no member is undocumented, and every operation answered a success.
func TestOpenAPIAnswersMatch(t *testing.T) {
	s := memSite(t)
	sp := fetchSpec(t, s)
	c := &client{t: t}
	key := newDevice()
	signUpWithKey(t, s, c, "dave", key)
	c.must(s, http.StatusAccepted, "POST", "/app/pay", identity.Transaction{Amount: "12.00", Currency: "EUR",
		PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00"}, nil)
	var ch challengeAnswer
	c.must(s, 200, "POST", "/auth/approve/webauthn/begin", nil, &ch)
	c.must(s, 200, "POST", "/auth/approve/webauthn/finish", map[string]any{"challengeId": ch.ChallengeID,
		"response": key.get(t, ch.Payload), "transaction": ch.Transaction}, nil)
	enrollSignCard(t, s, c)
	sign := beginSign(t, s, c)
	c.must(s, 200, "POST", "/auth/sign/finish", map[string]any{"challengeId": sign.ChallengeID, "documentId": "contract",
		"signature": cardSigns(t, s.signCard, sign)}, nil)
	c.must(s, 200, "POST", "/auth/enroll/totp/begin", nil, &ch)
	code := codeFor(t, s.clock, unquote(t, ch.Payload))
	c.must(s, 200, "POST", "/auth/enroll/totp/finish", map[string]any{"challengeId": ch.ChallengeID, "response": code()}, nil)
	c.must(s, 204, "POST", "/auth/logout", nil, nil)
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	c.call(s, "POST", "/auth/password", map[string]string{"username": "dave", "password": "wrong"})
	c.must(s, 200, "POST", "/auth/password", map[string]string{"username": "dave", "password": "correct horse battery"}, nil)
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	s.clock.Advance(30e9)
	c.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
	c.call(s, "POST", "/auth/login/totp/finish", map[string]any{"challengeId": ch.ChallengeID, "response": "12"})
	c.must(s, 200, "POST", "/auth/login/totp/finish", map[string]any{"challengeId": ch.ChallengeID, "response": code()}, nil)
	c.call(s, "POST", "/auth/signup", map[string]string{"username": "dave", "password": "correct horse battery"})
	c.must(s, 200, "GET", "/auth/openapi.json", nil, nil)

	succeeded := map[string]bool{}
	for _, x := range c.seen {
		if strings.HasPrefix(x.path, "/app/") {
			continue // the application's own page
		}
		if id := sp.check(t, x); x.status < 300 {
			succeeded[id] = true
		}
	}
	for _, ops := range sp.paths {
		for _, op := range ops.(map[string]any) {
			id := op.(map[string]any)["operationId"].(string)
			if !succeeded[id] {
				t.Errorf("operation %s never answered a success in the flow", id)
			}
		}
	}
}
