package httpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// approverOnly approves and counts; it has no login or enrolment.
type approverOnly struct{ begun int }

func (a *approverOnly) BeginApprove(context.Context, identity.Request) (*identity.Challenge, error) {
	a.begun++
	return &identity.Challenge{Payload: []byte("300010000")}, nil
}

func (a *approverOnly) FinishApprove(context.Context, identity.Response) (*identity.Proof, error) {
	return nil, identity.ErrInvalidResponse
}

// TestApprovalOnly: a factor that only approves is served by its kind; its
// approval calls reach it, its login and enrolment answer ErrUnknownFactor
// (404 over the endpoints) without reaching it.
func TestApprovalOnly(t *testing.T) {
	a := &approverOnly{}
	f := httpauth.ApprovalOnly("token", a)
	if f.Kind() != "token" {
		t.Fatalf("kind %q", f.Kind())
	}
	ctx := context.Background()
	if ch, err := f.(httpauth.Approver).BeginApprove(ctx, identity.Request{}); err != nil || string(ch.Payload) != "300010000" || a.begun != 1 {
		t.Fatalf("BeginApprove: %v %v", ch, err)
	}
	_, e1 := f.Begin(ctx, identity.Request{})
	_, e2 := f.Finish(ctx, identity.Response{})
	_, e3 := f.BeginEnroll(ctx, identity.Request{})
	_, e4 := f.FinishEnroll(ctx, identity.Response{})
	for i, err := range []error{e1, e2, e3, e4} {
		if !errors.Is(err, httpauth.ErrUnknownFactor) {
			t.Fatalf("call %d: %v", i, err)
		}
	}

	m := newManager(t, memstore.New(), identitytest.NewClock(identitytest.Epoch()))
	e, err := m.Endpoints(httpauth.EndpointsConfig{Factors: []identity.Authenticator{f},
		PendingPayment:  func(*http.Request, *httpauth.Session) (*identity.Transaction, error) { return nil, nil },
		PaymentApproved: func(*http.Request, *httpauth.Session, identity.Transaction, identity.Proof) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", origin+"/auth/session", nil))
	var st struct {
		CSRFToken string `json:"csrfToken"`
	}
	json.Unmarshal(rec.Body.Bytes(), &st)
	r := httptest.NewRequest("POST", origin+"/auth/login/token/begin", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(httpauth.CSRFHeader, st.CSRFToken)
	r.AddCookie(rec.Result().Cookies()[0])
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	if rec.Code != http.StatusNotFound || a.begun != 1 {
		t.Fatalf("login with an approval-only factor: %d %s", rec.Code, rec.Body)
	}
}
