package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/puce-id/puce/identity"
)

// A challenge the endpoints hand out belongs to the session that began it.
// The challenge store knows nothing of sessions, so the ID a client sees is
// "<challenge ID>.<tag>", the tag an HMAC of the ID under a key that lives
// only in the session's server-side data and follows it through renewals.
// A finish whose tag is not this session's is refused before the challenge
// is spent: a request seen on its way (its body, not its cookie) cannot be
// finished in another session, and the browser that began it still can
// (WebAuthn L3 §7.2 checks an assertion against the options of this
// ceremony, which the relying party keeps with the user's session).

// bindLen is the size of a session's binding key, and of a tag.
const bindLen = 16

// ensureBind gives s a binding key if it has none yet (a session stored
// before keys existed, or just reset); the caller stores it.
func ensureBind(s *Session) bool {
	if len(s.data.Bind) == bindLen {
		return false
	}
	s.data.Bind = make([]byte, bindLen)
	rand.Read(s.data.Bind)
	return true
}

func (s *Session) tag(id identity.ChallengeID) string {
	mac := hmac.New(sha256.New, s.data.Bind)
	mac.Write([]byte("puce httpauth challenge v1\x00"))
	mac.Write(id[:])
	return tokenEncoding.EncodeToString(mac.Sum(nil)[:bindLen])
}

// bindChallenge is the ID the client gets for ch, bound to s. A session
// without a key gets one first, which costs one write: a visitor's session
// is stored then, for the first time.
func (m *Manager) bindChallenge(ctx context.Context, s *Session, id identity.ChallengeID) (string, error) {
	if first := s.unstored(); ensureBind(s) || first {
		err := m.Save(ctx, s)
		if err != nil && !(first && errors.Is(err, identity.ErrChanged) && m.adoptStored(ctx, s)) {
			return "", err
		}
	}
	return id.String() + "." + s.tag(id), nil
}

// boundChallenge is the challenge a client's bound ID names, if s issued
// it; otherwise identity.ErrUnknownChallenge, nothing spent.
func boundChallenge(s *Session, bound string) (identity.ChallengeID, error) {
	raw, tag, ok := strings.Cut(bound, ".")
	id, err := identity.ParseChallengeID(raw)
	if !ok || err != nil || len(s.data.Bind) != bindLen ||
		!hmac.Equal([]byte(tag), []byte(s.tag(id))) {
		return identity.ChallengeID{}, fmt.Errorf("%w: httpauth: the challenge was not issued to this session", identity.ErrUnknownChallenge)
	}
	return id, nil
}
