package httpauth

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/puce-id/puce/identity"
)

// A body is one JSON text (RFC 8259 §2: ws value ws): whatever follows the
// object but whitespace is refused, a stray closing bracket as much as a
// second value. json.Decoder.More says nothing of a ']' or '}' at the top
// level, so these slipped through.
func TestDecodeRefusesTrailingBytes(t *testing.T) {
	for _, b := range []string{`{}]`, `{}}`, `{} x`, `{}{}`, `{"challengeId":"a"}]`, "{}\v", "{}\u00a0"} {
		r := httptest.NewRequest("POST", "/", bytes.NewReader([]byte(b)))
		r.Header.Set("Content-Type", "application/json")
		var v finishBody
		if err := decode(r, &v); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("%q: %v, want ErrBadInput", b, err)
		}
	}
	for _, b := range []string{"{}", " {} \r\n\t", ""} {
		r := httptest.NewRequest("POST", "/", bytes.NewReader([]byte(b)))
		r.Header.Set("Content-Type", "application/json")
		if err := decode(r, &emptyBody{}); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
}
