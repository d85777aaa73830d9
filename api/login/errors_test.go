package login

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
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/twofactor"
)

func decodeLoginError(t *testing.T, w *httptest.ResponseRecorder) loginErrorBody {
	t.Helper()
	var body loginErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Status != w.Code || body.Type == "" {
		t.Errorf("not the login API's shape: %d %q (%v)", w.Code, w.Body.String(), err)
	}
	return body
}

// TestGuardAnswersInLoginShape: an oversized body and a panic are answered in the login
// API's own shape, not another dialect's.
func TestGuardAnswersInLoginShape(t *testing.T) {
	a := New(Config{})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	w := httptest.NewRecorder()
	api.Dialect(a.fail).Guard(16, nil)(ok).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 17))))
	if body := decodeLoginError(t, w); w.Code != http.StatusRequestEntityTooLarge || body.Type != typeBadRequest ||
		body.Message != "request body too large" {
		t.Errorf("413: %d %+v", w.Code, body)
	}

	w = httptest.NewRecorder()
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	api.Dialect(a.fail).Guard(16, nil)(boom).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if body := decodeLoginError(t, w); w.Code != http.StatusInternalServerError || body.Type != typeInternal ||
		strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic: %d %+v", w.Code, body)
	}
}

// TestFail maps domain errors to the login API's statuses and types.
func TestFail(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		typ        string
		message    string // "" skips the check
		retryAfter string
	}{
		{customer.ErrInvalidCredentials, http.StatusUnauthorized, typeUnauthorized, "the e-mail address or password is wrong", ""},
		{fmt.Errorf("sign in: %w", customer.ErrLocked), http.StatusForbidden, typeForbidden, "", ""},
		{customer.ErrNotMember, http.StatusForbidden, typeForbidden, "the customer is not a member of this legal entity", ""},
		{customer.ErrNotFound, http.StatusNotFound, typeNotFound, "customer not found", ""},
		{identity.ErrNotFound, http.StatusNotFound, typeNotFound, "resource not found", ""},
		{customer.ErrConflict, http.StatusConflict, typeConflict, "", ""},
		{customer.ErrInvalidToken, http.StatusBadRequest, typeBadRequest, "invalid or expired token", ""},
		{oauth.ErrInvalidToken, http.StatusUnauthorized, typeUnauthorized, "invalid or expired access token", ""},
		{fmt.Errorf("%w: at most 100 addresses", customer.ErrInvalid), http.StatusBadRequest, typeBadRequest,
			"invalid customer data: at most 100 addresses", ""},
		{&identity.ValidationError{Fields: []identity.FieldError{{Field: "email", Type: "missing", Message: "is required"}}},
			http.StatusBadRequest, typeBadRequest, "the request has invalid fields", ""},
		{&identity.RateLimitError{RetryAfter: 1500 * time.Millisecond}, http.StatusTooManyRequests, typeTooManyRequests, "", "2"},
		{&twofactor.CooldownError{RetryAfter: 20 * time.Second}, http.StatusTooManyRequests, typeTooManyRequests, "", "20"},
		{&twofactor.WrongCodeError{Remaining: 2}, http.StatusUnauthorized, typeUnauthorized, "", ""},
		{&api.BodyError{Problem: api.BadMediaType, Want: "application/json"}, http.StatusUnsupportedMediaType, typeBadRequest,
			"Content-Type must be application/json", ""},
		{&api.BodyError{Problem: api.Syntax, Offset: 7}, http.StatusBadRequest, typeBadRequest, "malformed JSON at byte 7", ""},
		{fmt.Errorf("database down"), http.StatusInternalServerError, typeInternal, "internal error", ""},
	} {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			w := httptest.NewRecorder()
			New(Config{}).fail(w, httptest.NewRequest(http.MethodGet, "/", nil), tc.err)
			body := decodeLoginError(t, w)
			if w.Code != tc.status || body.Type != tc.typ || (tc.message != "" && body.Message != tc.message) ||
				w.Header().Get("Retry-After") != tc.retryAfter {
				t.Errorf("got %d %+v (Retry-After %q)", w.Code, body, w.Header().Get("Retry-After"))
			}
		})
	}
}

// TestBusyIsUnavailable: a request that found no password-hashing slot is a 503 with
// Retry-After in the login API's shape, never a verdict on the credentials.
func TestBusyIsUnavailable(t *testing.T) {
	a := New(Config{})
	w := httptest.NewRecorder()
	a.fail(w, httptest.NewRequest(http.MethodPost, "/customer/shop/login", nil), fmt.Errorf("login customer 7: %w", identity.ErrBusy))
	if body := decodeLoginError(t, w); w.Code != http.StatusServiceUnavailable || body.Type != typeUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("busy: %d %+v %q", w.Code, body, w.Header().Get("Retry-After"))
	}
}
