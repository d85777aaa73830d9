package oauth

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ory/fosite/token/jwt"
)

// TestSessionKeepsIntegerClaims: a stored session comes back with its extra ID token
// claims as the numbers they were; a float64 updated_at would be signed as
// 1.796174919e+09.
func TestSessionKeepsIntegerClaims(t *testing.T) {
	s := NewSession()
	s.Claims = &jwt.IDTokenClaims{Subject: "42", Extra: map[string]any{
		"updated_at": int64(1796174919),
		"big":        int64(1) << 60, // beyond float64's exact integers
		"ratio":      0.5,
		"address":    map[string]any{"floor": 3},
		"list":       []any{1, "x"},
		"verified":   true,
	}}
	s.Headers.Add("n", 7)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got := NewSession()
	if err := json.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  any
		want any
	}{
		{"updated_at", got.Claims.Extra["updated_at"], int64(1796174919)},
		{"int64 beyond 2^53", got.Claims.Extra["big"], int64(1) << 60},
		{"a fraction stays a float", got.Claims.Extra["ratio"], 0.5},
		{"nested", got.Claims.Extra["address"].(map[string]any)["floor"], int64(3)},
		{"in a list", got.Claims.Extra["list"].([]any)[0], int64(1)},
		{"not a number", got.Claims.Extra["verified"], true},
		{"header", got.Headers.Extra["n"], int64(7)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	// The ID token's payload writes them as integers again.
	out, err := json.Marshal(got.Claims.ToMap())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"updated_at":1796174919`) {
		t.Errorf("claims %s", out)
	}
}
