package tickets

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		expr string
		want Fields
		pos  int // error position, 0 for success
	}{
		{name: "empty selects all", expr: "", want: nil},
		{name: "flat", expr: "accessToken,userId", want: Fields{"accessToken": nil, "userId": nil}},
		{name: "spaces", expr: " accessToken , userId ", want: Fields{"accessToken": nil, "userId": nil}},
		{name: "nested", expr: "accessToken,customerAccount(id,emailAddress)",
			want: Fields{"accessToken": nil, "customerAccount": Fields{"id": nil, "emailAddress": nil}}},
		{name: "deep", expr: "customerAccount(contacts(address(cityOrTown)))",
			want: Fields{"customerAccount": Fields{"contacts": Fields{"address": Fields{"cityOrTown": nil}}}}},
		{name: "whole wins over sub", expr: "a(b),a", want: Fields{"a": nil}},
		{name: "merged", expr: "a(b),a(c)", want: Fields{"a": Fields{"b": nil, "c": nil}}},
		{name: "trailing comma", expr: "a,", pos: 3},
		{name: "leading comma", expr: ",a", pos: 1},
		{name: "unclosed", expr: "a(b", pos: 4},
		{name: "empty parens", expr: "a()", pos: 3},
		{name: "stray close", expr: "a)", pos: 2},
		{name: "bad character", expr: "a;b", pos: 2},
		{name: "double comma", expr: "a,,b", pos: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFields(tc.expr)
			if tc.pos != 0 {
				var se *FieldsSyntaxError
				if !errors.As(err, &se) || !errors.Is(err, ErrFieldsSyntax) {
					t.Fatalf("want syntax error, got %v", err)
				}
				if se.Pos != tc.pos {
					t.Errorf("error position %d, want %d (%v)", se.Pos, tc.pos, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestApplyFields(t *testing.T) {
	v := map[string]any{
		"accessToken":  "a",
		"refreshToken": "r",
		"customerAccount": map[string]any{
			"id": 1, "emailAddress": "e", "firstName": "f",
			"contacts": []any{map[string]any{"email": "x", "id": 7}, map[string]any{"email": "y", "id": 8}},
		},
	}
	f, err := ParseFields("accessToken,customerAccount(id,contacts(email)),missing")
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Apply(v)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `{"accessToken":"a","customerAccount":{"contacts":[{"email":"x"},{"email":"y"}],"id":1}}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}
