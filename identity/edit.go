package identity

import (
	"context"
	"errors"
	"fmt"
)

// maxEditRounds bounds EditCredential's retries. Each lost round means
// another request's update landed, so the loop always makes progress; the
// bound only stops a store that answers ErrChanged forever.
const maxEditRounds = 32

// EditCredential applies edit to c, a credential as read from s, and writes
// it with UpdateCredential. When another request changed the credential in
// between, it reads the credential again and applies edit to the fresh copy,
// so that neither change is lost: a rename and a login's bookkeeping both
// land, whatever their order. edit must therefore describe the change, not
// its result ("set the name", never "write back what I read"), and may
// return an error to give up; that error is returned as it is. On success c
// holds what was written.
func EditCredential(ctx context.Context, s CredentialStore, c *Credential, edit func(*Credential) error) error {
	ref := c.Ref()
	cur := c
	for range maxEditRounds {
		if err := edit(cur); err != nil {
			return err
		}
		err := s.UpdateCredential(ctx, cur)
		if err == nil {
			if cur != c {
				*c = *cur
			}
			return nil
		}
		if !errors.Is(err, ErrChanged) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if cur, err = s.Credential(ctx, ref); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s credential %q changed %d times during one update", ErrChanged, ref.Kind, ref.ID, maxEditRounds)
}
