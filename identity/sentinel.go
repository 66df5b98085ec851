package identity

// Sentinel returns a new sentinel error for a factor package: its message is
// msg alone, and errors.Is matches it and every one of families, so a caller
// who knows only identity's sentinels (ErrBadInput, ErrInvalidResponse, …)
// can still branch on a factor's own error. For factor authors; an
// application only compares against the values factors export.
func Sentinel(msg string, families ...error) error {
	return &sentinel{msg: msg, families: append([]error(nil), families...)}
}

type sentinel struct {
	msg      string
	families []error
}

func (e *sentinel) Error() string   { return e.msg }
func (e *sentinel) Unwrap() []error { return e.families }
