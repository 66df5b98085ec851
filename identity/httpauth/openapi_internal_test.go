package httpauth

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// stubFactor is enough of a factor to build Endpoints with.
type stubFactor struct{ kind identity.Kind }

func (f stubFactor) Kind() identity.Kind { return f.kind }
func (stubFactor) BeginEnroll(context.Context, identity.Request) (*identity.Challenge, error) {
	return nil, identity.ErrBadInput
}
func (stubFactor) FinishEnroll(context.Context, identity.Response) (*identity.Credential, error) {
	return nil, identity.ErrBadInput
}
func (stubFactor) Begin(context.Context, identity.Request) (*identity.Challenge, error) {
	return nil, identity.ErrBadInput
}
func (stubFactor) Finish(context.Context, identity.Response) (*identity.Proof, error) {
	return nil, identity.ErrBadInput
}

// allEndpoints serves every optional route.
func allEndpoints(t *testing.T) *Endpoints {
	t.Helper()
	store := memstore.New()
	m, err := New(Config{Store: store, Origin: "https://bank.example"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.Endpoints(EndpointsConfig{
		Factors:   []identity.Authenticator{stubFactor{"totp"}},
		Passwords: &identity.Passwords{Store: store},
		SignUp:    true,
		PendingPayment: func(*http.Request, *Session) (*identity.Transaction, error) {
			return nil, nil
		},
		PaymentApproved: func(*http.Request, *Session, identity.Transaction, identity.Proof) error { return nil },
		Signing: &Signing{Ceremony: &esign.Ceremony{},
			Document: func(*http.Request, *Session, string) (*Document, error) { return nil, nil },
			Signed:   func(*http.Request, *Session, *Document, *esign.Signed) error { return nil }},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type document struct {
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		RequestBody *struct {
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]response `json:"responses"`
	} `json:"paths"`
	Components struct {
		Schemas   map[string]map[string]any `json:"schemas"`
		Responses map[string]response       `json:"responses"`
	} `json:"components"`
}

type response struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema map[string]any `json:"schema"`
	} `json:"content"`
}

func loadDocument(t *testing.T) *document {
	t.Helper()
	var d document
	if err := json.Unmarshal(openAPI, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &d
}

// resolve follows a $ref into the components.
func (d *document) resolve(t *testing.T, s map[string]any) (string, map[string]any) {
	t.Helper()
	ref, ok := s["$ref"].(string)
	if !ok {
		return "", s
	}
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	target, ok := d.Components.Schemas[name]
	if !ok {
		t.Fatalf("dangling $ref %s", ref)
	}
	return name, target
}

// The routes the handler registers are exactly the document's paths and
// methods.
func TestOpenAPIRoutesAreTheDocuments(t *testing.T) {
	d := loadDocument(t)
	var documented, served []string
	for path, ops := range d.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range allEndpoints(t).routes() {
		served = append(served, r.method+" "+r.path)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("the document lists\n  %v\nthe handler serves\n  %v", documented, served)
	}
}

// jsonFields returns the JSON names of a struct's fields (embedded
// structs' fields promoted), and which of them are always written.
func jsonFields(t reflect.Type) (all map[string]reflect.Type, always []string) {
	all = map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			sub, alw := jsonFields(f.Type)
			for k, v := range sub {
				all[k] = v
			}
			always = append(always, alw...)
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		all[name] = f.Type
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	return all, always
}

// checkType compares a wire struct with its schema: the same members, and
// what the handler always writes is required (for a response) — or what
// the document requires is a member the handler reads (for a request).
func (d *document) checkType(t *testing.T, where string, typ reflect.Type, schema map[string]any, response bool) {
	t.Helper()
	_, s := d.resolve(t, schema)
	props, _ := s["properties"].(map[string]any)
	if s["type"] != "object" || s["additionalProperties"] != false {
		t.Errorf("%s: schema is not a closed object", where)
	}
	var required []string
	for _, r := range s["required"].([]any) {
		required = append(required, r.(string))
	}
	fields, always := jsonFields(typ)
	for name, ft := range fields {
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s: member %q is not in the document", where, name)
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			d.checkType(t, where+"."+name, ft, p, response)
		}
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s: documented member %q is not read or written", where, name)
		}
	}
	for _, name := range required {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s: required member %q is not a field", where, name)
		}
	}
	if response {
		for _, name := range always {
			if !slices.Contains(required, name) {
				t.Errorf("%s: member %q is always written but not required", where, name)
			}
		}
	}
}

