package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
)

type adminErrorBody struct {
	Status  int    `json:"status"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

func decodeAdminError(t *testing.T, w *httptest.ResponseRecorder) adminErrorBody {
	t.Helper()
	var body adminErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Status != w.Code || body.Type == "" {
		t.Errorf("not the admin API's shape: %d %q (%v)", w.Code, w.Body.String(), err)
	}
	return body
}

// TestGuardAnswersInAdminShape: an oversized body and a panic are answered in the admin
// API's shape (the login API's), whatever the path.
func TestGuardAnswersInAdminShape(t *testing.T) {
	a := New(Config{Token: "admin-token-0123456789"})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	w := httptest.NewRecorder()
	api.Dialect(a.fail).Guard(16, nil)(ok).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/admin/tenants", strings.NewReader(strings.Repeat("x", 17))))
	if body := decodeAdminError(t, w); w.Code != http.StatusRequestEntityTooLarge || body.Type != "bad_request" {
		t.Errorf("413: %d %+v", w.Code, body)
	}
	w = httptest.NewRecorder()
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	api.Dialect(a.fail).Guard(16, nil)(boom).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin/tenants", nil))
	if body := decodeAdminError(t, w); w.Code != http.StatusInternalServerError || body.Type != "internal_error" ||
		strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic: %d %+v", w.Code, body)
	}
}

func TestRequire(t *testing.T) {
	for _, tc := range []struct {
		name, token, header, query string
		status                     int
	}{
		{"no credential configured", "", "Bearer ", "", http.StatusUnauthorized},
		{"no header", "admin-token-0123456789", "", "", http.StatusUnauthorized},
		{"wrong token", "admin-token-0123456789", "Bearer admin-token-0123456780", "", http.StatusUnauthorized},
		{"right token", "admin-token-0123456789", "Bearer admin-token-0123456789", "", http.StatusNoContent},
		{"query not UTF-8", "admin-token-0123456789", "Bearer admin-token-0123456789", "?limit=%ff", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(Config{Token: tc.token})
			r := httptest.NewRequest(http.MethodGet, "/admin/tenants"+tc.query, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			a.Require(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })).ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status != http.StatusNoContent {
				decodeAdminError(t, w)
			}
		})
	}
}

func TestFail(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		typ    string
	}{
		{fmt.Errorf("client %q: %w", "web", identity.ErrNotFound), http.StatusNotFound, "resource_not_found"},
		{customer.ErrNotFound, http.StatusNotFound, "resource_not_found"},
		{customer.ErrConflict, http.StatusConflict, "conflict_resource"},
		{fmt.Errorf("%w: unknown setting", identity.ErrInvalid), http.StatusBadRequest, "bad_request"},
		{&identity.ValidationError{Fields: []identity.FieldError{{Field: "notes", Type: "invalid", Message: "must be a JSON array"}}},
			http.StatusBadRequest, "bad_request"},
		{&api.BodyError{Problem: api.Trailing}, http.StatusBadRequest, "bad_request"},
		{badRequest("customerId must be a number"), http.StatusBadRequest, "bad_request"},
		{fmt.Errorf("database down"), http.StatusInternalServerError, "internal_error"},
	} {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			w := httptest.NewRecorder()
			New(Config{}).fail(w, httptest.NewRequest(http.MethodGet, "/", nil), tc.err)
			if body := decodeAdminError(t, w); w.Code != tc.status || body.Type != tc.typ {
				t.Errorf("got %d %+v", w.Code, body)
			}
		})
	}
}
