package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/custodian-id/custodian/api/wellformed"
)

// Decoder is the one strict JSON decoder of every dialect: a body of an accepted media
// type, within the size limit, valid UTF-8 (wellformed.JSON), one JSON value and
// nothing after it, and by default no field the target does not have. A refusal is a
// *BodyError, which each dialect words in its own shape. The zero value accepts
// application/json under the guard's limit.
type Decoder struct {
	// MediaTypes are the accepted Content-Types, parameters (charset) aside; none:
	// application/json.
	MediaTypes []string
	// NoContentTypeOK reads a request without Content-Type as JSON.
	NoContentTypeOK bool
	// AnyContentType skips the media type check.
	AnyContentType bool
	// MaxBytes bounds the body below the dialect guard's limit (0: the guard's only).
	MaxBytes int64
	// UnknownFieldsOK accepts fields the target does not have.
	UnknownFieldsOK bool
}

// BodyProblem is what is wrong with a body.
type BodyProblem int

// The problems a Decoder reports.
const (
	BadMediaType BodyProblem = iota + 1 // a Content-Type the call does not accept (Want: the accepted)
	TooLarge                            // over the size limit
	Unreadable                          // the body could not be read
	NotUTF8                             // not valid UTF-8 (Err: a *wellformed.Error)
	Empty                               // no JSON value at all
	Truncated                           // the JSON ends early
	Syntax                              // not JSON (Offset)
	WrongType                           // a field of another type (Field, Want)
	UnknownField                        // a field the target does not have (Field)
	Trailing                            // data after the JSON value
	Malformed                           // any other decoding failure
)

// BodyError is a request body a Decoder refused.
type BodyError struct {
	Problem BodyProblem
	Field   string // WrongType, UnknownField: the field's name ("" for the body itself)
	Want    string // WrongType: "a string", "a number", …; BadMediaType: "application/json or …"
	Offset  int64  // Syntax: the byte offset
	Err     error  // the cause as the reader or encoding/json said it
}

func (e *BodyError) Error() string {
	switch e.Problem {
	case BadMediaType:
		return "Content-Type must be " + e.Want
	case TooLarge:
		return ErrTooLarge.Error()
	case NotUTF8:
		return e.Err.Error()
	case Trailing:
		return "malformed JSON body: trailing data"
	}
	if e.Err == nil {
		return "malformed JSON body"
	}
	return "malformed JSON body: " + e.Err.Error()
}

func (e *BodyError) Unwrap() error { return e.Err }

// Decode reads the JSON body of r into v.
func (d Decoder) Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := d.checkMediaType(r); err != nil {
		return err
	}
	body := r.Body
	if d.MaxBytes > 0 {
		body = http.MaxBytesReader(w, body, d.MaxBytes)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		if IsTooLarge(err) {
			return &BodyError{Problem: TooLarge, Err: err}
		}
		return &BodyError{Problem: Unreadable, Err: err}
	}
	if err := wellformed.JSON(raw); err != nil {
		return &BodyError{Problem: NotUTF8, Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if !d.UnknownFieldsOK {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &BodyError{Problem: Trailing, Err: err}
	}
	return nil
}

func (d Decoder) checkMediaType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if d.AnyContentType || (ct == "" && d.NoContentTypeOK) {
		return nil
	}
	accepted := d.MediaTypes
	if len(accepted) == 0 {
		accepted = []string{"application/json"}
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(accepted, mt) {
		return &BodyError{Problem: BadMediaType, Want: strings.Join(accepted, " or "), Err: err}
	}
	return nil
}

// decodeError says what encoding/json refused.
func decodeError(err error) *BodyError {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return &BodyError{Problem: Empty, Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &BodyError{Problem: Truncated, Err: err}
	case errors.As(err, &syntax):
		return &BodyError{Problem: Syntax, Offset: syntax.Offset, Err: err}
	case errors.As(err, &typ):
		return &BodyError{Problem: WrongType, Field: typ.Field, Want: jsonKind(typ.Type), Err: err}
	}
	// encoding/json reports an unknown field only in its message; the text shapes the
	// answer, never the outcome (any other error is still a refusal).
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &BodyError{Problem: UnknownField, Field: strings.Trim(name, `"`), Err: err}
	}
	return &BodyError{Problem: Malformed, Err: err}
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16,
		reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "of another type"
}
