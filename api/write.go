package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// WriteJSON is the one JSON writer of every dialect. Unless the handler chose a
// Cache-Control (discovery and JWKS may be cached), the answer may not be stored
// anywhere (RFC 6749 §5.1: it may carry tokens).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// NoContent answers 204, not to be stored.
func NoContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// SetRetryAfter tells the caller how long to wait (RFC 9110 §10.2.3): whole seconds,
// rounded up, so a caller that waits that long is never early. Nothing for d <= 0.
func SetRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
}

// RawJSON is raw, or def when raw is empty: a JSON field other systems own, shown as an
// empty array or object rather than null.
func RawJSON(raw json.RawMessage, def string) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(def)
	}
	return raw
}

// UnavailableRetryAfter is the Retry-After of a 503 for a storage failure: a database
// restart or failover is usually over within seconds.
const UnavailableRetryAfter = 2 * time.Second

// Unavailable reports a transient storage failure (identity.ErrUnavailable) anywhere in
// err's chain: every dialect answers it as 503 with Retry-After, never as a verdict.
func Unavailable(err error) bool { return errors.Is(err, identity.ErrUnavailable) }
