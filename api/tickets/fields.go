package tickets

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Fields is a parsed responseFields selection: field name → nested selection (nil
// selects the whole value).
type Fields map[string]Fields

// ErrFieldsSyntax reports a malformed responseFields expression.
var ErrFieldsSyntax = errors.New("malformed responseFields")

// FieldsSyntaxError locates the error in the expression.
type FieldsSyntaxError struct {
	Pos int
	Msg string
}

func (e *FieldsSyntaxError) Error() string {
	return fmt.Sprintf("responseFields: %s at position %d", e.Msg, e.Pos)
}

func (e *FieldsSyntaxError) Unwrap() error { return ErrFieldsSyntax }

// ParseFields parses a comma list with nested parentheses, e.g.
// "accessToken,customerAccount(id,emailAddress,contacts(email))". An empty expression
// selects everything (nil).
func ParseFields(expr string) (Fields, error) {
	if len(expr) > 2048 {
		return nil, &FieldsSyntaxError{Pos: 2048, Msg: "expression too long"}
	}
	p := &fieldsParser{s: expr}
	p.space()
	if p.i == len(p.s) {
		return nil, nil
	}
	f, err := p.list(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.fail("unexpected %q", p.s[p.i])
	}
	return f, nil
}

type fieldsParser struct {
	s string
	i int
}

func (p *fieldsParser) fail(format string, args ...any) error {
	return &FieldsSyntaxError{Pos: p.i + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *fieldsParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// list := item (',' item)*
func (p *fieldsParser) list(depth int) (Fields, error) {
	if depth > 16 {
		return nil, p.fail("nesting too deep")
	}
	out := Fields{}
	for {
		p.space()
		start := p.i
		for p.i < len(p.s) && isNameByte(p.s[p.i]) {
			p.i++
		}
		if start == p.i {
			if p.i == len(p.s) {
				return nil, p.fail("expected a field name, found the end")
			}
			return nil, p.fail("expected a field name, found %q", p.s[p.i])
		}
		name := p.s[start:p.i]
		p.space()
		var sub Fields
		if p.i < len(p.s) && p.s[p.i] == '(' {
			p.i++
			var err error
			if sub, err = p.list(depth + 1); err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ')' {
				return nil, p.fail("expected ')'")
			}
			p.i++
			p.space()
		}
		if prev, ok := out[name]; ok && prev != nil && sub != nil {
			for k, v := range sub {
				prev[k] = v
			}
		} else if !ok || sub == nil {
			out[name] = sub
		}
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		return out, nil
	}
}

// Apply returns v (any JSON-encodable value) reduced to the selection: objects keep
// the selected keys, arrays apply the selection to each element. Unknown names select
// nothing.
func (f Fields) Apply(v any) (any, error) {
	if f == nil {
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("apply responseFields: %w", err)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, fmt.Errorf("apply responseFields: %w", err)
	}
	return f.filter(generic), nil
}

func (f Fields) filter(v any) any {
	if f == nil {
		return v
	}
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(f))
		for name, sub := range f {
			if val, ok := t[name]; ok {
				out[name] = sub.filter(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = f.filter(e)
		}
		return out
	default:
		return v
	}
}
