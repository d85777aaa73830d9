// Package wellformed is Custodian's one check that request text is what it claims to
// be: every JSON body, form body and query string is valid UTF-8. encoding/json and
// net/url would otherwise replace invalid bytes (and JSON's unpaired surrogate escapes)
// with U+FFFD silently, so two different byte strings would become the same password
// and an e-mail address with garbage would be stored. Each API dialect calls it from
// its decoder and answers a failure with 400 in its own error shape.
package wellformed

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// ErrInvalidUTF8 is what every failure of this package wraps.
var ErrInvalidUTF8 = errors.New("text that is not valid UTF-8")

// Error locates the invalid text: a parameter (form or query) or a byte offset of a body.
type Error struct {
	Param  string // the parameter whose name or value is invalid; "" for a JSON body
	Offset int    // the byte offset in a JSON body
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("parameter %s is not valid UTF-8", e.Param)
	}
	return fmt.Sprintf("the body is not valid UTF-8 (byte %d)", e.Offset)
}

// Is makes errors.Is(err, ErrInvalidUTF8) true.
func (e *Error) Is(target error) bool { return target == ErrInvalidUTF8 }

// JSON checks a JSON document: its bytes are valid UTF-8 and no string escapes an
// unpaired UTF-16 surrogate (\ud800 alone), which decoders also turn into U+FFFD.
func JSON(b []byte) error {
	if !utf8.Valid(b) {
		off := 0
		for off < len(b) {
			r, n := utf8.DecodeRune(b[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return &Error{Offset: off}
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if b[i+1] != 'u' {
				i++ // \" \\ \/ \b \f \n \r \t
				continue
			}
			hi, ok := hex4(b, i+2)
			if !ok {
				i++
				continue // not an escape the decoder accepts; it reports the syntax error
			}
			switch {
			case hi >= 0xD800 && hi <= 0xDBFF:
				lo, ok := -1, false
				if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					lo, ok = hex4(b, i+8)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return &Error{Offset: i}
				}
				i += 11
			case hi >= 0xDC00 && hi <= 0xDFFF:
				return &Error{Offset: i}
			default:
				i += 5
			}
		}
	}
	return nil
}

// hex4 reads four hex digits at b[at:].
func hex4(b []byte, at int) (int, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// Values checks every name and value of a form or query.
func Values(v url.Values) error {
	for name, vals := range v {
		if !utf8.ValidString(name) {
			return &Error{Param: fmt.Sprintf("%q", name)}
		}
		for _, s := range vals {
			if !utf8.ValidString(s) {
				return &Error{Param: name}
			}
		}
	}
	return nil
}

// Query checks a request's query string. A query that does not even parse is left to
// the handler, which reads what it can as before.
func Query(r *http.Request) error {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	return Values(q)
}
