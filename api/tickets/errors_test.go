package tickets

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// guarded serves h behind the ticket API's guard with a 16-byte body limit.
func guarded(h http.Handler, body string) *httptest.ResponseRecorder {
	a := New(Config{})
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/api/commerce/customer/authtickets", strings.NewReader(body))
	api.Dialect(a.fail).Guard(16, nil)(h).ServeHTTP(w, r)
	return w
}

func decodeTicketError(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	if body["applicationName"] != "Customer" {
		t.Errorf("not the ticket API's shape: %s", w.Body.String())
	}
	return body
}

// TestGuardAnswersInTicketShape: an oversized body and a panic are answered in the
// ticket API's own shape, not another dialect's.
func TestGuardAnswersInTicketShape(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	w := guarded(ok, strings.Repeat("x", 17))
	if body := decodeTicketError(t, w); w.Code != http.StatusRequestEntityTooLarge || body["errorCode"] != "MISSING_OR_INVALID_PARAMETER" ||
		body["message"] != "request body too large" {
		t.Errorf("413: %d %v", w.Code, body)
	}

	w = guarded(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), "")
	if body := decodeTicketError(t, w); w.Code != http.StatusInternalServerError || body["errorCode"] != "INTERNAL_ERROR" ||
		strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic: %d %v", w.Code, body)
	}

	// A body read past the limit (no Content-Length) reaches the same answer.
	read := api.Dialect(New(Config{}).fail).Handle(func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		return body.Decode(w, r, &v)
	})
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"username":"`+strings.Repeat("x", 64)+`"}`))
	r.ContentLength = -1
	w = httptest.NewRecorder()
	api.Dialect(New(Config{}).fail).Guard(16, nil)(read).ServeHTTP(w, r)
	if body := decodeTicketError(t, w); w.Code != http.StatusRequestEntityTooLarge || body["errorCode"] != "MISSING_OR_INVALID_PARAMETER" {
		t.Errorf("read past the limit: %d %v", w.Code, body)
	}
}

// TestFail maps domain errors to the ticket API's statuses and codes.
func TestFail(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{customer.ErrInvalidCredentials, http.StatusUnauthorized, "UNAUTHORIZED", ""},
		{fmt.Errorf("sign in: %w", customer.ErrLocked), http.StatusForbidden, "ACCOUNT_LOCKED", ""},
		{customer.ErrInactive, http.StatusForbidden, "UNAUTHORIZED", ""},
		{customer.ErrNotMember, http.StatusForbidden, "UNAUTHORIZED", ""},
		{customer.ErrNotFound, http.StatusNotFound, "ITEM_NOT_FOUND", ""},
		{identity.ErrNotFound, http.StatusNotFound, "ITEM_NOT_FOUND", ""},
		{customer.ErrNotCustomerToken, http.StatusUnauthorized, "UNAUTHORIZED", ""},
		{&identity.RateLimitError{RetryAfter: 1500 * time.Millisecond}, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "2"},
		{&twofactor.CooldownError{RetryAfter: 20 * time.Second}, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "20"},
		{&twofactor.WrongCodeError{Remaining: 2}, http.StatusUnauthorized, "UNAUTHORIZED", ""},
		{twofactor.ErrMethod, http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER", ""},
		{&FieldsSyntaxError{Pos: 3, Msg: "unexpected ')'"}, http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER", ""},
		{&api.BodyError{Problem: api.BadMediaType}, http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER", ""},
		{fmt.Errorf("database down"), http.StatusInternalServerError, "INTERNAL_ERROR", ""},
	} {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			w := httptest.NewRecorder()
			New(Config{}).fail(w, httptest.NewRequest(http.MethodGet, "/", nil), tc.err)
			body := decodeTicketError(t, w)
			if w.Code != tc.status || body["errorCode"] != tc.code || w.Header().Get("Retry-After") != tc.retryAfter {
				t.Errorf("got %d %v (Retry-After %q)", w.Code, body, w.Header().Get("Retry-After"))
			}
		})
	}
}

// TestBusyIsUnavailable: a request that found no password-hashing slot is a 503 with
// Retry-After in the ticket API's shape, never a verdict on the credentials.
func TestBusyIsUnavailable(t *testing.T) {
	a := New(Config{})
	w := httptest.NewRecorder()
	a.fail(w, httptest.NewRequest(http.MethodPost, "/api/commerce/customer/authtickets", nil), fmt.Errorf("login customer 7: %w", identity.ErrBusy))
	if body := decodeTicketError(t, w); w.Code != http.StatusServiceUnavailable || body["errorCode"] != "SERVICE_UNAVAILABLE" || w.Header().Get("Retry-After") == "" {
		t.Errorf("busy: %d %v %q", w.Code, body, w.Header().Get("Retry-After"))
	}
}
