package wellformed_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/custodian-id/custodian/api/wellformed"
)

func TestJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"ascii", `{"email":"a@example.com","password":"secret"}`, true},
		{"utf-8", `{"name":"Zoë Ünal 日本"}`, true},
		{"escaped bmp", `{"name":"Zo\u00eb"}`, true},
		{"surrogate pair", `{"emoji":"\ud83d\ude00"}`, true},
		{"escaped backslash then u", `{"path":"C:\\u0000x"}`, true},
		{"replacement character itself", `{"p":"\ufffd�"}`, true},
		{"invalid byte", "{\"password\":\"pa\xffss\"}", false},
		{"overlong encoding", "{\"p\":\"\xc0\xaf\"}", false},
		{"encoded surrogate", "{\"p\":\"\xed\xa0\x80\"}", false},
		{"lone high surrogate", `{"password":"pa\ud800ss"}`, false},
		{"lone low surrogate", `{"password":"\udc00"}`, false},
		{"high surrogate then non-low", `{"password":"\ud800\u0041"}`, false},
		{"high surrogate at the end", `{"password":"\ud83d"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := wellformed.JSON([]byte(tc.body))
			if tc.ok != (err == nil) {
				t.Fatalf("JSON(%q) = %v, want ok=%v", tc.body, err, tc.ok)
			}
			if err != nil && !errors.Is(err, wellformed.ErrInvalidUTF8) {
				t.Errorf("error %v does not wrap ErrInvalidUTF8", err)
			}
		})
	}
}

// TestReplacementCollision is the bug: two different passwords decode to the same string.
func TestReplacementCollision(t *testing.T) {
	var a, b struct{ P string }
	_ = json.Unmarshal([]byte("{\"P\":\"x\xff\"}"), &a)
	_ = json.Unmarshal([]byte("{\"P\":\"x\xfe\"}"), &b)
	if a.P != b.P {
		t.Skip("encoding/json no longer replaces invalid UTF-8")
	}
	if wellformed.JSON([]byte("{\"P\":\"x\xff\"}")) == nil || wellformed.JSON([]byte("{\"P\":\"x\xfe\"}")) == nil {
		t.Error("bodies that decode to the same password pass")
	}
}

func TestValuesAndQuery(t *testing.T) {
	if err := wellformed.Values(url.Values{"email": {"a@example.com"}, "name": {"Zoë"}}); err != nil {
		t.Error(err)
	}
	err := wellformed.Values(url.Values{"password": {"pa\xffss"}})
	var we *wellformed.Error
	if !errors.As(err, &we) || we.Param != "password" {
		t.Errorf("got %v", err)
	}
	if err := wellformed.Values(url.Values{"\xff": {"x"}}); err == nil {
		t.Error("invalid name passes")
	}
	if err := wellformed.Query(httptest.NewRequest("GET", "/x?refreshToken=ab%FFcd", nil)); !errors.Is(err, wellformed.ErrInvalidUTF8) {
		t.Errorf("query: %v", err)
	}
	if err := wellformed.Query(httptest.NewRequest("GET", "/x?q=%C3%A9", nil)); err != nil {
		t.Errorf("valid query: %v", err)
	}
}
