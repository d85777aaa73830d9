package oauth

import (
	"testing"
	"time"
)

// TestMustLogin: when the browser flow asks the shopper to sign in (again).
func TestMustLogin(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	session := &BrowserSession{CustomerID: 7, AuthTime: now.Add(-10 * time.Minute)}
	for _, tc := range []struct {
		name      string
		az        authorization
		bs        *BrowserSession
		fresh     bool
		consented bool
		want      bool
	}{
		{"nobody signed in", authorization{maxAge: -1}, nil, false, false, true},
		{"a session", authorization{maxAge: -1}, session, false, false, false},
		{"prompt=login", authorization{maxAge: -1, prompts: []string{"login"}}, session, false, false, true},
		{"prompt=login, signed in by this request", authorization{maxAge: -1, prompts: []string{"login"}}, session, true, false, false},
		{"prompt=login, the consent post after that sign-in", authorization{maxAge: -1, prompts: []string{"login"}}, session, false, true, false},
		{"max_age passed", authorization{maxAge: 60}, session, false, false, true},
		{"max_age not passed", authorization{maxAge: 3600}, session, false, false, false},
		{"max_age=0 right after this request's sign-in", authorization{maxAge: 0}, session, true, false, false},
		{"the hint names another shopper", authorization{maxAge: -1, hintSubject: "8"}, session, false, false, true},
		{"the hint names this shopper", authorization{maxAge: -1, hintSubject: "7"}, session, false, false, false},
	} {
		if got := tc.az.mustLogin(tc.bs, tc.fresh, tc.consented, now); got != tc.want {
			t.Errorf("%s: mustLogin = %v, want %v", tc.name, got, tc.want)
		}
	}
}
