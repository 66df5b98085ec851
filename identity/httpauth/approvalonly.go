package httpauth

import (
	"context"
	"fmt"

	"github.com/puce-id/puce/identity"
)

// ApprovalOnly serves an Approver that is no identity.Authenticator among
// EndpointsConfig.Factors: a factor whose credentials the bank issues
// rather than the user enrols, such as ocra.Factor (ocra.Factor.Import).
// Its approval routes work as any factor's; its login and enrolment
// routes answer ErrUnknownFactor.
func ApprovalOnly(kind identity.Kind, a Approver) identity.Authenticator {
	return approvalOnly{kind: kind, Approver: a}
}

type approvalOnly struct {
	kind identity.Kind
	Approver
}

func (f approvalOnly) Kind() identity.Kind { return f.kind }

func (f approvalOnly) refuse() error {
	return fmt.Errorf("%w: %s approves payments only", ErrUnknownFactor, f.kind)
}

func (f approvalOnly) BeginEnroll(context.Context, identity.Request) (*identity.Challenge, error) {
	return nil, f.refuse()
}

func (f approvalOnly) FinishEnroll(context.Context, identity.Response) (*identity.Credential, error) {
	return nil, f.refuse()
}

func (f approvalOnly) Begin(context.Context, identity.Request) (*identity.Challenge, error) {
	return nil, f.refuse()
}

func (f approvalOnly) Finish(context.Context, identity.Response) (*identity.Proof, error) {
	return nil, f.refuse()
}
