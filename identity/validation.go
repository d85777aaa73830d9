package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// FieldError is one invalid field of a request.
type FieldError struct {
	Field   string
	Type    string // missing, invalid, too_long, unknown
	Message string
}

// ValidationError lists every invalid field of a request at once.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true, and errors.Is(err, M) for every member M
// of the family (customer.ErrInvalid wraps ErrInvalid): the fields say what is wrong.
func (e *ValidationError) Is(target error) bool {
	return target != nil && errors.Is(target, ErrInvalid)
}

// Validator collects the invalid fields of a request, so that every one is reported at
// once. The zero value is ready to use.
type Validator struct{ fields []FieldError }

// Add records an invalid field.
func (v *Validator) Add(field, typ, msg string) {
	v.fields = append(v.fields, FieldError{Field: field, Type: typ, Message: msg})
}

// Required records a field that is absent or empty.
func (v *Validator) Required(field, value string) {
	if value == "" {
		v.Add(field, "missing", "is required")
	}
}

// MaxLen records a field longer than n characters.
func (v *Validator) MaxLen(field, value string, n int) {
	if utf8.RuneCountInString(value) > n {
		v.Add(field, "too_long", fmt.Sprintf("must have at most %d characters", n))
	}
}

// Err is a *ValidationError of the recorded fields, or nil when there are none.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}
