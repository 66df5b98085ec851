package web

import (
	"encoding/json"
	"io"
	"net/http"
)

// maxJSONBody bounds a JSON step's request.
const maxJSONBody = 64 << 10

// JSONStep answers one JSON step of a page's script (the signing pages'
// prepare and finish): never cached, refused without the session's CSRF
// token in the X-CSRF-Token header, the body one JSON object of strings.
// fn gets the body and returns the status and the reply object.
func JSONStep[T any](w http.ResponseWriter, r *http.Request, sess *Session[T], origin string, fn func(body map[string]string) (int, map[string]string)) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status, v := jsonStep(r, sess, origin, fn)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func jsonStep[T any](r *http.Request, sess *Session[T], origin string, fn func(body map[string]string) (int, map[string]string)) (int, map[string]string) {
	if !CheckCSRF(r, sess, origin) {
		return http.StatusForbidden, map[string]string{"error": "This page is out of date. Reload it and try again."}
	}
	var body map[string]string
	if err := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody)).Decode(&body); err != nil {
		return http.StatusBadRequest, map[string]string{"error": "Malformed request."}
	}
	return fn(body)
}

// JSONError answers a page's script with status and {"error": msg}; msg is
// shown to the user, so it must carry no internal detail.
func JSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
