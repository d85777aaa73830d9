package api_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/api/wellformed"
)

type target struct {
	Email string `json:"email"`
	Count int    `json:"count"`
	Tags  []string
}

func TestDecoder(t *testing.T) {
	for _, tc := range []struct {
		name        string
		dec         api.Decoder
		contentType string
		body        string
		want        api.BodyProblem // 0: decodes
		check       func(*testing.T, *api.BodyError)
	}{
		{name: "json", body: `{"email":"a@example.com","count":2}`},
		{name: "charset parameter", contentType: "application/json; charset=utf-8", body: `{}`},
		{name: "trailing white space", body: "{}\n\t "},
		{name: "other media type", contentType: "text/plain", body: `{}`, want: api.BadMediaType,
			check: func(t *testing.T, e *api.BodyError) {
				if e.Want != "application/json" || e.Error() != "Content-Type must be application/json" {
					t.Errorf("%q / %q", e.Want, e.Error())
				}
			}},
		{name: "listed media types", dec: api.Decoder{MediaTypes: []string{"application/json", "application/merge-patch+json"}},
			contentType: "application/merge-patch+json", body: `{}`},
		{name: "none of the listed", dec: api.Decoder{MediaTypes: []string{"application/json", "application/merge-patch+json"}},
			contentType: "application/xml", body: `{}`, want: api.BadMediaType, check: func(t *testing.T, e *api.BodyError) {
				if e.Want != "application/json or application/merge-patch+json" {
					t.Errorf("want %q", e.Want)
				}
			}},
		{name: "no content type", contentType: "-", body: `{}`, want: api.BadMediaType},
		{name: "no content type allowed", dec: api.Decoder{NoContentTypeOK: true}, contentType: "-", body: `{}`},
		{name: "any content type", dec: api.Decoder{AnyContentType: true}, contentType: "text/plain", body: `{}`},
		{name: "too large", dec: api.Decoder{MaxBytes: 8}, body: `{"email":"a@example.com"}`, want: api.TooLarge,
			check: func(t *testing.T, e *api.BodyError) {
				if !api.IsTooLarge(e) {
					t.Error("IsTooLarge is false")
				}
			}},
		{name: "not utf-8", body: "{\"email\":\"\xff\"}", want: api.NotUTF8, check: func(t *testing.T, e *api.BodyError) {
			if !errors.Is(e, wellformed.ErrInvalidUTF8) || e.Error() != "the body is not valid UTF-8 (byte 10)" {
				t.Errorf("%v", e)
			}
		}},
		{name: "empty", body: ``, want: api.Empty},
		{name: "truncated", body: `{"email":`, want: api.Truncated},
		{name: "syntax", body: `{"email" "x"}`, want: api.Syntax, check: func(t *testing.T, e *api.BodyError) {
			if e.Offset != 10 {
				t.Errorf("offset %d", e.Offset)
			}
		}},
		{name: "wrong type", body: `{"count":"two"}`, want: api.WrongType, check: func(t *testing.T, e *api.BodyError) {
			if e.Field != "count" || e.Want != "a number" {
				t.Errorf("field %q want %q", e.Field, e.Want)
			}
		}},
		{name: "wrong type of a list", body: `{"Tags":"x"}`, want: api.WrongType, check: func(t *testing.T, e *api.BodyError) {
			if e.Field != "Tags" || e.Want != "an array" {
				t.Errorf("field %q want %q", e.Field, e.Want)
			}
		}},
		{name: "unknown field", body: `{"emial":"a@example.com"}`, want: api.UnknownField, check: func(t *testing.T, e *api.BodyError) {
			if e.Field != "emial" {
				t.Errorf("field %q", e.Field)
			}
		}},
		{name: "unknown field allowed", dec: api.Decoder{UnknownFieldsOK: true}, body: `{"emial":"a@example.com"}`},
		{name: "a second value", body: `{} {}`, want: api.Trailing, check: func(t *testing.T, e *api.BodyError) {
			if e.Error() != "malformed JSON body: trailing data" {
				t.Errorf("%q", e.Error())
			}
		}},
		{name: "a stray brace", body: `{}}`, want: api.Trailing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			switch tc.contentType {
			case "":
				r.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				r.Header.Set("Content-Type", tc.contentType)
			}
			var v target
			err := tc.dec.Decode(httptest.NewRecorder(), r, &v)
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var be *api.BodyError
			if !errors.As(err, &be) || be.Problem != tc.want {
				t.Fatalf("Decode = %v, want problem %d", err, tc.want)
			}
			if tc.check != nil {
				tc.check(t, be)
			}
		})
	}
}

func TestDecoderUnreadable(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Content-Type", "application/json")
	r.Body = io.NopCloser(failingReader{})
	var be *api.BodyError
	if err := (api.Decoder{}).Decode(httptest.NewRecorder(), r, &target{}); !errors.As(err, &be) || be.Problem != api.Unreadable {
		t.Errorf("Decode = %v, want Unreadable", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
