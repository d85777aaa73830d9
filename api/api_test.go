package api_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/api"
)

// record is a dialect that writes the error it is given, so a test sees what reached it.
func record(got *error) api.Dialect {
	return func(w http.ResponseWriter, _ *http.Request, err error) {
		*got = err
		w.WriteHeader(http.StatusTeapot)
	}
}

func TestHandle(t *testing.T) {
	var got error
	boom := errors.New("boom")
	h := record(&got).Handle(func(http.ResponseWriter, *http.Request) error { return boom })
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if got != boom || w.Code != http.StatusTeapot {
		t.Errorf("the dialect got %v (status %d), want the handler's error", got, w.Code)
	}

	got = nil
	h = record(&got).Handle(func(w http.ResponseWriter, _ *http.Request) error { w.WriteHeader(http.StatusNoContent); return nil })
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if got != nil || w.Code != http.StatusNoContent {
		t.Errorf("a handler without error: dialect got %v, status %d", got, w.Code)
	}
}

func TestGuard(t *testing.T) {
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			panic(err) // the guard turns it into the dialect's answer
		}
		w.WriteHeader(http.StatusOK)
	})
	for _, tc := range []struct {
		name        string
		body        string
		chunked     bool // no Content-Length: the limit is found while reading
		handler     http.Handler
		wantStatus  int
		wantErr     func(error) bool
		wantClosing bool
	}{
		{name: "within the limit", body: "0123456789", handler: read, wantStatus: http.StatusOK},
		{name: "declared too large", body: strings.Repeat("x", 11), handler: read, wantStatus: http.StatusTeapot,
			wantErr: func(err error) bool { return errors.Is(err, api.ErrTooLarge) && api.IsTooLarge(err) }, wantClosing: true},
		{name: "read past the limit", body: strings.Repeat("x", 11), chunked: true, handler: read, wantStatus: http.StatusTeapot,
			wantErr: func(err error) bool {
				var pe *api.PanicError
				var mb *http.MaxBytesError
				return errors.As(err, &pe) && errors.As(pe.Value.(error), &mb)
			}},
		{name: "panic", handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
			wantStatus: http.StatusTeapot, wantErr: func(err error) bool {
				var pe *api.PanicError
				return errors.As(err, &pe) && pe.Value == "boom" && err.Error() == "panic: boom"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got error
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.chunked {
				r.ContentLength = -1
				r.Body = io.NopCloser(strings.NewReader(tc.body))
			}
			w := httptest.NewRecorder()
			record(&got).Guard(10, nil)(tc.handler).ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tc.wantStatus)
			}
			if (tc.wantErr == nil) != (got == nil) || (got != nil && !tc.wantErr(got)) {
				t.Errorf("the dialect got %v", got)
			}
			if closing := w.Header().Get("Connection") == "close"; closing != tc.wantClosing {
				t.Errorf("Connection: close = %v, want %v", closing, tc.wantClosing)
			}
		})
	}
}

func TestGuardLetsAbortThrough(t *testing.T) {
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler to pass the guard", v)
		}
	}()
	var got error
	record(&got).Guard(0, nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	api.WriteJSON(w, http.StatusCreated, map[string]string{"id": "7"})
	if w.Code != http.StatusCreated || w.Body.String() != `{"id":"7"}`+"\n" {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
	h := w.Header()
	if h.Get("Content-Type") != "application/json; charset=utf-8" || h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" {
		t.Errorf("headers %v", h)
	}

	w = httptest.NewRecorder()
	w.Header().Set("Cache-Control", "public, max-age=300")
	api.WriteJSON(w, http.StatusOK, []int{})
	if w.Header().Get("Cache-Control") != "public, max-age=300" || w.Header().Get("Pragma") != "" {
		t.Errorf("a chosen Cache-Control was changed: %v", w.Header())
	}
}

func TestSetRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Second, ""},
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{59*time.Second + 300*time.Millisecond, "60"},
		{time.Minute, "60"},
	} {
		w := httptest.NewRecorder()
		api.SetRetryAfter(w, tc.d)
		if got := w.Header().Get("Retry-After"); got != tc.want {
			t.Errorf("SetRetryAfter(%s) = %q, want %q (whole seconds, rounded up)", tc.d, got, tc.want)
		}
	}
}

func TestNoContent(t *testing.T) {
	w := httptest.NewRecorder()
	api.NoContent(w)
	if w.Code != http.StatusNoContent || w.Header().Get("Cache-Control") != "no-store" || !bytes.Equal(w.Body.Bytes(), nil) {
		t.Errorf("got %d %v %q", w.Code, w.Header(), w.Body.String())
	}
}
