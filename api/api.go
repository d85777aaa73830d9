// Package api is what every HTTP dialect of Custodian shares: handlers that return their
// failure, adapted once per dialect to its one error mapper (the tsweb pattern); the
// guard that answers a dialect's 413 and panics in its own shape; the one strict JSON
// decoder; the one JSON writer; and Retry-After written one way. The dialects are the
// OAuth endpoints (oauth), the ticket API (api/tickets), the customer login API
// (api/login) and the admin API (api/admin). This package imports identity only.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// OrDiscard is l, or a logger that discards when l is nil: a dialect built without one.
func OrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// OrNow is now, or time.Now when now is nil: a dialect built without a clock.
func OrNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// Handler is an HTTP handler that returns its failure instead of writing it: the
// dialect's mapper (Dialect) answers it in the dialect's shape.
type Handler func(w http.ResponseWriter, r *http.Request) error

// Dialect is the one error mapper of an HTTP API: it writes err as the API's status and
// body and logs what the caller must not read. Handle and Guard adapt handlers and
// routes to it.
type Dialect func(w http.ResponseWriter, r *http.Request, err error)

// Handle adapts h: an error it returns is answered by the dialect.
func (d Dialect) Handle(h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			d(w, r, err)
		}
	})
}

// ErrTooLarge is a request body larger than the dialect accepts (413).
var ErrTooLarge = errors.New("request body too large")

// IsTooLarge reports a body over the limit: ErrTooLarge (declared too large, refused
// before the handler ran) or the *http.MaxBytesError of a read past the limit.
func IsTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.Is(err, ErrTooLarge) || errors.As(err, &mb)
}

// PanicError is a handler's panic, answered as the dialect's 500 (the guard logs the
// stack).
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Guard is the middleware of every route of a dialect. A request whose declared body
// is over maxBody is refused with ErrTooLarge before anything runs (and the connection
// closes); other bodies are limited to maxBody, so a handler reading past it gets an
// *http.MaxBytesError (IsTooLarge). A panic is logged with its stack and answered as a
// *PanicError. maxBody 0 sets no limit.
func (d Dialect) Guard(maxBody int64, log *slog.Logger) func(http.Handler) http.Handler {
	log = OrDiscard(log)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic", "value", v, "stack", string(debug.Stack()))
					d(w, r, &PanicError{Value: v})
				}
			}()
			if maxBody > 0 {
				if r.ContentLength > maxBody {
					w.Header().Set("Connection", "close")
					d(w, r, ErrTooLarge)
					return
				}
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			}
			next.ServeHTTP(w, r)
		})
	}
}