// The request and response bodies the handlers read and write are the
// document's schemas, member for member.
func TestOpenAPISchemasAreTheWireTypes(t *testing.T) {
	d := loadDocument(t)
	requests := map[string]reflect.Type{
		"password":      reflect.TypeFor[credentialsBody](),
		"signUp":        reflect.TypeFor[credentialsBody](),
		"loginBegin":    reflect.TypeFor[emptyBody](),
		"loginFinish":   reflect.TypeFor[finishBody](),
		"enrollBegin":   reflect.TypeFor[emptyBody](),
		"enrollFinish":  reflect.TypeFor[enrollFinishBody](),
		"approveBegin":  reflect.TypeFor[emptyBody](),
		"approveFinish": reflect.TypeFor[approveFinishBody](),
		"signBegin":     reflect.TypeFor[signBeginBody](),
		"signFinish":    reflect.TypeFor[signFinishBody](),
	}
	responses := map[string]reflect.Type{
		"getSession":    reflect.TypeFor[stateJSON](),
		"password":      reflect.TypeFor[stateJSON](),
		"signUp":        reflect.TypeFor[stateJSON](),
		"loginBegin":    reflect.TypeFor[challengeJSON](),
		"loginFinish":   reflect.TypeFor[stateJSON](),
		"enrollBegin":   reflect.TypeFor[enrollChallengeJSON](),
		"enrollFinish":  reflect.TypeFor[credentialJSON](),
		"approveBegin":  reflect.TypeFor[approvalChallengeJSON](),
		"approveFinish": reflect.TypeFor[approvalJSON](),
		"signBegin":     reflect.TypeFor[signChallengeJSON](),
		"signFinish":    reflect.TypeFor[signedJSON](),
	}
	errorType := reflect.TypeFor[errorJSON]()
	seen := map[string]bool{}
	for path, ops := range d.Paths {
		for method, op := range ops {
			id := op.OperationID
			where := method + " " + path
			seen[id] = true
			if op.RequestBody != nil {
				typ, ok := requests[id]
				if !ok {
					t.Errorf("%s (%s) has a body the test does not know", where, id)
				} else {
					d.checkType(t, where+" request", typ, op.RequestBody.Content["application/json"].Schema, false)
				}
			} else if _, ok := requests[id]; ok {
				t.Errorf("%s (%s): the handler reads a body the document does not describe", where, id)
			}
			for status, resp := range op.Responses {
				if resp.Ref != "" {
					if !strings.HasPrefix(status, "2") && resp.Ref != "#/components/responses/Error" {
						t.Errorf("%s %s: answered with %s, not the error", where, status, resp.Ref)
					}
					resp = d.Components.Responses[strings.TrimPrefix(resp.Ref, "#/components/responses/")]
				}
				c, ok := resp.Content["application/json"]
				switch {
				case !ok:
					continue
				case status == "200" && id == "openapi":
					continue
				case status == "200":
					typ, ok := responses[id]
					if !ok {
						t.Errorf("%s (%s): a 200 answer the test does not know", where, id)
						continue
					}
					d.checkType(t, where+" 200", typ, c.Schema, true)
				case strings.HasPrefix(status, "2"):
					t.Errorf("%s: a %s answer with a body the test does not know", where, status)
				default:
					d.checkType(t, where+" "+status, errorType, c.Schema, true)
				}
			}
		}
	}
	for id := range requests {
		if !seen[id] {
			t.Errorf("operation %s is not in the document", id)
		}
	}
	for id := range responses {
		if !seen[id] {
			t.Errorf("operation %s is not in the document", id)
		}
	}
}

// The served document names where the endpoints are.
func TestOpenAPIServerURL(t *testing.T) {
	doc, err := documentAt("/api/v2/auth")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Servers []struct{ URL string } `json:"servers"`
		Paths   map[string]any         `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Servers) != 1 || d.Servers[0].URL != "/api/v2/auth" || len(d.Paths) == 0 {
		t.Fatalf("servers %+v, %d paths", d.Servers, len(d.Paths))
	}
}

// The signing challenge's payload is described in words, one request
// type per ceremony: the words name every member of each (`so`), the update a PDF
// holder's side rebuilds the signed bytes from included.
func TestOpenAPISignPayloadNamesTheRequests(t *testing.T) {
	d := loadDocument(t)
	props, _ := d.Components.Schemas["SignChallenge"]["properties"].(map[string]any)
	payload, _ := props["payload"].(map[string]any)
	desc, _ := payload["description"].(string)
	for _, typ := range []reflect.Type{reflect.TypeFor[esign.SignRequest](), reflect.TypeFor[pades.SignRequest]()} {
		for f := range typ.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			if !strings.Contains(desc, "`"+tag+"`") {
				t.Errorf("the sign challenge's payload does not name %s's %q", typ, tag)
			}
		}
	}
}
